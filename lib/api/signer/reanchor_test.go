package signer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// TestRewriteThenSignerReanchors: an insider deletes a signed request from a lane, rechains
// it, pads it with filler events past every old anchor and leaves an unsealed head; the
// signer then links its next event to the forged tail, seals and anchors it. The lane's
// newest anchor agrees with the forged chain, but the older anchors (Object Lock) do not:
// Verify compares every anchor of the lane and reports the rewrite.
func TestRewriteThenSignerReanchors(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.env.Config.AnchorEvery = time.Nanosecond
	parts := function.NewParts(w.env)
	d, cert := w.deployment(t, strings.ToLower(tenant.NewID("reanchor"))+".localhost")
	_, _, tok := w.signerUser(t, d, cert)
	h := edge.Lambda(signer.NewHandler(parts, keys.NewRegistry(w.kms), access.NewMux(w.env.Log, parts.Guard)))
	in := &insider{w: w, dep: d.ID, parts: parts, lane: -1}
	sign := func() wire.Response {
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("sign: %d %v %s", resp.StatusCode, err, resp.Body)
		}
		var out wire.Response
		_ = json.Unmarshal([]byte(resp.Body), &out)
		return out
	}
	laneOf := func(r wire.Response) int {
		var s audit.Seal
		_ = json.Unmarshal(r.Receipt, &s)
		return s.Statement.Events[0].Lane
	}
	signInLane := func() {
		for try := 0; ; try++ {
			if try == 80 {
				t.Fatal("no request landed in the lane")
			}
			if laneOf(sign()) == in.lane {
				return
			}
		}
	}
	// waitAnchored waits for the background anchor of the lane's last event.
	waitAnchored := func() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			lane, err := parts.Store.ReadLane(ctx, d.ID, in.lane)
			if err != nil {
				t.Fatal(err)
			}
			var a audit.Seal
			raws := anchorsOf(t, parts.Anchors, d.ID, in.lane, 1)
			if len(raws) == 1 && json.Unmarshal(raws[0], &a) == nil && a.Statement.Events[0].Seq >= lane.Events[len(lane.Events)-1].Seq {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the lane's checkpoint was not anchored")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for range 6 {
		sign()
	}
	in.hidden = sign()
	in.lane = laneOf(in.hidden)
	signInLane()
	waitAnchored()
	if p := in.verify(t, audit.WithAnchors(parts.Anchors)); len(p) != 0 {
		t.Fatalf("intact lane: %+v", p)
	}

	kept := in.rewrite(t) // decision + completion gone, chain recomputed
	// Filler, so that the lane is longer than before and the signer's next event lands past
	// every old anchor.
	for range 3 {
		f := kept[0]
		f.ID = tenant.NewID("evt_")
		f.Seal(&kept[len(kept)-1])
		kept = append(kept, f)
		body, _ := json.Marshal(f)
		item := map[string]types.AttributeValue{
			"PK":    &types.AttributeValueMemberS{Value: fmt.Sprintf("DEP#%s#LANE#%d", d.ID, in.lane)},
			"SK":    &types.AttributeValueMemberS{Value: fmt.Sprintf("EVT#%020d", f.Seq)},
			"type":  &types.AttributeValueMemberS{Value: "signingEvent"},
			"event": &types.AttributeValueMemberS{Value: string(body)},
		}
		if _, err := in.db().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.tg.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	in.setHead(t, kept[len(kept)-1], nil) // a plain head at the new tail, no seal

	// The signer goes on signing, links to the forged tail, seals and anchors.
	signInLane()
	waitAnchored()
	lane, err := parts.Store.ReadLane(ctx, d.ID, in.lane)
	if err != nil {
		t.Fatal(err)
	}
	if lane.Seal == nil || len(audit.VerifyLane(d.ID, lane)) != 0 {
		t.Fatalf("the signer did not seal the forged chain (the attack needs it): %+v", audit.VerifyLane(d.ID, lane))
	}
	p := in.verify(t, audit.WithAnchors(parts.Anchors))
	rewritten := false
	for _, q := range p {
		rewritten = rewritten || (q.Lane == in.lane && q.Kind == audit.ProblemAltered && strings.Contains(q.Detail, "anchor"))
	}
	if !rewritten {
		t.Fatalf("a lane rewritten under its older anchors, then sealed and anchored by the signer, is not reported: %+v", p)
	}
}
