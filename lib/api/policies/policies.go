// Package policies is the console's signing-policy API: create, list, get, replace (with
// optimistic concurrency), enable/disable and delete policies, and a dry run that answers
// "would this request be allowed, and by which policy?" without signing. Saving a policy that
// could contradict another at equal priority is refused, and so is one that would take the
// deployment over its limits (policy.MaxPolicies, policy.MaxDeploymentProgram: 409), which
// bound what one signing decision can cost.
package policies

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/signing"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/wire"
)

type api struct {
	*function.Parts
	admin *policy.Admin
}

// Build is the console-policies function.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	parts := function.NewParts(env)
	a := api{Parts: parts, admin: policy.NewAdmin(parts.Store)}
	m := access.NewMux(env.Log, a.Guard)
	read, admin := access.Area(roles.Policies, roles.Read), access.Area(roles.Policies, roles.Manage)
	// GET /console/policies — console admins and viewers.
	m.Handle("GET /console/policies", read, a.list)
	// POST /console/policies — console admins.
	m.Handle("POST /console/policies", admin, a.create)
	// GET /console/policies/{policyId} — console admins and viewers.
	m.Handle("GET /console/policies/{policyId}", read, a.get)
	// PUT /console/policies/{policyId} — console admins: replace (If-Match or version).
	m.Handle("PUT /console/policies/{policyId}", admin, a.replace)
	// DELETE /console/policies/{policyId} — console admins.
	m.Handle("DELETE /console/policies/{policyId}", admin, a.delete)
	// POST /console/policies/evaluate — console admins and viewers: a dry run.
	m.Handle("POST /console/policies/evaluate", read, a.evaluate)
	a.grantRoutes(m, read, admin)
	return m, nil
}

// Policy is the JSON form of a policy.
type Policy struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Enabled  bool          `json:"enabled"`
	Priority int           `json:"priority"`
	Action   string        `json:"action"`
	What     What          `json:"what"`
	Who      Who           `json:"who"`
	Where    []Application `json:"where"`
	When     *When         `json:"when,omitempty"`
	// RequireTimestamp: every signature the policy allows carries a token of the
	// deployment's time-stamping authorities (PUT /console/timestamping).
	RequireTimestamp bool      `json:"requireTimestamp"`
	Grant            *Grant    `json:"grant,omitempty"`
	Approval         *Approval `json:"approval,omitempty"`
	Version          int64     `json:"version"`
}

// What names certificates and certificate groups ("*": every certificate).
type What struct {
	Certificates []string `json:"certificates"`
	Groups       []string `json:"groups"`
}

// Who names users and roles (console roles, or portal roles as "portal:Admin").
type Who struct {
	Users []string `json:"users"`
	Roles []string `json:"roles"`
}

// Application is a process-name pattern and an optional command-line pattern (RE2, whole
// value).
type Application struct {
	Process     string `json:"process"`
	CommandLine string `json:"commandLine,omitempty"`
}

