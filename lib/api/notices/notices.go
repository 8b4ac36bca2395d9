// Package notices is the notices function's handler: each hour (a schedule), every due
// deployment's notices are synced with its health and their changes published to EventBridge
// (lib/notices); and from the table's stream, each signing request held for approval is
// published to its approvers (approvals.go). It only wires.
package notices

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
	"github.com/opensignum/signum/lib/notices"
	"github.com/opensignum/signum/lib/notices/eventbus"
)

// Build is the notices function: its events go to the account's default EventBridge bus
// (messaging.EventBridge; the local server's and the tests' point at the stand-in).
func Build(ctx context.Context, env function.Env) (function.EventHandler, error) {
	p := function.NewParts(env)
	src, err := function.HealthSources(ctx, env, p)
	if err != nil {
		return nil, err
	}
	client, err := messaging.EventBridge(ctx, env)
	if err != nil {
		return nil, err
	}
	pub := eventbus.New(client, "")
	s := &notices.Syncer{Health: src, Store: p.Store, Publisher: pub, Now: p.Now}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		// A batch of the table's stream: signing requests held for approval (approvals.go).
		var probe streamProbe
		if json.Unmarshal(raw, &probe) == nil && len(probe.Records) > 0 {
			var batch events.DynamoDBEvent
			if err := json.Unmarshal(raw, &batch); err != nil {
				return nil, err
			}
			return notifyApprovals(ctx, p.Store, pub, batch), nil
		}
		return notices.Run(ctx, s, p.Store, scheduledTime(raw, p.Now()))
	}, nil
}

// scheduledTime is the time a scheduled event was scheduled for (its "time"), so that a
// retried tick syncs the same window of deployments; now when it has none or one ahead of now.
func scheduledTime(raw json.RawMessage, now time.Time) time.Time {
	var ev struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(raw, &ev) != nil || ev.Time.IsZero() || ev.Time.After(now.Add(5*time.Minute)) {
		return now
	}
	return ev.Time
}
