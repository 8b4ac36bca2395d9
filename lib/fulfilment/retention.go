package fulfilment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
)

// DefaultRetention is how long a cancelled subscription's deployment keeps its data (so that
// a customer who comes back, or an auditor, finds it, and the operator can still export its
// signing-event log) before its items are deleted.
const DefaultRetention = 90 * 24 * time.Hour

// retentionBudget bounds the items marked in one run for one deployment, so that a run stays
// well within the function's time limit; a large deployment takes several hourly runs.
const retentionBudget = 2000

// RetentionReport is what one retention run did.
type RetentionReport struct {
	// Marked counts the items given their deletion time; Done the deployments whose every
	// item now has it.
	Marked int      `json:"marked"`
	Done   int      `json:"done"`
	Failed []string `json:"failed,omitempty"`
}

func (s *Service) retention() time.Duration {
	if s.Retention == 0 {
		return DefaultRetention
	}
	return s.Retention
}

// Retain deletes what the cancelled subscriptions' deployments kept once the retention
// period after their end has passed: every item of the deployment is given a TTL (deleted by
// DynamoDB within days, at no write cost), a bounded number a run, resumed from the cursor
// the subscription keeps. The subscription itself stays, as the operator's record.
func (s *Service) Retain(ctx context.Context, now time.Time) (RetentionReport, error) {
	var rep RetentionReport
	subs, err := store.All(ctx, s.Store.ListSubscriptions)
	if err != nil {
		return rep, err
	}
	for _, sub := range subs {
		if sub.State != marketplace.StateCancelled || sub.DeploymentID == "" || !sub.Retention.ExpiresAt.IsZero() ||
			sub.EndedAt.IsZero() || now.Before(sub.EndedAt.Add(s.retention())) {
			continue
		}
		n, err := s.retainOne(ctx, sub)
		rep.Marked += n
		switch {
		case err != nil:
			s.log().ErrorContext(ctx, "retention failed", slog.String("subscription", sub.ID), slog.String("error", err.Error()))
			rep.Failed = append(rep.Failed, sub.ID)
		default:
			if got, gerr := s.Store.GetSubscription(ctx, sub.ID); gerr == nil && !got.Retention.ExpiresAt.IsZero() {
				rep.Done++
			}
		}
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("retention failed for %d subscriptions", len(rep.Failed))
	}
	return rep, nil
}

func (s *Service) retainOne(ctx context.Context, sub marketplace.Subscription) (int, error) {
	// One expiry for every run of a deployment (its end plus the retention period), so that
	// all its items go together whichever run marked them.
	expires := sub.EndedAt.Add(s.retention())
	next, marked, err := s.Store.ExpireDeployment(ctx, sub.DeploymentID, expires, sub.Retention.Cursor, retentionBudget)
	if err != nil {
		return marked, err
	}
	after := sub
	after.Retention.Cursor = next
	if next == "" {
		after.Retention.ExpiresAt = expires
	}
	if _, err := s.Store.SaveSubscription(ctx, store.SubscriptionChange{Current: sub, Next: after}); err != nil && !errors.Is(err, store.ErrStale) {
		return marked, err
	}
	s.log().InfoContext(ctx, "cancelled deployment's data marked for deletion", slog.String("subscription", sub.ID),
		slog.String("deployment", sub.DeploymentID), slog.Int("items", marked), slog.Bool("done", next == ""))
	return marked, nil
}
