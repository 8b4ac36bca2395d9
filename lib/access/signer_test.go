package access

import "testing"

// TestSignerEndpoint: the mutual-TLS endpoint of a deployment is the inverse of the host
// mapping the guard applies (deploymentDomain): "<label>.<SignerDomain>" for the domain name
// "<label>.<DomainSuffix>", the domain on the local server's TLS port locally, and none for a
// name the mutual-TLS domain cannot serve.
func TestSignerEndpoint(t *testing.T) {
	aws := &Guard{DomainSuffix: "sign.example.com", SignerDomainSuffix: "mtls.sign.example.com"}
	local := &Guard{LocalSignerPort: "8443"}
	for _, c := range []struct {
		g            *Guard
		domain, want string
	}{
		{aws, "acme.sign.example.com", "https://acme.mtls.sign.example.com"},
		{aws, "ACME.Sign.Example.com", "https://acme.mtls.sign.example.com"},
		{aws, "a.b.sign.example.com", ""},
		{aws, "acme.other.example", ""},
		{aws, "", ""},
		{local, "demo.localhost", "https://demo.localhost:8443"},
		{&Guard{}, "demo.localhost", ""},
	} {
		got := c.g.SignerEndpoint(c.domain)
		if got != c.want {
			t.Errorf("SignerEndpoint(%q) = %q, want %q", c.domain, got, c.want)
		}
		// The guard maps the endpoint's host back to the domain name.
		if got != "" && c.g.SignerDomainSuffix != "" {
			if back := c.g.deploymentDomain(got[len("https://"):]); back != "acme.sign.example.com" {
				t.Errorf("%q maps back to %q", got, back)
			}
		}
	}
}
