// Package notices tells a deployment's people what needs their attention: an expiring
// certificate or client certificate, a disabled or deleted key, a failed or paused update, a
// suspended or cancelled subscription, the truststore out of date. Notices are derived from
// the deployment's health report (lib/health), stored per deployment (lib/store, one item
// written over its version) and, for an operator to route them (e-mail is out of scope), each
// change is published as an event: raised when a notice appears or gets more severe, cleared
// when it goes.
//
// Sync runs on a schedule (the notices function, hourly). Of two syncs that read the same
// stored set only the one whose write lands publishes; changes stored but not published (the
// publisher failed, the function stopped) stay in the stored item and the next sync publishes
// them. Delivery is at least once: a consumer that must not act twice dedupes on the event's
// changeId.
package notices

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/keys"
)

// Severity is how urgent a notice is.
type Severity string

// Severities: a warning needs attention soon, a critical notice now.
const (
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Notice is one thing that needs attention.
type Notice struct {
	// ID is stable while the condition lasts: "certificate-expiring:<certificate id>",
	// "certificate-key:<certificate id>", "client-certificate-expiring:<credential id>",
	// "truststore-out-of-date", "subscription", "plan-limit", "update", "signing-errors",
	// "more-notices".
	ID       string
	Severity Severity
	// Title says what in a line; Detail why and what to do.
	Title, Detail string
	// Link is the web app's path where it is dealt with ("" when there is none).
	Link string
	// Since is when the notice was first raised (kept while it lasts, through changes of
	// severity and detail).
	Since time.Time
}

// MaxNotices bounds a deployment's set (and so its stored item): past it, the most severe are
// kept and one "more-notices" notice says how many more the health page lists.
const MaxNotices = 100

// kind maps health components to notices.
type kind struct {
	// component is the health component's ID or, ending in ":", its prefix.
	component string
	// notice is the notice's ID (or prefix, for a prefix).
	notice string
	// unknownCovers is the ID of a health component whose being unknown means this kind's
	// components could not be told (so that stored notices are kept, not cleared).
	unknownCovers string
	title         func(c health.Component) string
}

var kinds = []kind{
	{"certificate-expiry:", "certificate-expiring:", "certificates", func(c health.Component) string {
		return expiryTitle("The certificate", c)
	}},
	{"certificate-key:", "certificate-key:", "certificates", func(c health.Component) string {
		return `The key of the certificate "` + c.Subject + `" ` + keyWords(c.State)
	}},
	{"client-certificate-expiry:", "client-certificate-expiring:", "client-certificates", func(c health.Component) string {
		return expiryTitle("The client certificate", c)
	}},
	{"truststore", "truststore-out-of-date", "", func(health.Component) string {
		return "The mutual-TLS truststore is out of date"
	}},
	{"subscription", "subscription", "", func(c health.Component) string {
		return "The subscription is " + strings.ReplaceAll(c.State, "-", " ")
	}},
	{"plan-usage", "plan-limit", "", func(c health.Component) string {
		if c.Status == health.StatusCritical {
			return "The plan's signatures for this month are used up"
		}
		return "The deployment is at or near a limit of its plan"
	}},
	{"updates", "update", "", func(c health.Component) string {
		return "The software update " + c.State
	}},
	{"signing-errors", "signing-errors", "", func(health.Component) string {
		return "Signing requests are failing"
	}},
}

func expiryTitle(what string, c health.Component) string {
	if c.Status == health.StatusCritical {
		return what + ` "` + c.Subject + `" has expired`
	}
	return what + ` "` + c.Subject + `" expires on ` + c.At.UTC().Format(time.DateOnly)
}

func keyWords(state string) string {
	switch keys.Status(state) {
	case keys.StatusDisabled:
		return "is disabled"
	case keys.StatusPendingDeletion:
		return "is scheduled for deletion"
	case keys.StatusMissing:
		return "is gone"
	case keys.StatusUnreachable:
		return "cannot be reached"
	}
	return "needs attention"
}

// kindOf is the kind of a health component, or of a notice when notice is set.
func kindOf(id string, notice bool) (kind, string, bool) {
	for _, k := range kinds {
		pattern := k.component
		if notice {
			pattern = k.notice
		}
		if strings.HasSuffix(pattern, ":") {
			if rest, ok := strings.CutPrefix(id, pattern); ok {
				return k, rest, true
			}
		} else if id == pattern {
			return k, "", true
		}
	}
	return kind{}, "", false
}

// FromReport derives the notices of a health report: one per component of a kind above whose
// status is warning or critical (the signing error rate: critical only), most severe first, at
// most MaxNotices. Since is not set.
func FromReport(r health.Report) []Notice {
	var out []Notice
	for _, c := range r.Components {
		if c.Status != health.StatusWarning && c.Status != health.StatusCritical {
			continue
		}
		k, rest, ok := kindOf(c.ID, false)
		if !ok || (c.ID == "signing-errors" && c.Status != health.StatusCritical) {
			// A warning of the error rate comes and goes with the hour's traffic; only a
			// critical one is worth an event.
			continue
		}
		detail := c.Reason
		if c.Action != "" {
			detail += " " + c.Action
		}
		out = append(out, Notice{ID: k.notice + rest, Severity: Severity(c.Status), Title: k.title(c), Detail: detail, Link: c.Link})
	}
	return bound(out)
}

// bound sorts notices most severe first (then by id) and keeps at most MaxNotices.
func bound(ns []Notice) []Notice {
	slices.SortFunc(ns, func(a, b Notice) int {
		if a.Severity != b.Severity {
			if a.Severity == SeverityCritical {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(ns) <= MaxNotices {
		return ns
	}
	more := len(ns) - (MaxNotices - 1)
	ns = append(ns[:MaxNotices-1], Notice{ID: "more-notices", Severity: SeverityWarning,
		Title:  "More things need attention",
		Detail: strconv.Itoa(more) + " more notices are not listed here; the deployment's health page lists them all."})
	return ns
}

// undetermined reports whether the report could not tell notice id's condition: its
// component, or the component whose failure hides it, is unknown. Such a notice is kept as
// stored rather than cleared by a check that failed.
func undetermined(r health.Report, id string) bool {
	k, rest, ok := kindOf(id, true)
	if !ok {
		return false
	}
	for _, c := range r.Components {
		if c.Status != health.StatusUnknown {
			continue
		}
		if c.ID == k.component+rest || (k.unknownCovers != "" && c.ID == k.unknownCovers) {
			return true
		}
	}
	return false
}
