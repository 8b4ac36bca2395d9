package signer_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestCachedReadsAreConfirmed: a warm signer answers its reads (deployment, caller,
// certificate, policies' version) from its cache and confirms them while it writes the
// decision, so every change made elsewhere (the console, the portal) holds for the very next
// request: a disabled certificate, a disabled user, a deployment's allowlist and a changed
// policy refuse it; undoing each lets it sign again (a refusal on cached items is decided
// again on fresh ones). A decision that rested on a changed item is closed unsigned, says
// why, and the request is decided again; the log verifies.
func TestCachedReadsAreConfirmed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	st := w.clean.Store
	d, cert := w.deployment(t, "cache.localhost")
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	u, pol, tok := w.signerUser(t, d, cert)
	db := &countingDB{DynamoDB: w.tg.Clients.DynamoDB}
	h := w.signerOn(db, keys.NewRegistry(w.kms))
	body := signBody(cert, 1)
	sign := func(want int, what string) string {
		t.Helper()
		resp, err := h(ctx, signEvent(d.DomainName, tok, body))
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %d %v %s, want %d", what, resp.StatusCode, err, resp.Body, want)
		}
		return resp.Body
	}
	sign(200, "cold")
	db.gets.Store(0)
	sign(200, "warm")
	if n := db.gets.Load(); n != 0 {
		t.Fatalf("a warm request made %d GetItem calls: its reads did not come from the cache", n)
	}

	changes := []struct {
		name       string
		change     func(on bool)
		refused    int
		refusedFor string
	}{
		{"certificate disabled", func(on bool) {
			cur, _, err := st.CertificateForSigning(ctx, d.ID, cert.ID)
			if err != nil {
				t.Fatal(err)
			}
			next := cur
			next.Status = certificates.StatusDisabled
			if on {
				next.Status = certificates.StatusActive
			}
			if _, err := st.UpdateCertificate(ctx, cur, next, log); err != nil {
				t.Fatal(err)
			}
		}, 403, "not allowed"},
		{"user disabled", func(on bool) {
			cur, err := st.GetConsoleUser(ctx, d.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			next := cur
			next.Status = identity.StatusDisabled
			if on {
				next.Status = identity.StatusActive
			}
			if _, err := st.UpdateConsoleUser(ctx, cur, next, log); err != nil {
				t.Fatal(err)
			}
		}, 401, "no longer active"},
		{"caller outside the allowlist", func(on bool) {
			cur, err := st.GetDeployment(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			next := cur
			next.IPAllowlist = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
			if on {
				next.IPAllowlist = nil
			}
			if _, err := st.UpdateDeployment(ctx, cur, next, &log); err != nil {
				t.Fatal(err)
			}
		}, 403, "allowlist"},
		{"policy disabled", func(on bool) {
			cur, err := st.GetPolicy(ctx, d.ID, pol.ID)
			if err != nil {
				t.Fatal(err)
			}
			next := cur
			next.Enabled = on
			if pol, err = st.UpdatePolicy(ctx, d.ID, cur, next, log); err != nil {
				t.Fatal(err)
			}
		}, 403, "not allowed"},
	}
	// A retry with an Idempotency-Key replays the stored answer only to a caller that may
	// sign now: the replay confirms what admitted it too.
	keyed := signEvent(d.DomainName, tok, body)
	keyed.Headers["idempotency-key"] = "build-42"
	if resp, err := h(ctx, keyed); err != nil || resp.StatusCode != 200 {
		t.Fatalf("keyed request: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	changes[1].change(false) // the user is disabled
	if resp, err := h(ctx, keyed); err != nil || resp.StatusCode != 401 || resp.Headers["Idempotent-Replayed"] != "" {
		t.Fatalf("a disabled user's replay: %d %v %v %s", resp.StatusCode, err, resp.Headers, resp.Body)
	}
	changes[1].change(true)
	if resp, err := h(ctx, keyed); err != nil || resp.StatusCode != 200 || resp.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("the replay once enabled again: %d %v %v %s", resp.StatusCode, err, resp.Headers, resp.Body)
	}

	for _, c := range changes {
		sign(200, c.name+": before")
		c.change(false)
		if got := sign(c.refused, c.name); !strings.Contains(got, c.refusedFor) {
			t.Fatalf("%s: refused with %s", c.name, got)
		}
		sign(c.refused, c.name+": again")
		c.change(true)
		sign(200, c.name+": undone")
	}

	// The decisions taken on cached items that had changed are closed unsigned, with the
	// reason; each is followed by the decision taken again.
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
		return st.ListEvents(ctx, d.ID, store.EventFilter{}, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	superseded := 0
	for _, e := range all {
		if e.Kind == audit.KindCompletion && e.Outcome == audit.Failed {
			if !strings.Contains(e.Reason, "changed before the key was used") {
				t.Fatalf("an unsigned completion without the reason: %+v", e)
			}
			superseded++
		}
	}
	// Each change is first met by a request admitted on cached items: its decision is closed
	// when the confirmation finds the change, and it is decided again (refused). The requests
	// after a refusal start from the refreshed cache and write nothing they must take back.
	if superseded != len(changes) {
		t.Fatalf("%d decisions closed as superseded, want %d", superseded, len(changes))
	}
	if problems, _, err := audit.Verify(ctx, st, d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log: %+v %v", problems, err)
	}
}