// When is a weekly schedule in a time zone and an optional validity window.
type When struct {
	TimeZone  string     `json:"timeZone"`
	Windows   []Window   `json:"windows"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
	NotAfter  *time.Time `json:"notAfter,omitempty"`
}

// Window is a daily time range on some week days.
type Window struct {
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toJSON(p policy.Policy) Policy {
	out := Policy{ID: p.ID, Name: p.Name, Enabled: p.Enabled, Priority: p.Priority, Action: string(p.Action), Version: p.Version,
		What:  What{Certificates: nonNil(p.What.Certificates), Groups: nonNil(p.What.Groups)},
		Who:   Who{Users: nonNil(p.Who.Users), Roles: nonNil(p.Who.Roles)},
		Where: []Application{}, RequireTimestamp: p.RequireTimestamp, Grant: grantJSON(p.Grant)}
	for _, w := range p.Where {
		out.Where = append(out.Where, Application{Process: w.Process, CommandLine: w.CommandLine})
	}
	if p.When.TimeZone != "" || len(p.When.Windows) > 0 || !p.When.NotBefore.IsZero() || !p.When.NotAfter.IsZero() {
		w := &When{TimeZone: p.When.TimeZone, Windows: []Window{}}
		for _, win := range p.When.Windows {
			var days []string
			for _, d := range win.Days {
				days = append(days, strings.ToLower(d.String()))
			}
			w.Windows = append(w.Windows, Window{Days: days, From: win.From, To: win.To})
		}
		if !p.When.NotBefore.IsZero() {
			t := p.When.NotBefore
			w.NotBefore = &t
		}
		if !p.When.NotAfter.IsZero() {
			t := p.When.NotAfter
			w.NotAfter = &t
		}
		out.When = w
	}
	out.Approval = approvalJSON(p.Approval)
	return out
}

// draft is the policy body as the administration takes it (policy.Draft): the JSON shape
// mapped field for field; the rules (week-day names, validation) are the capability's.
func draft(b Policy) policy.Draft {
	d := policy.Draft{Name: b.Name, Enabled: b.Enabled, Priority: b.Priority, Action: policy.Action(b.Action),
		What: policy.What{Certificates: b.What.Certificates, Groups: b.What.Groups}, Who: policy.Who{Users: b.Who.Users, Roles: b.Who.Roles},
		RequireTimestamp: b.RequireTimestamp, Grant: grantOf(b.Grant)}
	for _, w := range b.Where {
		d.Where = append(d.Where, policy.Application{Process: w.Process, CommandLine: w.CommandLine})
	}
	d.Approval = approvalDraft(b.Approval)
	if b.When != nil {
		d.When.TimeZone = b.When.TimeZone
		for _, win := range b.When.Windows {
			d.When.Windows = append(d.When.Windows, policy.DraftWindow{Days: win.Days, From: win.From, To: win.To})
		}
		if b.When.NotBefore != nil {
			d.When.NotBefore = *b.When.NotBefore
		}
		if b.When.NotAfter != nil {
			d.When.NotAfter = *b.When.NotAfter
		}
	}
	return d
}

func (a api) create(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Policy
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.assignable(r.Context(), req, policy.What{Certificates: body.What.Certificates, Groups: body.What.Groups}, "create"); err != nil {
		return err
	}
	p, err := a.admin.Create(r.Context(), req.Deployment.ID, draft(body), req.Principal.Actor())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/policies/"+p.ID)
	w.Header().Set("ETag", etag(p))
	edge.WriteJSON(w, http.StatusCreated, toJSON(p))
	return nil
}

func etag(p policy.Policy) string { return `"` + strconv.FormatInt(p.Version, 10) + `"` }

func (a api) get(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	p, err := a.Store.GetPolicy(r.Context(), req.Deployment.ID, r.PathValue("policyId"))
	if err != nil {
		return err
	}
	certs, err := a.certificateGroups(r.Context(), req, []policy.Policy{p})
	if err != nil {
		return err
	}
	out := toJSON(redact(req.Principal.Scope, p, certs))
	if err := a.withUsage(r.Context(), req.Deployment.ID, p, &out); err != nil {
		return err
	}
	w.Header().Set("ETag", etag(p))
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a api) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[policy.Policy], error) {
		page, err := a.Store.ListPolicies(ctx, req.Deployment.ID, pr)
		if err != nil {
			return page, err
		}
		certs, err := a.certificateGroups(ctx, req, page.Items)
		for i := range page.Items {
			page.Items[i] = redact(req.Principal.Scope, page.Items[i], certs)
		}
		return page, err
	}, toJSON)
}

func (a api) replace(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Policy
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := a.mayChange(r.Context(), req, r.PathValue("policyId"), "change"); err != nil {
		return err
	}
	if err := a.assignable(r.Context(), req, policy.What{Certificates: body.What.Certificates, Groups: body.What.Groups}, "save"); err != nil {
		return err
	}
	updated, err := a.admin.Replace(r.Context(), req.Deployment.ID, r.PathValue("policyId"), expected(r, body), draft(body), req.Principal.Actor())
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated))
	edge.WriteJSON(w, http.StatusOK, toJSON(updated))
	return nil
}

// expected is the version the caller read: If-Match (the policy's ETag), else the body's
// version (0: neither). A malformed If-Match is an error that Replace returns once the policy
// is found.
func expected(r *http.Request, body Policy) policy.Expected {
	m := r.Header.Get("If-Match")
	if m == "" {
		return policy.Expected{Version: body.Version}
	}
	v, err := strconv.ParseInt(strings.Trim(m, `"`), 10, 64)
	if err != nil {
		return policy.Expected{Err: fault.Newf(fault.ErrPrecondition, "If-Match must be the policy's ETag, like \"3\".")}
	}
	return policy.Expected{Version: v}
}

func (a api) delete(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.mayChange(r.Context(), req, r.PathValue("policyId"), "delete"); err != nil {
		return err
	}
	if err := a.admin.Delete(r.Context(), req.Deployment.ID, r.PathValue("policyId"), req.Principal.Actor()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// EvaluateRequest is the body of POST /console/policies/evaluate.
type EvaluateRequest struct {
	// UserID is the user to decide for; its roles are read from the directory.
	UserID        string     `json:"userId"`
	CertificateID string     `json:"certificateId"`
	Process       string     `json:"process"`
	CommandLine   string     `json:"commandLine"`
	At            *time.Time `json:"at"`
}

// EvaluateResponse is the decision a signing request would get.
type EvaluateResponse struct {
	Allowed  bool   `json:"allowed"`
	PolicyID string `json:"policyId,omitempty"`
	Owner    bool   `json:"owner"`
	Reason   string `json:"reason"`
	// ApprovalsRequired and TimestampRequired are what the deciding policy asks of an allowed
	// request (wire.Verdict).
	ApprovalsRequired int  `json:"approvalsRequired,omitempty"`
	TimestampRequired bool `json:"timestampRequired,omitempty"`
}

func (a api) evaluate(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body EvaluateRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if s := req.Principal.Scope; !s.Unscoped(roles.View) {
		// A certificate outside the caller's groups answers as one that does not exist.
		c, err := a.Store.GetCertificate(r.Context(), req.Deployment.ID, body.CertificateID)
		if err == nil && !s.Any(c.Groups, roles.View) {
			return fault.Newf(store.ErrNotFound, "No certificate has the id %q.", fault.Clip(body.CertificateID, 40))
		}
	}
	d, err := signing.DryRun(r.Context(), a.Store, a.Now, signing.Trial{DeploymentID: req.Deployment.ID, UserID: body.UserID, CertificateID: body.CertificateID,
		App: wire.Context{Process: body.Process, CommandLine: body.CommandLine}, At: body.At})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, EvaluateResponse{Allowed: d.Allowed, PolicyID: d.PolicyID, Owner: d.Owner, Reason: d.Reason,
		ApprovalsRequired: d.Approvals, TimestampRequired: d.RequiresTimestamp})
	return nil
}
