// Package certificates is the console's certificate lifecycle API: create (a key generated in
// KMS or the HSM, and its CSR), import the issued chain, list, get, download, enable/disable,
// set owner and groups, renew (new key and CSR while the old key keeps signing) and delete
// (the key scheduled for deletion, the record kept for audit).
package certificates

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// MaxChainBody caps an imported chain: ten certificates in PEM fit easily.
const MaxChainBody = 64 << 10

// api serves the certificate routes.
type api struct {
	parts *function.Parts
	keys  *keys.Registry
	// DefaultBackend is used when a request names none.
	DefaultBackend string
}

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
	a := api{parts: p, keys: registry, DefaultBackend: "awskms"}
	admin, read := access.ConsoleAdmins(), access.ConsoleReaders()
	// GET /console/certificates — console admins and viewers.
	m.Handle("GET /console/certificates", read, a.list)
	// POST /console/certificates — console admins: a new key and its CSR.
	m.Handle("POST /console/certificates", admin, a.create)
	// GET /console/certificates/{certId} — console admins and viewers.
	m.Handle("GET /console/certificates/{certId}", read, a.get)
	// PATCH /console/certificates/{certId} — console admins: enable/disable, owner, groups, name.
	m.Handle("PATCH /console/certificates/{certId}", admin, a.patch)
	// DELETE /console/certificates/{certId} — console admins: key scheduled for deletion.
	m.Handle("DELETE /console/certificates/{certId}", admin, a.delete)
	// PUT /console/certificates/{certId}/chain — console admins: import the issued chain.
	m.Handle("PUT /console/certificates/{certId}/chain", admin, a.importChain)
	// GET /console/certificates/{certId}/chain — console admins and viewers: the chain as PEM.
	m.Handle("GET /console/certificates/{certId}/chain", read, a.downloadChain)
	// POST /console/certificates/{certId}/renew — console admins: a new key and CSR.
	m.Handle("POST /console/certificates/{certId}/renew", admin, a.renew)
	return m
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
	var bad fault.Fields
	name := strings.TrimSpace(body.Name)
	if name == "" {
		name = body.Subject.CommonName
	}
	identity.RequiredName(name, "name", &bad)
	if body.Backend == "" {
		body.Backend = a.DefaultBackend
	}
	backend, err := a.keys.Backend(body.Backend)
	if err != nil {
		bad.Add("backend", "%q is not available; use awskms or pkcs11 where configured", fault.Clip(body.Backend, 20))
	}
	alg := keys.Algorithm(body.Algorithm)
	if !alg.Valid() {
		bad.Add("algorithm", "must be one of RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384")
	}
	bad = append(bad, body.Subject.Validate()...)
	groups := validGroups(body.Groups, &bad)
	if err := a.checkOwner(r.Context(), req.Deployment.ID, body.Owner, &bad); err != nil {
		return err
	}
	if err := bad.Err(); err != nil {
		return err
	}
	id := tenant.NewID("crt_")
	key, csr, err := a.newKey(r.Context(), backend, alg, req.Deployment.ID, id, id, body.Subject, body.SANs)
	if err != nil {
		return err
	}
	c, err := a.parts.Store.CreateCertificate(r.Context(), certificates.Certificate{
		ID: id, DeploymentID: req.Deployment.ID, Name: name, Status: certificates.StatusPending, Backend: backend.Scheme(),
		Algorithm: alg, KeyURI: key.URI(), Subject: body.Subject, SANs: body.SANs, CSRPEM: csr, Owner: body.Owner, Groups: groups,
	}, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "certificate.created", Detail: fmt.Sprintf("%s (%s, %s in %s)", id, name, alg, backend.Scheme())})
	if err != nil {
		// Nothing half-made: the key of a certificate that was not stored goes.
		_ = backend.ScheduleDeletion(context.WithoutCancel(r.Context()), key.URI())
		return err
	}
	w.Header().Set("Location", "/console/certificates/"+c.ID)
	edge.WriteJSON(w, http.StatusCreated, a.toJSON(c))
	return nil
}

// newKey generates a key labelled label for certificate certID, and its CSR; if the CSR
// cannot be made the key is deleted again.
func (a api) newKey(ctx context.Context, b keys.Backend, alg keys.Algorithm, dep, certID, label string, subject certificates.Subject, sans []string) (keys.Key, string, error) {
	key, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: alg, Label: label, Tags: map[string]string{"signum:deployment": dep, "signum:certificate": certID}})
	if err != nil {
		return nil, "", err
	}
	csr, err := certificates.NewCSR(key, subject, sans)
	if err != nil {
		_ = b.ScheduleDeletion(context.WithoutCancel(ctx), key.URI())
		return nil, "", err
	}
	return key, csr, nil
}

