package signer_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
)

// TestRemovedCompletionIsReported: a signed request is answered once its completion is
// written and its lane's checkpoint names it, so removing the completion, the lane's last
// event, is reported at once; so is removing the decision with it.
func TestRemovedCompletionIsReported(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	st := w.clean.Store
	d, cert := w.deployment(t, "tail.localhost")
	_, _, tok := w.signerUser(t, d, cert)
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	body := signBody(cert, 1)
	if resp, err := h(ctx, signEvent(d.DomainName, tok, body)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	verify := func() []audit.Problem {
		t.Helper()
		problems, _, err := audit.Verify(ctx, st, d.ID, audit.Lanes)
		if err != nil {
			t.Fatal(err)
		}
		return problems
	}
	if p := verify(); len(p) != 0 {
		t.Fatalf("an intact log: %+v", p)
	}
	page, err := st.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 10})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("events: %+v %v", page.Items, err)
	}
	remove := func(e audit.Event) {
		t.Helper()
		pk := fmt.Sprintf("DEP#%s#LANE#%d", d.ID, e.Lane)
		if _, err := w.tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.tg.Table), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("EVT#%020d", e.Seq)}}}); err != nil {
			t.Fatal(err)
		}
	}
	decision, completion := page.Items[0], page.Items[1]
	if decision.Kind != audit.KindDecision || completion.Kind != audit.KindCompletion {
		decision, completion = completion, decision
	}
	remove(completion)
	if p := verify(); len(p) != 1 || !strings.Contains(p[0].Detail, "removed") {
		t.Fatalf("a removed completion: %+v", p)
	}
	remove(decision)
	if p := verify(); len(p) != 1 || !strings.Contains(p[0].Detail, "removed") {
		t.Fatalf("a removed decision and completion: %+v", p)
	}
}

// brokenKeys opens keys whose signing always fails.
type brokenKeys struct{ keys.Backend }

type brokenKey struct{ keys.Key }

func (b brokenKeys) Open(ctx context.Context, uri string) (keys.Key, error) {
	k, err := b.Backend.Open(ctx, uri)
	return brokenKey{k}, err
}

func (brokenKey) SignContext(context.Context, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.Join(keys.ErrUnavailable, errors.New("injected: the key does not answer"))
}

// TestUsageCountsReturnedSignatures: the certificate's usage counts the signatures returned
// (with the completion's checkpoint), not those of a request that returned none.
func TestUsageCountsReturnedSignatures(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	st := w.clean.Store
	d, cert := w.deployment(t, "usage.localhost")
	_, _, tok := w.signerUser(t, d, cert)
	body := signBody(cert, 2)
	usage := func() int64 {
		t.Helper()
		cs := []certificates.Certificate{cert}
		if err := st.WithUsage(ctx, d.ID, cs); err != nil {
			t.Fatal(err)
		}
		return cs[0].UsageCount
	}
	good := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	if resp, err := good(ctx, signEvent(d.DomainName, tok, body)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	if n := usage(); n != 2 {
		t.Fatalf("usage after 2 signatures: %d", n)
	}
	broken := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(brokenKeys{w.kms}))
	if resp, err := broken(ctx, signEvent(d.DomainName, tok, body)); err != nil || resp.StatusCode != 503 {
		t.Fatalf("sign with a failing key: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	if n := usage(); n != 2 {
		t.Fatalf("usage after a request that returned no signature: %d, want 2", n)
	}
}
