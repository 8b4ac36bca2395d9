package notices_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/notices"
)

// Which components make notices, and how many a deployment keeps.
func TestFromReport(t *testing.T) {
	at := time.Date(2026, 12, 23, 0, 0, 0, 0, time.UTC)
	r := health.Report{Components: []health.Component{
		{ID: "table", Status: health.StatusCritical},
		{ID: "certificate-expiry:crt_1", Subject: "release", Status: health.StatusWarning, At: at, Reason: "Expires.", Action: "Renew it.", Link: "/x"},
		{ID: "certificate-expiry:crt_2", Subject: "old", Status: health.StatusCritical, At: at},
		{ID: "certificate-expiry:crt_3", Subject: "later", Status: health.StatusOK, At: at},
		{ID: "certificate-key:crt_4", Subject: "nightly", State: "pending-deletion", Status: health.StatusCritical},
		{ID: "certificate-disabled:crt_4", Status: health.StatusWarning},
		{ID: "signing-errors", Status: health.StatusWarning},
		{ID: "subscription", State: "suspended", Status: health.StatusCritical},
		{ID: "updates", State: "failed", Status: health.StatusCritical},
		{ID: "truststore", Status: health.StatusUnknown},
	}}
	got := notices.FromReport(r)
	want := []struct{ id, title string }{
		{"certificate-expiring:crt_2", `The certificate "old" has expired`},
		{"certificate-key:crt_4", `The key of the certificate "nightly" is scheduled for deletion`},
		{"subscription", "The subscription is suspended"},
		{"update", "The software update failed"},
		{"certificate-expiring:crt_1", `The certificate "release" expires on 2026-12-23`},
	}
	if len(got) != len(want) {
		t.Fatalf("notices %+v", got)
	}
	for i, w := range want {
		if got[i].ID != w.id || got[i].Title != w.title {
			t.Errorf("notice %d: %s %q, want %s %q", i, got[i].ID, got[i].Title, w.id, w.title)
		}
	}
	if n := got[4]; n.Detail != "Expires. Renew it." || n.Link != "/x" || n.Severity != notices.SeverityWarning {
		t.Errorf("notice %+v", n)
	}

	var many health.Report
	for i := range notices.MaxNotices + 10 {
		many.Components = append(many.Components, health.Component{ID: fmt.Sprintf("certificate-key:crt_%03d", i), Status: health.StatusCritical})
	}
	got = notices.FromReport(many)
	if len(got) != notices.MaxNotices || got[len(got)-1].ID != "more-notices" || got[len(got)-1].Detail[:3] != "11 " {
		t.Fatalf("bounded: %d notices, last %+v", len(got), got[len(got)-1])
	}
}
