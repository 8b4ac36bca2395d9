package store_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// rootKey is a checkpoint key in memory.
type rootKey struct{ k *ecdsa.PrivateKey }

func (r rootKey) Public() crypto.PublicKey { return &r.k.PublicKey }
func (r rootKey) URI() string              { return "test:root" }
func (r rootKey) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, r.k, digest)
}

func newNotary(t testing.TB) (*audit.Notary, crypto.PublicKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	root := rootKey{k}
	return audit.NewNotary(func(context.Context) (audit.RootKey, error) { return root, nil }, time.Now), root.Public()
}

// sealer seals checkpoints through n, and anchors them in anchors when set, as the signer does.
func sealer(ctx context.Context, t testing.TB, n *audit.Notary, anchors audit.Anchors) store.Sealer {
	return func(e audit.Event) *audit.Seal {
		sl, err := n.Seal(ctx, audit.TypeCheckpoint, e.DeploymentID, e)
		must(t, err)
		if anchors != nil {
			must(t, anchors.PutAnchor(ctx, sl))
		}
		return &sl
	}
}

// sinceLog is a deployment's log written in batches and checkpointed with seals, for the
// incremental check's tests.
type sinceLog struct {
	t       testing.TB
	s       *store.Store
	log     *eventLog
	seal    store.Sealer
	dep     string
	written []audit.Event
}

// grow appends n events and moves the lanes' signed checkpoints to the last of them.
func (l *sinceLog) grow(ctx context.Context, n int) []audit.Event {
	l.t.Helper()
	events, err := l.log.append(ctx, n, store.EventItem)
	must(l.t, err)
	must(l.t, l.s.CheckpointEvents(ctx, l.seal, events...))
	l.written = append(l.written, events...)
	return events
}

// since checks the log from the positions kept and keeps the new ones, as the console's
// check does.
func (l *sinceLog) since(ctx context.Context, opts ...audit.Option) (audit.SinceResult, error) {
	kept, err := l.s.VerifiedLanes(ctx, l.dep)
	if err != nil {
		return audit.SinceResult{}, err
	}
	res, err := audit.VerifySince(ctx, l.s, l.dep, audit.Lanes, kept, opts...)
	if err != nil {
		return res, err
	}
	for _, sl := range res.Intact {
		if sl != nil {
			must(l.t, l.s.SaveVerified(ctx, l.dep, *sl))
		}
	}
	return res, nil
}

