package store_test

import (
	"context"
	"testing"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// BenchmarkEventWrite measures, side by side, the kinds of call a signature needs: an event
// append (one conditional PutItem at the lane's head, the write the signer makes before the
// key signs), the counting append (one TransactWriteItems: the event, its lane's checkpoint
// and the counts, the write the signer makes after) and a consistent GetItem, each through
// the SDK to the DynamoDB stand-in. It is the floor under the signer's overhead in `make
// bench`.
func BenchmarkEventWrite(b *testing.B) {
	tg := devstack.NewEmbedded(b)
	s := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	for i := 0; i < lanes; i++ {
		if _, err := s.AppendEvent(ctx, decision(dep, i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("call=append", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.AppendEvent(ctx, decision(dep, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=append-counting", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			e := decision(dep, i)
			if _, _, err := s.AppendEventCounting(ctx, e, nil, store.Use{CertificateID: e.CertificateID, N: 1, At: e.At,
				Activity: &activity.Tally{At: e.At, CertificateID: e.CertificateID, UserID: e.UserID, Signed: 1}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=get", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.GetDeployment(ctx, dep); err == nil {
				b.Fatal("a deployment that was never written was found")
			}
		}
	})
}
