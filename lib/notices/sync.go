package notices

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/store"
)

// Change is what happened to a notice.
type Change string

// Changes: a notice is raised when it appears or gets more severe, cleared when it goes.
const (
	Raised  Change = "raised"
	Cleared Change = "cleared"
)

// Event is a change of a deployment's notices, as published.
type Event struct {
	Change       Change
	DeploymentID string
	// Notice is the notice raised, or the one cleared as it was last stored.
	Notice Notice
	// At is when the sync that found the change ran.
	At time.Time
}

// ChangeID identifies the change for consumers that dedupe (delivery is at least once): the
// same change published twice has the same id.
func (e Event) ChangeID() string {
	return fmt.Sprintf("%s/%s/%s/%d", e.DeploymentID, e.Notice.ID, e.Change, e.At.UnixNano())
}

// Publisher publishes changes of notices (the EventBridge adapter). Publish either publishes
// every event or returns an error; events may have been published before the error, and are
// published again by the next sync.
type Publisher interface {
	Publish(ctx context.Context, events []Event) error
}

// Store keeps a deployment's notices ((*store.Store)).
type Store interface {
	GetNotices(ctx context.Context, dep string) (store.NoticeSet, error)
	PutNotices(ctx context.Context, set store.NoticeSet) (store.NoticeSet, error)
}

// Syncer brings a deployment's stored notices up to date with its health.
type Syncer struct {
	Health    health.Sources
	Store     Store
	Publisher Publisher
	Now       func() time.Time
}

// Result is what a sync did.
type Result struct {
	// Notices is the deployment's current set.
	Notices []Notice
	// Raised and Cleared count the changes this sync found; Published the events it published
	// (its own and those an earlier sync stored but did not publish).
	Raised, Cleared, Published int
	// Lost is set when another sync stored the set first: this one published nothing.
	Lost bool
	// Incomplete is why some of the health could not be checked (for the log): notices whose
	// condition could not be told were kept as stored.
	Incomplete error
}

// Sync checks deployment dep's health, derives its notices, stores them if they changed (over
// the version read) and publishes the changes. A deployment that does not exist is not found;
// a table that cannot be read is an error and changes nothing.
func (s *Syncer) Sync(ctx context.Context, dep string) (Result, error) {
	now := s.Now()
	r, cerr := health.Check(ctx, s.Health, dep, now)
	if cerr != nil {
		if t, ok := r.Component("table"); !ok || t.Status != health.StatusOK {
			return Result{}, cerr
		}
	}
	res, err := s.apply(ctx, r, now)
	res.Incomplete = cerr
	return res, err
}

// apply syncs the notices of report r.
func (s *Syncer) apply(ctx context.Context, r health.Report, now time.Time) (Result, error) {
	dep := r.DeploymentID
	stored, err := s.Store.GetNotices(ctx, dep)
	switch {
	case errors.Is(err, fault.ErrNotFound):
		stored = store.NoticeSet{DeploymentID: dep}
	case err != nil:
		return Result{}, err
	}
	before := map[string]Notice{}
	for _, n := range stored.Notices {
		before[n.ID] = fromStored(n)
	}
	current := FromReport(r)
	var changes []Event
	seen := map[string]bool{}
	for i, n := range current {
		seen[n.ID] = true
		old, had := before[n.ID]
		n.Since = now
		if had {
			n.Since = old.Since
		}
		current[i] = n
		if !had || rank(n.Severity) > rank(old.Severity) {
			changes = append(changes, Event{Change: Raised, DeploymentID: dep, Notice: n, At: now})
		}
	}
	for _, old := range stored.Notices {
		n := fromStored(old)
		switch {
		case seen[n.ID]:
		case undetermined(r, n.ID):
			current = append(current, n)
		default:
			changes = append(changes, Event{Change: Cleared, DeploymentID: dep, Notice: n, At: now})
		}
	}
	current = bound(current)
	res := Result{Notices: current}
	for _, c := range changes {
		if c.Change == Raised {
			res.Raised++
		} else {
			res.Cleared++
		}
	}

	pending := fromStoredChanges(dep, stored.Unpublished)
	next := store.NoticeSet{DeploymentID: dep, Version: stored.Version, Notices: toStored(current), Unpublished: stored.Unpublished}
	if len(changes) > 0 || !sameNotices(stored.Notices, next.Notices) {
		pending = compact(append(pending, changes...), dep, now)
		next.Unpublished = toStoredChanges(pending)
		if next, err = s.Store.PutNotices(ctx, next); errors.Is(err, store.ErrStale) {
			// Another sync stored its set first; it publishes.
			res.Lost = true
			return res, nil
		} else if err != nil {
			return res, err
		}
	}
	if len(pending) == 0 {
		return res, nil
	}
	if err := s.Publisher.Publish(ctx, pending); err != nil {
		return res, fmt.Errorf("notices: publish %d changes of deployment %s (kept for the next sync): %w", len(pending), dep, err)
	}
	res.Published = len(pending)
	next.Unpublished = nil
	if _, err := s.Store.PutNotices(ctx, next); err != nil && !errors.Is(err, store.ErrStale) {
		// Published but still stored as unpublished: the next sync publishes them again
		// (at least once).
		return res, fmt.Errorf("notices: mark %d changes of deployment %s published: %w", len(pending), dep, err)
	}
	return res, nil
}

