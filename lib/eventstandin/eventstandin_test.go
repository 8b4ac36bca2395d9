package eventstandin_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/opensignum/signum/lib/eventstandin"
)

// The SDK's client puts events through the stand-in: accepted ones are recorded with what was
// sent; malformed ones and those the stand-in is told to fail come back in their entry's place.
func TestPutEvents(t *testing.T) {
	e, c := eventstandin.Start(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
	entry := func(detail string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{Source: aws.String("signum.notices"), DetailType: aws.String("Signum Notice Raised"),
			Detail: aws.String(detail), Time: aws.Time(at), Resources: []string{"dep_1"}}
	}
	out, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{"a":1}`), entry(`not json`)}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || aws.ToString(out.Entries[0].EventId) == "" || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" {
		t.Fatalf("ok/one-accepted-one-malformed: %+v", out)
	}
	got := e.Entries()
	if len(got) != 1 || got[0].Source != "signum.notices" || got[0].DetailType != "Signum Notice Raised" || got[0].Detail != `{"a":1}` ||
		!got[0].Time.Equal(at) || got[0].EventID != aws.ToString(out.Entries[0].EventId) || len(got[0].Resources) != 1 {
		t.Fatalf("recorded %+v", got)
	}

	e.FailEntries(1, "InternalFailure")
	out, err = c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{"b":1}`), entry(`{"c":1}`)}})
	if err != nil || out.FailedEntryCount != 1 || aws.ToString(out.Entries[0].ErrorCode) != "InternalFailure" || out.Entries[1].EventId == nil {
		t.Fatalf("ok/told-to-fail: %+v, %v", out, err)
	}
	if n := len(e.Entries()); n != 2 {
		t.Fatalf("%d entries recorded, want 2", n)
	}

	var many []ebtypes.PutEventsRequestEntry
	for range 11 {
		many = append(many, entry(`{}`))
	}
	if _, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: many}); err == nil {
		t.Fatal("fail/eleven-entries: accepted")
	}
	if e.Calls() != 3 {
		t.Fatalf("%d calls", e.Calls())
	}
}
