// Package certificates is the console's certificate lifecycle API: create (a key generated in
// KMS or the HSM, and its CSR), import the issued chain, list, get, download, enable/disable,
// set owner and groups, renew (new key and CSR while the old key keeps signing) and delete
// (the key scheduled for deletion, the record kept for audit); and the certificate groups
// (create, rename, limit, delete when empty: the Signum Administrator only).
package certificates

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

// MaxChainBody caps an imported chain: ten certificates in PEM fit easily.
const MaxChainBody = 64 << 10

// api serves the certificate routes.
type api struct {
	parts  *function.Parts
	life   *certificates.Lifecycle
	groups *certificates.Groups
	// migrated holds the deployments this instance saw migrated (labels turned into groups),
	// so that a warm request does not read the marker again.
	migrated *sync.Map
}

// defaultBackend is the key backend of a new certificate whose request names none.
const defaultBackend = "awskms"

// Build is the console-certificates function: AWS KMS always, and the CloudHSM (PKCS#11)
// backend when PKCS11_LIBRARY is set.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	registry, err := function.KeyRegistry(ctx, env)
	if err != nil {
		return nil, err
	}
	return NewHandler(p, registry, access.NewMux(env.Log, p.Guard)), nil
}

// NewHandler returns the certificate routes on registry's backends.
func NewHandler(p *function.Parts, registry *keys.Registry, m *access.Mux) *access.Mux {
	a := api{parts: p, life: certificates.NewLifecycle(p.Store, registry, defaultBackend, p.Now, edge.Logger), groups: certificates.NewGroups(p.Store), migrated: &sync.Map{}}
	// Areas decide who reaches the routes; the caller's group rights decide which certificates
	// it sees and may change (a certificate of no visible group answers as if absent).
	admin, read := access.Area(roles.Certificates, roles.Manage), access.Area(roles.Certificates, roles.Read)
	// GET /console/certificates — certificates read: the certificates of visible groups.
	m.Handle("GET /console/certificates", read, a.migrating(a.list))
	// POST /console/certificates — console admins: a new key and its CSR.
	m.Handle("POST /console/certificates", admin, a.migrating(a.create))
	// GET /console/certificates/{certId} — console admins and viewers.
	m.Handle("GET /console/certificates/{certId}", read, a.migrating(a.get))
	// PATCH /console/certificates/{certId} — console admins: enable/disable, owner, groups, name.
	m.Handle("PATCH /console/certificates/{certId}", admin, a.migrating(a.patch))
	// DELETE /console/certificates/{certId} — console admins: key scheduled for deletion.
	m.Handle("DELETE /console/certificates/{certId}", admin, a.migrating(a.delete))
	// PUT /console/certificates/{certId}/chain — console admins: import the issued chain.
	m.Handle("PUT /console/certificates/{certId}/chain", admin, a.migrating(a.importChain))
	// GET /console/certificates/{certId}/chain — console admins and viewers: the chain as PEM.
	m.Handle("GET /console/certificates/{certId}/chain", read, a.migrating(a.downloadChain))
	// POST /console/certificates/{certId}/renew — console admins: a new key and CSR.
	m.Handle("POST /console/certificates/{certId}/renew", admin, a.migrating(a.renew))
	a.groupRoutes(m)
	return m
}

// migrating runs h after the deployment's free-text labels were turned into groups
// (certificates.MigrateGroups): once per deployment, on its first request to this function,
// so that every certificate and group this function shows or changes names groups by id. A
// request that finds the migration failing is refused (the next one tries again).
//
// Release 0.2.0 runs the same migration through the updater (lib/updates), in bounded
// batches; this trigger stays for deployments that have not taken it yet, because the
// console's group scopes, member counts and limits are right only on migrated data (a
// labelled certificate would be invisible to a group-scoped role). Both run the same
// idempotent steps and finish at the same marker, so whichever comes second finds the work
// done; only the updater's run moves the deployment's recorded data version.
func (a api) migrating(h access.Handler) access.Handler {
	return func(w http.ResponseWriter, r *http.Request, req *access.Request) error {
		dep := req.Deployment.ID
		if _, ok := a.migrated.Load(dep); !ok {
			if err := certificates.MigrateGroups(r.Context(), a.parts.Store, dep); err != nil {
				return err
			}
			a.migrated.Store(dep, true)
		}
		return h(w, r, req)
	}
}

