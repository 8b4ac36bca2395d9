// Package operator is the operator (vendor) API: provisioning and inspecting deployments,
// issuing deployment links that may carry the Signum Administrator role, and granting,
// revoking and moving that role among a deployment's portal users (which no customer API
// can do). Its routes are IAM-authorized in API Gateway (SigV4, principals of the
// operator's AWS account); the guard checks the verified caller again so that a template
// mistake cannot open them.
package operator

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/truststore"
	"github.com/opensignum/signum/lib/updates"
	"github.com/opensignum/signum/lib/wire"
)

// Build is the operator function's handler.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	if env.Config.OperatorAccountID == "" {
		return nil, errors.New("operator: OPERATOR_ACCOUNT_ID is not set")
	}
	p := function.NewParts(env)
	return NewHandler(env, p), nil
}

type api struct {
	store        *store.Store
	provisioning *provisioning.Service
	now          func() time.Time
	trust        *truststore.Publisher
	signer       func(domain string) string
	signumAdmins *identity.SignumAdministrators
	updates      *updates.Service
}

// NewHandler returns the operator routes.
func NewHandler(env function.Env, p *function.Parts) *access.Mux {
	prov := provisioning.New(p.Store, p.Now)
	prov.DomainSuffix = p.DomainSuffix
	a := api{store: p.Store, provisioning: prov, now: p.Now, trust: p.Truststore, signer: p.Guard.SignerEndpoint,
		signumAdmins: identity.NewSignumAdministrators(p.Store), updates: function.Updates(env, p)}
	m := access.NewMux(env.Log, p.Guard)
	// POST /operator/deployments — operator. Idempotency-Key makes a retry return the
	// deployment the first call created.
	m.Handle("POST /operator/deployments", access.OperatorOnly(), a.create)
	// GET /operator/deployments — operator; ?limit=1..100&cursor=<next>.
	m.Handle("GET /operator/deployments", access.OperatorOnly(), a.list)
	// GET /operator/deployments/{id} — operator.
	m.Handle("GET /operator/deployments/{id}", access.OperatorOnDeployment(), a.get)
	// POST /operator/deployments/{id}/invites — operator: a deployment link, which may make
	// its user the Signum Administrator.
	m.Handle("POST /operator/deployments/{id}/invites", access.OperatorOnDeployment(), a.invite)
	// GET /operator/deployments/{id}/signum-administrators — operator: the holders of the
	// Signum Administrator role.
	m.Handle("GET /operator/deployments/{id}/signum-administrators", access.OperatorOnDeployment(), a.listSignumAdmins)
	// POST /operator/deployments/{id}/signum-administrators — operator: grant the role to an
	// active Admin ({"userId"}).
	m.Handle("POST /operator/deployments/{id}/signum-administrators", access.OperatorOnDeployment(), a.grantSignumAdmin)
	// PUT /operator/deployments/{id}/signum-administrators — operator: move the role to an
	// active Admin ({"userId"}), who becomes its only holder, in one write.
	m.Handle("PUT /operator/deployments/{id}/signum-administrators", access.OperatorOnDeployment(), a.moveSignumAdmin)
	// DELETE /operator/deployments/{id}/signum-administrators/{userId} — operator: revoke the
	// role (never from the last holder).
	m.Handle("DELETE /operator/deployments/{id}/signum-administrators/{userId}", access.OperatorOnDeployment(), a.revokeSignumAdmin)
	// GET /operator/truststore — operator: the PEM bundle for API Gateway's mutual-TLS
	// truststore (every deployment's registered client certificates and CAs).
	m.Handle("GET /operator/truststore", access.OperatorOnly(), a.truststore)
	// GET /operator/truststore/status — operator: whether the deployed truststore is current.
	m.Handle("GET /operator/truststore/status", access.OperatorOnly(), a.truststoreStatus)
	// GET /operator/deployments/{id}/events — operator: the deployment's signing-event log
	// as JSON lines, oldest first, a page at a time (?limit=1..100&cursor=<X-Next-Cursor>):
	// how the log of a cancelled deployment, whose console is closed, is handed over.
	m.Handle("GET /operator/deployments/{id}/events", access.OperatorOnDeployment(), a.exportEvents)
	// GET /operator/subscriptions — operator: marketplace subscriptions, oldest first;
	// ?limit=1..100&cursor=<next>.
	m.Handle("GET /operator/subscriptions", access.OperatorOnly(), a.listSubscriptions)
	// GET /operator/subscriptions/{subscriptionId} — operator: one subscription with its
	// identities at the marketplace and its metering cursor.
	m.Handle("GET /operator/subscriptions/{subscriptionId}", access.OperatorOnly(), a.getSubscription)
	// GET /operator/subscriptions/{subscriptionId}/metering — operator: what was metered,
	// newest hour first.
	m.Handle("GET /operator/subscriptions/{subscriptionId}/metering", access.OperatorOnly(), a.listMetering)
	a.updateRoutes(m)
	return m
}

