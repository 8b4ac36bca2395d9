package signer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// bytesDB counts the bytes written to the table (attribute names and values of PutItem and
// UpdateItem) and the events appended.
type bytesDB struct {
	store.DynamoDB
	bytes, events atomic.Int64
}

func avSize(av types.AttributeValue) int {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	}
	return 8
}

func (b *bytesDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := b.DynamoDB.PutItem(ctx, in, o...)
	if err == nil {
		for k, v := range in.Item {
			b.bytes.Add(int64(len(k) + avSize(v)))
		}
		if t, ok := in.Item["type"].(*types.AttributeValueMemberS); ok && t.Value == "signingEvent" {
			b.events.Add(1)
		}
	}
	return out, err
}

func (b *bytesDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := b.DynamoDB.UpdateItem(ctx, in, o...)
	if err == nil {
		for k, v := range in.ExpressionAttributeValues {
			b.bytes.Add(int64(len(k) + avSize(v)))
		}
	}
	return out, err
}

func (b *bytesDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := b.DynamoDB.TransactWriteItems(ctx, in, o...)
	if err == nil {
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				for k, v := range it.Put.Item {
					b.bytes.Add(int64(len(k) + avSize(v)))
				}
				if t, ok := it.Put.Item["type"].(*types.AttributeValueMemberS); ok && t.Value == "signingEvent" {
					b.events.Add(1)
				}
			case it.Update != nil:
				for k, v := range it.Update.ExpressionAttributeValues {
					b.bytes.Add(int64(len(k) + avSize(v)))
				}
			}
		}
	}
	return out, err
}

// floodBody is a POST /sign body of n digests with as much context as a request may report
// (every field at its limit, 32 CI entries of 1 KiB): about 54 KB for 64 digests.
func floodBody(certID string, n int) string {
	sum := sha256.Sum256([]byte("flood"))
	long := strings.Repeat("x", 4096)
	ci := map[string]string{}
	for i := range 32 {
		ci[fmt.Sprintf("%-64s", fmt.Sprintf("userId%02d", i))[:64]] = strings.Repeat("v", 1024)
	}
	var digests []map[string]string
	for range n {
		digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"})
	}
	body, _ := json.Marshal(map[string]any{"certificateId": certID, "digests": digests,
		"context": map[string]any{"process": long, "commandLine": long, "agentId": long, "fileName": long, "ci": ci}})
	return string(body)
}

// TestFloodIsBounded: the review's flood, a 54 KB POST /sign with 64 digests, wrote 64 events
// and 1.65 MB to the permanent log when denied. Now the request's context is recorded once
// and cut to what the log keeps (the event says what was cut), a denial is one event, and a
// caller no policy could let sign is refused with the smallest record.
func TestFloodIsBounded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "flood.localhost")
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	user := func(name string) (identity.ConsoleUser, string) {
		u, err := w.clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: name,
			Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, log)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := w.clean.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
		if err != nil {
			t.Fatal(err)
		}
		return u, tok
	}
	// stranger may sign nothing; other may sign with another certificate only; ci with cert.
	_, stranger := user("stranger")
	other, otherTok := user("other")
	another := cert
	another.ID = tenant.NewID("crt_")
	if _, err := w.clean.Store.CreateCertificate(ctx, another, log); err != nil {
		t.Fatal(err)
	}
	for _, p := range []policy.Policy{
		{ID: tenant.NewID("pol_"), Name: "other", Enabled: true, Priority: 5, Action: policy.Allow, What: policy.What{Certificates: []string{another.ID}}, Who: policy.Who{Users: []string{other.ID}}},
	} {
		if _, err := w.clean.Store.CreatePolicy(ctx, d.ID, p, log); err != nil {
			t.Fatal(err)
		}
	}
	_, _, ciTok := w.signerUser(t, d, cert)
	body := floodBody(cert.ID, 64)
	if len(body) < 50_000 || len(body) > 64<<10 {
		t.Fatalf("the flood body is %d bytes", len(body))
	}

	send := func(t *testing.T, tok string, want int) *bytesDB {
		t.Helper()
		db := &bytesDB{DynamoDB: w.tg.Clients.DynamoDB}
		h := w.signerOn(db, keys.NewRegistry(w.kms))
		resp, err := h(ctx, signEvent(d.DomainName, tok, body))
		if err != nil || resp.StatusCode != want {
			t.Fatalf("status %d, want %d: %v %s", resp.StatusCode, want, err, resp.Body)
		}
		t.Logf("%d-byte request, status %d: %d events, %d bytes written", len(body), want, db.events.Load(), db.bytes.Load())
		return db
	}
	last := func(t *testing.T, n int) []audit.Event {
		t.Helper()
		all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
			return w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, pr)
		})
		if err != nil || len(all) < n {
			t.Fatalf("events: %d %v", len(all), err)
		}
		return all[len(all)-n:]
	}

	t.Run("fail/denied-to-a-caller-who-may-sign-nothing", func(t *testing.T) {
		db := send(t, stranger, 403)
		if db.events.Load() != 1 || db.bytes.Load() > 4<<10 {
			t.Errorf("a bare denial wrote %d events, %d bytes", db.events.Load(), db.bytes.Load())
		}
		e := last(t, 1)[0]
		if e.Decision != audit.Deny || e.DigestCount != 64 || e.Process != "" || len(e.Digests) != 0 {
			t.Errorf("the denial: %+v", e)
		}
	})
	t.Run("fail/denied-with-this-certificate", func(t *testing.T) {
		db := send(t, otherTok, 403)
		if db.events.Load() != 1 || db.bytes.Load() > 16<<10 {
			t.Errorf("a denial wrote %d events, %d bytes", db.events.Load(), db.bytes.Load())
		}
		e := last(t, 1)[0]
		if len(e.Digests) != 64 || e.DigestCount != 64 || len(e.Process) != 256 || !strings.Contains(strings.Join(e.Cut, ","), "ci") {
			t.Errorf("the denial: %d digests, process %d bytes, cut %v", len(e.Digests), len(e.Process), e.Cut)
		}
	})
	t.Run("ok/allowed-context-once", func(t *testing.T) {
		db := send(t, ciTok, 200)
		if db.events.Load() != 2 || db.bytes.Load() > 32<<10 {
			t.Errorf("an allowed 64-digest request wrote %d events, %d bytes", db.events.Load(), db.bytes.Load())
		}
		var withContext int
		for _, e := range last(t, 2) {
			if e.Kind != audit.KindDecision {
				continue
			}
			if e.Process != "" {
				withContext++
				if fmt.Sprint(e.Cut) != "[process commandLine agentId fileName ci]" || len(e.CommandLine) != 1024 {
					t.Errorf("the context event: cut %v, command line %d bytes", e.Cut, len(e.CommandLine))
				}
			}
			if len(e.Digests) != 64 || e.DigestCount != 64 {
				t.Errorf("the decision lists %d of its %d digests", len(e.Digests), e.DigestCount)
			}
		}
		if withContext != 1 {
			t.Errorf("the context is in %d decisions", withContext)
		}
	})
}
