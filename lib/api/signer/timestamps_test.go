package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	rpkcs7 "github.com/sassoftware/relic/v8/lib/pkcs7"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/timestamping"
	"github.com/opensignum/signum/lib/tsastandin"
	"github.com/opensignum/signum/lib/wire"
)

// signerNearTSA is the signer on db and registry as the local server runs it: its
// time-stamping client may reach the stand-in authority on loopback (a deployed signer
// refuses private addresses).
func (w *world) signerNearTSA(db store.DynamoDB, registry *keys.Registry) func(ctx context.Context, host, tok, body string) (int, string) {
	parts := function.NewParts(w.env)
	parts.Store = store.New(db, w.tg.Table, function.CursorKey(w.env))
	parts.Guard.Tenants = parts.Store
	parts.Guard.LocalSignerPort = "8443"
	h := edge.Lambda(signer.NewHandler(parts, registry, access.NewMux(w.env.Log, parts.Guard)))
	return func(ctx context.Context, host, tok, body string) (int, string) {
		resp, err := h(ctx, signEvent(host, tok, body))
		if err != nil {
			panic(err)
		}
		return resp.StatusCode, resp.Body
	}
}

// readsDB records the sort keys the signer reads with GetItem, to tell whether it read the
// time-stamping settings.
type readsDB struct {
	store.DynamoDB
	mu   sync.Mutex
	read []string
}

func (r *readsDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if sk, ok := in.Key["SK"].(*types.AttributeValueMemberS); ok {
		r.mu.Lock()
		r.read = append(r.read, sk.Value)
		r.mu.Unlock()
	}
	return r.DynamoDB.GetItem(ctx, in, o...)
}

func (r *readsDB) readSettings() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sk := range r.read {
		if sk == "TIMESTAMPING" {
			return true
		}
	}
	return false
}

func (r *readsDB) reset() {
	r.mu.Lock()
	r.read = nil
	r.mu.Unlock()
}

