package notices_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/eventstandin"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/notices"
	"github.com/opensignum/signum/lib/notices/eventbus"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var entry = tenant.LogEntry{Actor: "test", Action: "test"}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	tg     *devstack.Target
	s      *store.Store
	kms    *awskms.Backend
	dep    tenant.Deployment
	now    time.Time
	events *eventstandin.EventBridge
	syncer *notices.Syncer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tg := devstack.NewTarget(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(key))
	ctx := context.Background()
	d, _, err := s.Provision(ctx, store.Provisioning{Deployment: tenant.Deployment{ID: tenant.NewID("dep_"), Name: "acme",
		Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1.0.0"}, RequestKey: tenant.NewID("req_"), Log: entry})
	if err != nil {
		t.Fatal(err)
	}
	eb, client := eventstandin.Start(t)
	f := &fixture{t: t, ctx: ctx, tg: tg, s: s, kms: awskms.New(tg.Clients.KMS), dep: d, events: eb,
		now: time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)}
	f.syncer = &notices.Syncer{
		Health:    health.Sources{Deployments: s, Certificates: s, Keys: keys.NewRegistry(f.kms), ClientCredentials: s, Activity: s, Subscriptions: s},
		Store:     s,
		Publisher: eventbus.New(client, ""),
		Now:       func() time.Time { return f.now },
	}
	return f
}

func (f *fixture) certificate(name string, notAfter time.Time) certificates.Certificate {
	f.t.Helper()
	k, err := f.kms.Generate(f.ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: name + "-" + rand.Text()[:8]})
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.s.CreateCertificate(f.ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: f.dep.ID, Name: name,
		Status: certificates.StatusActive, Backend: awskms.Scheme, Algorithm: keys.ECP256, KeyURI: k.URI(),
		NotBefore: f.now.Add(-time.Hour), NotAfter: notAfter}, entry)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) sync() notices.Result {
	f.t.Helper()
	r, err := f.syncer.Sync(f.ctx, f.dep.ID)
	if err != nil {
		f.t.Fatalf("Sync: %v", err)
	}
	return r
}

// published are the stand-in's entries, with their details decoded.
func (f *fixture) published() []eventbus.EventDetail {
	f.t.Helper()
	var out []eventbus.EventDetail
	for _, e := range f.events.Entries() {
		var d eventbus.EventDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			f.t.Fatalf("detail %s: %v", e.Detail, err)
		}
		want := eventbus.DetailTypeRaised
		if d.Change == notices.Cleared {
			want = eventbus.DetailTypeCleared
		}
		if e.Source != eventbus.EventSource || e.DetailType != want || e.EventBusName != "" {
			f.t.Fatalf("entry %+v", e)
		}
		out = append(out, d)
	}
	return out
}

