package awskms_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

func TestParseURI(t *testing.T) {
	const id = "1234abcd-12ab-34cd-56ef-1234567890ab"
	const arn = "arn:aws:kms:us-east-1:111122223333:key/" + id
	tests := []struct {
		name, uri, want string // want "" means the URI is refused
	}{
		{"ok/key-id", "awskms:///" + id, id},
		{"ok/multi-region-key-id", "awskms:///mrk-1234abcd12ab34cd56ef1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab"},
		{"ok/key-arn", "awskms:///" + arn, arn},
		{"ok/key-arn-china", "awskms:///arn:aws-cn:kms:cn-north-1:111122223333:key/" + id, "arn:aws-cn:kms:cn-north-1:111122223333:key/" + id},
		{"ok/key-arn-govcloud", "awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + id, "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + id},
		{"ok/key-arn-sovereign-cloud", "awskms:///arn:aws-eusc:kms:eusc-de-east-1:111122223333:key/" + id, "arn:aws-eusc:kms:eusc-de-east-1:111122223333:key/" + id},
		{"ok/key-arn-multi-region", "awskms:///arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"},

		{"fail/empty", "", ""},
		{"fail/scheme-only", "awskms:", ""},
		{"fail/no-key", "awskms:///", ""},
		{"fail/other-scheme", "pkcs11:token=a;object=b", ""},
		{"fail/scheme-case", "AWSKMS:///" + id, ""},
		{"fail/two-slashes", "awskms://" + id, ""},
		{"fail/one-slash", "awskms:/" + id, ""},
		{"fail/opaque", "awskms:" + id, ""},
		{"fail/four-slashes", "awskms:////" + id, ""},
		{"fail/host", "awskms://kms.us-east-1.amazonaws.com/" + id, ""},
		{"fail/alias", "awskms:///alias/signum-token", ""},
		{"fail/alias-arn", "awskms:///arn:aws:kms:us-east-1:111122223333:alias/signum-token", ""},
		{"fail/not-a-key-id", "awskms:///does-not-exist", ""},
		{"fail/uppercase-key-id", "awskms:///" + strings.ToUpper(id), ""},
		{"fail/short-key-id", "awskms:///" + id[:35], ""},
		{"fail/long-key-id", "awskms:///" + id + "0", ""},
		{"fail/key-id-without-dashes", "awskms:///1234abcd12ab34cd56ef1234567890ab", ""},
		{"fail/trailing-slash", "awskms:///" + id + "/", ""},
		{"fail/query", "awskms:///" + id + "?region=us-east-1", ""},
		{"fail/fragment", "awskms:///" + id + "#x", ""},
		{"fail/escaped", "awskms:///1234abcd%2D12ab-34cd-56ef-1234567890ab", ""},
		{"fail/space", "awskms:/// " + id, ""},
		{"fail/newline", "awskms:///" + id + "\n", ""},
		{"fail/nul", "awskms:///" + id + "\x00", ""},
		{"fail/arn-other-service", "awskms:///arn:aws:kms-x:us-east-1:111122223333:key/" + id, ""},
		{"fail/arn-short-account", "awskms:///arn:aws:kms:us-east-1:11112222333:key/" + id, ""},
		{"fail/arn-region-without-number", "awskms:///arn:aws:kms:us-east:111122223333:key/" + id, ""},
		{"fail/arn-no-region", "awskms:///arn:aws:kms::111122223333:key/" + id, ""},
		{"fail/arn-bad-key-id", "awskms:///arn:aws:kms:us-east-1:111122223333:key/does-not-exist", ""},
		{"fail/arn-extra-path", "awskms:///arn:aws:kms:us-east-1:111122223333:key/" + id + "/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := awskms.ParseURI(tt.uri)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseURI(%q) = %q, %v; want %q", tt.uri, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, keys.ErrNotFound) {
				t.Fatalf("ParseURI(%q) = %q, %v; want keys.ErrNotFound", tt.uri, got, err)
			}
			if d, ok := fault.DetailOf(err); !ok || !strings.Contains(d, "awskms:///<key-id>") {
				t.Errorf("detail %q (%v) does not say what a key URI is", d, ok)
			}
		})
	}
}

// FuzzParseURI: parsing never panics, and what it accepts is exactly the URI's key reference.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"awskms:///1234abcd-12ab-34cd-56ef-1234567890ab",
		"awskms:///arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"awskms:///mrk-1234abcd12ab34cd56ef1234567890ab",
		"awskms:///alias/x", "awskms://x/y", "", "pkcs11:token=a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		ref, err := awskms.ParseURI(uri)
		if err != nil {
			if !errors.Is(err, keys.ErrNotFound) {
				t.Fatalf("ParseURI(%q): %v is not keys.ErrNotFound", uri, err)
			}
			return
		}
		if "awskms:///"+ref != uri {
			t.Fatalf("ParseURI(%q) = %q", uri, ref)
		}
		if strings.ContainsAny(ref, "/?#% \t\r\n\x00") && !strings.HasPrefix(ref, "arn:") {
			t.Fatalf("ParseURI(%q) accepted %q", uri, ref)
		}
	})
}
