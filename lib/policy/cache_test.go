package policy_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

type counting struct {
	*store.Store
	loads int
}

func (c *counting) AllPolicies(ctx context.Context, dep string) ([]policy.Policy, error) {
	c.loads++
	return c.Store.AllPolicies(ctx, dep)
}

// TestReloadsOnlyWhenPoliciesChange: a warm cache answers from memory until a policy change
// moves the deployment's counter; then the next decision sees the change.
func TestReloadsOnlyWhenPoliciesChange(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(key))
	src := &counting{Store: st}
	c := policy.NewCache(src)
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	req := policy.Request{UserID: "cu_a", At: time.Now(), Certificate: policy.Certificate{ID: "crt_a", Enabled: true}}

	for i := 0; i < 3; i++ {
		set, err := c.Set(ctx, dep)
		if err != nil || set.Evaluate(req).Allowed {
			t.Fatalf("no policies: %v", err)
		}
	}
	if src.loads != 1 {
		t.Fatalf("%d loads for an unchanged deployment, want 1", src.loads)
	}
	p := policy.Policy{ID: "pol_a", Name: "a", Enabled: true, Action: policy.Allow, What: policy.What{Certificates: []string{"crt_a"}}, Who: policy.Who{Users: []string{"cu_a"}}}
	if _, err := st.CreatePolicy(ctx, dep, p, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	set, err := c.Set(ctx, dep)
	if err != nil || !set.Evaluate(req).Allowed {
		t.Fatalf("new policy not seen: %v", err)
	}
	if _, err := c.Set(ctx, dep); err != nil || src.loads != 2 {
		t.Fatalf("loads %d, want 2", src.loads)
	}
}