// An expiring certificate raises a notice; once renewed, the notice clears: exactly two events,
// through the SDK's client and the EventBridge stand-in. A sync that finds nothing new
// publishes nothing.
func TestRaisedThenCleared(t *testing.T) {
	f := newFixture(t)
	c := f.certificate("release", f.now.Add(20*24*time.Hour))
	r := f.sync()
	id := "certificate-expiring:" + c.ID
	if r.Raised != 1 || r.Cleared != 0 || r.Published != 1 || len(r.Notices) != 1 || r.Notices[0].ID != id {
		t.Fatalf("first sync: %+v", r)
	}
	n := r.Notices[0]
	if n.Severity != notices.SeverityWarning || n.Title != `The certificate "release" expires on 2026-12-23` ||
		!strings.Contains(n.Detail, "Renew it") || n.Link != "/app/console/certificates/"+c.ID || !n.Since.Equal(f.now) {
		t.Fatalf("notice %+v", n)
	}
	stored, err := notices.Stored(f.ctx, f.s, f.dep.ID)
	if err != nil || len(stored) != 1 || stored[0] != n {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	// An hour later nothing changed: no event, the notice keeps its first time.
	f.now = f.now.Add(time.Hour)
	if r := f.sync(); r.Raised+r.Cleared+r.Published != 0 || !r.Notices[0].Since.Equal(n.Since) {
		t.Fatalf("quiet sync: %+v", r)
	}

	renewed := c
	renewed.NotAfter = f.now.Add(400 * 24 * time.Hour)
	if _, err := f.s.UpdateCertificate(f.ctx, c, renewed, entry); err != nil {
		t.Fatal(err)
	}
	if r := f.sync(); r.Cleared != 1 || r.Raised != 0 || r.Published != 1 || len(r.Notices) != 0 {
		t.Fatalf("cleared: %+v", r)
	}
	got := f.published()
	if len(got) != 2 || got[0].Change != notices.Raised || got[1].Change != notices.Cleared || got[0].Notice.ID != id || got[1].Notice.ID != id ||
		got[0].DeploymentID != f.dep.ID || got[0].Notice.Title != n.Title || got[0].ChangeID == got[1].ChangeID || !got[1].At.Equal(f.now) {
		t.Fatalf("published %+v", got)
	}
	if stored, err := notices.Stored(f.ctx, f.s, f.dep.ID); err != nil || len(stored) != 0 {
		t.Fatalf("stored after clearing: %+v, %v", stored, err)
	}
}

// barrier holds GetNotices until both syncs have read, so that both read the same version.
type barrier struct {
	notices.Store
	wg *sync.WaitGroup
}

func (b barrier) GetNotices(ctx context.Context, dep string) (store.NoticeSet, error) {
	set, err := b.Store.GetNotices(ctx, dep)
	b.wg.Done()
	b.wg.Wait()
	return set, err
}

// Two syncs that read the same stored set: one stores and publishes, the other publishes
// nothing.
func TestConcurrentSyncsPublishOnce(t *testing.T) {
	f := newFixture(t)
	c := f.certificate("nightly", f.now.Add(365*24*time.Hour))
	if _, err := f.tg.Clients.KMS.DisableKey(f.ctx, &kms.DisableKeyInput{KeyId: aws.String(strings.TrimPrefix(c.KeyURI, "awskms:///"))}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	results := make([]notices.Result, 2)
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range results {
		s := *f.syncer
		s.Store = barrier{Store: f.s, wg: &wg}
		done.Go(func() { results[i], errs[i] = s.Sync(f.ctx, f.dep.ID) })
	}
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if results[0].Lost == results[1].Lost || results[0].Published+results[1].Published != 1 {
		t.Fatalf("results %+v", results)
	}
	got := f.published()
	if len(got) != 1 || got[0].Notice.ID != "certificate-key:"+c.ID || got[0].Notice.Severity != notices.SeverityCritical ||
		got[0].Notice.Title != `The key of the certificate "nightly" is disabled` {
		t.Fatalf("published %+v", got)
	}
}

// failingKeys cannot tell any key's state.
type failingKeys struct{}

func (failingKeys) State(context.Context, string) (keys.State, error) {
	return keys.State{}, errors.New("access denied")
}

// A publisher that fails keeps the changes for the next sync; EventBridge failing an entry once
// is retried at once; a check that cannot tell a key's state keeps its notice instead of
// clearing it.
func TestUnpublishedAndUndetermined(t *testing.T) {
	f := newFixture(t)
	c := f.certificate("nightly", f.now.Add(365*24*time.Hour))
	if _, err := f.tg.Clients.KMS.DisableKey(f.ctx, &kms.DisableKeyInput{KeyId: aws.String(strings.TrimPrefix(c.KeyURI, "awskms:///"))}); err != nil {
		t.Fatal(err)
	}
	f.events.FailEntries(2, "InternalFailure")
	if _, err := f.syncer.Sync(f.ctx, f.dep.ID); err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Fatalf("fail/publisher: %v", err)
	}
	if n := len(f.events.Entries()); n != 0 {
		t.Fatalf("%d events published by a failed sync", n)
	}
	set, err := f.s.GetNotices(f.ctx, f.dep.ID)
	if err != nil || len(set.Notices) != 1 || len(set.Unpublished) != 1 {
		t.Fatalf("stored after a failed publish: %+v, %v", set, err)
	}
	f.events.FailEntries(1, "ThrottlingException")
	f.now = f.now.Add(time.Hour)
	if r := f.sync(); r.Raised != 0 || r.Published != 1 {
		t.Fatalf("ok/next-sync-publishes: %+v", r)
	}
	if got := f.published(); len(got) != 1 || got[0].Change != notices.Raised {
		t.Fatalf("published %+v", got)
	}
	if set, _ := f.s.GetNotices(f.ctx, f.dep.ID); len(set.Unpublished) != 0 {
		t.Fatalf("still unpublished: %+v", set.Unpublished)
	}

	f.syncer.Health.Keys = failingKeys{}
	r, err := f.syncer.Sync(f.ctx, f.dep.ID)
	if err != nil || r.Incomplete == nil || r.Cleared != 0 || len(r.Notices) != 1 || r.Notices[0].ID != "certificate-key:"+c.ID {
		t.Fatalf("ok/undetermined-kept: %+v, %v", r, err)
	}
	if n := len(f.events.Entries()); n != 1 {
		t.Fatalf("%d events after an undetermined check", n)
	}
	if _, err := f.syncer.Sync(f.ctx, "dep_missing"); err == nil {
		t.Fatal("fail/unknown-deployment: no error")
	}
}

// A run syncs every deployment due: a cancelled one long ago is left alone.
func TestRun(t *testing.T) {
	f := newFixture(t)
	f.certificate("release", f.now.Add(10*24*time.Hour))
	gone, _, err := f.s.Provision(f.ctx, store.Provisioning{Deployment: tenant.Deployment{ID: tenant.NewID("dep_"), Name: "gone",
		Status: tenant.StatusCancelled, Plan: "standard", SoftwareVersion: "1.0.0"}, RequestKey: tenant.NewID("req_"), Log: entry})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := notices.Run(f.ctx, f.syncer, f.s, f.now.Add(72*time.Hour))
	if err != nil || rep.Deployments != 1 || rep.Synced != 1 || rep.Raised != 1 || rep.Published != 1 || rep.Failed != 0 {
		t.Fatalf("run: %+v, %v", rep, err)
	}
	rep, err = notices.Run(f.ctx, f.syncer, f.s, f.now)
	if err != nil || rep.Deployments != 2 || rep.Synced != 2 || rep.Raised != 1 || rep.Published != 1 {
		t.Fatalf("run with a recent cancellation (%s): %+v, %v", gone.ID, rep, err)
	}
	if got := f.published(); len(got) != 2 || got[1].DeploymentID != gone.ID || got[1].Notice.ID != "subscription" || got[1].Notice.Severity != notices.SeverityCritical {
		t.Fatalf("published %+v", got)
	}
}

// failingPublisher publishes nothing.
type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, []notices.Event) error {
	return errors.New("EventBridge is down")
}

