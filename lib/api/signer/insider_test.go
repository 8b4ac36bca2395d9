package signer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// insider is a deployment whose log an insider who can write the table (but not use the
// checkpoint key) is about to rewrite: the request to hide (its decision and completion in
// one lane, with later events in that lane), its receipt, and the lane's checkpoint item as
// it was before that request.
type insider struct {
	w        *world
	dep      string
	lane     int
	hidden   wire.Response
	receipts []audit.Seal
	oldHead  map[string]types.AttributeValue
	parts    *function.Parts
}

func (in *insider) db() store.DynamoDB { return in.w.tg.Clients.DynamoDB }

func headKey(dep string, lane int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DEP#" + dep}, "SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("EVHEAD#%d", lane)}}
}

// newInsider signs until a request lands in a lane that already has a sealed checkpoint and
// gets a later event in the same lane, anchoring every checkpoint.
func newInsider(t *testing.T, w *world) *insider {
	t.Helper()
	ctx := context.Background()
	env := w.env
	env.Config.AnchorEvery = time.Nanosecond // every checkpoint is anchored
	parts := function.NewParts(env)
	d, cert := w.deployment(t, strings.ToLower(tenant.NewID("ins"))+".localhost")
	_, _, tok := w.signerUser(t, d, cert)
	h := edge.Lambda(signer.NewHandler(parts, keys.NewRegistry(w.kms), access.NewMux(w.env.Log, parts.Guard)))
	in := &insider{w: w, dep: d.ID, parts: parts, lane: -1}
	sign := func() wire.Response {
		t.Helper()
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("sign: %d %v %s", resp.StatusCode, err, resp.Body)
		}
		var out wire.Response
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			t.Fatal(err)
		}
		var r audit.Seal
		if err := json.Unmarshal(out.Receipt, &r); err != nil {
			t.Fatalf("the answer has no receipt: %s", resp.Body)
		}
		in.receipts = append(in.receipts, r)
		return out
	}
	laneOf := func(r wire.Response) int {
		var s audit.Seal
		_ = json.Unmarshal(r.Receipt, &s)
		return s.Statement.Events[0].Lane
	}
	heads := func() map[int]map[string]types.AttributeValue {
		out := map[int]map[string]types.AttributeValue{}
		for l := range audit.Lanes {
			got, err := in.db().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.tg.Table), Key: headKey(d.ID, l), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if got.Item["seal"] != nil {
				out[l] = got.Item
			}
		}
		return out
	}
	for range 8 {
		sign()
	}
	for try := 0; in.lane < 0; try++ {
		if try == 60 {
			t.Fatal("no request landed in a lane with a sealed checkpoint")
		}
		before := heads()
		r := sign()
		if old := before[laneOf(r)]; old != nil {
			in.lane, in.hidden, in.oldHead = laneOf(r), r, old
		}
	}
	for try := 0; ; try++ {
		if try == 60 {
			t.Fatal("no later request landed in the hidden request's lane")
		}
		if laneOf(sign()) == in.lane {
			break
		}
	}
	// The anchors are written in the background: wait for the lane's last checkpoint.
	last := in.receipts[len(in.receipts)-1].Statement.Events
	for deadline := time.Now().Add(10 * time.Second); ; {
		raws := anchorsOf(t, parts.Anchors, d.ID, in.lane, 1)
		var a audit.Seal
		if len(raws) == 1 && json.Unmarshal(raws[0], &a) == nil && a.Statement.Events[0].Seq >= last[len(last)-1].Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lane's checkpoint was not anchored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return in
}

