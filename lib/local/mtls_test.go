package local_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// TestCertificateUsers: an admin registers an issuing CA with a subject rule, and a pinned
// self-signed certificate, for a certificate user (no password); the user's agent signs over
// mutual TLS; expired, unknown, wrong-CA, rule-mismatching, other-deployment, revoked and
// removed certificates, and certificates of a disabled user, are refused with a reason.
func TestCertificateUsers(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "mTLS signing"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)

	// A certificate user: no password, so no password logs it in.
	var agent struct {
		ID          string
		HasPassword bool
	}
	con.do("POST", "/console/users", map[string]any{"username": "build-agents", "name": "Build agents", "roles": []string{"signer"}}).must(t, 201, "certificate user").json(t, &agent)
	if agent.HasPassword {
		t.Fatal("a user created without a password says it has one")
	}
	con.do("POST", "/console/login", map[string]string{"username": "build-agents", "password": ""}).must(t, 401, "password login of a certificate user")
	con.do("POST", "/console/login", map[string]string{"username": "build-agents", "password": strongPassword}).must(t, 401, "password login of a certificate user")

	ca, otherCA := newCA(t), newCA(t)
	base := "/console/users/" + agent.ID + "/client-certificates"
	var viaCA console_ClientCert
	con.do("POST", base, map[string]any{"kind": "ca", "name": "CI issuing CA", "certificate": certstest.PEM(ca.Intermediate),
		"rules": []map[string]string{{"field": "subject", "pattern": `CN=agent-\d+,O=Acme`}}}).must(t, 201, "register CA").json(t, &viaCA)
	if viaCA.Kind != "ca" || viaCA.Subject != ca.Intermediate.Subject.String() || len(viaCA.Rules) != 1 {
		t.Fatalf("registered CA: %+v", viaCA)
	}
	// The policy that lets the certificate user sign.
	con.do("POST", "/console/policies", map[string]any{"name": "CI agents", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{agent.ID}}}).must(t, 201, "policy")

	agent1 := clientCert(t, ca, "agent-1", certstest.Leaf{})
	sum := sha256.Sum256([]byte("artifact"))
	signBody := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}},
		"context": map[string]string{"process": "signum", "agentId": "agent-1"}}
	mtls := client{t: t, srv: srv, host: local.DemoDomain}

	var session struct {
		UserID, Name string
		Roles        []string
	}
	mtls.withCert(agent1).do("GET", "/console/session", nil).must(t, 200, "session over mTLS").json(t, &session)
	if session.UserID != agent.ID || session.Name != "build-agents" || strings.Join(session.Roles, ",") != "signer" {
		t.Fatalf("session: %+v", session)
	}
	var list struct{ Items []struct{ ID string } }
	mtls.withCert(agent1).do("GET", "/sign/certificates", nil).must(t, 200, "certificates over mTLS").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != cert.ID {
		t.Fatalf("signable certificates: %+v", list)
	}
	var out wire.Response
	mtls.withCert(agent1).do("POST", "/sign", signBody).must(t, 200, "sign over mTLS").json(t, &out)
	verifyECDSA(t, out, sum[:])
	// The certificate user's role stops at signing.
	mtls.withCert(agent1).do("GET", "/console/users", nil).must(t, 403, "console users as a signer")

	refusedAs := func(c tls.Certificate, what, reason string) {
		t.Helper()
		r := mtls.withCert(c).do("POST", "/sign", signBody)
		if r.status != 401 || !strings.Contains(r.body, reason) {
			t.Fatalf("%s: %d %s (want 401 saying %q)", what, r.status, r.body, reason)
		}
	}
	refusedAs(clientCert(t, ca, "intruder", certstest.Leaf{}), "a subject the rules do not match", "is not registered")
	refusedAs(clientCert(t, otherCA, "agent-1", certstest.Leaf{}), "the right subject from another CA", "is not registered")
	refusedAs(clientCert(t, ca, "agent-2", certstest.Leaf{NotBefore: time.Now().AddDate(-1, 0, -1), NotAfter: time.Now().Add(-time.Hour)}), "expired", "expired on")
	refusedAs(clientCert(t, ca, "agent-3", certstest.Leaf{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), "a server certificate", "not for client authentication")
	stranger, err := certstest.SelfSigned(pkix.Name{CommonName: "agent-1", Organization: []string{"Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	refusedAs(stranger, "an unknown self-signed certificate", "is not registered")

	// Another deployment's certificate user, with a pinned certificate: it is refused here,
	// and this deployment's certificates are refused there.
	var created struct{ ID string }
	signed(t, srv, "POST", "/operator/deployments", `{"name":"Other","domainName":"other.localhost"}`).must(t, 201, "provision B").json(t, &created)
	st := function.NewParts(envFor(srv)).Store
	ctx := context.Background()
	bUser, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: created.ID, Username: "b-agent",
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	bCert, err := certstest.SelfSigned(pkix.Name{CommonName: "b-agent"})
	if err != nil {
		t.Fatal(err)
	}
	bCred, err := clientauth.New(clientauth.Credential{ID: tenant.NewID("cc_"), DeploymentID: created.ID, UserID: bUser.ID, Kind: clientauth.Pinned}, certstest.PEM(bCert.Leaf), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClientCredential(ctx, bCred, bUser.Version, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	bHost := mtls.at("other.localhost")
	bHost.withCert(bCert).do("GET", "/console/session", nil).must(t, 200, "B's certificate at B")
	refusedAs(bCert, "B's certificate at A", "is not registered")
	bHost.withCert(agent1).do("GET", "/console/session", nil).must(t, 401, "A's certificate at B")

	// Revocation by serial: refused from then on; the credential lists it.
	agent4 := clientCert(t, ca, "agent-4", certstest.Leaf{})
	mtls.withCert(agent4).do("GET", "/console/session", nil).must(t, 200, "agent-4 before revocation")
	// (The signer has now seen agent-4 unrevoked: what it remembers is confirmed before use.)
	mtls.withCert(agent4).do("POST", "/sign", signBody).must(t, 200, "agent-4 signs before revocation")
	serial := clientauth.SerialOf(agent4.Leaf)
	colons := strings.ToUpper(colonHex(serial))
	con.do("POST", base+"/"+viaCA.ID+"/revocations", map[string]string{"serial": colons, "reason": "laptop stolen"}).must(t, 201, "revoke")
	con.do("POST", base+"/"+viaCA.ID+"/revocations", map[string]string{"serial": serial}).must(t, 409, "revoke twice")
	con.do("POST", base+"/"+viaCA.ID+"/revocations", map[string]string{}).must(t, 400, "revoke without a serial")
	refusedAs(agent4, "revoked", "has been revoked")
	mtls.withCert(agent1).do("GET", "/console/session", nil).must(t, 200, "agent-1 after agent-4's revocation")
	var got console_ClientCert
	con.do("GET", base+"/"+viaCA.ID, nil).must(t, 200, "get credential").json(t, &got)
	if len(got.Revocations) != 1 || got.Revocations[0].Serial != serial || got.Revocations[0].Reason != "laptop stolen" {
		t.Fatalf("revocations: %+v", got.Revocations)
	}

	// A pinned certificate: exactly that one; it cannot be pinned twice.
	laptop, err := certstest.SelfSigned(pkix.Name{CommonName: "release-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	var pinned console_ClientCert
	con.do("POST", base, map[string]any{"kind": "certificate", "certificate": certstest.PEM(laptop.Leaf)}).must(t, 201, "pin").json(t, &pinned)
	con.do("POST", base, map[string]any{"kind": "certificate", "certificate": certstest.PEM(laptop.Leaf)}).must(t, 409, "pin twice")
	mtls.withCert(laptop).do("POST", "/sign", signBody).must(t, 200, "sign with the pinned certificate")

	// The operator's truststore bundle (for API Gateway's mutual TLS) holds every deployment's
	// registrations, each once: this one's CA and pinned certificate, the other's pinned one.
	ts := signed(t, srv, "GET", "/operator/truststore", "").must(t, 200, "truststore")
	if !strings.Contains(ts.body, certstest.PEM(ca.Intermediate)) || !strings.Contains(ts.body, certstest.PEM(laptop.Leaf)) ||
		!strings.Contains(ts.body, certstest.PEM(bCert.Leaf)) || ts.header.Get("Content-Type") != "application/x-pem-file" ||
		strings.Count(ts.body, "BEGIN CERTIFICATE") != 3 || ts.header.Get("X-Certificate-Count") != "3" {
		t.Fatalf("truststore (%s):\n%s", ts.header.Get("X-Certificate-Count"), ts.body)
	}
	client{t: t, srv: srv, host: local.DemoDomain}.as(session.UserID).do("GET", "/operator/truststore", nil).must(t, 403, "truststore without SigV4")

	// Bad registrations say what is wrong.
	for name, body := range map[string]map[string]any{
		"leaf as CA":   {"kind": "ca", "certificate": certstest.PEM(agent1.Leaf)},
		"not PEM":      {"kind": "certificate", "certificate": "MIIB"},
		"bad kind":     {"kind": "token", "certificate": certstest.PEM(laptop.Leaf)},
		"bad rule":     {"kind": "ca", "certificate": certstest.PEM(ca.Intermediate), "rules": []map[string]string{{"field": "cn", "pattern": "x"}}},
		"bad pattern":  {"kind": "ca", "certificate": certstest.PEM(ca.Intermediate), "rules": []map[string]string{{"field": "subject", "pattern": "(("}}},
		"pinned rules": {"kind": "certificate", "certificate": certstest.PEM(laptop.Leaf), "rules": []map[string]string{{"field": "subject", "pattern": "x"}}},
	} {
		if r := con.do("POST", base, body); r.status != 400 || r.problemType() != "invalid-request" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	con.do("POST", "/console/users/cu_nobody/client-certificates", map[string]any{"kind": "certificate", "certificate": certstest.PEM(stranger.Leaf)}).must(t, 404, "unknown user")

	// Removing the credential stops the certificate at once.
	con.do("DELETE", base+"/"+pinned.ID, nil).must(t, 204, "remove pinned")
	refusedAs(laptop, "removed", "is not registered")
	var creds struct{ Items []console_ClientCert }
	con.do("GET", base, nil).must(t, 200, "list").json(t, &creds)
	if len(creds.Items) != 1 || creds.Items[0].ID != viaCA.ID {
		t.Fatalf("credentials after removal: %+v", creds.Items)
	}

	// A disabled certificate user is refused although its certificate matches.
	con.do("PATCH", "/console/users/"+agent.ID, map[string]string{"status": "disabled"}).must(t, 200, "disable user")
	refusedAs(agent1, "disabled user", "no longer active")
	con.do("PATCH", "/console/users/"+agent.ID, map[string]string{"status": "active"}).must(t, 200, "enable user")
	mtls.withCert(agent1).do("GET", "/console/session", nil).must(t, 200, "enabled again")
	mtls.withCert(agent1).do("POST", "/sign", signBody).must(t, 200, "signs again once enabled")

	// Removing the user removes its credentials: the CA can be registered for someone else.
	con.do("DELETE", "/console/users/"+agent.ID, nil).must(t, 204, "remove user")
	refusedAs(agent1, "removed user", "is not registered")

	// A token and a certificate together are refused (a token must not carry a request past
	// a revoked certificate), and no certificate at all gets no handshake, as at API Gateway.
	if r := mtls.withCert(agent1).as(session.UserID).do("GET", "/console/session", nil); r.status != 401 || !strings.Contains(r.body, "not both") {
		t.Fatalf("token and certificate: %d %s", r.status, r.body)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srv.TLSCA)
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest("GET", srv.TLSURL+"/console/session", nil)
	req.Host = local.DemoDomain
	if res, err := noCert.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("a client without a certificate completed the handshake: %d", res.StatusCode)
	}
	// On the plain port no certificate is verified, and one forged into the header the Lambda
	// proxy library also reads is ignored: only the gateway's request context counts.
	forged, _ := json.Marshal(events.APIGatewayV2HTTPRequestContext{DomainName: local.DemoDomain,
		Authentication: events.APIGatewayV2HTTPRequestContextAuthentication{ClientCert: apigw.ClientCert(agent1.Leaf)}})
	if r := (client{t: t, srv: srv, host: local.DemoDomain}).do("GET", "/console/session", nil, "X-GoLambdaProxy-ApiGw-Context", string(forged)); r.status != 401 || !strings.Contains(r.body, "bearer token") {
		t.Fatalf("forged client certificate on the plain port: %d %s", r.status, r.body)
	}
}

// console_ClientCert is the JSON of a registered client certificate.
type console_ClientCert struct {
	ID, Kind, Subject, Serial string
	Rules                     []map[string]string
	Revocations               []struct{ Serial, Reason string }
}

func newCA(t *testing.T) *certstest.CA {
	t.Helper()
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func clientCert(t *testing.T, ca *certstest.CA, cn string, l certstest.Leaf) tls.Certificate {
	t.Helper()
	c, err := ca.Client(pkix.Name{CommonName: cn, Organization: []string{"Acme"}}, l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func colonHex(s string) string {
	if len(s)%2 == 1 {
		s = "0" + s
	}
	var parts []string
	for i := 0; i < len(s); i += 2 {
		parts = append(parts, s[i:i+2])
	}
	return strings.Join(parts, ":")
}

func verifyECDSA(t *testing.T, out wire.Response, digest []byte) {
	t.Helper()
	block, _ := pem.Decode([]byte(out.ChainPEM))
	if block == nil {
		t.Fatal(errors.New("no chain in the answer"))
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(out.Signatures[0].Signature)
	if !ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), digest, sig) {
		t.Fatal("the signature does not verify with the certificate")
	}
}
