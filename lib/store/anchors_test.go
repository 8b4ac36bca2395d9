package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
)

// Pattern 23's anchors: an anchor is written once, into a bucket with Object Lock (on
// LocalStack and AWS with a default retention, which refuses writes without a checksum): a
// second checkpoint of the same event, sealed otherwise, does not replace the first, and says
// nothing went wrong.
func TestS3AnchorsAreWrittenOnce(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	a := store.NewS3Anchors(tg.Clients.S3, tg.Bucket)
	first := audit.Seal{Statement: audit.Statement{Type: audit.TypeCheckpoint, DeploymentID: "dep_once", At: time.Now().UTC(),
		Events: []audit.Position{{Lane: 3, Seq: 7, ID: "evt_x", Hash: strings.Repeat("a", 64)}}}, Signature: "first"}
	second := first
	second.Signature = "second"
	for _, s := range []audit.Seal{first, second} {
		if err := a.PutAnchor(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	names, err := a.AnchorNames(ctx, "dep_once", 3)
	if err != nil || len(names) != 1 {
		t.Fatalf("anchors of the lane: %v %v", names, err)
	}
	raw, err := a.ReadAnchor(ctx, names[0])
	if err != nil || !strings.Contains(string(raw), `"first"`) || strings.Contains(string(raw), `"second"`) {
		t.Fatalf("the anchor was replaced: %s %v", raw, err)
	}
}
