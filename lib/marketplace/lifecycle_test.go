package marketplace

import (
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	registered := Subscription{ID: "sub_x", State: StateActive, StateAt: at(0), Plan: "standard", PlanAt: at(0), DeploymentID: "dep_x"}
	unregistered := Subscription{ID: "sub_y", State: StatePending, StateAt: at(0), Plan: "standard", PlanAt: at(0)}
	tests := []struct {
		name    string
		sub     Subscription
		ev      Event
		state   State
		plan    string
		qty     int
		changed bool
	}{
		{"ok/suspend", registered, Event{Kind: KindSuspend, At: at(5)}, StateSuspended, "standard", 0, true},
		{"ok/suspend-before-registration", unregistered, Event{Kind: KindSuspend, At: at(5)}, StateSuspended, "standard", 0, true},
		{"ok/unsubscribe-pending", registered, Event{Kind: KindUnsubscribePending, At: at(5)}, StateUnsubscribePending, "standard", 0, true},
		{"ok/unsubscribe", registered, Event{Kind: KindUnsubscribe, At: at(5)}, StateCancelled, "standard", 0, true},
		{"ok/subscribe-fail", unregistered, Event{Kind: KindSubscribeFail, At: at(5)}, StateCancelled, "standard", 0, true},
		{"ok/plan", registered, Event{Kind: KindPlan, Plan: " Enterprise ", Quantity: 25, At: at(5)}, StateActive, "enterprise", 25, true},
		{"ok/subscribe-keeps-state", registered, Event{Kind: KindSubscribe, At: at(5)}, StateActive, "standard", 0, false},
		{"ok/repeat-state-same-time", registered, Event{Kind: KindSuspend, At: at(0)}, StateSuspended, "standard", 0, true},
		{"fail/older-state-ignored", registered, Event{Kind: KindSuspend, At: at(-5)}, StateActive, "standard", 0, false},
		{"fail/older-plan-ignored", registered, Event{Kind: KindPlan, Plan: "enterprise", Quantity: 3, At: at(-1)}, StateActive, "standard", 0, false},
		{"fail/unknown-plan-ignored", registered, Event{Kind: KindPlan, Plan: "platinum", At: at(5)}, StateActive, "standard", 0, false},
		{"ok/reinstate-when-active-moves-the-state-time", registered, Event{Kind: KindReinstate, At: at(5)}, StateActive, "standard", 0, true},
		{"fail/old-reinstate-when-active", registered, Event{Kind: KindReinstate, At: at(-5)}, StateActive, "standard", 0, false},
		{"ok/current-state-from-the-marketplace-applies-whatever-its-time", registered, Event{Kind: KindSuspend, At: at(-5), Current: true}, StateSuspended, "standard", 0, true},
		{"fail/entitlement-unresolved", registered, Event{Kind: KindEntitlementChanged, At: at(5)}, StateActive, "standard", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, out := Apply(tc.sub, tc.ev)
			if next.State != tc.state || next.Plan != tc.plan || next.Quantity != tc.qty || out.Changed != tc.changed {
				t.Fatalf("Apply = %s %s %d changed=%v (%s); want %s %s %d changed=%v", next.State, next.Plan, next.Quantity, out.Changed, out.Why, tc.state, tc.plan, tc.qty, tc.changed)
			}
		})
	}
}

// The life cycle as the marketplaces drive it, with reinstatement and an event from the
// past arriving last: the newest state wins, and cancelled is final.
func TestApplySequence(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sub := Subscription{ID: "sub_x", State: StatePending, StateAt: t0, Plan: "standard", PlanAt: t0}
	sub = Register(sub, "dep_x")
	if sub.State != StateActive {
		t.Fatalf("registered: %s", sub.State)
	}
	steps := []struct {
		ev   Event
		want State
	}{
		{Event{Kind: KindSuspend, At: t0.Add(2 * time.Hour)}, StateSuspended},
		{Event{Kind: KindReinstate, At: t0.Add(3 * time.Hour)}, StateActive},
		{Event{Kind: KindSuspend, At: t0.Add(2 * time.Hour)}, StateActive}, // redelivered late
		{Event{Kind: KindReinstate, At: t0.Add(3*time.Hour + time.Minute)}, StateActive},
		{Event{Kind: KindSuspend, At: t0.Add(3 * time.Hour)}, StateActive}, // older than a no-op reinstatement
		{Event{Kind: KindUnsubscribePending, At: t0.Add(4 * time.Hour)}, StateUnsubscribePending},
		{Event{Kind: KindUnsubscribe, At: t0.Add(5 * time.Hour)}, StateCancelled},
		{Event{Kind: KindReinstate, At: t0.Add(6 * time.Hour)}, StateCancelled},
	}
	for i, st := range steps {
		sub, _ = Apply(sub, st.ev)
		if sub.State != st.want {
			t.Fatalf("step %d (%s): %s, want %s", i, st.ev.Kind, sub.State, st.want)
		}
	}
	if !sub.EndedAt.Equal(t0.Add(5 * time.Hour)) {
		t.Fatalf("EndedAt = %v", sub.EndedAt)
	}
	if DeploymentStatus(sub.State) != "cancelled" || DeploymentStatus(StateUnsubscribePending) != "active" {
		t.Fatal("DeploymentStatus")
	}
}

func TestKeys(t *testing.T) {
	arn := "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0"
	if got := LicenseID(arn); got != "l-0123456789abcdef0" {
		t.Fatalf("LicenseID = %q", got)
	}
	s := Subscription{Marketplace: AWS, AWSAccountID: "111122223333", LicenseARN: arn}
	r := Ref{AWSAccountID: " 111122223333", LicenseARN: "l-0123456789abcdef0 "}
	if s.Key() != r.Lookups()[0] {
		t.Fatalf("key %q, lookup %q", s.Key(), r.Lookups()[0])
	}
	if AzureKey(" 37F9DEA2-4345-438F-B0BD-03D40D28C7E0") != (Subscription{Marketplace: Azure, AzureSubscriptionID: "37f9dea2-4345-438f-b0bd-03d40d28c7e0"}).Key() {
		t.Fatal("azure key not normalised")
	}
}