// anchorsOf reads the newest n anchors of lane of dep.
func anchorsOf(t *testing.T, a audit.AnchorReader, dep string, lane, n int) [][]byte {
	t.Helper()
	ctx := context.Background()
	names, err := a.AnchorNames(ctx, dep, lane)
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, name := range names[:min(n, len(names))] {
		raw, err := a.ReadAnchor(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	return raws
}

// rewrite does what the insider did: it deletes the hidden request's decision and completion,
// recomputes the lane's chain after them (the recipe is public) and writes it back in place.
// It returns the rewritten lane.
func (in *insider) rewrite(t *testing.T) []audit.Event {
	t.Helper()
	ctx := context.Background()
	table := aws.String(in.w.tg.Table)
	pk := fmt.Sprintf("DEP#%s#LANE#%d", in.dep, in.lane)
	out, err := in.db().Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}})
	if err != nil {
		t.Fatal(err)
	}
	hide := map[string]bool{in.hidden.Signatures[0].EventID: true}
	var kept []audit.Event
	var items []map[string]types.AttributeValue
	for _, it := range out.Items {
		var e audit.Event
		if err := json.Unmarshal([]byte(it["event"].(*types.AttributeValueMemberS).Value), &e); err != nil {
			t.Fatal(err)
		}
		if _, err := in.db().DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: map[string]types.AttributeValue{"PK": it["PK"], "SK": it["SK"]}}); err != nil {
			t.Fatal(err)
		}
		if hide[e.ID] || hide[e.Of] {
			continue
		}
		kept, items = append(kept, e), append(items, it)
	}
	var prev *audit.Event
	for i := range kept {
		kept[i].Seal(prev)
		prev = &kept[i]
		body, _ := json.Marshal(kept[i])
		it := items[i]
		it["SK"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("EVT#%020d", kept[i].Seq)}
		it["event"] = &types.AttributeValueMemberS{Value: string(body)}
		if _, err := in.db().PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	if len(kept) != len(out.Items)-2 {
		t.Fatalf("the hidden request's two events are not in lane %d", in.lane)
	}
	return kept
}

