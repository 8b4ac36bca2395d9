package client_test

import (
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/client"
)

func TestCommandLineHidesSecrets(t *testing.T) {
	for args, want := range map[string]string{
		"osslsigncode sign -pass hunter2 -in a.exe":                       "osslsigncode sign -pass *** -in a.exe",
		"pkcs11-tool --login --pin=1234 -O":                               "pkcs11-tool --login --pin=*** -O",
		"pkcs11-tool -l -p 1234 -O":                                       "pkcs11-tool -l -p *** -O",
		"openssl cms -sign -passin pass:hunter2 -in f":                    "openssl cms -sign -passin *** -in f",
		"openssl dgst -sign pkcs11:object=Release;pin-value=1234 -sha256": "openssl dgst -sign pkcs11:object=Release;pin-value=*** -sha256",
		"jarsigner -storepass s -keypass k app.jar rel":                   "jarsigner -storepass *** -keypass *** app.jar rel",
		"osslsigncode sign -in a.exe":                                     "osslsigncode sign -in a.exe",
		"signum sign --oidc-token eyJhbGciOi.x.y --domain gha a.tar":      "signum sign --oidc-token *** --domain gha a.tar",
	} {
		if got := client.CommandLine(strings.Fields(args)); got != want {
			t.Errorf("%q: %q, want %q", args, got, want)
		}
	}
	// An "-in pass:x" file name is left alone only when it is not a secret's place: openssl
	// reads pass:... anywhere as a password, so it is hidden anywhere.
	if got := client.CommandLine([]string{"x", "pass:abc"}); got != "x pass:***" {
		t.Errorf("inline pass: %q", got)
	}
}
