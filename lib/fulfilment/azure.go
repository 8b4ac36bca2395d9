package fulfilment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// WebhookOutcome says what a webhook call did, for the log and the tests.
type WebhookOutcome string

// Webhook outcomes.
const (
	WebhookApplied     WebhookOutcome = "applied"
	WebhookDuplicate   WebhookOutcome = "duplicate"
	WebhookUnconfirmed WebhookOutcome = "unconfirmed"
	WebhookRejected    WebhookOutcome = "rejected"
	WebhookKept        WebhookOutcome = "kept"
)

// AzureWebhook acts on an Azure webhook call whose token was verified: it GETs the
// operation first (the body is a claim; the operation API is the truth) and ignores an
// operation that the GET does not confirm. A plan or quantity change is accepted or rejected
// at once by PATCHing the operation (Azure waits 10 seconds); the rest is applied to the
// subscription's life cycle. Azure retries for 8 hours: every step is idempotent by the
// operation's id.
func (s *Service) AzureWebhook(ctx context.Context, claimed marketplace.AzureOperation) (WebhookOutcome, error) {
	if s.Azure == nil {
		return "", ErrNotConfigured
	}
	id := "azure-op:" + strings.ToLower(claimed.ID)
	if done, err := s.Store.EventApplied(ctx, id); err != nil || done {
		return WebhookDuplicate, err
	}
	op, err := s.Azure.GetOperation(ctx, claimed.SubscriptionID, claimed.ID)
	switch {
	case errors.Is(err, fault.ErrNotFound) || errors.Is(err, marketplace.ErrTokenRejected):
		s.log().WarnContext(ctx, "azure webhook names an operation the API does not have; ignored",
			slog.String("operation", claimed.ID), slog.String("subscription", claimed.SubscriptionID))
		return WebhookUnconfirmed, nil
	case err != nil:
		return "", fmt.Errorf("get azure operation %s: %w", claimed.ID, err)
	}
	if !strings.EqualFold(op.Action, claimed.Action) || !strings.EqualFold(strings.TrimSpace(op.SubscriptionID), strings.TrimSpace(claimed.SubscriptionID)) {
		s.log().WarnContext(ctx, "azure webhook does not match its operation; ignored", slog.String("operation", claimed.ID),
			slog.String("claimedAction", claimed.Action), slog.String("action", op.Action))
		return WebhookUnconfirmed, nil
	}
	kind, ok := azuremarket.KindOf(op.Action)
	if !ok {
		s.log().WarnContext(ctx, "azure webhook with an unknown action; ignored", slog.String("operation", op.ID), slog.String("action", op.Action))
		return WebhookUnconfirmed, s.Store.MarkEventApplied(ctx, id, "")
	}
	at := op.TimeStamp
	if at.IsZero() {
		at = s.Now().UTC()
	}
	ev := marketplace.Event{ID: id, Source: "azure-webhook", Kind: kind, At: at,
		Ref: marketplace.Ref{AzureSubscriptionID: op.SubscriptionID}, Plan: op.PlanID, Quantity: op.Quantity,
		Detail: fmt.Sprintf("%s (operation %s)", op.Action, op.ID)}
	sub, err := s.Store.SubscriptionByLookup(ctx, ev.Ref.Lookups())
	if errors.Is(err, store.ErrNotFound) {
		return WebhookKept, s.Store.KeepPendingEvent(ctx, ev)
	}
	if err != nil {
		return "", err
	}
	if isChange(op.Action) && failedAtAzure(op.Status) {
		// Azure did not make the change (we rejected it, or it failed there): a redelivery
		// of its webhook changes nothing here either.
		return WebhookRejected, s.Store.MarkEventApplied(ctx, id, sub.ID)
	}
	if strings.EqualFold(op.Action, "Renew") {
		// A renewal changes neither plan nor state: it is logged, and moves no event times.
		if sub.DeploymentID != "" {
			if err := s.logTo(ctx, sub, "deployment.subscription.renewed", fmt.Sprintf("Azure renewed the subscription (operation %s)", op.ID)); err != nil {
				return "", err
			}
		}
		return WebhookApplied, s.Store.MarkEventApplied(ctx, id, sub.ID)
	}
	if needsAnswer(op.Action) && !done(op.Status) {
		if reason := s.changeRefusal(sub, op); reason != "" {
			if err := s.Azure.UpdateOperation(ctx, op.SubscriptionID, op.ID, op.PlanID, op.Quantity, false); err != nil {
				return "", fmt.Errorf("reject azure operation %s: %w", op.ID, err)
			}
			s.log().InfoContext(ctx, "azure plan change rejected", slog.String("operation", op.ID), slog.String("reason", reason))
			if sub.DeploymentID != "" {
				_ = s.logTo(ctx, sub, "deployment.subscription.changeRejected", fmt.Sprintf("%s to plan %s, quantity %d rejected: %s", op.Action, op.PlanID, op.Quantity, reason))
			}
			return WebhookRejected, s.Store.MarkEventApplied(ctx, id, sub.ID)
		}
		if err := s.Azure.UpdateOperation(ctx, op.SubscriptionID, op.ID, op.PlanID, op.Quantity, true); err != nil {
			return "", fmt.Errorf("accept azure operation %s: %w", op.ID, err)
		}
	}
	return WebhookApplied, s.HandleEvent(ctx, ev)
}

// failedAtAzure reports whether an operation's status says Azure did not carry it out.
func failedAtAzure(status string) bool {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "failed", "conflict":
		return true
	}
	return false
}

// isChange reports whether action changes the plan or the quantity.
func isChange(action string) bool {
	return strings.EqualFold(action, "ChangePlan") || strings.EqualFold(action, "ChangeQuantity")
}

// needsAnswer reports whether the publisher accepts or rejects action by PATCHing the
// operation (a plan or quantity change, a reinstatement); the others are notifications.
func needsAnswer(action string) bool {
	return isChange(action) || strings.EqualFold(action, "Reinstate")
}

// done reports whether an operation's status is final (Succeeded, Failed, Conflict).
func done(status string) bool {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "succeeded", "failed", "conflict":
		return true
	}
	return false
}

// changeRefusal says why a plan or quantity change cannot be taken ("" when it can): a plan
// the catalogue does not have, a plan in another region (the deployment's keys and data
// stay where they are; another region is another deployment), a per-seat plan without
// seats, or a cancelled subscription.
func (s *Service) changeRefusal(sub marketplace.Subscription, op marketplace.AzureOperation) string {
	if sub.State == marketplace.StateCancelled {
		return "the subscription is cancelled"
	}
	if !isChange(op.Action) {
		return ""
	}
	p, ok := tenant.PlanByID(op.PlanID)
	switch {
	case !ok:
		return fmt.Sprintf("plan %q is not offered", op.PlanID)
	}
	if cur, ok := tenant.PlanByID(sub.Plan); ok && cur.Region != p.Region {
		return fmt.Sprintf("plan %s is in %s and the deployment's data is in %s; another region needs another subscription", p.ID, p.Region, cur.Region)
	}
	if p.PerSeat && op.Quantity < 1 {
		return "a per-seat plan needs at least one seat"
	}
	return ""
}

// logTo writes a system log entry to sub's deployment.
func (s *Service) logTo(ctx context.Context, sub marketplace.Subscription, action, detail string) error {
	return s.Store.AppendLog(ctx, sub.DeploymentID, tenant.LogEntry{At: s.Now().UTC(), Actor: "marketplace:" + string(sub.Marketplace),
		Action: action, Object: sub.ID, Detail: detail})
}
