package pkcs11_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/pkcs11"
)

func TestParseURI(t *testing.T) {
	id := []byte{0x00, 0x1b, 0xff, 0x7f}
	tests := []struct {
		name string
		in   string
		want pkcs11.URI // compared when ok
		ok   bool
	}{
		{"ok/all", "pkcs11:token=signum;object=cert-1;id=%00%1b%ff%7f", pkcs11.URI{Token: "signum", Object: "cert-1", ID: id}, true},
		{"ok/any-order", "pkcs11:id=%00%1B%FF%7F;object=cert-1;token=signum", pkcs11.URI{Token: "signum", Object: "cert-1", ID: id}, true},
		{"ok/object-only", "pkcs11:object=cert-1", pkcs11.URI{Object: "cert-1"}, true},
		{"ok/id-only", "pkcs11:id=%01", pkcs11.URI{ID: []byte{1}}, true},
		{"ok/id-unencoded-chars-are-bytes", "pkcs11:id=ab", pkcs11.URI{ID: []byte("ab")}, true},
		{"ok/pk11-res-avail-unencoded", "pkcs11:object=a:b[c]@!$'()*+,=&", pkcs11.URI{Object: "a:b[c]@!$'()*+,=&"}, true},
		{"ok/encoded-reserved", "pkcs11:token=My%20Token;object=a%3Bb%2Fc%3Fd%25", pkcs11.URI{Token: "My Token", Object: "a;b/c?d%"}, true},
		{"ok/utf8", "pkcs11:object=%C3%A9t%C3%A9", pkcs11.URI{Object: "été"}, true},
		{"fail/empty", "", pkcs11.URI{}, false},
		{"fail/scheme-only", "pkcs11:", pkcs11.URI{}, false},
		{"fail/other-scheme", "awskms:///1234", pkcs11.URI{}, false},
		{"fail/uppercase-scheme", "PKCS11:object=a", pkcs11.URI{}, false},
		{"fail/keystest-unknown", "pkcs11:///does-not-exist", pkcs11.URI{}, false},
		{"fail/token-only", "pkcs11:token=signum", pkcs11.URI{}, false},
		{"fail/no-value", "pkcs11:object", pkcs11.URI{}, false},
		{"fail/empty-value", "pkcs11:object=", pkcs11.URI{}, false},
		{"fail/empty-attribute", "pkcs11:object=a;", pkcs11.URI{}, false},
		{"fail/empty-name", "pkcs11:=a", pkcs11.URI{}, false},
		{"fail/duplicate", "pkcs11:object=a;object=b", pkcs11.URI{}, false},
		{"fail/unknown-attribute", "pkcs11:object=a;serial=1", pkcs11.URI{}, false},
		{"fail/type-attribute", "pkcs11:object=a;type=private", pkcs11.URI{}, false},
		{"fail/attribute-case", "pkcs11:Object=a", pkcs11.URI{}, false},
		{"fail/pin-value", "pkcs11:object=a?pin-value=1234", pkcs11.URI{}, false},
		{"fail/module-path", "pkcs11:object=a?module-path=/tmp/evil.so", pkcs11.URI{}, false},
		{"fail/fragment", "pkcs11:object=a#b", pkcs11.URI{}, false},
		{"fail/space", "pkcs11:object=a b", pkcs11.URI{}, false},
		{"fail/slash", "pkcs11:object=a/b", pkcs11.URI{}, false},
		{"fail/raw-utf8", "pkcs11:object=été", pkcs11.URI{}, false},
		{"fail/truncated-percent", "pkcs11:object=a%4", pkcs11.URI{}, false},
		{"fail/bad-percent", "pkcs11:object=a%zz", pkcs11.URI{}, false},
		{"fail/object-not-utf8", "pkcs11:object=%ff", pkcs11.URI{}, false},
		{"fail/object-control-char", "pkcs11:object=a%0ab", pkcs11.URI{}, false},
		{"fail/token-too-long", "pkcs11:object=a;token=" + strings.Repeat("t", 33), pkcs11.URI{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pkcs11.ParseURI(tc.in)
			if !tc.ok {
				if !errors.Is(err, keys.ErrNotFound) {
					t.Fatalf("ParseURI(%q) = %+v, %v; want keys.ErrNotFound", tc.in, got, err)
				}
				// Errors never quote the URI: it may carry a secret.
				if strings.Contains(err.Error(), "1234") || strings.Contains(err.Error(), "evil") {
					t.Fatalf("error quotes the URI: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tc.in, err)
			}
			if got.Token != tc.want.Token || got.Object != tc.want.Object || !bytes.Equal(got.ID, tc.want.ID) {
				t.Fatalf("ParseURI(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestURIString(t *testing.T) {
	tests := []struct {
		name string
		in   pkcs11.URI
		want string
	}{
		{"ok/issued-form", pkcs11.URI{Token: "signum", Object: "0b6c-cert_1.x~", ID: []byte{0x00, 0xab, 0x10}}, "pkcs11:token=signum;object=0b6c-cert_1.x~;id=%00%ab%10"},
		{"ok/reserved-encoded", pkcs11.URI{Token: "My Token", Object: "a;b=c/%"}, "pkcs11:token=My%20Token;object=a%3bb%3dc%2f%25"},
		{"ok/id-always-encoded", pkcs11.URI{ID: []byte("AZ")}, "pkcs11:id=%41%5a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzParseURI: ParseURI never panics, and what it accepts formats to a URI that parses to
// the same attributes.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=signum;object=cert-1;id=%00%1b%ff%7f",
		"pkcs11:object=a:b[c]@!$'()*+,=&",
		"pkcs11:id=ab;object=%C3%A9",
		"pkcs11:object=a?pin-value=1",
		"pkcs11:///does-not-exist",
		"pkcs11:object=a%4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := pkcs11.ParseURI(s)
		if err != nil {
			if !errors.Is(err, keys.ErrNotFound) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		again, err := pkcs11.ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) ok, but its String %q does not parse: %v", s, u.String(), err)
		}
		if again.Token != u.Token || again.Object != u.Object || !bytes.Equal(again.ID, u.ID) {
			t.Fatalf("round trip of %q: %+v, then %+v", s, u, again)
		}
	})
}
