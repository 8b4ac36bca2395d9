package console

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// The Certificate users domain: client certificates (or issuing CAs with attribute rules)
// registered for console users, who then authenticate with mutual TLS.

// registerClientCertificates adds the routes to m.
func (a api) registerClientCertificates(m *access.Mux) {
	const base = "/console/users/{userId}/client-certificates"
	// GET — console admins and viewers.
	m.Handle("GET "+base, access.Area(roles.Users, roles.Read), a.listClientCerts)
	// POST — console admins.
	m.Handle("POST "+base, access.Area(roles.Users, roles.Manage), a.createClientCert)
	// GET one, with its issuer's revoked serials — console admins and viewers.
	m.Handle("GET "+base+"/{credentialId}", access.Area(roles.Users, roles.Read), a.getClientCert)
	// DELETE — console admins.
	m.Handle("DELETE "+base+"/{credentialId}", access.Area(roles.Users, roles.Manage), a.deleteClientCert)
	// POST revocations — console admins.
	m.Handle("POST "+base+"/{credentialId}/revocations", access.Area(roles.Users, roles.Manage), a.revokeClientCert)
}

// ClientCertificate is the JSON form of a registered client certificate or issuing CA.
type ClientCertificate struct {
	ID          string            `json:"id"`
	UserID      string            `json:"userId"`
	Kind        string            `json:"kind"`
	Name        string            `json:"name,omitempty"`
	Subject     string            `json:"subject"`
	Issuer      string            `json:"issuer"`
	Serial      string            `json:"serial"`
	Thumbprint  string            `json:"thumbprint"`
	NotBefore   time.Time         `json:"notBefore"`
	NotAfter    time.Time         `json:"notAfter"`
	Rules       []clientauth.Rule `json:"rules"`
	Certificate string            `json:"certificate"`
	CreatedAt   time.Time         `json:"createdAt"`
	CreatedBy   string            `json:"createdBy,omitempty"`
	// Revocations are the revoked serials of the certificates this credential covers (GET
	// of one credential only; the first page).
	Revocations []store.Revocation `json:"revocations,omitempty"`
}

func clientCertJSON(c clientauth.Credential) ClientCertificate {
	out := ClientCertificate{ID: c.ID, UserID: c.UserID, Kind: string(c.Kind), Name: c.Name, Rules: c.Rules,
		CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy}
	if out.Rules == nil {
		out.Rules = []clientauth.Rule{}
	}
	if cert, err := c.Certificate(); err == nil {
		// The names as rules match them (clientauth.DN), every attribute in place.
		out.Subject, out.Issuer, out.Serial = clientauth.ShowDN(cert.RawSubject), clientauth.ShowDN(cert.RawIssuer), clientauth.SerialOf(cert)
		out.Thumbprint, out.NotBefore, out.NotAfter = clientauth.ThumbprintOf(cert), cert.NotBefore, cert.NotAfter
		out.Certificate = certPEM(cert)
	}
	return out
}

func certPEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

func (a api) listClientCerts(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	u, err := a.Store.GetConsoleUser(r.Context(), req.Deployment.ID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[clientauth.Credential], error) {
		return a.Store.ListClientCredentials(ctx, req.Deployment.ID, u.ID, pr)
	}, clientCertJSON)
}

// CreateClientCertificateRequest is the body of POST /console/users/{userId}/client-certificates.
type CreateClientCertificateRequest struct {
	// Kind is "certificate" (the user's own certificate, pinned) or "ca" (an issuing CA).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Certificate is one PEM certificate.
	Certificate string `json:"certificate"`
	// Rules (CA only) must all match a presented certificate's attributes.
	Rules []clientauth.Rule `json:"rules"`
}

