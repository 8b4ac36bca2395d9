// Package insights is the HTTP face of what a deployment's operation looks like: the portal's
// and the console's dashboards (lib/activity), the portal's health report (lib/health) and its
// notices (lib/notices).
package insights

import (
	"context"
	"encoding/csv"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/tenant"
)

type api struct {
	*function.Parts
	health health.Sources
	log    *slog.Logger
}

// Build is the insights function.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	src, err := function.HealthSources(ctx, env, p)
	if err != nil {
		return nil, err
	}
	a := api{Parts: p, health: src, log: env.Log}
	m := access.NewMux(env.Log, a.Guard)
	portal := access.PortalRoles(identity.RoleAdmin, identity.RoleViewer)
	// GET /portal/deployments/{id}/health — portal Admins and Viewers.
	m.Handle("GET /portal/deployments/{id}/health", portal, a.deploymentHealth)
	// GET /portal/deployments/{id}/notices — portal Admins and Viewers.
	m.Handle("GET /portal/deployments/{id}/notices", portal, a.deploymentNotices)
	// GET /portal/deployments/{id}/dashboard — portal Admins and Viewers: ?days=7|30|90,
	// format=json|csv.
	m.Handle("GET /portal/deployments/{id}/dashboard", portal, a.portalDashboard)
	// GET /console/dashboard — console admins and viewers (those who may read the event log
	// the counts come from); a caller scoped to certificate groups sees their certificates.
	m.Handle("GET /console/dashboard", access.Area(roles.Events, roles.Read), a.consoleDashboard)
	return m, nil
}

// Dashboard is the JSON form of a dashboard (docs/openapi.yaml, Dashboard).
type Dashboard struct {
	From         string         `json:"from"`
	To           string         `json:"to"`
	Days         []DashboardDay `json:"days"`
	Certificates []Certificate  `json:"certificates"`
	Totals       Totals         `json:"totals"`
	DeniedBy     []Count        `json:"deniedBy"`
	TopUsers     []Count        `json:"topUsers"`
	TopAgents    []Count        `json:"topAgents"`
	Licence      *Licence       `json:"licence,omitempty"`
}

// DashboardDay is one day's counts.
type DashboardDay struct {
	Date          string         `json:"date"`
	Signed        int            `json:"signed"`
	Failed        int            `json:"failed"`
	Denied        int            `json:"denied"`
	ByCertificate map[string]int `json:"byCertificate"`
}

// Certificate names a certificate of the dashboard.
type Certificate struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Totals are the range's counts.
type Totals struct {
	Signed int `json:"signed"`
	Failed int `json:"failed"`
	Denied int `json:"denied"`
}

// Count is one entry of a ranking.
type Count struct {
	Name  string `json:"name"`
	Label string `json:"label,omitempty"`
	Count int    `json:"count"`
}

// Licence is use against the plan.
type Licence struct {
	Plan                string `json:"plan"`
	Certificates        Use    `json:"certificates"`
	ConsoleUsers        Use    `json:"consoleUsers"`
	SignaturesThisMonth Use    `json:"signaturesThisMonth"`
}

// Use is one limit's use; Limit is absent when unlimited.
type Use struct {
	Used  int  `json:"used"`
	Limit *int `json:"limit,omitempty"`
}

// denialLabels say what each denial reason (policy.Decision.Code) means.
var denialLabels = map[string]string{
	"no-certificate":             "the request named no certificate",
	"certificate-inactive":       "the certificate is disabled, expired or not yet issued",
	"policy-denies":              "a policy denies it",
	"no-policy-allows":           "no policy allows it",
	"owner-without-signing-role": "the owner lacks the signing role",
}

func (a api) portalDashboard(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return a.dashboard(w, r, req.Deployment, nil)
}

func (a api) consoleDashboard(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	s := req.Principal.Scope
	if s.Unscoped(roles.View) {
		return a.dashboard(w, r, req.Deployment, nil)
	}
	return a.dashboard(w, r, req.Deployment, func(c certificates.Certificate) bool { return s.Any(c.Groups, roles.View) })
}

