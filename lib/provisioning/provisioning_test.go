package provisioning_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

func service(t *testing.T) (*provisioning.Service, *store.Store) {
	tg := devstack.NewTarget(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return provisioning.New(st, func() time.Time { return now }), st
}

func TestProvision(t *testing.T) {
	svc, st := service(t)
	ctx := context.Background()
	res, err := svc.Provision(ctx, provisioning.Request{Name: "  Acme  ", DomainName: "Sign.Acme.Example", IPAllowlist: []string{"10.0.0.1"}, RequestKey: "k", Actor: "test"})
	if err != nil || !res.Created || res.FirstAdminLink == "" {
		t.Fatalf("%+v %v", res, err)
	}
	d := res.Deployment
	// The first Admin's link is stored hashed, carries Admin and the Signum Administrator
	// role, and expires.
	inv, err := st.GetInvite(ctx, identity.InviteHash(res.FirstAdminLink))
	if err != nil || inv.Role != identity.RoleAdmin || !inv.SignumAdmin || inv.DeploymentID != d.ID || !inv.ExpiresAt.Equal(res.FirstAdminLinkExpires) {
		t.Fatalf("first invite: %+v %v", inv, err)
	}
	if dom, err := st.GetLocalDomain(ctx, d.ID); err != nil || dom.Password.MinLength == 0 || dom.Version != 1 {
		t.Fatalf("default local domain: %+v %v", dom, err)
	}
	// The default signing policy lets portal Admins and Users sign with any certificate.
	dp, err := st.GetPolicy(ctx, d.ID, provisioning.DefaultPolicyID)
	if err != nil || dp.Validate() != nil || !dp.Enabled || dp.Version != 1 {
		t.Fatalf("default policy: %+v %v", dp, err)
	}
	req := policy.Request{UserID: "pu_x", Roles: []string{"portal:User"}, At: time.Now(), Certificate: policy.Certificate{ID: "crt_x", Enabled: true}}
	if dec := policy.NewSet([]policy.Policy{dp}).Evaluate(req); !dec.Allowed {
		t.Fatalf("portal User cannot sign under the default policy: %+v", dec)
	}
	if d.Name != "Acme" || d.Plan != "standard" || d.Status != tenant.StatusActive || d.SoftwareVersion != provisioning.SoftwareVersion ||
		d.DomainName != "sign.acme.example" || d.IPAllowlist[0].String() != "10.0.0.1/32" || !tenant.ValidID("dep_", d.ID) {
		t.Fatalf("defaults: %+v", d)
	}
	log, err := st.ListLog(ctx, d.ID, store.PageRequest{})
	if err != nil || len(log.Items) != 1 || log.Items[0].Action != "deployment.provisioned" || log.Items[0].Actor != "test" {
		t.Fatalf("first log entry: %+v %v", log.Items, err)
	}
	// A retry normalising to the same request (allowlist order, case) is the same request.
	again, err := svc.Provision(ctx, provisioning.Request{Name: "Acme", DomainName: "sign.acme.example", IPAllowlist: []string{"10.0.0.1/32"}, RequestKey: "k"})
	if err != nil || again.Created || again.Deployment.ID != d.ID || again.FirstAdminLink != "" {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if _, err := svc.Provision(ctx, provisioning.Request{Name: "Acme", Plan: "trial", RequestKey: "k"}); !errors.Is(err, fault.ErrUnprocessable) {
		t.Fatalf("key reuse: %v", err)
	}
}

func TestProvisionValidation(t *testing.T) {
	svc, _ := service(t)
	_, err := svc.Provision(context.Background(), provisioning.Request{
		Name: "bad\x00name", Plan: "gold", DomainName: "1.2.3.4", IPAllowlist: []string{"10/8"}, RequestKey: "has space",
	})
	var fields fault.Fields
	if !errors.As(err, &fields) {
		t.Fatalf("%v", err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "name,plan,domainName,ipAllowlist,requestKey" {
		t.Fatalf("invalid fields %s", got)
	}
	for _, name := range []string{"", strings.Repeat("x", 101)} {
		if _, err := svc.Provision(context.Background(), provisioning.Request{Name: name}); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("name %q: %v", name, err)
		}
	}
}
