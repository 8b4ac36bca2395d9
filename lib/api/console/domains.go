package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/directory"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

// DomainSecretsPurpose derives the key that seals domains' secrets from the service key.
const DomainSecretsPurpose = "domain-secrets"

// DomainAdmin is the domains' administration for env: secrets sealed under a key derived from
// the service key in KMS.
func DomainAdmin(env function.Env, p *function.Parts) *directory.Admin {
	return directory.NewAdmin(p.Store, func(ctx context.Context) ([]byte, error) {
		return function.DeriveKey(ctx, env.Clients.KMS, env.Config.ServiceKeyID, DomainSecretsPurpose)
	}, p.Now)
}

// The domain routes: everyone whose role reads domains sees them; only the Signum
// Administrator makes, changes and deletes them (they decide who may log in).
func (a api) registerDomains(m *access.Mux, admin *directory.Admin) {
	d := domainsAPI{api: a, admin: admin}
	read, sa := access.Area(roles.Domains, roles.Read), access.SignumAdministrator()
	// GET /console/domains — domains read: the built-in Local users and Certificate users
	// domains, then the domains made.
	m.Handle("GET /console/domains", read, d.list)
	// POST /console/domains — the Signum Administrator: an OIDC, SAML or CI domain.
	m.Handle("POST /console/domains", sa, d.create)
	// GET /console/domains/{domainId} — domains read.
	m.Handle("GET /console/domains/{domainId}", read, d.get)
	// PATCH /console/domains/{domainId} — the Signum Administrator (If-Match).
	m.Handle("PATCH /console/domains/{domainId}", sa, d.patch)
	// DELETE /console/domains/{domainId} — the Signum Administrator: a domain without users.
	m.Handle("DELETE /console/domains/{domainId}", sa, d.delete)
}

type domainsAPI struct {
	api
	admin *directory.Admin
}

// DomainJSON is the JSON form of a domain. Secrets are never answered: hasClientSecret says
// whether an OIDC domain has one.
type DomainJSON struct {
	ID               string                `json:"id"`
	Kind             domains.Kind          `json:"kind"`
	Name             string                `json:"name"`
	Alias            string                `json:"alias,omitempty"`
	BuiltIn          bool                  `json:"builtIn"`
	UserLimit        int                   `json:"userLimit"`
	AgentConcurrency int                   `json:"agentConcurrency"`
	JIT              bool                  `json:"jit"`
	DefaultRole      string                `json:"defaultRole,omitempty"`
	GroupRoles       []domains.RoleMapping `json:"groupRoles"`
	OIDC             *OIDCJSON             `json:"oidc,omitempty"`
	SAML             *SAMLJSON             `json:"saml,omitempty"`
	CI               *domains.CISettings   `json:"ci,omitempty"`
	// Registration is what the Signum Administrator registers at the domain's identity
	// provider: the deployment's own URLs for this domain.
	Registration *Registration `json:"registration,omitempty"`
	UserCount    int           `json:"userCount"`
	Version      int64         `json:"version"`
	CreatedAt    *time.Time    `json:"createdAt,omitempty"`
	UpdatedAt    *time.Time    `json:"updatedAt,omitempty"`
}

// Registration is an OIDC domain's redirect URL, or a SAML domain's entity ID, assertion
// consumer URL and SP metadata URL, at the deployment's own address.
type Registration struct {
	RedirectURL string `json:"redirectUrl,omitempty"`
	EntityID    string `json:"entityId,omitempty"`
	ACSURL      string `json:"acsUrl,omitempty"`
	MetadataURL string `json:"metadataUrl,omitempty"`
}

// withRegistration adds the registration URLs to j, for a request that reached the deployment
// at r.
func (d domainsAPI) withRegistration(r *http.Request, j DomainJSON) DomainJSON {
	base, err := deploymentBase(r, d.Guard.LocalSignerPort)
	if err != nil {
		return j
	}
	switch j.Kind {
	case domains.OIDC:
		j.Registration = &Registration{RedirectURL: OIDCRedirectURL(base)}
	case domains.SAML:
		j.Registration = &Registration{EntityID: SAMLEntityID(base, j.ID), ACSURL: base + samlACSPath, MetadataURL: SAMLEntityID(base, j.ID)}
	}
	return j
}

// OIDCJSON is an OIDC domain's settings as answered and as sent (clientSecret only sent).
type OIDCJSON struct {
	domains.OIDCSettings
	ClientSecret    string `json:"clientSecret,omitempty"`
	HasClientSecret bool   `json:"hasClientSecret"`
}

// SAMLJSON is a SAML domain's settings.
type SAMLJSON struct {
	domains.SAMLSettings
}

// DomainWrite is the body of POST /console/domains and PATCH /console/domains/{domainId}.
type DomainWrite struct {
	Kind             domains.Kind          `json:"kind"`
	Name             string                `json:"name"`
	Alias            string                `json:"alias"`
	UserLimit        int                   `json:"userLimit"`
	AgentConcurrency int                   `json:"agentConcurrency"`
	JIT              bool                  `json:"jit"`
	DefaultRole      string                `json:"defaultRole"`
	GroupRoles       []domains.RoleMapping `json:"groupRoles"`
	OIDC             *OIDCJSON             `json:"oidc"`
	SAML             *SAMLJSON             `json:"saml"`
	CI               *domains.CISettings   `json:"ci"`
}