// dashboard answers the dashboard of d; sees, when set, says which certificates the caller
// may see (then nothing deployment-wide is shown: rankings, licence).
func (a api) dashboard(w http.ResponseWriter, r *http.Request, d tenant.Deployment, sees func(certificates.Certificate) bool) error {
	q := r.URL.Query()
	var bad fault.Fields
	days := 30
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 7 && n != 30 && n != 90) {
			bad.Add("days", "is 7, 30 or 90")
		}
		days = n
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		bad.Add("format", "is json or csv")
	}
	if err := bad.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	now := a.Now().UTC()
	from := now.AddDate(0, 0, -(days - 1))
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	read := from
	if month.Before(from) {
		read = month // this month's signatures, for the licence
	}
	counted, err := a.Store.Activity(ctx, d.ID, read, now)
	if err != nil {
		return err
	}
	certs, err := a.Store.AllCertificates(ctx, d.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	var keep func(string) bool
	if sees != nil {
		visible := map[string]bool{}
		for _, c := range certs {
			visible[c.ID] = sees(c)
		}
		keep = func(id string) bool { return visible[id] }
	}
	for _, c := range certs {
		names[c.ID] = c.Name
	}
	sum := activity.Summarize(counted, from, now, keep)
	out := Dashboard{From: sum.From, To: sum.To, Days: []DashboardDay{}, Certificates: []Certificate{},
		Totals:   Totals{Signed: sum.Signed, Failed: sum.Failed, Denied: sum.Denied},
		DeniedBy: counts(sum.DeniedBy, func(n string) string { return denialLabels[n] }),
		TopUsers: counts(sum.TopUsers, a.userName(ctx, d.ID)), TopAgents: counts(sum.TopAgents, nil)}
	for _, day := range sum.Days {
		by := day.ByCertificate
		if by == nil {
			by = map[string]int{}
		}
		out.Days = append(out.Days, DashboardDay{Date: day.Date, Signed: day.Signed, Failed: day.Failed, Denied: day.Denied, ByCertificate: by})
	}
	for _, id := range sum.Certificates {
		out.Certificates = append(out.Certificates, Certificate{ID: id, Name: names[id]})
	}
	if sees == nil {
		if out.Licence, err = a.licence(ctx, d, counted, month); err != nil {
			return err
		}
	}
	if format == "csv" {
		return writeCSV(w, out)
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// licence is d's use against its plan: certificates and console users counted now, this
// month's signatures from the activity counts.
func (a api) licence(ctx context.Context, d tenant.Deployment, counted []activity.Day, month time.Time) (*Licence, error) {
	certs, users, err := a.Store.UsageCounts(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	signed := 0
	for _, day := range counted {
		if day.Date >= month.Format(activity.DateLayout) {
			signed += day.Signed
		}
	}
	l := d.Limits()
	limit := func(n int) *int {
		if n <= 0 {
			return nil
		}
		return &n
	}
	return &Licence{Plan: d.Plan, Certificates: Use{Used: certs, Limit: limit(l.Certificates)},
		ConsoleUsers: Use{Used: users, Limit: limit(l.Users)}, SignaturesThisMonth: Use{Used: signed, Limit: limit(l.SignaturesPerMonth)}}, nil
}

// userName labels a ranking's user ids with the users' names where they can be read (a
// removed user keeps its id only): one read a user, of the kind its id says.
func (a api) userName(ctx context.Context, dep string) func(string) string {
	return func(id string) string {
		switch {
		case strings.HasPrefix(id, "cu_"):
			if u, err := a.Store.GetConsoleUser(ctx, dep, id); err == nil {
				return u.Username
			}
		case strings.HasPrefix(id, "pu_"):
			if u, err := a.Store.GetPortalUser(ctx, dep, id); err == nil {
				return u.Email
			}
		}
		return ""
	}
}

func counts(cs []activity.Count, label func(string) string) []Count {
	out := []Count{}
	for _, c := range cs {
		j := Count{Name: c.Name, Count: c.N}
		if label != nil {
			j.Label = label(c.Name)
		}
		out = append(out, j)
	}
	return out
}

// writeCSV writes the dashboard as CSV: one row per day and certificate, then one per day
// for the whole deployment (certificate id empty, name "all").
func writeCSV(w http.ResponseWriter, d Dashboard) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="signum-dashboard-`+d.From+`-`+d.To+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"date", "certificateId", "certificateName", "signed", "failed", "denied"})
	for _, day := range d.Days {
		for _, c := range d.Certificates {
			if n := day.ByCertificate[c.ID]; n > 0 {
				_ = cw.Write([]string{day.Date, c.ID, audit.CSVCell(c.Name), strconv.Itoa(n), "", ""})
			}
		}
		_ = cw.Write([]string{day.Date, "", "all", strconv.Itoa(day.Signed), strconv.Itoa(day.Failed), strconv.Itoa(day.Denied)})
	}
	cw.Flush()
	return nil
}
