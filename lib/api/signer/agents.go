package signer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
)

// The per-user concurrency limit for agents (domains.Domain.AgentConcurrency): how many
// signing requests one user of a login domain may have in flight at once.
//
// Whose domain: a CI job's session is of the CI domain it was exchanged through (its workload
// claims name the domain's alias); any other console caller is of its user's domain
// (access.Principal.DomainID: an OIDC or SAML domain). Users of the built-in Local users and
// Certificate users domains, and portal users, have no limit, and their requests make no call
// for it at all: the signer's warm path stays as it was for them.
const (
	// agentLease is how long a request holds its slot at most: longer than the signer may
	// run (template.yaml gives it a 15 s timeout), so that a slot is never taken over from a
	// request still running, and short enough that the slot of an instance that died
	// mid-request frees itself soon. A request that ends releases its slot at once.
	agentLease = 30 * time.Second
	// domainLimitTTL is how long an instance keeps a domain's limit: a changed limit applies
	// within that time on every instance. No request waits for a read of it then.
	domainLimitTTL = 30 * time.Second
	// agentRetryAfter is what a refused caller is told to wait: the requests in flight
	// usually end within a second (their leases are only the bound for dead instances).
	agentRetryAfter = time.Second
	// maxDomainLimits bounds an instance's cached limits; the cache is emptied when it grows
	// past (a deployment has few domains; this bounds many deployments on one instance).
	maxDomainLimits = 10000
)

// agentStore is what the limit needs of the store.
type agentStore interface {
	GetDomain(ctx context.Context, dep, id string) (domains.Domain, error)
	DomainByAlias(ctx context.Context, dep, alias string) (domains.Domain, error)
	AcquireAgentSlot(ctx context.Context, dep, userID string, limit int, lease time.Duration, now time.Time) (store.AgentSlots, error)
	ReleaseAgentSlot(ctx context.Context, dep, userID string, slot store.AgentSlot) error
}

// agents enforces the per-user concurrency limit of login domains, with each domain's limit
// cached per function instance for domainLimitTTL.
type agents struct {
	store agentStore
	now   func() time.Time

	mu     sync.Mutex
	limits map[string]domainLimit
}

// domainLimit is a domain's limit as read at at; alias names the domain in refusals.
type domainLimit struct {
	limit int
	alias string
	at    time.Time
}

func newAgents(st agentStore, now func() time.Time) *agents {
	return &agents{store: st, now: now, limits: map[string]domainLimit{}}
}

// domainOf says which domain's limit applies to p: by alias for a CI job's session, by id for
// a user of an OIDC or SAML domain; ok is false for everyone else (no limit, no call).
func domainOf(p access.Principal) (ref string, byAlias, ok bool) {
	if alias := p.Workload["domain"]; alias != "" {
		return alias, true, true
	}
	if p.DomainID != "" {
		return p.DomainID, false, true
	}
	return "", false, false
}

// limitOf is the limit of the domain ref (an alias when byAlias) of deployment dep: from the
// instance's cache when read within domainLimitTTL, else read. A domain that is gone limits
// nothing (its sessions end with it; until then, nothing to enforce).
func (a *agents) limitOf(ctx context.Context, dep, ref string, byAlias bool) (domainLimit, error) {
	k := dep + "\x00" + ref
	if byAlias {
		k = dep + "\x00@" + ref
	}
	now := a.now()
	a.mu.Lock()
	l, ok := a.limits[k]
	a.mu.Unlock()
	if ok && now.Sub(l.at) < domainLimitTTL && !now.Before(l.at) {
		return l, nil
	}
	var d domains.Domain
	var err error
	if byAlias {
		d, err = a.store.DomainByAlias(ctx, dep, ref)
	} else {
		d, err = a.store.GetDomain(ctx, dep, ref)
	}
	switch {
	case errors.Is(err, fault.ErrNotFound):
		l = domainLimit{alias: ref, at: now}
	case err != nil:
		return domainLimit{}, err
	default:
		l = domainLimit{limit: d.AgentConcurrency, alias: d.Alias, at: now}
	}
	a.mu.Lock()
	if len(a.limits) >= maxDomainLimits {
		clear(a.limits)
	}
	a.limits[k] = l
	a.mu.Unlock()
	return l, nil
}

// slot is one request's place under its user's limit, taken while the signer reads what
// decides (start), awaited before anything is recorded (wait), and given back once the
// request's answer is decided, whatever it is (release).
type slot struct {
	done chan struct{}
	err  error
	held *store.AgentSlot
}

// start begins taking a slot for the caller of req, when its domain has a limit; nil when the
// caller has no domain (no call, nothing to wait for or release).
func (a *agents) start(ctx context.Context, req *access.Request) *slot {
	ref, byAlias, ok := domainOf(req.Principal)
	if !ok {
		return nil
	}
	s := &slot{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = a.acquire(ctx, req, ref, byAlias, s)
	}()
	return s
}

func (a *agents) acquire(ctx context.Context, req *access.Request, ref string, byAlias bool, s *slot) error {
	dep, user := req.Deployment.ID, req.Principal.UserID
	l, err := a.limitOf(ctx, dep, ref, byAlias)
	if err != nil || l.limit <= 0 {
		return err
	}
	v, err := a.store.AcquireAgentSlot(ctx, dep, user, l.limit, agentLease, a.now())
	if err != nil {
		return err
	}
	if !v.Acquired {
		// Refused before any decision: nothing is recorded as a signing event.
		edge.Logger(ctx).Info("signing refused: agent concurrency limit",
			slog.String("user", user), slog.String("domain", l.alias), slog.Int("inFlight", v.InFlight), slog.Int("limit", l.limit))
		return fault.RetryLater(fault.Newf(fault.ErrTooManyRequests,
			"You have %s in flight; the %s domain lets each of its users have at most %d at once. Retry after the time in Retry-After.",
			signingRequests(v.InFlight), l.alias, l.limit), agentRetryAfter)
	}
	s.held = &v.Slot
	return nil
}

// wait is the outcome of taking the slot: nil when taken or not needed.
func (s *slot) wait() error {
	if s == nil {
		return nil
	}
	<-s.done
	return s.err
}

// release gives the slot back, if one was taken, after waiting for the take to end (a request
// that failed before it asked for the slot still frees one taken meanwhile). It runs when the
// request is over, whatever its outcome, also when the caller has gone; a failure is logged
// and otherwise harmless: the lease ends by itself.
func (a *agents) release(ctx context.Context, req *access.Request, s *slot) {
	if s == nil {
		return
	}
	<-s.done
	if s.held == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.store.ReleaseAgentSlot(ctx, req.Deployment.ID, req.Principal.UserID, *s.held); err != nil {
		edge.Logger(ctx).Warn("agent slot not released; its lease frees it",
			slog.String("user", req.Principal.UserID), slog.Time("leaseEnds", s.held.Expires), slog.String("error", err.Error()))
	}
}

// signingRequests is "1 signing request", "3 signing requests".
func signingRequests(n int) string {
	if n == 1 {
		return "1 signing request"
	}
	return strconv.Itoa(n) + " signing requests"
}
