package local_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/wire"
)

// TestSignThroughTheAPI: a portal User signs under the default policy; the signature verifies
// with the certificate; a signer without a policy is refused; bad input names the problem;
// every decision is in the hash-chained event log, which verifies.
func TestSignThroughTheAPI(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "RSA_2048", "subject": map[string]string{"commonName": "Signer test"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)

	// A portal User opens the console with its portal identity and signs.
	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	var inv struct{ Token string }
	c.as(lg.Token).do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"role": "User"}).must(t, 201, "invite").json(t, &inv)
	userTok, _ := register(t, c, inv.Token, "bob@example.com")
	var ct struct{ Token string }
	c.as(userTok).do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	bob := con.as(ct.Token)

	var list struct {
		Items []struct{ ID, PolicyID string }
	}
	bob.do("GET", "/sign/certificates", nil).must(t, 200, "certificates").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != cert.ID {
		t.Fatalf("signable certificates: %+v", list)
	}

	sum1, sum2 := sha256.Sum256([]byte("hello.exe")), sha256.Sum256([]byte("hello.txt"))
	var out wire.Response
	for _, scheme := range []string{"RSASSA_PKCS1_V1_5", "RSASSA_PSS"} {
		bob.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "signatureScheme": scheme,
			"digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}, {"digest": b64(sum2[:]), "digestAlgorithm": "SHA-256"}},
			"context": map[string]string{"process": "signum", "commandLine": "signum sign hello.exe", "agentId": "agent-1"}}).must(t, 200, "sign "+scheme).json(t, &out)
		block, _ := pem.Decode([]byte(out.ChainPEM))
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pub := leaf.PublicKey.(*rsa.PublicKey)
		for i, d := range [][]byte{sum1[:], sum2[:]} {
			sig, _ := base64.StdEncoding.DecodeString(out.Signatures[i].Signature)
			var err error
			if scheme == "RSASSA_PSS" {
				err = rsa.VerifyPSS(pub, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			} else {
				err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig)
			}
			if err != nil {
				t.Fatalf("%s signature %d does not verify: %v", scheme, i, err)
			}
		}
	}

	// Bad input: each names its problem.
	for name, body := range map[string]map[string]any{
		"short digest": {"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum1[:31]), "digestAlgorithm": "SHA256"}}},
		"bad base64":   {"certificateId": cert.ID, "digests": []map[string]string{{"digest": "%%%", "digestAlgorithm": "SHA256"}}},
		"sha1":         {"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum1[:20]), "digestAlgorithm": "SHA1"}}},
		"ecdsa on rsa": {"certificateId": cert.ID, "signatureScheme": "ECDSA", "digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}}},
		"no digests":   {"certificateId": cert.ID},
	} {
		if r := bob.do("POST", "/sign", body); r.status != 400 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	bob.do("POST", "/sign", map[string]any{"certificateId": "crt_aaaaaaaaaaaaaaaaaaaaaaaaaa", "digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}}}).must(t, 404, "unknown certificate")

	// A console signer without a policy is refused, and the refusal is recorded.
	var bot struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "ci-bot", "name": "CI", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer").json(t, &bot)
	con.do("POST", "/console/login", map[string]string{"username": "ci-bot", "password": strongPassword}).must(t, 200, "bot login").json(t, &lg)
	denied := con.as(lg.Token).do("POST", "/sign", map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}}}).must(t, 403, "no policy")
	if !strings.Contains(denied.body, "not allowed") {
		t.Fatalf("denial: %s", denied.body)
	}
	// A disabled certificate never signs.
	con.do("PATCH", "/console/certificates/"+cert.ID, map[string]bool{"enabled": false}).must(t, 200, "disable")
	bob.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}}}).must(t, 403, "disabled certificate")

	// The event log has every decision and completion, and its chains verify.
	st := function.NewParts(envFor(srv)).Store
	ctx := context.Background()
	problems, n, err := audit.Verify(ctx, st, dep, audit.Lanes)
	if err != nil || len(problems) != 0 {
		t.Fatalf("event log: %+v %v", problems, err)
	}
	page, err := st.ListEvents(ctx, dep, store.EventFilter{}, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range page.Items {
		counts[e.Kind+"/"+e.Decision+e.Outcome]++
	}
	// 2 requests of 2 digests allowed (a decision each) + 2 completions; 1 denial (no
	// policy); 1 denial (disabled).
	if counts["decision/allow"] != 2 || counts["completion/signed"] != 2 || counts["decision/deny"] != 2 || n != len(page.Items) {
		t.Fatalf("events: %v (verified %d, listed %d)", counts, n, len(page.Items))
	}
	for _, e := range page.Items {
		// A denial is one event per request, with its digest count (#12).
		if e.Kind == audit.KindDecision && (e.CertificateID != cert.ID || e.Digest == "" && e.DigestCount == 0 || e.Reason == "") {
			t.Fatalf("decision event lacks fields: %+v", e)
		}
	}

	// The certificate counts its signatures (2 requests × 2 digests), in its record and the
	// listing.
	var used struct {
		UsageCount int64
		LastUsedAt *time.Time
	}
	con.do("GET", "/console/certificates/"+cert.ID, nil).must(t, 200, "certificate").json(t, &used)
	if used.UsageCount != 4 || used.LastUsedAt == nil || time.Since(*used.LastUsedAt) > time.Minute {
		t.Fatalf("usage after 4 signatures: %+v", used)
	}
	var certList struct {
		Items []struct {
			ID         string
			UsageCount int64
		}
	}
	con.do("GET", "/console/certificates", nil).must(t, 200, "certificates").json(t, &certList)
	if len(certList.Items) != 1 || certList.Items[0].UsageCount != 4 {
		t.Fatalf("usage in the listing: %+v", certList)
	}

	// The console shows the same: filtered listing, CSV and JSON-lines export, verification.
	var deniedPage struct{ Items []audit.Event }
	con.do("GET", "/console/events?decision=deny", nil).must(t, 200, "events").json(t, &deniedPage)
	if len(deniedPage.Items) != 2 {
		t.Fatalf("denied events: %d", len(deniedPage.Items))
	}
	csvOut := con.do("GET", "/console/events?format=csv&certificateId="+cert.ID, nil).must(t, 200, "csv")
	if csvOut.header.Get("Content-Type") != "text/csv; charset=utf-8" || strings.Count(csvOut.body, "\n") != 1+len(page.Items) {
		t.Fatalf("csv: %v\n%s", csvOut.header, csvOut.body)
	}
	jsonl := con.do("GET", "/console/events?format=jsonl", nil).must(t, 200, "jsonl")
	if strings.Count(jsonl.body, "\n") != len(page.Items) {
		t.Fatalf("jsonl lines: %s", jsonl.body)
	}
	con.do("GET", "/console/events?from=yesterday", nil).must(t, 400, "bad time")
	var v struct {
		Intact        bool
		EventsChecked int
	}
	con.do("GET", "/console/events/verify", nil).must(t, 200, "verify").json(t, &v)
	if !v.Intact || v.EventsChecked != len(page.Items) {
		t.Fatalf("verify: %+v", v)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestSignIdempotency: a retried POST /sign with the same Idempotency-Key gets the first
// answer and signs nothing twice; the key with another body is refused.
func TestSignIdempotency(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Idem"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	sum := sha256.Sum256([]byte("build-42"))
	body := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}
	first := con.do("POST", "/sign", body, "Idempotency-Key", "build-42").must(t, 200, "first")
	again := con.do("POST", "/sign", body, "Idempotency-Key", "build-42").must(t, 200, "retry")
	if again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry answered differently:\n%s\n%s", first.body, again.body)
	}
	other := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}, "context": map[string]string{"process": "x"}}
	con.do("POST", "/sign", other, "Idempotency-Key", "build-42").must(t, 422, "key reuse")
	con.do("POST", "/sign", body, "Idempotency-Key", strings.Repeat("k", 201)).must(t, 400, "long key")
	// One decision and one completion: the retry signed nothing.
	st := function.NewParts(envFor(srv)).Store
	page, err := st.ListEvents(context.Background(), srv.Demo.ID, store.EventFilter{CertificateID: cert.ID}, store.PageRequest{Limit: 100})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("events after a retried request: %d %v", len(page.Items), err)
	}
}