// Certificate is the JSON form of a certificate.
type Certificate struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Status     string               `json:"status"`
	Backend    string               `json:"backend"`
	Algorithm  string               `json:"algorithm"`
	KeyURI     string               `json:"keyUri"`
	Subject    certificates.Subject `json:"subject"`
	SANs       []string             `json:"sans"`
	CSRPEM     string               `json:"csrPem,omitempty"`
	Serial     string               `json:"serialNumber,omitempty"`
	Issuer     string               `json:"issuer,omitempty"`
	Thumbprint string               `json:"thumbprintSha256,omitempty"`
	NotBefore  *time.Time           `json:"notBefore,omitempty"`
	NotAfter   *time.Time           `json:"notAfter,omitempty"`
	Owner      string               `json:"owner,omitempty"`
	Groups     []string             `json:"groups"`
	UsageCount int64                `json:"usageCount"`
	LastUsedAt *time.Time           `json:"lastUsedAt,omitempty"`
	Renewal    *Renewal             `json:"renewal,omitempty"`
	Version    int64                `json:"version"`
	CreatedAt  time.Time            `json:"createdAt"`
	UpdatedAt  time.Time            `json:"updatedAt"`
}

// Renewal is a pending renewal.
type Renewal struct {
	Algorithm   string    `json:"algorithm"`
	CSRPEM      string    `json:"csrPem"`
	RequestedAt time.Time `json:"requestedAt"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a api) toJSON(c certificates.Certificate) Certificate {
	out := Certificate{
		ID: c.ID, Name: c.Name, Status: string(c.State(a.parts.Now())), Backend: c.Backend, Algorithm: string(c.Algorithm),
		KeyURI: c.KeyURI, Subject: c.Subject, SANs: c.SANs, Serial: c.Serial, Issuer: c.Issuer, Thumbprint: c.Thumbprint,
		NotBefore: optTime(c.NotBefore), NotAfter: optTime(c.NotAfter), Owner: c.Owner, Groups: c.Groups,
		UsageCount: c.UsageCount, LastUsedAt: optTime(c.LastUsedAt), Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if c.Status == certificates.StatusPending {
		out.CSRPEM = c.CSRPEM
	}
	if out.SANs == nil {
		out.SANs = []string{}
	}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if r := c.Renewal; r != nil {
		out.Renewal = &Renewal{Algorithm: string(r.Algorithm), CSRPEM: r.CSRPEM, RequestedAt: r.RequestedAt}
	}
	return out
}

// CreateRequest is the body of POST /console/certificates.
type CreateRequest struct {
	Name      string               `json:"name"`
	Backend   string               `json:"backend"`
	Algorithm string               `json:"algorithm"`
	Subject   certificates.Subject `json:"subject"`
	SANs      []string             `json:"sans"`
	Owner     string               `json:"owner"`
	Groups    []string             `json:"groups"`
}

func (a api) create(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := joining(req.Principal.Scope, nil, body.Groups); err != nil {
		return err
	}
	if err := mayOwn(req.Principal.Scope, strings.TrimSpace(body.Owner), body.Groups); err != nil {
		return err
	}
	c, err := a.life.CreateFor(r.Context(), req.Deployment, req.Principal.Actor(), certificates.Draft{
		Name: body.Name, Backend: body.Backend, Algorithm: body.Algorithm, Subject: body.Subject, SANs: body.SANs, Owner: body.Owner, Groups: body.Groups,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/certificates/"+c.ID)
	edge.WriteJSON(w, http.StatusCreated, a.toJSON(c))
	return nil
}

func (a api) get(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	c, err := a.life.Get(r.Context(), req.Deployment.ID, r.PathValue("certId"))
	if err != nil {
		return err
	}
	if !req.Principal.Scope.Any(c.Groups, roles.View) {
		return absent(c.ID)
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(c))
	return nil
}

func (a api) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Certificate], error) {
		s := req.Principal.Scope
		list := a.parts.Store.ListCertificates
		if !s.Unscoped(roles.View) {
			list = func(ctx context.Context, dep string, pr store.PageRequest) (store.Page[certificates.Certificate], error) {
				return a.parts.Store.ListCertificatesIn(ctx, dep, s.GroupsWith(roles.View), pr)
			}
		}
		page, err := list(ctx, req.Deployment.ID, pr)
		if err != nil {
			return page, err
		}
		return page, a.parts.Store.WithUsage(ctx, req.Deployment.ID, page.Items)
	}, a.toJSON)
}

// PatchRequest is the body of PATCH /console/certificates/{certId}.
type PatchRequest struct {
	Name    *string   `json:"name"`
	Enabled *bool     `json:"enabled"`
	Owner   *string   `json:"owner"`
	Groups  *[]string `json:"groups"`
}

func (a api) patch(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.mayPatch(r.Context(), req, r.PathValue("certId"), body); err != nil {
		return err
	}
	c, err := a.life.Update(r.Context(), req.Deployment.ID, req.Principal.Actor(), r.PathValue("certId"), certificates.Changes{
		Name: body.Name, Enabled: body.Enabled, Owner: body.Owner, Groups: body.Groups,
	})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(c))
	return nil
}

// ImportRequest is the body of PUT /console/certificates/{certId}/chain.
type ImportRequest struct {
	// Chain is PEM certificates, or a PKCS#7 bundle in PEM or base64 DER.
	Chain               string `json:"chain"`
	AllowNonCodeSigning bool   `json:"allowNonCodeSigning"`
}

func (a api) importChain(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body ImportRequest
	if err := edge.DecodeJSON(r, &body, MaxChainBody); err != nil {
		return err
	}
	if err := a.scoped(r.Context(), req, r.PathValue("certId"), roles.Remove, "change"); err != nil {
		return err
	}
	c, err := a.life.ImportChain(r.Context(), req.Deployment.ID, req.Principal.Actor(), r.PathValue("certId"), bundleBytes(body.Chain),
		certificates.ImportOptions{AllowNonCodeSigning: body.AllowNonCodeSigning})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(c))
	return nil
}

// bundleBytes accepts PEM as is, and base64 DER (PKCS#7) decoded.
func bundleBytes(s string) []byte {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-----BEGIN") {
		return []byte(t)
	}
	if der, err := decodeBase64(t); err == nil {
		return der
	}
	return []byte(t)
}

func (a api) downloadChain(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	c, err := a.life.Chain(r.Context(), req.Deployment.ID, r.PathValue("certId"))
	if err != nil {
		return err
	}
	if !req.Principal.Scope.Any(c.Groups, roles.View) {
		return absent(c.ID)
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pem"`, c.ID))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(c.ChainPEM))
	return nil
}

// RenewRequest is the body of POST /console/certificates/{certId}/renew.
type RenewRequest struct {
	// Algorithm of the new key; the current one when empty.
	Algorithm string `json:"algorithm"`
}

func (a api) renew(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body RenewRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.scoped(r.Context(), req, r.PathValue("certId"), roles.Remove, "renew"); err != nil {
		return err
	}
	c, err := a.life.Renew(r.Context(), req.Deployment.ID, req.Principal.Actor(), r.PathValue("certId"), body.Algorithm)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(c))
	return nil
}

func (a api) delete(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.scoped(r.Context(), req, r.PathValue("certId"), roles.Remove, "delete"); err != nil {
		return err
	}
	if err := a.life.Delete(r.Context(), req.Deployment.ID, req.Principal.Actor(), r.PathValue("certId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
