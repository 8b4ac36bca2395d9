package timestamping_test

import (
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/timestamping"
	"github.com/opensignum/signum/lib/tsastandin"
)

// TestValidate: URLs are trimmed and kept in order; each bad one is named by its place; trust
// roots must be PEM certificates only.
func TestValidate(t *testing.T) {
	tsa, err := tsastandin.New()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := timestamping.Validate(timestamping.Settings{URLs: []string{" http://b.example/tsa ", "https://a.example/"}, CAPEM: string(tsa.CAPEM) + "\n"})
	if err != nil || len(ok.URLs) != 2 || ok.URLs[0] != "http://b.example/tsa" {
		t.Fatalf("ok: %+v %v", ok, err)
	}
	if _, err := timestamping.Validate(timestamping.Settings{}); err != nil {
		t.Fatalf("no authority at all: %v", err)
	}
	for name, c := range map[string]struct {
		s     timestamping.Settings
		field string
	}{
		"fail/scheme":   {timestamping.Settings{URLs: []string{"ldap://x/"}}, "urls[0]"},
		"fail/no-host":  {timestamping.Settings{URLs: []string{"http:///path"}}, "urls[0]"},
		"fail/userinfo": {timestamping.Settings{URLs: []string{"https://a/", "https://u:p@b/"}}, "urls[1]"},
		"fail/fragment": {timestamping.Settings{URLs: []string{"https://a/#x"}}, "urls[0]"},
		"fail/twice":    {timestamping.Settings{URLs: []string{"https://a/", "https://a/"}}, "urls[1]"},
		"fail/many":     {timestamping.Settings{URLs: []string{"http://a/", "http://b/", "http://c/", "http://d/", "http://e/"}}, "urls"},
		"fail/garbage":  {timestamping.Settings{CAPEM: "hello"}, "caPem"},
		"fail/trailing": {timestamping.Settings{CAPEM: string(tsa.CAPEM) + "trailing"}, "caPem"},
		"fail/key":      {timestamping.Settings{CAPEM: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}, "caPem"},
	} {
		_, err := timestamping.Validate(c.s)
		if !fault.HasField(err, c.field) {
			t.Errorf("%s: %v, want a field error on %s", name, err, c.field)
		}
	}
}