func rank(s Severity) int {
	if s == SeverityCritical {
		return 2
	}
	return 1
}

// Stored reads deployment dep's stored notices, most severe first; none when none were stored.
func Stored(ctx context.Context, st Store, dep string) ([]Notice, error) {
	set, err := st.GetNotices(ctx, dep)
	if errors.Is(err, fault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Notice, len(set.Notices))
	for i, n := range set.Notices {
		out[i] = fromStored(n)
	}
	return bound(out), nil
}

func fromStored(n store.StoredNotice) Notice {
	return Notice{ID: n.ID, Severity: Severity(n.Severity), Title: n.Title, Detail: n.Detail, Link: n.Link, Since: n.Since}
}

func toStored(ns []Notice) []store.StoredNotice {
	out := make([]store.StoredNotice, len(ns))
	for i, n := range ns {
		out[i] = store.StoredNotice{ID: n.ID, Severity: string(n.Severity), Title: n.Title, Detail: n.Detail, Link: n.Link, Since: n.Since}
	}
	return out
}

func fromStoredChanges(dep string, cs []store.NoticeChange) []Event {
	out := make([]Event, 0, len(cs))
	for _, c := range cs {
		out = append(out, Event{Change: Change(c.Change), DeploymentID: dep, Notice: fromStored(c.Notice), At: c.At})
	}
	return out
}

func toStoredChanges(es []Event) []store.NoticeChange {
	out := make([]store.NoticeChange, len(es))
	for i, e := range es {
		out[i] = store.NoticeChange{Change: string(e.Change), Notice: toStored([]Notice{e.Notice})[0], At: e.At}
	}
	return out
}

// sameNotices reports whether two stored sets say the same (times compared as instants).
func sameNotices(a, b []store.StoredNotice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Severity != y.Severity || x.Title != y.Title || x.Detail != y.Detail || x.Link != y.Link || !x.Since.Equal(y.Since) {
			return false
		}
	}
	return true
}

// MaxUnpublished bounds the changes a deployment's stored item keeps while publishing fails.
// Past it the oldest are dropped and one DroppedChangesID change says how many; the item so
// stays far below DynamoDB's 400 KB, which, once reached, would fail every later sync of the
// deployment and freeze its notices.
const MaxUnpublished = 200

// DroppedChangesID is the notice id of the change that says how many changes were dropped
// unpublished. It is raised and never cleared: it tells an operator once that their record of
// the deployment's notices may have missed changes, and that the portal lists its current ones.
const DroppedChangesID = "notice-changes-dropped"

// compact keeps, of changes (oldest first), the latest change of each notice, in the order of
// those latest changes, at most MaxUnpublished including the DroppedChangesID marker.
//
// A newer change replaces an older one of the same notice: the consumer's view ends as the
// newer says, and a notice raised twice (more severe) needs only its last raise. A raise then
// a clear is kept as the clear, not cancelled out: a publish that failed may still have
// published some events (Publisher), so the raise may have reached the operator, and only the
// clear takes it back; a clear of a raise that never arrived is harmless, and it still says
// what the notice was and since when.
func compact(changes []Event, dep string, now time.Time) []Event {
	dropped, since := 0, now
	latest := map[string]int{}
	var kept []Event
	for _, c := range changes {
		if c.Notice.ID == DroppedChangesID {
			// An earlier marker: its count goes into the one marker, which says since when
			// changes have been dropped.
			dropped += droppedCount(c.Notice)
			since = c.Notice.Since
			continue
		}
		if i, ok := latest[c.Notice.ID]; ok {
			kept[i] = Event{} // replaced; removed below
		}
		latest[c.Notice.ID] = len(kept)
		kept = append(kept, c)
	}
	kept = slices.DeleteFunc(kept, func(e Event) bool { return e.Notice.ID == "" })
	if dropped == 0 && len(kept) <= MaxUnpublished {
		return kept
	}
	if over := len(kept) - (MaxUnpublished - 1); over > 0 {
		dropped += over
		kept = kept[over:]
	}
	marker := Event{Change: Raised, DeploymentID: dep, At: now, Notice: Notice{ID: DroppedChangesID, Severity: SeverityWarning, Since: since,
		Title: "Some changes of the deployment's notices were not published",
		Detail: strconv.Itoa(dropped) + " older changes of this deployment's notices were dropped while they could not be published. " +
			"The deployment's notices in the portal are current; compare them with what you received."}}
	return append([]Event{marker}, kept...)
}

// droppedCount reads how many changes a DroppedChangesID marker counts (its detail's first
// word).
func droppedCount(n Notice) int {
	first, _, _ := strings.Cut(n.Detail, " ")
	c, err := strconv.Atoi(first)
	if err != nil || c < 0 {
		return 0
	}
	return c
}
