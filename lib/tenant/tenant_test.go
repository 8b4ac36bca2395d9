package tenant_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

func TestNormalizeDomainName(t *testing.T) {
	for in, want := range map[string]string{
		"Sign.Example.COM.": "sign.example.com",
		" a-b.example.io ":  "a-b.example.io",
		"xn--bcher-kva.de":  "xn--bcher-kva.de",
	} {
		if got, err := tenant.NormalizeDomainName(in); err != nil || got != want {
			t.Errorf("ok/%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "localhost", "-a.example.com", "a-.example.com", "a..example.com", "a_b.example.com", "ex ample.com", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "com", "bücher.de", "192.0.2.1", "10.0.0.1.", "a.b.123", "::1"} {
		if _, err := tenant.NormalizeDomainName(in); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("fail/%q accepted: %v", in, err)
		}
	}
}

func TestParseAllowlist(t *testing.T) {
	got, err := tenant.ParseAllowlist([]string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1/32", "::ffff:198.51.100.0/120", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,198.51.100.0/24"
	if s := strings.Join(tenant.FormatAllowlist(got), ","); s != want {
		t.Fatalf("got %s, want %s (masked, unmapped, deduplicated)", s, want)
	}
	for _, bad := range [][]string{{"10.0.0.0/33"}, {"300.1.1.1"}, {"fe80::1%eth0"}, {"::ffff:1.2.3.4/64"}, {"example.com"}, {""}, make([]string, tenant.MaxAllowlist+1)} {
		if _, err := tenant.ParseAllowlist(bad); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("fail/%q accepted: %v", bad, err)
		}
	}
}

func TestAllows(t *testing.T) {
	open := tenant.Deployment{}
	if !open.Allows(netip.MustParseAddr("203.0.113.1")) {
		t.Error("empty allowlist must be open")
	}
	allow, _ := tenant.ParseAllowlist([]string{"198.51.100.0/24", "2001:db8::/32"})
	d := tenant.Deployment{IPAllowlist: allow}
	for ip, want := range map[string]bool{
		"198.51.100.77": true, "::ffff:198.51.100.77": true, "2001:db8::5": true,
		"198.51.101.1": false, "2001:db9::1": false, "10.0.0.1": false,
	} {
		if got := d.Allows(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: allowed=%v, want %v", ip, got, want)
		}
	}
}

func FuzzParseAllowlist(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "::ffff:1.2.3.4/100", "1.2.3.4/0", "fe80::%1/64", "/", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := tenant.ParseAllowlist([]string{s})
		if err != nil {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("%q gave non-canonical %v", s, p)
			}
			// Round trip: the stored form parses to the same prefix.
			again, err := tenant.ParseAllowlist(tenant.FormatAllowlist(ps))
			if err != nil || again[0] != ps[0] {
				t.Fatalf("round trip of %v: %v %v", ps, again, err)
			}
		}
	})
}

func FuzzNormalizeDomainName(f *testing.F) {
	for _, s := range []string{"a.example.com", "A.B.", "-x.y", "a..b", "ü.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := tenant.NormalizeDomainName(s)
		if err != nil {
			return
		}
		if again, err := tenant.NormalizeDomainName(d); err != nil || again != d {
			t.Fatalf("not idempotent: %q → %q → %q %v", s, d, again, err)
		}
		if d != strings.ToLower(d) || len(d) > 253 {
			t.Fatalf("%q → %q", s, d)
		}
	})
}

func TestValidID(t *testing.T) {
	id := tenant.NewID("dep_")
	if !tenant.ValidID("dep_", id) {
		t.Fatalf("NewID %q is not valid", id)
	}
	for _, bad := range []string{"", "dep_", id + "a", id[:len(id)-1], "usr_" + id[4:], strings.ToUpper(id), "dep_" + strings.Repeat("1", 26)} {
		if tenant.ValidID("dep_", bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckDomainSuffix(t *testing.T) {
	for d, ok := range map[string]bool{
		"acme.sign.example.com": true, "sign.example.com": false, "a.b.sign.example.com": false,
		"acme.sign.example.com.evil.io": false, "acmesign.example.com": false, "": true,
	} {
		if err := tenant.CheckDomainSuffix(d, "sign.example.com"); (err == nil) != ok {
			t.Errorf("%q: %v", d, err)
		}
	}
	for _, reserved := range []string{"api", "mtls", "portal"} {
		if err := tenant.CheckDomainSuffix(reserved+".sign.example.com", "sign.example.com"); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("%s: %v", reserved, err)
		}
	}
	if err := tenant.CheckDomainSuffix("anything.example", ""); err != nil {
		t.Errorf("no suffix: %v", err)
	}
}

func TestFields(t *testing.T) {
	var bad fault.Fields
	if d := tenant.DomainNameField("", "x.example", &bad); d != "" || bad != nil {
		t.Errorf("ok/empty: %q %v", d, bad)
	}
	if d := tenant.DomainNameField("Acme.X.Example.", "x.example", &bad); d != "acme.x.example" || bad != nil {
		t.Errorf("ok/name: %q %v", d, bad)
	}
	if a := tenant.AllowlistField([]string{"10.0.0.0/8", "10.1.0.0/8"}, &bad); len(a) != 1 || bad != nil {
		t.Errorf("ok/allowlist: %v %v", a, bad)
	}
	tenant.DomainNameField("www.x.example", "x.example", &bad)
	tenant.AllowlistField([]string{"nope"}, &bad)
	if len(bad) != 2 || bad[0].Name != "domainName" || !strings.Contains(bad[0].Reason, "reserved") || bad[1].Name != "ipAllowlist" || !strings.Contains(bad[1].Reason, `"nope"`) {
		t.Errorf("fail/fields: %v", bad)
	}
}