// stampReasons are the reasons of d's completions that failed for want of a timestamp, in no
// order.
func stampReasons(t *testing.T, w *world, dep string) []string {
	t.Helper()
	var out []string
	cursor := ""
	for {
		page, err := w.clean.Store.ListEvents(context.Background(), dep, store.EventFilter{}, store.PageRequest{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if e.Kind == audit.KindCompletion && e.Outcome == audit.Failed && strings.HasPrefix(e.Reason, "not signed: the policy requires a timestamp") {
				out = append(out, e.Reason)
			}
		}
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

// digestsBody is a POST /sign body for cert with one digest per algorithm of algs (of "i").
func digestsBody(cert certificates.Certificate, algs ...string) (string, [][]byte, []crypto.Hash) {
	var digests []map[string]string
	var raw [][]byte
	var hs []crypto.Hash
	for i, alg := range algs {
		var d []byte
		h := crypto.SHA256
		if alg == "SHA384" {
			s := sha512.Sum384([]byte{byte(i)})
			d, h = s[:], crypto.SHA384
		} else {
			s := sha256.Sum256([]byte{byte(i)})
			d = s[:]
		}
		raw, hs = append(raw, d), append(hs, h)
		digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(d), "digestAlgorithm": alg})
	}
	body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": digests})
	return string(body), raw, hs
}

// TestRequiredTimestamps: a policy without requireTimestamp signs as before, with no call
// to an authority and no read of the settings; one with it returns, with each signature, a
// token over the signature's bytes (its imprint with the digest's algorithm) that chains to
// the configured roots; and a signature whose token cannot be had — no authority configured,
// the authority down, a token over another hash or without the nonce, a token from an
// untrusted authority — is withheld (502 naming the problem) and its completion says why.
// Authorities are tried in order.
func TestRequiredTimestamps(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "stamps.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	tsa, err := tsastandin.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()
	db := &readsDB{DynamoDB: w.tg.Clients.DynamoDB}
	sign := w.signerNearTSA(db, keys.NewRegistry(w.kms))
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	pub := w.leaf.PublicKey.(*ecdsa.PublicKey)

	// ok/no-flag: no token, no authority asked, the settings not read.
	body, _, _ := digestsBody(cert, "SHA256")
	if status, out := sign(ctx, d.DomainName, tok, body); status != 200 || strings.Contains(out, "timestampToken") {
		t.Fatalf("no-flag: %d %s", status, out)
	}
	if tsa.Served() != 0 || db.readSettings() {
		t.Fatalf("a policy without requireTimestamp asked the authority (%d) or read the settings (%v)", tsa.Served(), db.readSettings())
	}

	next := pol
	next.RequireTimestamp = true
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.clean.Store.UpdatePolicy(ctx, d.ID, pol, next, log); err != nil {
		t.Fatal(err)
	}
	withheld := func(name, detail, reason string) {
		t.Helper()
		before := len(stampReasons(t, w, d.ID))
		status, out := sign(ctx, d.DomainName, tok, body)
		if status != 502 || strings.Contains(out, `"signatures"`) || !strings.Contains(out, detail) {
			t.Fatalf("%s: %d %s", name, status, out)
		}
		reasons := stampReasons(t, w, d.ID)
		if len(reasons) != before+1 {
			t.Fatalf("%s: %d completions failed for want of a timestamp, want %d: %q", name, len(reasons), before+1, reasons)
		}
		found := false
		for _, r := range reasons {
			found = found || strings.Contains(r, reason)
		}
		if !found {
			t.Fatalf("%s: no completion says %q: %q", name, reason, reasons)
		}
	}
	withheld("fail/not-configured", "no time-stamping authority configured", "no time-stamping authority configured")

	settings, err := w.clean.Store.PutTimestamping(ctx, d.ID, 0, timestamping.Settings{URLs: []string{tsa.URL}, CAPEM: string(tsa.CAPEM)}, log)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := timestamping.Roots(string(tsa.CAPEM))
	if err != nil {
		t.Fatal(err)
	}

	// ok/flag: three digests, two algorithms; each signature has its own token.
	db.reset()
	batch, raw, hs := digestsBody(cert, "SHA256", "SHA384", "SHA256")
	status, out := sign(ctx, d.DomainName, tok, batch)
	if status != 200 {
		t.Fatalf("flag: %d %s", status, out)
	}
	if !db.readSettings() {
		t.Fatal("the settings were not read")
	}
	var res wire.Response
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Signatures) != 3 {
		t.Fatalf("answer: %v %s", err, out)
	}
	for i, s := range res.Signatures {
		sig, _ := base64.StdEncoding.DecodeString(s.Signature)
		if !ecdsa.VerifyASN1(pub, raw[i], sig) {
			t.Fatalf("signature %d does not verify", i)
		}
		der, err := base64.StdEncoding.DecodeString(s.TimestampToken)
		if err != nil || len(der) == 0 {
			t.Fatalf("signature %d: token %q", i, s.TimestampToken)
		}
		tk, err := rpkcs7.Unmarshal(der)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if err := timestamping.CheckToken(tk, roots, hs[i], sig); err != nil {
			t.Fatalf("token %d does not check: %v", i, err)
		}
		other := crypto.SHA384
		if hs[i] == crypto.SHA384 {
			other = crypto.SHA256
		}
		if err := timestamping.CheckToken(tk, roots, other, sig); err == nil {
			t.Fatalf("token %d checks as a %v token too", i, other)
		}
		if err := timestamping.CheckToken(tk, roots, hs[i], append([]byte{0}, sig...)); err == nil {
			t.Fatalf("token %d checks over other bytes", i)
		}
	}

	tsa.SetFault(tsastandin.Down)
	withheld("fail/down", "answered HTTP 503", "answered HTTP 503")
	tsa.SetFault(tsastandin.OtherImprint)
	withheld("fail/other-imprint", "gave no valid token", "gave no valid token for this signature")
	tsa.SetFault(tsastandin.NoNonce)
	withheld("fail/no-nonce", "gave no valid token", "gave no valid token for this signature")
	tsa.SetFault(tsastandin.None)

	// fail/untrusted: a token that chains to another root.
	stranger, err := tsastandin.New()
	if err != nil {
		t.Fatal(err)
	}
	if settings, err = w.clean.Store.PutTimestamping(ctx, d.ID, settings.Version, timestamping.Settings{URLs: []string{tsa.URL}, CAPEM: string(stranger.CAPEM)}, log); err != nil {
		t.Fatal(err)
	}
	withheld("fail/untrusted", "does not check", "gave a token that does not check")

	// ok/second-authority: the first is down (nothing listens), the second answers.
	if _, err = w.clean.Store.PutTimestamping(ctx, d.ID, settings.Version, timestamping.Settings{URLs: []string{"http://127.0.0.1:1/", tsa.URL}, CAPEM: string(tsa.CAPEM)}, log); err != nil {
		t.Fatal(err)
	}
	if status, out := sign(ctx, d.DomainName, tok, body); status != 200 || !strings.Contains(out, "timestampToken") {
		t.Fatalf("second authority: %d %s", status, out)
	}
	if problems, _, err := audit.Verify(ctx, w.clean.Store, d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log: %+v %v", problems, err)
	}
}

