package audit_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

// rootKey is a checkpoint key in memory.
type rootKey struct{ k *ecdsa.PrivateKey }

func (r rootKey) Public() crypto.PublicKey { return &r.k.PublicKey }
func (r rootKey) URI() string              { return "test:root" }
func (r rootKey) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, r.k, digest)
}

func newNotary(t *testing.T) (*audit.Notary, crypto.PublicKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := rootKey{k}
	return audit.NewNotary(func(context.Context) (audit.RootKey, error) { return root, nil }, time.Now), root.Public()
}

// sealedChain is n events of lane 0 of deployment dep, hashed with the current version.
func sealedChain(dep string, n int) []audit.Event {
	var out []audit.Event
	for i := 0; i < n; i++ {
		e := audit.Event{ID: "evt_" + string(rune('a'+i)), DeploymentID: dep, Kind: audit.KindDecision, Decision: audit.Deny, At: time.Now()}
		var prev *audit.Event
		if i > 0 {
			prev = &out[i-1]
		}
		e.Seal(prev)
		out = append(out, e)
	}
	return out
}

func anchor(t *testing.T, n *audit.Notary, a audit.Anchors, e audit.Event) {
	t.Helper()
	s, err := n.Seal(context.Background(), audit.TypeCheckpoint, e.DeploymentID, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutAnchor(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// TestExportWithKeyVerifies: an export has no checkpoints, so a genuine export checked with
// the checkpoint key is intact (it was reported unsigned lane by lane); the anchors carry
// the proof offline.
func TestExportWithKeyVerifies(t *testing.T) {
	notary, root := newNotary(t)
	evs := sealedChain("dep", 3)
	dir := audit.DirAnchors(t.TempDir())
	anchor(t, notary, dir, evs[2])
	read := func(evs []audit.Event) *audit.Export {
		var b bytes.Buffer
		if err := audit.WriteJSONL(&b, evs); err != nil {
			t.Fatal(err)
		}
		x, err := audit.ReadExport(&b)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	ctx := context.Background()
	if p, _, err := audit.Verify(ctx, read(evs), "dep", audit.Lanes, audit.WithKey(root), audit.WithAnchors(dir)); err != nil || len(p) != 0 {
		t.Fatalf("genuine export, --key --anchors: %+v %v", p, err)
	}
	if p, _, err := audit.Verify(ctx, read(evs), "dep", audit.Lanes, audit.WithKey(root)); err != nil || len(p) != 0 {
		t.Fatalf("genuine export, --key: %+v %v", p, err)
	}
	p, _, err := audit.Verify(ctx, read(evs[:2]), "dep", audit.Lanes, audit.WithKey(root), audit.WithAnchors(dir))
	if err != nil || len(p) != 1 || p[0].Kind != audit.ProblemRollback {
		t.Fatalf("an export without the anchored last event: %+v %v", p, err)
	}
}

// TestLegacyDowngradeNeedsSeal: a lane rewritten with the legacy hash (no "v") does not shed
// the seal requirement; only a lane of legacy events all dated before LegacyUntil does.
func TestLegacyDowngradeNeedsSeal(t *testing.T) {
	_, root := newNotary(t)
	legacy := func(at ...time.Time) []audit.Event {
		var evs []audit.Event
		for i, when := range at {
			e := audit.Event{ID: "evt_" + string(rune('a'+i)), DeploymentID: "dep", Kind: audit.KindDecision, Decision: audit.Deny, At: when.UTC()}
			e.Seq, e.PrevHash = int64(i+1), audit.Genesis
			if i > 0 {
				e.PrevHash = evs[i-1].Hash
			}
			e.Hash = e.ComputeHash() // HashLegacy
			evs = append(evs, e)
		}
		return evs
	}
	kinds := func(p []audit.Problem) string {
		var k []string
		for _, q := range p {
			k = append(k, q.Kind)
		}
		return strings.Join(k, ",")
	}
	now := time.Now()
	evs := legacy(now, now, now)
	if got := kinds(audit.VerifyLane("dep", audit.Lane{Events: evs, HeadSeq: 3, HeadHash: evs[2].Hash}, audit.WithKey(root))); got != "altered,altered,altered,seal" {
		t.Fatalf("a lane downgraded to the legacy hash, without a seal: %s", got)
	}
	old := audit.LegacyUntil.Add(-time.Hour)
	evs = legacy(old.Add(-time.Hour), old)
	if p := audit.VerifyLane("dep", audit.Lane{Events: evs, HeadSeq: 2, HeadHash: evs[1].Hash}, audit.WithKey(root)); len(p) != 0 {
		t.Fatalf("an old deployment's untouched legacy lane: %+v", p)
	}
	// A legacy event after a current one, however it is dated.
	evs = legacy(old, old)
	evs[0].Seal(nil)
	evs[1].PrevHash = evs[0].Hash
	evs[1].Hash = evs[1].ComputeHash()
	if got := kinds(audit.VerifyLane("dep", audit.Lane{Events: evs})); got != "altered" {
		t.Fatalf("a legacy event after a current one: %s", got)
	}
}

// TestUnmarshalableEventIsAltered: an event stored with a time whose year in UTC is beyond
// 9999 does not marshal; it is reported altered instead of panicking (a 500 of
// /console/events/verify), and a seal with such a time does not verify.
func TestUnmarshalableEventIsAltered(t *testing.T) {
	raw := `{"id":"evt_a","v":1,"deploymentId":"dep","lane":0,"seq":1,"kind":"decision","at":"9999-12-31T23:59:59-01:00","prevHash":"` + audit.Genesis + `","hash":"x"}`
	for _, v := range []string{`"v":1,`, ``} {
		var e audit.Event
		if err := json.Unmarshal([]byte(strings.Replace(raw, `"v":1,`, v, 1)), &e); err != nil {
			t.Fatal(err)
		}
		p := audit.VerifyLane("dep", audit.Lane{Events: []audit.Event{e}})
		if len(p) == 0 || p[0].Kind != audit.ProblemAltered {
			t.Fatalf("v%d: %+v", e.V, p)
		}
	}
	notary, root := newNotary(t)
	s, err := notary.Seal(context.Background(), audit.TypeCheckpoint, "dep", sealedChain("dep", 1)...)
	if err != nil {
		t.Fatal(err)
	}
	s.Statement.At = time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -3600))
	if err := s.Verify(root); err == nil {
		t.Fatal("a seal of a statement that does not marshal verifies")
	}
}

// countingAnchors counts the anchors read.
type countingAnchors struct {
	audit.DirAnchors
	reads int
}

func (c *countingAnchors) ReadAnchor(ctx context.Context, name string) ([]byte, error) {
	c.reads++
	return c.DirAnchors.ReadAnchor(ctx, name)
}

// TestEveryAnchorIsCompared: a lane rewritten under an older anchor is reported even when
// its newest anchor agrees with the rewritten chain; an intact lane costs one listing and one
// read (the newest anchor); anchors named without a hash (written before) are read.
func TestEveryAnchorIsCompared(t *testing.T) {
	ctx := context.Background()
	notary, root := newNotary(t)
	evs := sealedChain("dep", 6)
	dir := &countingAnchors{DirAnchors: audit.DirAnchors(t.TempDir())}
	for _, i := range []int{0, 1, 3, 5} {
		anchor(t, notary, dir, evs[i])
	}
	// An anchor written before names had the event's hash.
	s, err := notary.Seal(ctx, audit.TypeCheckpoint, "dep", evs[2])
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(s)
	oldName := filepath.Join(string(dir.DirAnchors), filepath.FromSlash(strings.Replace(audit.AnchorName("dep", 0, 3, evs[2].Hash), "-"+evs[2].Hash, "", 1)))
	if err := os.WriteFile(oldName, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	sealed := func(evs []audit.Event) audit.Lane {
		s, err := notary.Seal(ctx, audit.TypeCheckpoint, "dep", evs[len(evs)-1])
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		return audit.Lane{Events: evs, HeadSeq: last.Seq, HeadHash: last.Hash, Seal: &s}
	}
	verify := func(l audit.Lane) []audit.Problem {
		t.Helper()
		dir.reads = 0
		p, _, err := audit.Verify(ctx, laneReader{l}, "dep", 1, audit.WithKey(root), audit.WithAnchors(dir))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := verify(sealed(evs)); len(p) != 0 || dir.reads != 2 {
		t.Fatalf("intact lane: %+v, %d anchors read (want the newest and the old-style one)", p, dir.reads)
	}
	// The insider rewrites from event 5 on (event 4 gone), pads the lane and the signer
	// anchors on top.
	forged := append([]audit.Event(nil), evs[:4]...)
	for i := 0; i < 4; i++ {
		f := audit.Event{ID: "evt_f" + string(rune('a'+i)), DeploymentID: "dep", Kind: audit.KindDecision, Decision: audit.Deny, At: time.Now()}
		f.Seal(&forged[len(forged)-1])
		forged = append(forged, f)
	}
	anchor(t, notary, dir, forged[len(forged)-1])
	p := verify(sealed(forged))
	if len(p) != 1 || p[0].Kind != audit.ProblemAltered || p[0].Seq != 6 || !strings.Contains(p[0].Detail, "anchor") {
		t.Fatalf("a lane rewritten under an older anchor: %+v", p)
	}
}

// laneReader is one lane.
type laneReader struct{ l audit.Lane }

func (r laneReader) ReadLane(context.Context, string, int) (audit.Lane, error) { return r.l, nil }
