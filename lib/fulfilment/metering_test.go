package fulfilment

import (
	"fmt"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/tenant"
)

// TestUsage: what an hour's record holds, by marketplace and plan: the signatures since the
// cursor, the overage beyond the month's included signatures (counted once, as the month
// crosses the amount), a new month starting from zero, and a trial's cap.
func TestUsage(t *testing.T) {
	hour := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	month := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lastMonth := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		sub     marketplace.Subscription
		total   int64
		records string
		month   int64
		capped  bool
		final   bool
	}{
		{"ok/aws-standard", marketplace.Subscription{Marketplace: marketplace.AWS, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 10, Month: month, MonthSignatures: 10}},
			25, "[signatures=15 certificates=3]", 25, false, false},
		{"ok/azure-standard-below-included", marketplace.Subscription{Marketplace: marketplace.Azure, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 10, Month: month, MonthSignatures: 10}},
			25, "[]", 25, false, false},
		{"ok/azure-standard-crossing-included", marketplace.Subscription{Marketplace: marketplace.Azure, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 99_990, Month: month, MonthSignatures: 99_990}},
			100_030, "[signatures_overage=30]", 100_030, false, false},
		{"ok/azure-standard-beyond-included", marketplace.Subscription{Marketplace: marketplace.Azure, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 200_000, Month: month, MonthSignatures: 150_000}},
			200_007, "[signatures_overage=7]", 150_007, false, false},
		{"ok/new-month-starts-at-zero", marketplace.Subscription{Marketplace: marketplace.Azure, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 500_000, Month: lastMonth, MonthSignatures: 400_000}},
			500_004, "[]", 4, false, false},
		{"ok/enterprise-per-seat", marketplace.Subscription{Marketplace: marketplace.AWS, Plan: "enterprise", Quantity: 40},
			5, "[signatures=5 users=7]", 5, false, false},
		{"ok/trial-capped", marketplace.Subscription{Marketplace: marketplace.AWS, Plan: "trial",
			Metered: marketplace.MeterCursor{Signatures: 990, Month: month, MonthSignatures: 990}},
			1001, "[]", 1001, true, false},
		{"ok/final-after-cancellation", marketplace.Subscription{Marketplace: marketplace.AWS, Plan: "standard", State: marketplace.StateCancelled},
			2, "[signatures=2 certificates=3]", 2, false, true},
		{"fail/total-below-cursor-counts-nothing", marketplace.Subscription{Marketplace: marketplace.AWS, Plan: "standard",
			Metered: marketplace.MeterCursor{Signatures: 50, Month: month, MonthSignatures: 50}},
			40, "[signatures=0 certificates=3]", 50, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dep := tenant.Deployment{Plan: tc.sub.Plan, Quantity: tc.sub.Quantity}
			next, rec, capped := usage(tc.sub, dep, hour, tc.total, 3, 7)
			var got []string
			for _, r := range rec.Records {
				got = append(got, fmt.Sprintf("%s=%d", r.Dimension, r.Quantity))
				if !r.Hour.Equal(hour) {
					t.Errorf("record hour %v", r.Hour)
				}
			}
			if fmt.Sprint(got) != tc.records && !(len(got) == 0 && tc.records == "[]") {
				t.Errorf("records %v, want %s", got, tc.records)
			}
			if next.Metered.MonthSignatures != tc.month || next.Metered.Signatures != max(tc.total, tc.sub.Metered.Signatures) || !next.Metered.Hour.Equal(hour) {
				t.Errorf("cursor %+v", next.Metered)
			}
			if capped != tc.capped || next.Metered.Final != tc.final || rec.Final != tc.final {
				t.Errorf("capped %v final %v", capped, next.Metered.Final)
			}
			if len(rec.Records) == 0 && rec.Status != marketplace.MeterSent {
				t.Errorf("an empty record is %s", rec.Status)
			}
		})
	}
}