// truststore answers the PEM bundle of every registered client certificate and CA, without
// duplicates or expired ones (plain PEM blocks, no explanatory text, as S3 truststores take
// them): what the truststore function publishes (lib/truststore), for an operator who looks.
func (a api) truststore(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	anchors, err := store.All(r.Context(), a.store.ListTrustAnchors)
	if err != nil {
		return err
	}
	b := truststore.Build(anchors, a.now(), edge.Logger(r.Context()))
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Certificate-Count", strconv.Itoa(b.Certificates))
	w.Header().Set("X-Expired-Left-Out", strconv.Itoa(b.Expired))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.PEM)
	return nil
}

// truststoreStatus answers whether the deployed truststore is current: whether the newest
// bundle in the truststore bucket holds exactly the registrations and the mutual-TLS domain
// uses it, with API Gateway's warnings about it. It changes nothing (the truststore function
// does).
func (a api) truststoreStatus(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	if a.trust == nil {
		return fault.Newf(fault.ErrNotFound, "This stack does not manage a truststore (SIGNUM_TRUSTSTORE_BUCKET is not set).")
	}
	st, err := a.trust.Check(r.Context())
	if err != nil {
		return fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "The truststore's bucket or domain cannot be read now; retry later."), 5*time.Second)
	}
	edge.WriteJSON(w, http.StatusOK, st)
	return nil
}

// CreateRequest is the body of POST /operator/deployments.
type CreateRequest struct {
	Name            string   `json:"name"`
	Plan            string   `json:"plan"`
	DomainName      string   `json:"domainName"`
	IPAllowlist     []string `json:"ipAllowlist"`
	FirstAdminEmail string   `json:"firstAdminEmail"`
}

// CreateResponse is a new (or replayed) deployment with, on creation only, the first Admin's
// deployment link.
type CreateResponse struct {
	wire.Deployment
	FirstAdminInvite *Invite `json:"firstAdminInvite,omitempty"`
}