func (w DomainWrite) domain() domains.Domain {
	d := domains.Domain{Kind: w.Kind, Name: w.Name, Alias: w.Alias, UserLimit: w.UserLimit, AgentConcurrency: w.AgentConcurrency,
		JIT: w.JIT, DefaultRole: w.DefaultRole, GroupRoles: w.GroupRoles, CI: w.CI}
	if w.OIDC != nil {
		o := w.OIDC.OIDCSettings
		o.ClientSecret = w.OIDC.ClientSecret
		d.OIDC = &o
	}
	if w.SAML != nil {
		s := w.SAML.SAMLSettings
		d.SAML = &s
	}
	return d
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func authDomainJSON(d domains.Domain) DomainJSON {
	out := DomainJSON{ID: d.ID, Kind: d.Kind, Name: d.Name, Alias: d.Alias, UserLimit: d.UserLimit, AgentConcurrency: d.AgentConcurrency,
		JIT: d.JIT, DefaultRole: d.DefaultRole, GroupRoles: d.GroupRoles, CI: d.CI, UserCount: d.Users, Version: d.Version,
		CreatedAt: optTime(d.CreatedAt), UpdatedAt: optTime(d.UpdatedAt)}
	if out.GroupRoles == nil {
		out.GroupRoles = []domains.RoleMapping{}
	}
	if o := d.OIDC; o != nil {
		s := *o
		s.ClientSecret = ""
		out.OIDC = &OIDCJSON{OIDCSettings: s, HasClientSecret: o.ClientSecret != ""}
	}
	if sm := d.SAML; sm != nil {
		out.SAML = &SAMLJSON{SAMLSettings: *sm}
	}
	return out
}

// builtInDomains are the Local users and Certificate users domains every deployment has; they
// are configured at /console/domains/local and on the users' pages.
func builtInDomains() []DomainJSON {
	return []DomainJSON{
		{ID: domains.LocalID, Kind: domains.Local, Name: "Local users", BuiltIn: true, GroupRoles: []domains.RoleMapping{}},
		{ID: domains.CertificateID, Kind: domains.Certificate, Name: "Certificate users", BuiltIn: true, GroupRoles: []domains.RoleMapping{}},
	}
}

func (d domainsAPI) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	first := r.URL.Query().Get("cursor") == ""
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[DomainJSON], error) {
		page, err := d.Store.ListDomains(ctx, req.Deployment.ID, pr)
		if err != nil {
			return store.Page[DomainJSON]{}, err
		}
		out := store.Page[DomainJSON]{Next: page.Next}
		if first {
			out.Items = builtInDomains()
		}
		for _, it := range page.Items {
			out.Items = append(out.Items, d.withRegistration(r, authDomainJSON(it)))
		}
		return out, nil
	}, func(j DomainJSON) DomainJSON { return j })
}

func builtInDomain(id string) (DomainJSON, bool) {
	for _, b := range builtInDomains() {
		if b.ID == id {
			return b, true
		}
	}
	return DomainJSON{}, false
}

func (d domainsAPI) get(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	id := r.PathValue("domainId")
	if b, ok := builtInDomain(id); ok {
		edge.WriteJSON(w, http.StatusOK, b)
		return nil
	}
	dom, err := d.admin.Get(r.Context(), req.Deployment.ID, id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", domainETag(dom))
	edge.WriteJSON(w, http.StatusOK, d.withRegistration(r, authDomainJSON(dom)))
	return nil
}

func domainETag(d domains.Domain) string { return `"` + strconv.FormatInt(d.Version, 10) + `"` }

func (d domainsAPI) create(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body DomainWrite
	if err := edge.DecodeJSON(r, &body, 256<<10); err != nil {
		return err
	}
	dom, err := d.admin.Create(r.Context(), req.Deployment.ID, req.Principal.Actor(), body.domain())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/domains/"+dom.ID)
	w.Header().Set("ETag", domainETag(dom))
	edge.WriteJSON(w, http.StatusCreated, d.withRegistration(r, authDomainJSON(dom)))
	return nil
}

// builtInRefusal answers a change of a built-in domain.
func builtInRefusal(id string) error {
	return fault.Newf(store.ErrConflict, "The %s domain is built in: change its policies at /console/domains/local and its users on the users' pages.", id)
}

func (d domainsAPI) patch(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	id := r.PathValue("domainId")
	if _, ok := builtInDomain(id); ok {
		return builtInRefusal(id)
	}
	var body DomainWrite
	if err := edge.DecodeJSON(r, &body, 256<<10); err != nil {
		return err
	}
	read, err := edge.IfMatchVersion(r, "domain")
	if err != nil {
		return err
	}
	if read == 0 {
		// A domain's change replaces its settings whole: it must name the version read.
		return fault.Newf(fault.ErrPrecondition, "If-Match must be the domain's ETag, like \"3\" (read the domain first).")
	}
	dom, err := d.admin.Update(r.Context(), req.Deployment.ID, id, req.Principal.Actor(), read, body.domain())
	if err != nil {
		return err
	}
	w.Header().Set("ETag", domainETag(dom))
	edge.WriteJSON(w, http.StatusOK, d.withRegistration(r, authDomainJSON(dom)))
	return nil
}

func (d domainsAPI) delete(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	id := r.PathValue("domainId")
	if _, ok := builtInDomain(id); ok {
		return builtInRefusal(id)
	}
	if err := d.admin.Delete(r.Context(), req.Deployment.ID, id, req.Principal.Actor()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