// Pattern 23, incremental: a check goes on from where the last one found each lane intact
// under a signed checkpoint (SaveVerified, VerifiedLanes), reading only the events since
// (ReadLaneAfter): a few items besides them, however long the log. It finds what Verify finds
// in those events and at the lanes' ends, and a checkpoint moved back behind where a lane was
// found intact; a kept position that is not a genuine seal is not trusted. A change to the
// part checked before is the full check's to find.
func TestVerifyEventsSince(t *testing.T) {
	tg := devstack.NewTarget(t)
	s, c := readsCounted(tg)
	db := tg.Clients.DynamoDB
	notary, root := newNotary(t)
	anchors := store.NewS3Anchors(tg.Clients.S3, tg.Bucket)
	opts := []audit.Option{audit.WithKey(root), audit.WithAnchors(anchors)}
	ctx := context.Background()
	// logged writes a deployment's log of 200 events, checks it whole and keeps the lanes'
	// positions, then writes 16 more.
	logged := func(t *testing.T) *sinceLog {
		dep := tenant.NewID("dep_")
		l := &sinceLog{t: t, s: s, log: newEventLog(db, tg.Table, dep), seal: sealer(ctx, t, notary, anchors), dep: dep}
		l.grow(ctx, 200)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if len(res.Problems) > 0 || res.Events != 200 {
			t.Fatalf("the first check read %d events and found %+v", res.Events, res.Problems)
		}
		for n, sl := range res.Intact {
			if sl == nil {
				t.Fatalf("lane %d not found intact", n)
			}
		}
		l.grow(ctx, 16)
		return l
	}
	item := func(dep string, lane int, seq int64) map[string]types.AttributeValue {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(dep, lane, seq), ConsistentRead: aws.Bool(true)})
		must(t, err)
		return out.Item
	}
	alter := func(dep string, lane int, seq int64) {
		it := item(dep, lane, seq)
		body := it["event"].(*types.AttributeValueMemberS).Value
		it["event"] = &types.AttributeValueMemberS{Value: strings.Replace(body, `"cu_user`, `"cu_other`, 1)}
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tg.Table), Item: it})
		must(t, err)
	}
	kinds := func(res audit.SinceResult) string {
		var out []string
		for _, p := range res.Problems {
			out = append(out, fmt.Sprintf("%s@%d/%d", p.Kind, p.Lane, p.Seq))
		}
		return strings.Join(out, " ")
	}

	t.Run("ok/reads-only-what-is-new", func(t *testing.T) {
		l := logged(t)
		c.reads()
		res, err := l.since(ctx, opts...)
		must(t, err)
		items, _, _ := c.reads()
		if len(res.Problems) > 0 || res.Events != 16 {
			t.Fatalf("read %d events, found %s", res.Events, kinds(res))
		}
		// The 16 events, a checkpoint and a kept position per lane, and the look back for
		// the decision of the first new completion (event 200 completes 199, before lane 7's
		// position): 2 items.
		if items != 16+2*audit.Lanes+2 {
			t.Fatalf("read %d items, want %d", items, 16+2*audit.Lanes+2)
		}
		for n, after := range res.After {
			if after != 25 { // 200 events over 8 lanes
				t.Fatalf("lane %d read after %d, want 25", n, after)
			}
		}
		c.reads()
		if res, err = l.since(ctx, opts...); err != nil || res.Events != 0 || len(res.Problems) > 0 {
			t.Fatalf("a check with nothing new read %d events, found %s (%v)", res.Events, kinds(res), err)
		}
	})
	t.Run("fail/altered-since", func(t *testing.T) {
		l := logged(t)
		alter(l.dep, 3, 27)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if got := kinds(res); !strings.Contains(got, "altered@3/27") {
			t.Fatalf("found %s, want the altered event", got)
		}
		if res.Intact[3] != nil {
			t.Fatal("a lane with an altered event was kept as intact")
		}
		again, err := l.since(ctx, opts...)
		must(t, err)
		if kinds(again) != kinds(res) {
			t.Fatalf("the next check found %s, the first %s", kinds(again), kinds(res))
		}
	})
	t.Run("fail/removed-at-the-end", func(t *testing.T) {
		l := logged(t)
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(l.dep, 5, 27)})
		must(t, err)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if got := kinds(res); !strings.Contains(got, "deleted@5/27") {
			t.Fatalf("found %s, want the lane short of its checkpoint", got)
		}
	})
	t.Run("fail/decision-removed-before", func(t *testing.T) {
		l := logged(t)
		// Event 199, the decision that new event 200 (lane 0, seq 26) completes, was lane 7's
		// last when it was found intact; it is removed.
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(l.dep, 7, 25)})
		must(t, err)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if got := kinds(res); !strings.Contains(got, "deleted@0/26") {
			t.Fatalf("found %s, want the completion of a decision not in the log", got)
		}
	})
	t.Run("fail/checkpoint-moved-back", func(t *testing.T) {
		l := logged(t)
		// The lane's checkpoint item as it was at event 10, sealed then: kept by someone who
		// can write the table, and put back.
		var ev audit.Event
		for _, e := range l.written {
			if e.Lane == 2 && e.Seq == 10 {
				ev = e
			}
		}
		sl, err := notary.Seal(ctx, audit.TypeCheckpoint, l.dep, ev)
		must(t, err)
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tg.Table), Item: store.EventHeadItem(l.dep, ev, sl)})
		must(t, err)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if got := kinds(res); !strings.Contains(got, "rollback@2/10") {
			t.Fatalf("found %s, want the checkpoint moved back", got)
		}
	})
	t.Run("ok/forged-position-is-not-trusted", func(t *testing.T) {
		l := logged(t)
		// Lane 6's kept position replaced by lane 1's (a genuine seal, of another lane).
		kept, err := s.VerifiedLanes(ctx, l.dep)
		must(t, err)
		forged := *kept[1]
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tg.Table), Item: store.VerifiedItem(l.dep, 6, forged)})
		must(t, err)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if len(res.Problems) > 0 || res.After[6] != 0 || res.After[1] != 25 || res.Events != 16+25 {
			t.Fatalf("read lane 6 after %d (%d events), found %s", res.After[6], res.Events, kinds(res))
		}
	})
	t.Run("ok/change-before-is-the-full-checks", func(t *testing.T) {
		l := logged(t)
		alter(l.dep, 4, 3)
		res, err := l.since(ctx, opts...)
		must(t, err)
		if len(res.Problems) > 0 {
			t.Fatalf("the incremental check read what it had checked: %s", kinds(res))
		}
		problems, _, err := audit.Verify(ctx, s, l.dep, audit.Lanes, opts...)
		must(t, err)
		if len(problems) == 0 || problems[0].Lane != 4 || problems[0].Seq != 3 {
			t.Fatalf("the full check found %+v, want the altered event", problems)
		}
	})
}