func (a api) checkOwner(ctx context.Context, dep, owner string, bad *fault.Fields) error {
	if owner == "" {
		return nil
	}
	var err error
	switch identity.KindOf(owner) {
	case identity.KindConsole:
		_, err = a.parts.Store.GetConsoleUser(ctx, dep, owner)
	case identity.KindPortal:
		_, err = a.parts.Store.GetPortalUser(ctx, dep, owner)
	default:
		err = store.ErrNotFound
	}
	if errors.Is(err, fault.ErrNotFound) {
		bad.Add("owner", "is not a user of this deployment")
		return nil
	}
	return err
}

func validGroups(gs []string, bad *fault.Fields) []string {
	var out []string
	for _, g := range gs {
		g = strings.TrimSpace(g)
		if g == "" || len(g) > 64 || strings.IndexFunc(g, func(r rune) bool { return r < 0x20 }) >= 0 {
			bad.Add("groups", "a group name is 1 to 64 printable characters")
			continue
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(out) > 50 {
		bad.Add("groups", "at most 50 groups")
	}
	return out
}

func (a api) load(r *http.Request, req *access.Request) (certificates.Certificate, error) {
	return a.parts.Store.GetCertificate(r.Context(), req.Deployment.ID, r.PathValue("certId"))
}

func (a api) get(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	c, err := a.load(r, req)
	if err != nil {
		return err
	}
	one := []certificates.Certificate{c}
	if err := a.parts.Store.WithUsage(r.Context(), req.Deployment.ID, one); err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(one[0]))
	return nil
}

func (a api) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Certificate], error) {
		page, err := a.parts.Store.ListCertificates(ctx, req.Deployment.ID, pr)
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
	cur, err := a.load(r, req)
	if err != nil {
		return err
	}
	if cur.Status == certificates.StatusDeleted {
		return fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	}
	next := cur
	var bad fault.Fields
	var changes []string
	if body.Name != nil {
		if n, ok := identity.RequiredName(*body.Name, "name", &bad); ok {
			next.Name = n
			changes = append(changes, fmt.Sprintf("name %q", n))
		}
	}
	if body.Enabled != nil {
		switch {
		case cur.Status == certificates.StatusPending:
			bad.Add("enabled", "a pending certificate is enabled by importing its chain")
		case *body.Enabled:
			next.Status = certificates.StatusActive
			changes = append(changes, "enabled")
		default:
			next.Status = certificates.StatusDisabled
			changes = append(changes, "disabled")
		}
	}
	if body.Owner != nil {
		if err := a.checkOwner(r.Context(), req.Deployment.ID, *body.Owner, &bad); err != nil {
			return err
		}
		next.Owner = *body.Owner
		changes = append(changes, fmt.Sprintf("owner %q", *body.Owner))
	}
	if body.Groups != nil {
		next.Groups = validGroups(*body.Groups, &bad)
		changes = append(changes, fmt.Sprintf("groups %v", next.Groups))
	}
	if err := bad.Err(); err != nil {
		return err
	}
	if len(changes) > 0 {
		if cur, err = a.parts.Store.UpdateCertificate(r.Context(), cur, next, tenant.LogEntry{
			Actor: req.Principal.Actor(), Action: "certificate.updated", Detail: cur.ID + ": " + strings.Join(changes, "; "),
		}); err != nil {
			return err
		}
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(cur))
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
	cur, err := a.load(r, req)
	if err != nil {
		return err
	}
	keyURI, alg := cur.KeyURI, cur.Algorithm
	renewing := cur.Renewal != nil
	switch {
	case cur.Status == certificates.StatusDeleted:
		return fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	case renewing:
		keyURI, alg = cur.Renewal.KeyURI, cur.Renewal.Algorithm
	case cur.Status != certificates.StatusPending:
		return fault.Newf(fault.ErrConflict, "Certificate %s already has its chain; renew it to import a new one.", cur.ID)
	}
	list, err := certificates.ParseBundle(bundleBytes(body.Chain))
	if err != nil {
		return err
	}
	key, err := a.keys.Open(r.Context(), keyURI)
	if err != nil {
		return err
	}
	chain, err := certificates.Verify(list, key.Public(), a.parts.Now(), certificates.ImportOptions{AllowNonCodeSigning: body.AllowNonCodeSigning})
	if err != nil {
		return err
	}
	next := cur
	next.ChainPEM, next.Serial, next.Issuer, next.Thumbprint = chain.PEM(), certificates.Serial(chain.Leaf), chain.Leaf.Issuer.String(), certificates.Thumbprint(chain.Leaf)
	next.NotBefore, next.NotAfter = chain.Leaf.NotBefore, chain.Leaf.NotAfter
	oldKey := ""
	if renewing {
		oldKey = cur.KeyURI
		next.KeyURI, next.Algorithm, next.CSRPEM, next.Renewal = keyURI, alg, cur.Renewal.CSRPEM, nil
	} else {
		next.Status = certificates.StatusActive
	}
	updated, err := a.parts.Store.UpdateCertificate(r.Context(), cur, next, tenant.LogEntry{
		Actor: req.Principal.Actor(), Action: "certificate.chainImported",
		Detail: fmt.Sprintf("%s: serial %s, issuer %s, valid until %s", cur.ID, next.Serial, next.Issuer, next.NotAfter.UTC().Format(time.RFC3339)),
	})
	if err != nil {
		return err
	}
	if oldKey != "" {
		// The certificate now signs with the new key; the old one goes. A failure here
		// leaves an unused key, not a broken certificate: log it for the operator.
		if err := a.keys.ScheduleDeletion(context.WithoutCancel(r.Context()), oldKey); err != nil {
			edge.Logger(r.Context()).Error("old key not scheduled for deletion", "certificate", cur.ID, "error", err.Error())
		}
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(updated))
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
	c, err := a.load(r, req)
	if err != nil {
		return err
	}
	if c.ChainPEM == "" {
		return fault.Newf(fault.ErrNotFound, "Certificate %s has no chain yet: import the issued chain first.", c.ID)
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
	cur, err := a.load(r, req)
	if err != nil {
		return err
	}
	switch {
	case cur.Status == certificates.StatusDeleted:
		return fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	case cur.Status == certificates.StatusPending:
		return fault.Newf(fault.ErrConflict, "Certificate %s has no chain yet: import it before renewing.", cur.ID)
	case cur.Renewal != nil:
		return fault.Newf(fault.ErrConflict, "Certificate %s is already being renewed: import the new chain first.", cur.ID)
	}
	alg := cur.Algorithm
	if body.Algorithm != "" {
		if alg = keys.Algorithm(body.Algorithm); !alg.Valid() {
			return fault.Fields{{Name: "algorithm", Reason: "must be one of RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384"}}
		}
	}
	backend, err := a.keys.Backend(cur.Backend)
	if err != nil {
		return err
	}
	key, csr, err := a.newKey(r.Context(), backend, alg, cur.DeploymentID, cur.ID, fmt.Sprintf("%s-renewal-%d", cur.ID, cur.Version), cur.Subject, cur.SANs)
	if err != nil {
		return err
	}
	next := cur
	next.Renewal = &certificates.Renewal{KeyURI: key.URI(), Algorithm: alg, CSRPEM: csr, RequestedAt: a.parts.Now()}
	updated, err := a.parts.Store.UpdateCertificate(r.Context(), cur, next, tenant.LogEntry{
		Actor: req.Principal.Actor(), Action: "certificate.renewalRequested", Detail: fmt.Sprintf("%s: new %s key", cur.ID, alg),
	})
	if err != nil {
		_ = backend.ScheduleDeletion(context.WithoutCancel(r.Context()), key.URI())
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.toJSON(updated))
	return nil
}

func (a api) delete(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	cur, err := a.load(r, req)
	if err != nil {
		return err
	}
	if cur.Status != certificates.StatusDeleted {
		next := cur
		next.Status = certificates.StatusDeleted
		// First the record: from here on the certificate never signs, whatever happens to
		// the key deletion below.
		if cur, err = a.parts.Store.UpdateCertificate(r.Context(), cur, next, tenant.LogEntry{
			Actor: req.Principal.Actor(), Action: "certificate.deleted", Detail: cur.ID + ": key scheduled for deletion",
		}); err != nil {
			return err
		}
	}
	// Idempotent: a retried DELETE retries the key deletion.
	for _, uri := range []string{cur.KeyURI, renewalKey(cur)} {
		if uri == "" {
			continue
		}
		if err := a.keys.ScheduleDeletion(r.Context(), uri); err != nil && !errors.Is(err, keys.ErrNotFound) {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func renewalKey(c certificates.Certificate) string {
	if c.Renewal == nil {
		return ""
	}
	return c.Renewal.KeyURI
}
