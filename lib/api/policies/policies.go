// Package policies is the console's signing-policy API: create, list, get, replace (with
// optimistic concurrency), enable/disable and delete policies, and a dry run that answers
// "would this request be allowed, and by which policy?" without signing. Saving a policy that
// could contradict another at equal priority is refused.
package policies

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

type api struct{ *function.Parts }

// Build is the console-policies function.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	a := api{function.NewParts(env)}
	m := access.NewMux(env.Log, a.Guard)
	read, admin := access.ConsoleReaders(), access.ConsoleAdmins()
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
	Version  int64         `json:"version"`
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
		Where: []Application{}}
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
	return out
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// fromJSON converts and validates a policy body.
func fromJSON(b Policy, id string) (policy.Policy, error) {
	p := policy.Policy{ID: id, Name: strings.TrimSpace(b.Name), Enabled: b.Enabled, Priority: b.Priority, Action: policy.Action(b.Action),
		What: policy.What{Certificates: b.What.Certificates, Groups: b.What.Groups}, Who: policy.Who{Users: b.Who.Users, Roles: b.Who.Roles}}
	for _, w := range b.Where {
		p.Where = append(p.Where, policy.Application{Process: w.Process, CommandLine: w.CommandLine})
	}
	var bad fault.Fields
	if b.When != nil {
		p.When.TimeZone = b.When.TimeZone
		for i, win := range b.When.Windows {
			pw := policy.Window{From: win.From, To: win.To}
			for _, d := range win.Days {
				wd, ok := weekdays[strings.ToLower(d)]
				if !ok {
					bad.Add(fmt.Sprintf("when.windows[%d].days", i), "%q is not a week day (monday … sunday)", fault.Clip(d, 20))
					continue
				}
				pw.Days = append(pw.Days, wd)
			}
			p.When.Windows = append(p.When.Windows, pw)
		}
		if b.When.NotBefore != nil {
			p.When.NotBefore = *b.When.NotBefore
		}
		if b.When.NotAfter != nil {
			p.When.NotAfter = *b.When.NotAfter
		}
	}
	if err := bad.Err(); err != nil {
		return policy.Policy{}, err
	}
	if err := p.Validate(); err != nil {
		return policy.Policy{}, err
	}
	return p, nil
}

// all loads and validates every policy of the deployment.
func (a api) all(ctx context.Context, dep string) ([]policy.Policy, error) {
	ps, err := a.Store.AllPolicies(ctx, dep)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		_ = ps[i].Validate() // a stored policy that no longer validates fails closed in the engine
	}
	return ps, nil
}

func (a api) checkConflicts(ctx context.Context, dep string, p policy.Policy) error {
	existing, err := a.all(ctx, dep)
	if err != nil {
		return err
	}
	if ids := policy.Conflicts(existing, p); len(ids) > 0 {
		return fault.Newf(fault.ErrConflict, "At priority %d this policy could contradict %s: give one of them another priority or make their certificates or users disjoint.", p.Priority, strings.Join(ids, ", "))
	}
	return nil
}

func (a api) create(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Policy
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	p, err := fromJSON(body, tenant.NewID("pol_"))
	if err != nil {
		return err
	}
	if err := a.checkConflicts(r.Context(), req.Deployment.ID, p); err != nil {
		return err
	}
	p, err = a.Store.CreatePolicy(r.Context(), req.Deployment.ID, p, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "policy.created", Detail: fmt.Sprintf("%s %q: %s at priority %d", p.ID, p.Name, p.Action, p.Priority)})
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
	w.Header().Set("ETag", etag(p))
	edge.WriteJSON(w, http.StatusOK, toJSON(p))
	return nil
}

func (a api) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[policy.Policy], error) {
		return a.Store.ListPolicies(ctx, req.Deployment.ID, pr)
	}, toJSON)
}

func (a api) replace(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Policy
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	cur, err := a.Store.GetPolicy(r.Context(), req.Deployment.ID, r.PathValue("policyId"))
	if err != nil {
		return err
	}
	// The version read: If-Match, else the body's version; one of them is required, so that
	// a replace never silently overwrites someone else's change.
	read := body.Version
	if m := r.Header.Get("If-Match"); m != "" {
		if read, err = strconv.ParseInt(strings.Trim(m, `"`), 10, 64); err != nil {
			return fault.Newf(fault.ErrPrecondition, "If-Match must be the policy's ETag, like \"3\".")
		}
	}
	if read == 0 {
		return fault.Fields{{Name: "version", Reason: "send the version you read (or If-Match) so that concurrent changes are not lost"}}
	}
	if read != cur.Version {
		return fault.Newf(store.ErrStale, "Policy %s was changed by someone else (version %d, you read %d); read it again.", cur.ID, cur.Version, read)
	}
	next, err := fromJSON(body, cur.ID)
	if err != nil {
		return err
	}
	if err := a.checkConflicts(r.Context(), req.Deployment.ID, next); err != nil {
		return err
	}
	updated, err := a.Store.UpdatePolicy(r.Context(), req.Deployment.ID, cur, next, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "policy.updated",
		Detail: fmt.Sprintf("%s %q: %s at priority %d, enabled %v", cur.ID, next.Name, next.Action, next.Priority, next.Enabled)})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated))
	edge.WriteJSON(w, http.StatusOK, toJSON(updated))
	return nil
}

func (a api) delete(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	p, err := a.Store.GetPolicy(r.Context(), req.Deployment.ID, r.PathValue("policyId"))
	if err != nil {
		return err
	}
	if err := a.Store.DeletePolicy(r.Context(), req.Deployment.ID, p, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "policy.deleted", Detail: fmt.Sprintf("%s %q", p.ID, p.Name)}); err != nil {
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
}

func (a api) evaluate(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body EvaluateRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	ctx := r.Context()
	dep := req.Deployment.ID
	roles, err := identity.ActiveRoles(ctx, a.Store, dep, body.UserID)
	if err != nil {
		return userIDError(err, body.UserID)
	}
	cert, err := a.Store.GetCertificate(ctx, dep, body.CertificateID)
	if err != nil {
		return err
	}
	at := a.Now()
	if body.At != nil {
		at = *body.At
	}
	ps, err := a.all(ctx, dep)
	if err != nil {
		return err
	}
	d := policy.NewSet(ps).Evaluate(policy.Request{UserID: body.UserID, Roles: policy.RolesFor(roles), Process: body.Process, CommandLine: body.CommandLine, At: at,
		Certificate: cert.ForPolicy(at)})
	edge.WriteJSON(w, http.StatusOK, EvaluateResponse{Allowed: d.Allowed, PolicyID: d.PolicyID, Owner: d.Owner, Reason: d.Reason})
	return nil
}

// userIDError is the answer to a dry run for a user whose roles could not be read (err, from
// identity.ActiveRoles): the field userId names what is wrong with it.
func userIDError(err error, id string) error {
	switch {
	case errors.Is(err, identity.ErrNotUserID):
		return fault.Fields{{Name: "userId", Reason: "is not a user of this deployment"}}
	case errors.Is(err, identity.ErrInactive):
		return fault.Fields{{Name: "userId", Reason: fmt.Sprintf("%s is not an active user of this deployment", fault.Clip(id, 40))}}
	}
	return err
}