// While publishing fails, the stored changes keep only the latest change of each notice (a
// raise then a clear is the clear: a failed publish may have delivered the raise) and at most
// MaxUnpublished, the oldest dropped and counted by one marker change, so that the item never
// grows to the table's limit; once publishing works, each of them is published once.
func TestUnpublishedStayBounded(t *testing.T) {
	f := newFixture(t)
	published := f.syncer.Publisher
	f.syncer.Publisher = failingPublisher{}
	old := f.now.Add(-24 * time.Hour)
	var seeded []store.NoticeChange
	for i := range notices.MaxUnpublished + 50 {
		n := store.StoredNotice{ID: "certificate-expiring:crt_old" + strconv.Itoa(i), Severity: "warning", Title: "old", Since: old}
		seeded = append(seeded, store.NoticeChange{Change: "cleared", Notice: n, At: old})
	}
	if _, err := f.s.PutNotices(f.ctx, store.NoticeSet{DeploymentID: f.dep.ID, Unpublished: seeded}); err != nil {
		t.Fatal(err)
	}

	c := f.certificate("release", f.now.Add(20*24*time.Hour))
	id := "certificate-expiring:" + c.ID
	if _, err := f.syncer.Sync(f.ctx, f.dep.ID); err == nil {
		t.Fatal("a sync whose publisher fails succeeded")
	}
	set, err := f.s.GetNotices(f.ctx, f.dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 250 seeded and 1 raised: the marker and the newest 199 are kept, 52 dropped.
	u := set.Unpublished
	if len(u) != notices.MaxUnpublished || u[0].Notice.ID != notices.DroppedChangesID || !strings.HasPrefix(u[0].Notice.Detail, "52 ") ||
		u[len(u)-1].Notice.ID != id || u[len(u)-1].Change != "raised" || u[1].Notice.ID != "certificate-expiring:crt_old52" {
		t.Fatalf("after the first failed publish: %d changes, first %+v, second %+v, last %+v", len(u), u[0], u[1], u[len(u)-1])
	}

	// Renewed, then expiring again, then renewed, each sync failing to publish: one change of
	// the notice is kept, the last (a clear), and the count of dropped changes stays.
	for i, notAfter := range []time.Time{f.now.Add(400 * 24 * time.Hour), f.now.Add(10 * 24 * time.Hour), f.now.Add(500 * 24 * time.Hour)} {
		cur, err := f.s.GetCertificate(f.ctx, f.dep.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		next := cur
		next.NotAfter = notAfter
		if _, err := f.s.UpdateCertificate(f.ctx, cur, next, entry); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
		if _, err := f.syncer.Sync(f.ctx, f.dep.ID); err == nil {
			t.Fatalf("sync %d succeeded", i)
		}
	}
	set, err = f.s.GetNotices(f.ctx, f.dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	u = set.Unpublished
	var mine []store.NoticeChange
	for _, ch := range u {
		if ch.Notice.ID == id {
			mine = append(mine, ch)
		}
	}
	if len(u) != notices.MaxUnpublished || len(mine) != 1 || mine[0].Change != "cleared" || !mine[0].At.Equal(f.now) ||
		!strings.HasPrefix(u[0].Notice.Detail, "52 ") {
		t.Fatalf("after flapping: %d changes, the notice's %+v, marker %+v", len(u), mine, u[0])
	}

	f.syncer.Publisher = published
	f.now = f.now.Add(time.Hour)
	if r := f.sync(); r.Published != notices.MaxUnpublished {
		t.Fatalf("publishing again: %+v", r)
	}
	got := f.published()
	ids := map[string]int{}
	for _, e := range got {
		ids[e.Notice.ID]++
	}
	if len(got) != notices.MaxUnpublished || ids[id] != 1 || ids[notices.DroppedChangesID] != 1 || len(ids) != len(got) {
		t.Fatalf("published %d events, %d distinct notices", len(got), len(ids))
	}
	if set, _ := f.s.GetNotices(f.ctx, f.dep.ID); len(set.Unpublished) != 0 {
		t.Fatalf("still unpublished: %d", len(set.Unpublished))
	}
}