// TestTimestampFaultsNeverLoseTheRecord is TestFaultsNeverLoseTheRecord with the timestamp
// step: the policy requires timestamps and the authority, besides the table and the keys,
// fails at random (down, a token over another hash, a token without the nonce). The same
// two promises hold, and every signature returned carries a token over it that checks.
func TestTimestampFaultsNeverLoseTheRecord(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 60
	}
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "stampchaos.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	next := pol
	next.RequireTimestamp = true
	_ = next.Validate()
	log := tenant.LogEntry{Actor: "t", Action: "x"}
	if _, err := w.clean.Store.UpdatePolicy(ctx, d.ID, pol, next, log); err != nil {
		t.Fatal(err)
	}
	tsa, err := tsastandin.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()
	if _, err := w.clean.Store.PutTimestamping(ctx, d.ID, 0, timestamping.Settings{URLs: []string{tsa.URL}, CAPEM: string(tsa.CAPEM)}, log); err != nil {
		t.Fatal(err)
	}
	roots, _ := timestamping.Roots(string(tsa.CAPEM))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ch := &chaos{rng: rand.New(rand.NewPCG(seed, 2)), p: 0.1}
	sign := w.signerNearTSA(faultyDB{w.tg.Clients.DynamoDB, ch}, keys.NewRegistry(faultyKeys{w.kms, ch}))
	pub := w.leaf.PublicKey.(*ecdsa.PublicKey)
	tsaFaults := []tsastandin.Fault{tsastandin.None, tsastandin.None, tsastandin.None, tsastandin.Down, tsastandin.OtherImprint, tsastandin.NoNonce}

	returned := map[string][]byte{}
	statuses, byFault := map[int]int{}, map[tsastandin.Fault]int{}
	ch.on = true
	for i := 0; i < runs; i++ {
		ch.mu.Lock()
		ch.p = ch.rng.Float64() * 0.08
		fault := tsaFaults[ch.rng.IntN(len(tsaFaults))]
		ch.mu.Unlock()
		tsa.SetFault(fault)
		n := 1 + i%3
		var digests []map[string]string
		var raw [][]byte
		for j := 0; j < n; j++ {
			sum := sha256.Sum256([]byte{byte(i), byte(j), byte(i >> 8), 's'})
			raw = append(raw, sum[:])
			digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"})
		}
		body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": digests})
		status, out := sign(ctx, d.DomainName, tok, string(body))
		statuses[status]++
		if status != 200 {
			if strings.Contains(out, `"signatures"`) {
				t.Fatalf("a %d answer carries signatures: %s", status, out)
			}
			continue
		}
		byFault[fault]++
		if fault != tsastandin.None {
			t.Fatalf("run %d: signed while the authority answered %q: %s", i, fault, out)
		}
		var res wire.Response
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Signatures) != n {
			t.Fatalf("200 answer: %s", out)
		}
		for j, s := range res.Signatures {
			sig, _ := base64.StdEncoding.DecodeString(s.Signature)
			if !ecdsa.VerifyASN1(pub, raw[j], sig) {
				t.Fatalf("run %d: signature %d does not verify", i, j)
			}
			der, _ := base64.StdEncoding.DecodeString(s.TimestampToken)
			tk, err := rpkcs7.Unmarshal(der)
			if err != nil {
				t.Fatalf("run %d: token %d: %v", i, j, err)
			}
			if err := timestamping.CheckToken(tk, roots, crypto.SHA256, sig); err != nil {
				t.Fatalf("run %d: token %d does not check: %v", i, j, err)
			}
			returned[fmt.Sprintf("%s#%d", s.EventID, j)] = sig
		}
	}
	ch.on = false
	tsa.SetFault(tsastandin.None)
	t.Logf("%d runs, statuses %v, %d signatures returned", runs, statuses, len(returned))
	if statuses[200] == 0 || statuses[503] == 0 {
		t.Fatalf("the run did not exercise both outcomes: %v", statuses)
	}

	claimed := map[string]string{}
	stamped := 0
	cursor := ""
	for {
		page, err := w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if e.Kind == audit.KindCompletion && e.Outcome == audit.Failed && strings.HasPrefix(e.Reason, "not signed: the policy requires a timestamp") {
				stamped++
			}
			if e.Kind != audit.KindCompletion || e.Outcome != audit.Signed {
				continue
			}
			ids, sums := strings.Split(e.Of, ","), strings.Split(e.SignatureSHA256, ",")
			for k, sum := range sums {
				claimed[fmt.Sprintf("%s#%d", ids[0], k)] = sum
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if stamped == 0 {
		t.Fatal("no completion records a timestamp failure")
	}
	for id, sig := range returned {
		sum := sha256.Sum256(sig)
		if claimed[id] != hex.EncodeToString(sum[:]) {
			t.Fatalf("signature %s was returned without its completed event", id)
		}
	}
	for id := range claimed {
		if _, ok := returned[id]; !ok {
			t.Fatalf("completion claims signature %s, which was not returned", id)
		}
	}
	if problems, _, err := audit.Verify(ctx, w.clean.Store, d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log after faults: %+v %v", problems, err)
	}
}
