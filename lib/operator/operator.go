// Package operator is the operator (vendor) API: provisioning and inspecting deployments.
// Its routes are IAM-authorized in API Gateway (SigV4, principals of the operator's AWS
// account); the handler checks the verified caller again so that a template mistake cannot
// open them.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/awsenv"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// CursorKeyPurpose names the derived key that seals page cursors.
const CursorKeyPurpose = "store-cursor"

// Build is the operator function's handler.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	if env.Config.OperatorAccountID == "" {
		return nil, errors.New("operator: OPERATOR_ACCOUNT_ID is not set")
	}
	st := store.New(env.Clients.DynamoDB, env.Config.TableName, CursorKey(env), store.WithClock(env.Now))
	return NewHandler(env, st, provisioning.New(st, env.Now)), nil
}

// CursorKey derives the cursor key from the service key in KMS when a listing first needs it.
func CursorKey(env function.Env) store.KeySource {
	return func(ctx context.Context) ([]byte, error) {
		return awsenv.DeriveKey(ctx, env.Clients.KMS, env.Config.ServiceKeyID, CursorKeyPurpose)
	}
}

// Store is what the operator API reads.
type Store interface {
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
	ListDeployments(ctx context.Context, pr store.PageRequest) (store.Page[tenant.Deployment], error)
}

type api struct {
	store        Store
	provisioning *provisioning.Service
	account      string
}

// NewHandler returns the operator routes.
func NewHandler(env function.Env, st Store, p *provisioning.Service) *edge.Router {
	a := &api{store: st, provisioning: p, account: env.Config.OperatorAccountID}
	rt := edge.NewRouter(env.Log)
	// POST /operator/deployments — operator (IAM principal of the operator account).
	// Idempotency-Key makes a retry return the deployment the first call created.
	rt.Handle("POST /operator/deployments", a.operator(a.create))
	// GET /operator/deployments — operator; ?limit=1..100&cursor=<next>.
	rt.Handle("GET /operator/deployments", a.operator(a.list))
	// GET /operator/deployments/{id} — operator.
	rt.Handle("GET /operator/deployments/{id}", a.operator(a.get))
	return rt
}

// operator lets only IAM principals of the operator account through.
func (a *api) operator(h edge.HandlerFunc) edge.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		caller := edge.IAMCaller(r)
		if caller == nil {
			return fault.Newf(fault.ErrUnauthenticated, "This route needs an AWS SigV4-signed request.")
		}
		if caller.AccountID != a.account {
			return fault.Newf(fault.ErrForbidden, "Only principals of the operator account may call this route.")
		}
		return h(w, r)
	}
}

// Deployment is the JSON form of a deployment.
type Deployment struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Status          string    `json:"status"`
	Plan            string    `json:"plan"`
	SoftwareVersion string    `json:"softwareVersion"`
	DomainName      string    `json:"domainName,omitempty"`
	IPAllowlist     []string  `json:"ipAllowlist"`
	Version         int64     `json:"version"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// ToJSON converts a deployment to its JSON form.
func ToJSON(d tenant.Deployment) Deployment {
	return Deployment{
		ID: d.ID, Name: d.Name, Status: string(d.Status), Plan: d.Plan, SoftwareVersion: d.SoftwareVersion,
		DomainName: d.DomainName, IPAllowlist: tenant.FormatAllowlist(d.IPAllowlist), Version: d.Version,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// CreateRequest is the body of POST /operator/deployments.
type CreateRequest struct {
	Name        string   `json:"name"`
	Plan        string   `json:"plan"`
	DomainName  string   `json:"domainName"`
	IPAllowlist []string `json:"ipAllowlist"`
}

func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := edge.DecodeJSON(r, &req, 0); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	caller := edge.IAMCaller(r)
	d, created, err := a.provisioning.Provision(r.Context(), provisioning.Request{
		Name: req.Name, Plan: req.Plan, DomainName: req.DomainName, IPAllowlist: req.IPAllowlist,
		RequestKey: key, Actor: "operator:" + caller.UserARN,
	})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/operator/deployments/"+d.ID)
	w.Header().Set("ETag", etag(d))
	edge.WriteJSON(w, status, ToJSON(d))
	return nil
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 200

// idempotencyKey reads the Idempotency-Key header (optional; up to 200 visible ASCII
// characters) and scopes it to the operator API, so that it cannot collide with the
// marketplace's request keys.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > MaxIdempotencyKey || strings.IndexFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return "", fault.Fields{{Name: "Idempotency-Key", Reason: fmt.Sprintf("must be 1 to %d visible ASCII characters", MaxIdempotencyKey)}}
	}
	return "operator:" + k, nil
}

func (a *api) get(w http.ResponseWriter, r *http.Request) error {
	d, err := a.store.GetDeployment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(d))
	edge.WriteJSON(w, http.StatusOK, ToJSON(d))
	return nil
}

// ListResponse is a page of deployments.
type ListResponse struct {
	Items []Deployment `json:"items"`
	Next  string       `json:"next,omitempty"`
}

func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := edge.PageParams(r, store.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := a.store.ListDeployments(r.Context(), store.PageRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	out := ListResponse{Items: make([]Deployment, 0, len(page.Items)), Next: page.Next}
	for _, d := range page.Items {
		out.Items = append(out.Items, ToJSON(d))
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

func etag(d tenant.Deployment) string { return fmt.Sprintf(`"%d"`, d.Version) }
