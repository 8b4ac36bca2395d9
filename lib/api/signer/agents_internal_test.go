package signer

import (
	"context"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
)

// limitsOnly is a store of domains whose reads are counted (and no slots).
type limitsOnly struct {
	byID  map[string]domains.Domain
	reads int
}

func (l *limitsOnly) GetDomain(_ context.Context, _, id string) (domains.Domain, error) {
	l.reads++
	d, ok := l.byID[id]
	if !ok {
		return domains.Domain{}, fault.Newf(fault.ErrNotFound, "no domain %s", id)
	}
	return d, nil
}

func (l *limitsOnly) DomainByAlias(ctx context.Context, dep, alias string) (domains.Domain, error) {
	for id, d := range l.byID {
		if d.Alias == alias {
			return l.GetDomain(ctx, dep, id)
		}
	}
	return l.GetDomain(ctx, dep, "")
}

func (l *limitsOnly) AcquireAgentSlot(context.Context, string, string, int, time.Duration, time.Time) (store.AgentSlots, error) {
	panic("not used")
}

func (l *limitsOnly) ReleaseAgentSlot(context.Context, string, string, store.AgentSlot) error {
	panic("not used")
}

// A domain's limit is read once per instance and kept for domainLimitTTL: a changed limit
// applies within that time; a domain that is gone limits nothing (and is not read again
// within the time either).
func TestDomainLimitCache(t *testing.T) {
	st := &limitsOnly{byID: map[string]domains.Domain{"dom_a": {ID: "dom_a", Alias: "corp", AgentConcurrency: 2}}}
	now := time.Unix(1_700_000_000, 0)
	a := newAgents(st, func() time.Time { return now })
	ctx := context.Background()
	check := func(what string, ref string, byAlias bool, limit, reads int) {
		t.Helper()
		l, err := a.limitOf(ctx, "dep", ref, byAlias)
		if err != nil || l.limit != limit || st.reads != reads {
			t.Fatalf("%s: limit %d after %d reads (%v), want %d after %d", what, l.limit, st.reads, err, limit, reads)
		}
	}
	check("first", "dom_a", false, 2, 1)
	check("cached", "dom_a", false, 2, 1)
	check("by alias: its own entry", "corp", true, 2, 2)
	st.byID["dom_a"] = domains.Domain{ID: "dom_a", Alias: "corp", AgentConcurrency: 7}
	now = now.Add(domainLimitTTL - time.Millisecond)
	check("changed, within the time", "dom_a", false, 2, 2)
	now = now.Add(time.Millisecond)
	check("changed, after the time", "dom_a", false, 7, 3)
	check("gone", "dom_gone", false, 0, 4)
	check("gone, cached", "dom_gone", false, 0, 4)
}