// setHead writes the lane's checkpoint item: seq and hash of e, with seal (nil: none).
func (in *insider) setHead(t *testing.T, e audit.Event, seal *audit.Seal) {
	t.Helper()
	item := headKey(in.dep, in.lane)
	item["type"] = &types.AttributeValueMemberS{Value: "eventHead"}
	item["seq"] = &types.AttributeValueMemberN{Value: fmt.Sprint(e.Seq)}
	item["hash"] = &types.AttributeValueMemberS{Value: e.Hash}
	if seal != nil {
		raw, _ := json.Marshal(seal)
		item["seal"] = &types.AttributeValueMemberS{Value: string(raw)}
	}
	if _, err := in.db().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(in.w.tg.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// verify is GET /console/events/verify: the lanes against the checkpoint key and the anchors
// (and, as signum events verify does offline, against receipts when given).
func (in *insider) verify(t *testing.T, opts ...audit.Option) []audit.Problem {
	t.Helper()
	ctx := context.Background()
	root, _, err := in.parts.Notary.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	problems, _, err := audit.Verify(ctx, in.parts.Store, in.dep, audit.Lanes, append([]audit.Option{audit.WithKey(root)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

func kinds(ps []audit.Problem) map[string]bool {
	out := map[string]bool{}
	for _, p := range ps {
		out[p.Kind] = true
	}
	return out
}

// TestInsiderCannotHideASignature replays the review's insider: with write access to the table
// but not to the checkpoint key, they delete a signed decision and its completion, recompute
// the lane's chain and put the lane's checkpoint back. The plain checks (today's verification)
// see nothing; the checkpoint's seal, the anchors outside the table and the client's receipt
// each show what happened, and the verification says which kind of break it is.
func TestInsiderCannotHideASignature(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	t.Run("ok/intact", func(t *testing.T) {
		in := newInsider(t, w)
		if p := in.verify(t, audit.WithAnchors(in.parts.Anchors), audit.WithReceipts(in.receipts)); len(p) != 0 {
			t.Fatalf("an intact log: %+v", p)
		}
	})

	t.Run("fail/rolled-back-to-an-older-signed-checkpoint", func(t *testing.T) {
		in := newInsider(t, w)
		in.rewrite(t)
		if _, err := in.db().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.tg.Table), Item: in.oldHead}); err != nil {
			t.Fatal(err)
		}
		// The chains and the (genuinely signed) checkpoint agree: what the service checked
		// before, and the table alone, say nothing.
		if p, _, err := audit.Verify(ctx, in.parts.Store, in.dep, audit.Lanes); err != nil || len(p) != 0 {
			t.Fatalf("the plain check: %+v %v", p, err)
		}
		if p := in.verify(t); len(p) != 0 {
			t.Fatalf("the table's own seals: %+v", p)
		}
		if p := in.verify(t, audit.WithAnchors(in.parts.Anchors)); !kinds(p)[audit.ProblemRollback] {
			t.Errorf("the anchors do not show a rollback: %+v", p)
		}
		if p := in.verify(t, audit.WithReceipts(in.receipts)); len(p) == 0 {
			t.Error("the receipts do not show the rewrite")
		} else {
			t.Logf("receipts: %+v", p)
		}
		// Offline, from an export, as an auditor runs signum events verify --receipts.
		x := export(t, in.parts.Store, in.dep)
		root, _, _ := in.parts.Notary.Root(ctx)
		if p, _, err := audit.Verify(ctx, x, in.dep, audit.Lanes, audit.WithKey(root), audit.WithReceipts(in.receipts)); err != nil || len(p) == 0 {
			t.Errorf("offline with receipts: %+v %v", p, err)
		}
		if p, _, err := audit.Verify(ctx, x, in.dep, audit.Lanes, audit.WithKey(root), audit.WithReceipts(in.receipts[len(in.receipts)-1:])); err != nil || !kinds(p)[audit.ProblemAltered] && !kinds(p)[audit.ProblemRollback] {
			t.Errorf("offline with the last receipt alone: %+v %v", p, err)
		}
	})

	t.Run("fail/unsigned-checkpoint", func(t *testing.T) {
		in := newInsider(t, w)
		lane := in.rewrite(t)
		in.setHead(t, lane[len(lane)-1], nil)
		if p := in.verify(t); !kinds(p)[audit.ProblemSeal] {
			t.Errorf("an unsigned checkpoint: %+v", p)
		}
	})

	t.Run("fail/checkpoint-signed-with-another-key", func(t *testing.T) {
		in := newInsider(t, w)
		lane := in.rewrite(t)
		// The insider's own KMS key, which they may use.
		k, err := w.tg.Clients.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
		if err != nil {
			t.Fatal(err)
		}
		own := audit.NewNotary(func(ctx context.Context) (audit.RootKey, error) {
			return w.kms.Open(ctx, "awskms:///"+aws.ToString(k.KeyMetadata.KeyId))
		}, time.Now)
		seal, err := own.Seal(ctx, audit.TypeCheckpoint, in.dep, lane[len(lane)-1])
		if err != nil {
			t.Fatal(err)
		}
		in.setHead(t, lane[len(lane)-1], &seal)
		p := in.verify(t, audit.WithAnchors(in.parts.Anchors))
		if !kinds(p)[audit.ProblemSeal] {
			t.Errorf("a checkpoint sealed by another key: %+v", p)
		}
		if !kinds(p)[audit.ProblemAltered] && !kinds(p)[audit.ProblemRollback] {
			t.Errorf("the anchors do not show the rewrite: %+v", p)
		}
	})
}

// export is the deployment's log as GET /console/events?format=jsonl gives it, every page.
func export(t *testing.T, st *store.Store, dep string) *audit.Export {
	t.Helper()
	all, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
		return st.ListEvents(ctx, dep, store.EventFilter{}, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := audit.WriteJSONL(&b, all); err != nil {
		t.Fatal(err)
	}
	x, err := audit.ReadExport(&b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
