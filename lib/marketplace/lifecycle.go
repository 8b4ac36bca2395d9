package marketplace

import (
	"fmt"

	"github.com/opensignum/signum/lib/tenant"
)

// Outcome is what applying an event did.
type Outcome struct {
	// Changed is false when the event changes nothing (a repeat of the state, an event
	// older than the state, any event after cancellation).
	Changed bool
	// Why says what happened, for the system log and the function's log ("suspended",
	// "ignored: older than the state set at …").
	Why string
}

// Apply is the subscription life cycle: what sub becomes when ev happens. It is a pure
// function: idempotence (by event id) is the store's, and ordering is decided here: a state
// event from before the event that set the current state, or a plan event from before the
// current plan, changes nothing. Cancelled is final. KindEntitlementChanged must have been
// turned into a KindPlan, KindSuspend or KindReinstate event by asking the marketplace.
func Apply(sub Subscription, ev Event) (Subscription, Outcome) {
	if sub.State.Terminal() {
		return sub, Outcome{Why: "ignored: the subscription is cancelled"}
	}
	next := sub
	switch ev.Kind {
	case KindPlan:
		if ev.At.Before(sub.PlanAt) && !ev.Current {
			return sub, Outcome{Why: fmt.Sprintf("ignored: older than the plan set at %s", sub.PlanAt.UTC().Format("2006-01-02T15:04:05Z"))}
		}
		if _, ok := tenant.PlanByID(ev.Plan); !ok {
			return sub, Outcome{Why: fmt.Sprintf("ignored: plan %q is not in the catalogue", ev.Plan)}
		}
		p, _ := tenant.PlanByID(ev.Plan)
		next.Plan, next.Quantity = p.ID, max(ev.Quantity, 0)
		if ev.At.After(sub.PlanAt) {
			next.PlanAt = ev.At
		}
		if next.Plan == sub.Plan && next.Quantity == sub.Quantity {
			return next, Outcome{Changed: !next.PlanAt.Equal(sub.PlanAt), Why: "plan unchanged"}
		}
		return next, Outcome{Changed: true, Why: fmt.Sprintf("plan %s, quantity %d (was %s, %d)", next.Plan, next.Quantity, sub.Plan, sub.Quantity)}
	case KindSubscribe:
		if ev.OfferID != "" {
			next.OfferID = ev.OfferID
		}
		if ev.FreeTrial != nil {
			next.FreeTrial = *ev.FreeTrial
		}
		if ev.Plan != "" && !ev.At.Before(sub.PlanAt) {
			if p, ok := tenant.PlanByID(ev.Plan); ok {
				next.Plan, next.Quantity, next.PlanAt = p.ID, max(ev.Quantity, 0), ev.At
			}
		}
		return next, Outcome{Changed: next != sub, Why: "subscribed"}
	case KindEntitlementChanged:
		return sub, Outcome{Why: "ignored: an entitlement change must be resolved first"}
	}
	// A state read from the marketplace as it is now (Current) is newer than anything we
	// have, whatever the time of the notification that made us look.
	if ev.At.Before(sub.StateAt) && !ev.Current {
		return sub, Outcome{Why: fmt.Sprintf("ignored: older than the state set at %s", sub.StateAt.UTC().Format("2006-01-02T15:04:05Z"))}
	}
	registered := sub.DeploymentID != ""
	switch ev.Kind {
	case KindSubscribeFail:
		next.State = StateCancelled
	case KindSuspend:
		next.State = StateSuspended
	case KindReinstate:
		if sub.State != StateSuspended {
			// Nothing to reinstate, but the time still counts: a suspension from before it
			// that arrives late must not win.
			if ev.At.After(sub.StateAt) {
				next.StateAt = ev.At
				return next, Outcome{Changed: true, Why: "not suspended; nothing to reinstate"}
			}
			return sub, Outcome{Why: "ignored: not suspended"}
		}
		next.State = StatePending
		if registered {
			next.State = StateActive
		}
	case KindUnsubscribePending:
		next.State = StateUnsubscribePending
	case KindUnsubscribe:
		next.State = StateCancelled
	default:
		return sub, Outcome{Why: fmt.Sprintf("ignored: unknown kind %q", ev.Kind)}
	}
	if next.State == StateCancelled && next.EndedAt.IsZero() {
		next.EndedAt = ev.At
	}
	if ev.At.After(sub.StateAt) {
		next.StateAt = ev.At
	}
	if next.State == sub.State {
		return next, Outcome{Changed: !next.StateAt.Equal(sub.StateAt), Why: "state unchanged: " + string(next.State)}
	}
	return next, Outcome{Changed: true, Why: fmt.Sprintf("%s (was %s)", next.State, sub.State)}
}

// Register binds a pending subscription to its new deployment: pending becomes active;
// a subscription suspended or being cancelled before registration stays so.
func Register(sub Subscription, deploymentID string) Subscription {
	sub.DeploymentID = deploymentID
	if sub.State == StatePending {
		sub.State = StateActive
	}
	return sub
}

// DeploymentStatus is the status a deployment has while its subscription is in s.
func DeploymentStatus(s State) tenant.Status {
	switch s {
	case StateSuspended:
		return tenant.StatusSuspended
	case StateCancelled:
		return tenant.StatusCancelled
	}
	return tenant.StatusActive
}
