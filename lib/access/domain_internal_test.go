package access

import "testing"

// The mutual-TLS host of a deployment stands for its domain name; nothing else does.
func TestDeploymentDomain(t *testing.T) {
	g := &Guard{DomainSuffix: "sign.example.com", SignerDomainSuffix: "mtls.sign.example.com"}
	for host, want := range map[string]string{
		"acme.mtls.sign.example.com":   "acme.sign.example.com",
		"ACME.MTLS.sign.example.com":   "acme.sign.example.com",
		"acme.sign.example.com":        "acme.sign.example.com",
		"a.b.mtls.sign.example.com":    "a.b.mtls.sign.example.com", // two labels: no deployment's
		"mtls.sign.example.com":        "mtls.sign.example.com",
		"acme.mtls.sign.example.com.x": "acme.mtls.sign.example.com.x",
	} {
		if got := g.deploymentDomain(host); got != want {
			t.Errorf("%s → %s, want %s", host, got, want)
		}
	}
	if got := (&Guard{}).deploymentDomain("acme.mtls.sign.example.com"); got != "acme.mtls.sign.example.com" {
		t.Errorf("without suffixes the host is the domain: %s", got)
	}
}
