package local_test

import (
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/tsastandin"
	"github.com/opensignum/signum/lib/wire"
)

// TestTimestampingSettings: a console admin lists the deployment's time-stamping authorities
// (none at first), is refused bad URLs and trust roots field by field and a change over a
// version read before someone else's (412), and the change is in the system log. A deny
// policy cannot require timestamps. Then a signer whose policy requires them gets a token
// from the local stand-in with each signature, through the whole local stack, and a 502 that
// names the authority when it is down.
func TestTimestampingSettings(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cur struct {
		URLs    []string `json:"urls"`
		CAPEM   string   `json:"caPem"`
		Version int64    `json:"version"`
	}
	con.do("GET", "/console/timestamping", nil).must(t, 200, "get").json(t, &cur)
	if cur.Version != 0 || cur.URLs == nil || len(cur.URLs) != 0 {
		t.Fatalf("unset: %+v", cur)
	}
	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"fail/ftp":       {map[string]any{"urls": []string{"ftp://tsa.example/"}, "version": 0}, "urls[0]"},
		"fail/userinfo":  {map[string]any{"urls": []string{"http://u:p@tsa.example/"}, "version": 0}, "urls[0]"},
		"fail/too-many":  {map[string]any{"urls": []string{"http://a/", "http://b/", "http://c/", "http://d/", "http://e/"}, "version": 0}, "urls"},
		"fail/twice":     {map[string]any{"urls": []string{"http://a/", "http://a/"}, "version": 0}, "urls[1]"},
		"fail/not-pem":   {map[string]any{"urls": []string{"http://a/"}, "caPem": "not a certificate", "version": 0}, "caPem"},
		"fail/a-key-pem": {map[string]any{"urls": []string{"http://a/"}, "caPem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "version": 0}, "caPem"},
	} {
		r := con.do("PUT", "/console/timestamping", c.body).must(t, 400, name)
		if !strings.Contains(r.body, `"name":"`+c.field+`"`) {
			t.Fatalf("%s: the refusal does not name %s: %s", name, c.field, r.body)
		}
	}
	set := map[string]any{"urls": []string{srv.TSA.URL}, "caPem": string(srv.TSA.CAPEM), "version": 0}
	con.do("PUT", "/console/timestamping", set).must(t, 200, "put").json(t, &cur)
	if cur.Version != 1 || len(cur.URLs) != 1 || cur.URLs[0] != srv.TSA.URL || cur.CAPEM == "" {
		t.Fatalf("saved: %+v", cur)
	}
	con.do("PUT", "/console/timestamping", set).must(t, 412, "put over version 0 again")
	entries := systemLog(t, con, url.Values{"section": {"settings"}})
	found := false
	for _, e := range entries {
		found = found || (e.Action == "settings.timestamping.updated" && strings.Contains(e.Detail, srv.TSA.URL))
	}
	if !found {
		t.Fatalf("no system log entry for the change: %+v", entries)
	}

	// A deny policy cannot require a timestamp.
	r := con.do("POST", "/console/policies", map[string]any{"name": "No", "enabled": true, "action": "deny", "what": map[string]any{"certificates": []string{"*"}},
		"who": map[string]any{"roles": []string{"portal:Admin"}}, "requireTimestamp": true}).must(t, 400, "deny with timestamp")
	if !strings.Contains(r.body, "requireTimestamp") {
		t.Fatalf("the refusal does not name requireTimestamp: %s", r.body)
	}

	// The Admin signs under a policy that requires timestamps.
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Stamped"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	var pol struct {
		ID               string
		RequireTimestamp bool `json:"requireTimestamp"`
	}
	con.do("POST", "/console/policies", map[string]any{"name": "Stamped", "enabled": true, "priority": 50, "action": "allow", "what": map[string]any{"certificates": []string{cert.ID}},
		"who": map[string]any{"roles": []string{"portal:Admin"}}, "requireTimestamp": true}).must(t, 201, "policy").json(t, &pol)
	if !pol.RequireTimestamp {
		t.Fatalf("the policy does not say it requires timestamps: %+v", pol)
	}
	sum := sha256.Sum256([]byte("stamped"))
	body := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}
	var out wire.Response
	con.do("POST", "/sign", body).must(t, 200, "sign").json(t, &out)
	if len(out.Signatures) != 1 || out.Signatures[0].TimestampToken == "" {
		t.Fatalf("no token: %+v", out)
	}
	srv.TSA.SetFault(tsastandin.Down)
	defer srv.TSA.SetFault(tsastandin.None)
	r = con.do("POST", "/sign", body).must(t, 502, "sign with the authority down")
	if r.problemType() != "bad-gateway" || !strings.Contains(r.body, srv.TSA.URL) || strings.Contains(r.body, `"signatures"`) {
		t.Fatalf("the 502 does not name the authority: %s", r.body)
	}
}
