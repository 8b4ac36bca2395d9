package provisioning_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
)

func ptr[T any](v T) *T { return &v }

// Settings: the domain name (under the suffix) and allowlist are checked as provisioning
// checks them, with the same reasons; a patch of nothing new writes nothing; a change is
// written and logged.
func TestSettingsUpdate(t *testing.T) {
	ctx := context.Background()
	svc, st := service(t)
	res, err := svc.Provision(ctx, provisioning.Request{Name: "acme", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	cur := res.Deployment
	set := provisioning.NewSettings(st, "signum.example")
	_, err = set.Update(ctx, cur, provisioning.SettingsPatch{Name: ptr(" "), DomainName: ptr("acme.other.example"), IPAllowlist: &[]string{"10/8"}}, "test")
	var fs fault.Fields
	if !errors.As(err, &fs) || len(fs) != 3 || fs[0].Name != "name" || fs[1].Name != "domainName" || fs[2].Name != "ipAllowlist" ||
		!strings.Contains(fs[1].Reason, "must be one label under signum.example") {
		t.Fatalf("fail/fields: %v", err)
	}
	// The same reasons as provisioning (with its own suffix).
	svc.DomainSuffix = "signum.example"
	_, perr := svc.Provision(ctx, provisioning.Request{Name: "x", DomainName: "acme.other.example", IPAllowlist: []string{"10/8"}})
	var pfs fault.Fields
	if !errors.As(perr, &pfs) || len(pfs) != 2 || pfs[0] != fs[1] || pfs[1] != fs[2] {
		t.Fatalf("provisioning's reasons %v differ from the settings' %v", perr, err)
	}
	if same, err := set.Update(ctx, cur, provisioning.SettingsPatch{Name: ptr("acme"), DomainName: ptr("")}, "test"); err != nil || same.Version != cur.Version {
		t.Fatalf("ok/no change: %+v %v", same, err)
	}
	next, err := set.Update(ctx, cur, provisioning.SettingsPatch{DomainName: ptr("Acme.Signum.Example."), IPAllowlist: &[]string{"10.0.0.1"}}, "portal:pu_x")
	if err != nil || next.DomainName != "acme.signum.example" || len(next.IPAllowlist) != 1 || next.Version == cur.Version {
		t.Fatalf("ok/change: %+v %v", next, err)
	}
	log, err := st.ListLog(ctx, cur.ID, store.PageRequest{})
	if err != nil || log.Items[0].Action != "deployment.settings.updated" || log.Items[0].Actor != "portal:pu_x" ||
		log.Items[0].Detail != `domain name "" → "acme.signum.example"; IP allowlist [10.0.0.1/32]` {
		t.Fatalf("log: %+v %v", log.Items, err)
	}
}