// TestSignContext: a policy limited to one application lists its certificate only for that
// application; the file names (per digest) and CI metadata a client reports are recorded in
// the events, and the CSV export does not hand a spreadsheet a formula from them.
func TestSignContext(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Context"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	var bot struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "ci-bot", "name": "CI", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer").json(t, &bot)
	con.do("POST", "/console/policies", map[string]any{"name": "CI", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{bot.ID}},
		"where": []map[string]string{{"process": "signum", "commandLine": "signum sign .*"}}}).must(t, 201, "policy")
	var lg struct{ Token string }
	con.do("POST", "/console/login", map[string]string{"username": "ci-bot", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	botc := con.as(lg.Token)

	var list struct{ Items []struct{ ID string } }
	botc.do("GET", "/sign/certificates", nil).must(t, 200, "any application").json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a certificate limited to signum is listed for any application: %+v", list)
	}
	botc.do("GET", "/sign/certificates?process=signum&commandLine=signum+sign+a.exe", nil).must(t, 200, "as signum").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != cert.ID {
		t.Fatalf("signable from signum: %+v", list)
	}

	a, b := sha256.Sum256([]byte("a.exe")), sha256.Sum256([]byte("b.txt"))
	botc.do("POST", "/sign", map[string]any{"certificateId": cert.ID,
		"digests": []map[string]string{{"digest": b64(a[:]), "digestAlgorithm": "SHA256", "fileName": "a.exe"}, {"digest": b64(b[:]), "digestAlgorithm": "SHA256"}},
		"context": map[string]any{"process": "signum", "commandLine": "signum sign a.exe b.txt", "fileName": `=HYPERLINK("http://evil")`, "agentId": "runner-7",
			"ci": map[string]string{"pipeline": "release", "job": "42"}}}).must(t, 200, "sign")
	botc.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(a[:]), "digestAlgorithm": "SHA256"}},
		"context": map[string]any{"process": "signum", "commandLine": "signum sign a.exe", "ci": map[string]string{"": "x"}}}).must(t, 400, "empty CI key")

	var events struct{ Items []audit.Event }
	con.do("GET", "/console/events?decision=allow", nil).must(t, 200, "events").json(t, &events)
	files := map[string]bool{}
	for _, e := range events.Items {
		files[e.FileName] = true
		for _, f := range e.Files {
			files[f] = true
		}
		if e.CI["pipeline"] != "release" || e.AgentID != "runner-7" {
			t.Fatalf("event lacks the CI metadata: %+v", e)
		}
	}
	// A request is one decision (#18): the context's file name, and each digest's in order.
	if len(events.Items) != 1 || events.Items[0].FileName != `=HYPERLINK("http://evil")` || fmt.Sprint(events.Items[0].Files) != "[a.exe ]" {
		t.Fatalf("file names recorded: %v in %+v", files, events.Items)
	}
	csvOut := con.do("GET", "/console/events?format=csv&decision=allow", nil).must(t, 200, "csv")
	if !strings.Contains(csvOut.body, `'=HYPERLINK`) || strings.Contains(csvOut.body, `,=HYPERLINK`) || strings.Contains(csvOut.body, `,"=HYPERLINK`) {
		t.Fatalf("csv hands out a formula:\n%s", csvOut.body)
	}
	var v struct{ Intact bool }
	con.do("GET", "/console/events/verify", nil).must(t, 200, "verify").json(t, &v)
	if !v.Intact {
		t.Fatal("the log with CI metadata does not verify")
	}
}
