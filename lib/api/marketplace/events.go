package marketplace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/fulfilment"
	"github.com/opensignum/signum/lib/function"
	mkt "github.com/opensignum/signum/lib/marketplace"
)

// BuildEvents is the AWS events function: AWS Marketplace's SNS notifications through SQS
// (the legacy path) and its EventBridge agreement and license events (the current one).
func BuildEvents(ctx context.Context, env function.Env) (function.EventHandler, error) {
	p := function.NewParts(env)
	svc, _, err := function.Fulfilment(ctx, env, p)
	if err != nil {
		return nil, err
	}
	return (&EventHandler{Service: svc, Log: env.Log, Now: p.Now}).Handle, nil
}

// BuildMetering is the metering function: each hour, the usage of every subscription.
func BuildMetering(ctx context.Context, env function.Env) (function.EventHandler, error) {
	p := function.NewParts(env)
	svc, _, err := function.Fulfilment(ctx, env, p)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		now := ScheduledTime(raw, p.Now())
		metered, err := svc.Meter(ctx, now)
		// Retention runs even when some metering failed: they are independent.
		retained, rerr := svc.Retain(ctx, now)
		return HourlyReport{MeterReport: metered, Retention: retained}, errors.Join(err, rerr)
	}, nil
}

// HourlyReport is what the hourly run did: metering, and the retention of cancelled
// deployments' data.
type HourlyReport struct {
	fulfilment.MeterReport
	Retention fulfilment.RetentionReport `json:"retention"`
}

// ScheduledTime is the time a scheduled event was scheduled for (its "time"), so that a
// retried tick meters the same hour as the first attempt; now when the event has none, or
// one more than five minutes ahead of now (a tick cannot come from the future: metering
// an hour that has not ended would count it short).
func ScheduledTime(raw json.RawMessage, now time.Time) time.Time {
	var ev struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(raw, &ev) != nil || ev.Time.IsZero() || ev.Time.After(now.Add(5*time.Minute)) {
		return now
	}
	return ev.Time
}

// EventHandler applies AWS Marketplace's events.
type EventHandler struct {
	Service *fulfilment.Service
	Log     *slog.Logger
	Now     func() time.Time
}

// Handle takes an SQS batch (answering which records failed, so that only they are
// delivered again and, after the queue's retries, go to its dead-letter queue) or one
// EventBridge event (an error makes Lambda retry it, then send it to the rule's
// dead-letter queue).
func (h *EventHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	batch, _, err := function.SQSOrEventBridge(raw)
	switch {
	case err != nil:
		return nil, err
	case batch != nil:
		return h.sqs(ctx, *batch), nil
	}
	ev, err := mkt.DecodeEventBridge(raw)
	if err != nil {
		return nil, err
	}
	if err := h.Service.HandleEvent(ctx, ev); err != nil {
		return nil, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return map[string]string{"handled": ev.ID}, nil
}

// sqs applies each record of a batch on its own: one bad message does not hold up the rest.
func (h *EventHandler) sqs(ctx context.Context, batch events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range batch.Records {
		sent := h.Now()
		if ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64); err == nil {
			sent = time.UnixMilli(ms).UTC()
		}
		ev, err := mkt.DecodeSQSMessage(rec.MessageId, rec.Body, sent)
		if err == nil {
			err = h.Service.HandleEvent(ctx, ev)
		}
		if err != nil {
			level := slog.LevelError
			if errors.Is(err, fault.ErrInvalid) {
				// Retrying will not help; it goes to the dead-letter queue after the
				// queue's receive count, where the operator sees it.
				level = slog.LevelWarn
			}
			h.Log.Log(ctx, level, "marketplace message failed", slog.String("messageId", rec.MessageId), slog.String("error", err.Error()))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}
