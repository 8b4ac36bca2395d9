package store_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// transactDB counts transactions and, while refuseActivity is set, refuses those that count
// activity as DynamoDB refuses an item grown past 400 KB: the transaction is cancelled with a
// ValidationError for that action.
type transactDB struct {
	store.DynamoDB
	transactions, calls atomic.Int64
	refuseActivity      atomic.Bool
	// conflicts is how many transactions to cancel next as DynamoDB cancels one that another
	// transaction held an item of.
	conflicts atomic.Int64
}

func (d *transactDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	d.transactions.Add(1)
	d.calls.Add(1)
	if d.conflicts.Add(-1) >= 0 {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	if d.refuseActivity.Load() {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		refused := false
		for i, it := range in.TransactItems {
			reasons[i].Code = aws.String("None")
			if it.Update != nil && strings.HasPrefix(it.Update.Key["SK"].(*types.AttributeValueMemberS).Value, "ACTIVITY#") {
				reasons[i] = types.CancellationReason{Code: aws.String("ValidationError"), Message: aws.String("Item size to update has exceeded the maximum allowed size")}
				refused = true
			}
		}
		if refused {
			return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
		}
	}
	return d.DynamoDB.TransactWriteItems(ctx, in, o...)
}

func (d *transactDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	d.calls.Add(1)
	return d.DynamoDB.PutItem(ctx, in, o...)
}

func (d *transactDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.calls.Add(1)
	return d.DynamoDB.UpdateItem(ctx, in, o...)
}

// Pattern 21, the counting append: the event, its lane's checkpoint, the certificate's usage
// and the activity count in one call; two instances appending to one lane at once both land,
// in one chain, with the checkpoint at its end; an activity item DynamoDB refuses costs the
// count, never the event or the checkpoint.
func TestAppendEventCounting(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	db := &transactDB{DynamoDB: f.tg.Clients.DynamoDB}
	a := store.New(db, f.tg.Table, randomKey())
	b := store.New(db, f.tg.Table, randomKey())
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	use := func(n int) store.Use {
		return store.Use{CertificateID: "crt_a", N: n, At: at, Activity: &activity.Tally{At: at, CertificateID: "crt_a", UserID: "cu_1", Agent: "agent-1", Signed: n}}
	}

	// One call, everything in it.
	first, uncounted, err := a.AppendEventCounting(ctx, decision(dep, 0), nil, use(2))
	if err != nil || uncounted != nil {
		t.Fatal(err, uncounted)
	}
	if n := db.calls.Load(); n != 1 || db.transactions.Load() != 1 {
		t.Fatalf("a counting append made %d calls (%d transactions), want 1", n, db.transactions.Load())
	}
	lane, err := a.ReadLane(ctx, dep, 0)
	if err != nil || lane.HeadSeq != first.Seq || lane.HeadHash != first.Hash || len(lane.Events) != 1 {
		t.Fatalf("after one counting append: head %d %s, %d events (%v)", lane.HeadSeq, lane.HeadHash, len(lane.Events), err)
	}

	// Two instances at once, each with a stale idea of the lane's end half of the time.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for _, s := range []*store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, _, err := s.AppendEventCounting(ctx, decision(dep, 0), nil, use(1)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lane, err = a.ReadLane(ctx, dep, 0)
	if err != nil || len(lane.Events) != 41 || lane.HeadSeq != lane.Events[40].Seq || lane.HeadHash != lane.Events[40].Hash {
		t.Fatalf("after 40 concurrent counting appends: %d events, head at %d (%v)", len(lane.Events), lane.HeadSeq, err)
	}
	if problems, _, err := audit.Verify(ctx, a, dep, 1); err != nil || len(problems) != 0 {
		t.Fatalf("the lane: %+v %v", problems, err)
	}
	cs := []certificates.Certificate{{ID: "crt_a"}}
	if err := a.WithUsage(ctx, dep, cs); err != nil || cs[0].UsageCount != 42 {
		t.Fatalf("usage %d, want 42 (%v)", cs[0].UsageCount, err)
	}
	days, err := a.Activity(ctx, dep, at, at)
	if err != nil || len(days) != 1 || days[0].Signed != 42 || days[0].Requests != 41 || days[0].ByAgent["agent-1"] != 42 {
		t.Fatalf("activity: %+v %v", days, err)
	}

	// Transactions cancelled for a conflict (another instance's transaction held the lane's
	// checkpoint) are tried again.
	// (This instance appends first, so that it knows the lane's end after the other's appends.)
	if _, _, err := a.AppendEventCounting(ctx, decision(dep, 0), nil, store.Use{CertificateID: "crt_a", At: at}); err != nil {
		t.Fatal(err)
	}
	db.conflicts.Store(2)
	before := db.transactions.Load()
	if _, uncounted, err := a.AppendEventCounting(ctx, decision(dep, 0), nil, use(1)); err != nil || uncounted != nil || db.transactions.Load()-before != 3 {
		t.Fatalf("after 2 conflicts: %v, uncounted %v, %d transactions", err, uncounted, db.transactions.Load()-before)
	}

	// The activity item refused: the event and the checkpoint are written, the count is not.
	db.refuseActivity.Store(true)
	last, uncounted, err := a.AppendEventCounting(ctx, decision(dep, 0), nil, use(5))
	db.refuseActivity.Store(false)
	if err != nil || uncounted == nil {
		t.Fatalf("with the activity item refused: %v, uncounted %v", err, uncounted)
	}
	lane, _ = a.ReadLane(ctx, dep, 0)
	if lane.HeadSeq != last.Seq || len(lane.Events) != 44 {
		t.Fatalf("with the activity item refused: head at %d, last event %d, %d events", lane.HeadSeq, last.Seq, len(lane.Events))
	}
	if err := a.WithUsage(ctx, dep, cs); err != nil || cs[0].UsageCount != 48 {
		t.Fatalf("usage %d, want 48 (%v)", cs[0].UsageCount, err)
	}
	if days, _ := a.Activity(ctx, dep, at, at); days[0].Signed != 43 {
		t.Fatalf("the refused count was counted: %+v", days[0])
	}
}