func (a api) createClientCert(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateClientCertificateRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.manages(r.Context(), req, r.PathValue("userId")); err != nil {
		return err
	}
	var bad fault.Fields
	name, _ := identity.OptionalName(body.Name, "name", &bad)
	if err := bad.Err(); err != nil {
		return err
	}
	c, err := clientauth.New(clientauth.Credential{
		ID: tenant.NewID("cc_"), DeploymentID: req.Deployment.ID, UserID: r.PathValue("userId"), Kind: clientauth.Kind(body.Kind),
		Name: name, Rules: body.Rules, CreatedBy: req.Principal.Actor(),
	}, body.Certificate, a.Now())
	if err != nil {
		return err
	}
	u, err := clientauth.CheckLimits(r.Context(), a.Store, c, store.MaxCAsPerIssuer())
	if err != nil {
		return err
	}
	j := clientCertJSON(c)
	c, err = a.Store.CreateClientCredential(r.Context(), c, u.Version, tenant.LogEntry{
		Actor: req.Principal.Actor(), Action: "clientCertificate.registered",
		Detail: fmt.Sprintf("%s for %s: %s (serial %s, thumbprint %s)", c.Kind, u.Username, j.Subject, j.Serial, j.Thumbprint),
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/users/"+u.ID+"/client-certificates/"+c.ID)
	edge.WriteJSON(w, http.StatusCreated, j)
	return nil
}

// loadClientCert reads the credential the path names, of the request's deployment.
func (a api) loadClientCert(r *http.Request, req *access.Request) (clientauth.Credential, error) {
	return a.Store.GetClientCredential(r.Context(), req.Deployment.ID, r.PathValue("userId"), r.PathValue("credentialId"))
}

func (a api) getClientCert(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	c, err := a.loadClientCert(r, req)
	if err != nil {
		return err
	}
	j := clientCertJSON(c)
	revs, err := a.Store.ListRevocations(r.Context(), req.Deployment.ID, c.IssuerKey(), store.PageRequest{Limit: store.MaxPageSize})
	if err != nil {
		return err
	}
	for _, rv := range revs.Items {
		if c.Kind == clientauth.Authority || rv.Serial == j.Serial {
			j.Revocations = append(j.Revocations, rv)
		}
	}
	edge.WriteJSON(w, http.StatusOK, j)
	return nil
}

func (a api) deleteClientCert(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.manages(r.Context(), req, r.PathValue("userId")); err != nil {
		return err
	}
	c, err := a.loadClientCert(r, req)
	if err != nil {
		return err
	}
	j := clientCertJSON(c)
	if err := a.Store.DeleteClientCredential(r.Context(), c, tenant.LogEntry{
		Actor: req.Principal.Actor(), Action: "clientCertificate.removed",
		Detail: fmt.Sprintf("%s of user %s: %s (serial %s)", c.Kind, c.UserID, j.Subject, j.Serial),
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RevokeRequest is the body of POST .../client-certificates/{credentialId}/revocations.
type RevokeRequest struct {
	// Serial of the certificate to revoke, in hex ("01:A3:FF" and "1a3ff" are the same).
	// For a pinned certificate it may be left out: it is the certificate's own.
	Serial string `json:"serial"`
	Reason string `json:"reason"`
}

func (a api) revokeClientCert(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body RevokeRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.manages(r.Context(), req, r.PathValue("userId")); err != nil {
		return err
	}
	c, err := a.loadClientCert(r, req)
	if err != nil {
		return err
	}
	v, err := clientauth.Revoke(c, body.Serial, body.Reason)
	if err != nil {
		return err
	}
	rv, err := a.Store.RevokeClientCertificate(r.Context(), req.Deployment.ID, c.IssuerKey(), store.Revocation{
		Serial: v.Serial, Issuer: v.Issuer, CredentialID: c.ID, Reason: v.Reason, RevokedBy: req.Principal.Actor(),
	}, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "clientCertificate.revoked", Detail: fmt.Sprintf("serial %s of %s (user %s)", v.Serial, v.Issuer, c.UserID)})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusCreated, rv)
	return nil
}