// Pattern 63, and pattern 23's pages: the full check's state is saved over its revision, so
// two workers cannot both record a page; done a page at a time (audit.CheckPage over
// ReadLanePage), the check of a log finds what Verify finds of it whole.
func TestEventCheckState(t *testing.T) {
	tg := devstack.NewTarget(t)
	s, _ := readsCounted(tg)
	db := tg.Clients.DynamoDB
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	if _, err := s.GetEventCheck(ctx, dep); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a check never started: %v", err)
	}
	c := audit.FullCheck{ID: "chk_1", State: audit.CheckRunning, Lanes: audit.Lanes}
	saved, err := s.SaveEventCheck(ctx, dep, c)
	must(t, err)
	if _, err := s.SaveEventCheck(ctx, dep, c); !errors.Is(err, store.ErrStale) {
		t.Fatalf("a second first save: %v", err)
	}
	saved.LanesDone = 3
	if saved, err = s.SaveEventCheck(ctx, dep, saved); err != nil || saved.Version != 2 {
		t.Fatalf("a save over the revision read: %+v %v", saved, err)
	}
	if got, err := s.GetEventCheck(ctx, dep); err != nil || got.LanesDone != 3 || got.Version != 2 {
		t.Fatalf("read back %+v %v", got, err)
	}

	notary, root := newNotary(t)
	anchors := store.NewS3Anchors(tg.Clients.S3, tg.Bucket)
	opts := []audit.Option{audit.WithKey(root), audit.WithAnchors(anchors)}
	l := &sinceLog{t: t, s: s, log: newEventLog(db, tg.Table, dep), seal: sealer(ctx, t, notary, anchors), dep: dep}
	l.grow(ctx, 150)
	l.grow(ctx, 50)
	paged := func() audit.FullCheck {
		c := audit.FullCheck{State: audit.CheckRunning, Lanes: audit.Lanes}
		for steps := 0; c.State == audit.CheckRunning; steps++ {
			if steps > 100 {
				t.Fatal("the check does not end")
			}
			must(t, audit.CheckPage(ctx, s, dep, &c, 7, opts...))
		}
		return c
	}
	if c := paged(); c.Events != 200 || c.ProblemCount != 0 || c.LanesDone != audit.Lanes {
		t.Fatalf("the intact log checked in pages: %+v", c)
	}
	// The last page of each lane says it is intact up to its signed checkpoint, at its end.
	intact := 0
	c = audit.FullCheck{State: audit.CheckRunning, Lanes: audit.Lanes}
	for c.State == audit.CheckRunning {
		must(t, audit.CheckPage(ctx, s, dep, &c, 7, opts...))
		if c.Intact != nil && c.Intact.Statement.Events[0].Seq == 25 {
			intact++
		}
	}
	if intact != audit.Lanes {
		t.Fatalf("%d lanes said intact at their ends", intact)
	}
	// Changed behind the store's back: an event altered, one removed from a lane's middle,
	// the decision of a signed completion removed.
	it, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(dep, 1, 9), ConsistentRead: aws.Bool(true)})
	must(t, err)
	body := it.Item["event"].(*types.AttributeValueMemberS).Value
	it.Item["event"] = &types.AttributeValueMemberS{Value: strings.Replace(body, `"crt_`, `"crt_x`, 1)}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tg.Table), Item: it.Item})
	must(t, err)
	for _, k := range []map[string]types.AttributeValue{store.EventKey(dep, 4, 12), store.EventKey(dep, 6, 20)} {
		_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: k})
		must(t, err)
	}
	whole, _, err := audit.Verify(ctx, s, dep, audit.Lanes, opts...)
	must(t, err)
	c = paged()
	key := func(ps []audit.Problem) string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprintf("%s@%d/%d", p.Kind, p.Lane, p.Seq))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	if key(c.Problems) != key(whole) || c.ProblemCount != len(whole) || len(whole) < 3 {
		t.Fatalf("in pages: %s\nwhole: %s", key(c.Problems), key(whole))
	}
}
