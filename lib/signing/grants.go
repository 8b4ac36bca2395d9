package signing

// Grants on the signing path: an allowed request whose policy, or user grant, counts its
// signatures (policy.Grant) takes them from the grant's count while its decision is written,
// as the deployment's Spend is taken, and before the key is used; a request that then signs
// nothing gives them back. The count is one item per grant, taken with one conditional
// update (store.TakeGrant): no two requests can take the last signature. A request without a
// grant makes no call more; the user grants are read with the policies, only when the
// deployment's policies version moved.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// ErrGrantUsedUp is an allowed request refused because its grant has too few signatures
// left, or was revoked meanwhile (403); it is recorded.
var ErrGrantUsedUp = fmt.Errorf("signing: grant used up: %w", fault.ErrForbidden)

// GrantStore is what grants need of the table (store.Store).
type GrantStore interface {
	AllGrants(ctx context.Context, dep string) ([]policy.UserGrant, error)
	TakeGrant(ctx context.Context, dep string, c store.GrantCounter, n int) (store.GrantTake, error)
	ReturnGrant(ctx context.Context, dep string, c store.GrantCounter, n int) error
}

// grantCache keeps each deployment's user grants as read at a policies version (creating or
// revoking a grant moves it). It is safe for concurrent use.
type grantCache struct {
	mu sync.Mutex
	m  map[string]grantEntry
}

type grantEntry struct {
	version int64
	grants  []policy.UserGrant
}

// grantsAt are dep's user grants at policies version v, read again only when v moved.
func (s *Signer) grantsAt(ctx context.Context, dep string, v int64) ([]policy.UserGrant, error) {
	gc := &s.grants
	gc.mu.Lock()
	e, ok := gc.m[dep]
	gc.mu.Unlock()
	if ok && e.version == v {
		return e.grants, nil
	}
	gs, err := s.store.AllGrants(ctx, dep)
	if err != nil {
		return nil, err
	}
	gc.mu.Lock()
	if gc.m == nil {
		gc.m = map[string]grantEntry{}
	}
	// Keep the newest: a slower read of an older version must not replace a newer one.
	if cur, ok := gc.m[dep]; !ok || cur.version <= v {
		gc.m[dep] = grantEntry{version: v, grants: gs}
	}
	gc.mu.Unlock()
	return gs, nil
}

// decideGranted is decide with dep's user grants at policies version v applied
// (policy.WithGrants): Sign decides through it.
func (s *Signer) decideGranted(ctx context.Context, set *policy.Set, v int64, c Caller, app wire.Context, cert certificates.Certificate, now time.Time) (policy.Decision, error) {
	grants, err := s.grantsAt(ctx, c.DeploymentID, v)
	if err != nil {
		return policy.Decision{}, err
	}
	return withGrants(decide(set, c, app, cert, now), grants, c, cert, now), nil
}

// withGrants applies grants to d, the decision for c's request with cert at now.
func withGrants(d policy.Decision, grants []policy.UserGrant, c Caller, cert certificates.Certificate, now time.Time) policy.Decision {
	return policy.WithGrants(d, grants, policy.Request{UserID: c.UserID, At: now, Certificate: cert.ForPolicy(now)})
}

// grantHold is the signatures an allowed request takes from its grant, taken in the
// background from when the request is allowed. nil (no grant) takes nothing.
type grantHold struct {
	s       *Signer
	ctx     context.Context
	dep     string
	name    string // how the grant is named to people
	counter store.GrantCounter
	n       int
	done    chan struct{}
	take    store.GrantTake
	err     error
	kept    bool
}

// holdGrant starts taking n signatures from the grant of d, an allowed decision, for dep
// (nil when d is not allowed or counts nothing).
func (s *Signer) holdGrant(ctx context.Context, dep string, d policy.Decision, n int) *grantHold {
	if !d.Allowed || d.Grant == nil {
		return nil
	}
	h := &grantHold{s: s, ctx: context.WithoutCancel(ctx), dep: dep, n: n, done: make(chan struct{}),
		counter: store.GrantCounter{Max: d.Grant.MaxSignatures}}
	if tenant.ValidID("gnt_", d.PolicyID) {
		h.counter.GrantID, h.name = d.PolicyID, d.PolicyID
	} else {
		h.counter.PolicyID, h.counter.From = d.PolicyID, d.Grant.From
		h.name = "of policy " + d.PolicyID
	}
	go func() {
		defer close(h.done)
		h.take, h.err = s.store.TakeGrant(ctx, dep, h.counter, n)
	}()
	return h
}

// wait is nil once the signatures are taken; else why not: ErrGrantUsedUp naming the grant
// (certID is the request's certificate), or the table's failure.
func (h *grantHold) wait(certID string) error {
	if h == nil {
		return nil
	}
	<-h.done
	switch {
	case h.err != nil:
		return h.err
	case h.take.Taken:
		return nil
	case h.take.Revoked:
		return fault.Newf(ErrGrantUsedUp, "Signing with %s is not allowed: grant %s was revoked.", certID, h.name)
	case h.n > h.counter.Max-h.take.Used && h.take.Used < h.counter.Max:
		return fault.Newf(ErrGrantUsedUp, "Signing with %s is not allowed: grant %s has %d of %d signatures left and this request has %d digests.",
			certID, h.name, h.counter.Max-h.take.Used, h.counter.Max, h.n)
	}
	return fault.Newf(ErrGrantUsedUp, "Signing with %s is not allowed: grant %s is used up: %d of %d signatures.", certID, h.name, h.take.Used, h.counter.Max)
}

// keep says the signatures went out: release then gives nothing back.
func (h *grantHold) keep() {
	if h != nil {
		h.kept = true
	}
}

// release gives back what the request took unless it kept it (signOnce defers it). A take
// that failed may still have landed: nothing is given back then, so that a grant can count a
// signature that was not made, never allow one more than its maximum.
func (h *grantHold) release() {
	if h == nil || h.kept {
		return
	}
	<-h.done
	if h.err != nil || !h.take.Taken {
		return
	}
	if err := h.s.store.ReturnGrant(h.ctx, h.dep, h.counter, h.n); err != nil {
		h.s.log(h.ctx).Warn("grant signatures not given back", slog.String("grant", h.name), slog.String("error", err.Error()))
	}
}

// refuseGrant closes the decisions of a request its grant refused (err, from wait) unsigned,
// as a denial with the grant's reason (counted as denied, not failed), and returns err. When
// the count could not be taken at all, they are closed as failed.
func (s *Signer) refuseGrant(ctx context.Context, decisions []audit.Event, err error) error {
	if !errors.Is(err, ErrGrantUsedUp) {
		_, _ = s.complete(ctx, decisions, true, nil, audit.Failed, "not signed: the grant's count could not be taken")
		return err
	}
	d := decisions[0]
	detail, _ := fault.DetailOf(err)
	reason := "denied: " + detail
	e := audit.Event{ID: tenant.NewID("evt_"), DeploymentID: d.DeploymentID, Kind: audit.KindCompletion, At: s.now(),
		Of: d.ID, Outcome: audit.Failed, CertificateID: d.CertificateID, UserID: d.UserID, Reason: reason, Lane: d.Lane}
	ctx = context.WithoutCancel(ctx)
	use := store.Use{CertificateID: d.CertificateID, At: e.At, Activity: &activity.Tally{At: e.At, CertificateID: d.CertificateID,
		UserID: d.UserID, Agent: agentOf(d), Denied: true, Reason: policy.CodeGrantUsedUp}}
	if _, werr := s.appendCounting(ctx, e, use); werr != nil {
		s.checkpoint(ctx, d)
	}
	return err
}