// Invite is a deployment link. Its token is shown once: only its hash is stored.
type Invite struct {
	Token       string    `json:"token"`
	Role        string    `json:"role"`
	Email       string    `json:"email,omitempty"`
	SignumAdmin bool      `json:"signumAdministrator"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

func (a api) create(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	res, err := a.provisioning.Provision(r.Context(), provisioning.Request{
		Name: body.Name, Plan: body.Plan, DomainName: body.DomainName, IPAllowlist: body.IPAllowlist,
		RequestKey: key, Actor: req.Principal.Actor(), FirstAdminEmail: body.FirstAdminEmail,
	})
	if err != nil {
		return err
	}
	out := CreateResponse{Deployment: wire.DeploymentJSON(res.Deployment).WithSigner(a.signer)}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		out.FirstAdminInvite = &Invite{Token: res.FirstAdminLink, Role: string(identity.RoleAdmin), Email: body.FirstAdminEmail,
			SignumAdmin: true, ExpiresAt: res.FirstAdminLinkExpires}
	}
	w.Header().Set("Location", "/operator/deployments/"+res.Deployment.ID)
	w.Header().Set("ETag", wire.DeploymentETag(res.Deployment))
	edge.WriteJSON(w, status, out)
	return nil
}

// idempotencyKey reads the Idempotency-Key header and scopes it to the operator API, so that
// it cannot collide with the marketplace's request keys.
func idempotencyKey(r *http.Request) (string, error) {
	k, err := edge.IdempotencyKey(r)
	if k == "" || err != nil {
		return "", err
	}
	return "operator:" + k, nil
}

func (a api) get(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	w.Header().Set("ETag", wire.DeploymentETag(req.Deployment))
	edge.WriteJSON(w, http.StatusOK, wire.DeploymentJSON(req.Deployment).WithSigner(a.signer))
	return nil
}

func (a api) list(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	return access.ServeList(w, r, a.store.ListDeployments, func(d tenant.Deployment) wire.Deployment {
		return wire.DeploymentJSON(d).WithSigner(a.signer)
	})
}

// InviteRequest is the body of POST /operator/deployments/{id}/invites.
type InviteRequest struct {
	Email       string `json:"email"`
	Role        string `json:"role"`
	SignumAdmin bool   `json:"signumAdministrator"`
}

func (a api) invite(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body InviteRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	inv, tok, err := provisioning.Invite(r.Context(), a.store, a.now(), req.Deployment.ID, req.Principal.Actor(), body.Email, identity.PortalRole(body.Role), body.SignumAdmin)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusCreated, Invite{Token: tok, Role: string(inv.Role), Email: inv.Email, SignumAdmin: inv.SignumAdmin, ExpiresAt: inv.ExpiresAt})
	return nil
}

// SignumAdministrator is a holder of the Signum Administrator role: a portal user of the
// deployment, always an active Admin.
type SignumAdministrator struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
}

// SignumAdministrators is the answer of GET and PUT /operator/deployments/{id}/signum-administrators.
type SignumAdministrators struct {
	Items []SignumAdministrator `json:"items"`
}

// SignumAdminRequest is the body of POST and PUT /operator/deployments/{id}/signum-administrators.
type SignumAdminRequest struct {
	UserID string `json:"userId"`
}

func signumAdminJSON(u identity.PortalUser) SignumAdministrator {
	return SignumAdministrator{UserID: u.ID, Email: u.Email, Name: u.Name}
}

func signumAdminPath(dep, user string) string {
	return "/operator/deployments/" + dep + "/signum-administrators/" + user
}

func (a api) listSignumAdmins(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	us, err := a.signumAdmins.List(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	out := SignumAdministrators{Items: make([]SignumAdministrator, 0, len(us))}
	for _, u := range us {
		out.Items = append(out.Items, signumAdminJSON(u))
	}
	w.Header().Set("Cache-Control", "no-store")
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// grantSignumAdmin answers 201 with the new holder, or 200 when the user held the role already
// (nothing written).
func (a api) grantSignumAdmin(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body SignumAdminRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	u, granted, err := a.signumAdmins.Grant(r.Context(), req.Deployment.ID, body.UserID, req.Principal.Actor())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if granted {
		status = http.StatusCreated
	}
	w.Header().Set("Location", signumAdminPath(req.Deployment.ID, u.ID))
	edge.WriteJSON(w, status, signumAdminJSON(u))
	return nil
}

// moveSignumAdmin answers 200 with the holders after the move: the one user.
func (a api) moveSignumAdmin(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body SignumAdminRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	u, err := a.signumAdmins.Move(r.Context(), req.Deployment.ID, body.UserID, req.Principal.Actor())
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, SignumAdministrators{Items: []SignumAdministrator{signumAdminJSON(u)}})
	return nil
}

func (a api) revokeSignumAdmin(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.signumAdmins.Revoke(r.Context(), req.Deployment.ID, r.PathValue("userId"), req.Principal.Actor()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a api) listSubscriptions(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	return access.ServeList(w, r, a.store.ListSubscriptions, wire.SubscriptionOperatorJSON)
}

func (a api) getSubscription(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	sub, err := a.store.GetSubscription(r.Context(), r.PathValue("subscriptionId"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, wire.SubscriptionOperatorJSON(sub))
	return nil
}

func (a api) listMetering(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	sub, err := a.store.GetSubscription(r.Context(), r.PathValue("subscriptionId"))
	if err != nil {
		return err
	}
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[marketplace.MeterRecord], error) {
		return a.store.ListMeterRecords(ctx, sub.ID, pr)
	}, wire.MeterRecordJSON)
}

func (a api) exportEvents(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	limit, cursor, err := edge.PageParams(r, store.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := a.store.ListEvents(r.Context(), req.Deployment.ID, store.EventFilter{}, store.PageRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	if page.Next != "" {
		w.Header().Set("X-Next-Cursor", page.Next)
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = audit.WriteJSONL(w, page.Items)
	return nil
}
