package insights

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/notices"
)

// DeploymentHealth is the JSON form of a health report (docs/openapi.yaml, DeploymentHealth).
type DeploymentHealth struct {
	Status     string            `json:"status"`
	CheckedAt  time.Time         `json:"checkedAt"`
	Components []HealthComponent `json:"components"`
}

// HealthComponent is one component of a report.
type HealthComponent struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Status    string         `json:"status"`
	Title     string         `json:"title"`
	Subject   string         `json:"subject,omitempty"`
	SubjectID string         `json:"subjectId,omitempty"`
	State     string         `json:"state,omitempty"`
	Reason    string         `json:"reason"`
	Action    string         `json:"action,omitempty"`
	Link      string         `json:"link,omitempty"`
	At        *time.Time     `json:"at,omitempty"`
	LatencyMs *float64       `json:"latencyMs,omitempty"`
	Counts    map[string]int `json:"counts,omitempty"`
}

// Notice is the JSON form of a notice.
type Notice struct {
	ID       string    `json:"id"`
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Detail   string    `json:"detail"`
	Link     string    `json:"link,omitempty"`
	Since    time.Time `json:"since"`
}

// NoticeList is the answer of GET /portal/deployments/{id}/notices.
type NoticeList struct {
	Items []Notice `json:"items"`
}

// check is the deployment's health now. A source that failed is its component unknown in the
// report; the cause goes to the log, not to the caller.
func (a api) check(ctx context.Context, dep string) (health.Report, error) {
	r, err := health.Check(ctx, a.health, dep, a.Now())
	if err != nil && len(r.Components) > 0 {
		a.log.WarnContext(ctx, "health: a source could not be read", slog.String("deploymentId", dep), slog.String("error", err.Error()))
		err = nil
	}
	return r, err
}

func (a api) deploymentHealth(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	rep, err := a.check(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	out := DeploymentHealth{Status: string(rep.Status), CheckedAt: rep.CheckedAt, Components: []HealthComponent{}}
	for _, c := range rep.Components {
		j := HealthComponent{ID: c.ID, Kind: c.Category, Status: string(c.Status), Title: title(c), Subject: c.Subject, SubjectID: c.SubjectID,
			State: c.State, Reason: c.Reason, Action: c.Action, Link: c.Link, Counts: c.Counts}
		if !c.At.IsZero() {
			at := c.At
			j.At = &at
		}
		if c.Latency > 0 {
			ms := float64(c.Latency.Microseconds()) / 1000
			j.LatencyMs = &ms
		}
		out.Components = append(out.Components, j)
	}
	w.Header().Set("Cache-Control", "no-store")
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// title names a component for a person, from its id and subject.
func title(c health.Component) string {
	kind, _, _ := strings.Cut(c.ID, ":")
	subject := c.Subject
	if subject == "" {
		subject = c.SubjectID
	}
	switch kind {
	case "table":
		return "Table (DynamoDB)"
	case "key-service":
		return "Key service (KMS)"
	case "certificate-key":
		return "Key of " + subject
	case "certificate-disabled":
		return "Certificate " + subject + " disabled"
	case "certificate-expiry":
		return "Certificate " + subject + " expiry"
	case "client-certificate-expiry":
		return "Client certificate " + subject
	case "certificates":
		return "Certificates"
	case "client-certificates":
		return "Client certificates"
	case "truststore":
		return "Mutual-TLS truststore"
	case "signing-errors":
		return "Signing errors"
	case "signing-denials":
		return "Signing denials"
	case "subscription":
		return "Subscription"
	case "plan-usage":
		return "Plan limits"
	case "updates":
		return "Software updates"
	}
	return c.ID
}

// deploymentNotices answers the notices of the deployment's health now, each since when the
// hourly notices function first raised it (now for one it has not seen yet).
func (a api) deploymentNotices(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx := r.Context()
	rep, err := a.check(ctx, req.Deployment.ID)
	if err != nil {
		return err
	}
	stored, err := notices.Stored(ctx, a.Store, req.Deployment.ID)
	if err != nil {
		return err
	}
	since := map[string]time.Time{}
	for _, n := range stored {
		since[n.ID] = n.Since
	}
	out := NoticeList{Items: []Notice{}}
	for _, n := range notices.FromReport(rep) {
		if s, ok := since[n.ID]; ok {
			n.Since = s
		} else if n.Since.IsZero() {
			n.Since = rep.CheckedAt // not raised by the hourly run yet: it stands since this check
		}
		out.Items = append(out.Items, Notice{ID: n.ID, Severity: string(n.Severity), Title: n.Title, Detail: n.Detail, Link: n.Link, Since: n.Since})
	}
	w.Header().Set("Cache-Control", "no-store")
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}
