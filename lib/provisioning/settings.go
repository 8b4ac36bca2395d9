package provisioning

import (
	"context"
	"fmt"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/tenant"
)

// SettingsStore is where a deployment's settings are written (store.Store).
type SettingsStore interface {
	UpdateDeployment(ctx context.Context, current, next tenant.Deployment, log *tenant.LogEntry) (tenant.Deployment, error)
}

// Settings changes the settings a deployment's portal Admins manage: its name, domain name
// and IP allowlist.
type Settings struct {
	st SettingsStore
	// domainSuffix is what deployment domain names must end in ("" = anything).
	domainSuffix string
}

// NewSettings returns the settings of deployments in st, whose domain names must be one label
// under domainSuffix ("" = any host name).
func NewSettings(st SettingsStore, domainSuffix string) *Settings {
	return &Settings{st: st, domainSuffix: domainSuffix}
}

// SettingsPatch is a change to a deployment's settings; nil fields stay.
type SettingsPatch struct {
	Name        *string
	DomainName  *string
	IPAllowlist *[]string
}

// Update applies patch to cur, the deployment as read, on behalf of actor (for the system
// log), and returns the deployment as stored after it: cur itself when nothing changes (then
// nothing is written). An allowlist that is sent is always written, even the same one.
func (s *Settings) Update(ctx context.Context, cur tenant.Deployment, patch SettingsPatch, actor string) (tenant.Deployment, error) {
	next := cur
	var bad fault.Fields
	var changes []string
	if patch.Name != nil {
		if n, ok := identity.RequiredName(*patch.Name, "name", &bad); ok && n != cur.Name {
			next.Name = n
			changes = append(changes, fmt.Sprintf("name %q", n))
		}
	}
	if patch.DomainName != nil {
		if d := tenant.DomainNameField(*patch.DomainName, s.domainSuffix, &bad); d != cur.DomainName {
			next.DomainName = d
			changes = append(changes, fmt.Sprintf("domain name %q → %q", cur.DomainName, d))
		}
	}
	if patch.IPAllowlist != nil {
		allow := tenant.AllowlistField(*patch.IPAllowlist, &bad)
		next.IPAllowlist = allow
		changes = append(changes, fmt.Sprintf("IP allowlist [%s]", strings.Join(tenant.FormatAllowlist(allow), ", ")))
	}
	if err := bad.Err(); err != nil {
		return tenant.Deployment{}, err
	}
	if len(changes) == 0 {
		return cur, nil
	}
	return s.st.UpdateDeployment(ctx, cur, next, &tenant.LogEntry{
		Actor: actor, Action: "deployment.settings.updated", Detail: strings.Join(changes, "; "),
	})
}
