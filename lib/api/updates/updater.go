package updates

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
	"github.com/opensignum/signum/lib/updates"
)

// Budget is how long one message may work on a run: well under the updater's Lambda
// timeout (60 s in template.yaml), so that the batch in flight ends and its progress is
// saved before Lambda stops the invocation.
const Budget = 20 * time.Second

// BuildUpdater is the updater function: SQS messages that each name a run to advance (or a
// full check of an event log: lib/eventcheck), and the scheduled tick that starts due runs and
// sends again the quiet ones.
func BuildUpdater(ctx context.Context, env function.Env) (function.EventHandler, error) {
	p := function.NewParts(env)
	svc, err := messaging.UpdatesWithQueue(ctx, env, p)
	if err != nil {
		return nil, err
	}
	checks, err := messaging.EventChecker(ctx, env, p)
	if err != nil {
		return nil, err
	}
	return (&Updater{Service: svc, Checks: checks, Log: env.Log, Budget: Budget}).Handle, nil
}

// Checks advance full checks of event logs (eventcheck.Checker).
type Checks interface {
	Advance(ctx context.Context, dep, id string, budget time.Duration) (more bool, err error)
}

// Updater handles the updater's events.
type Updater struct {
	Service *updates.Service
	// Checks advance the full checks of event logs whose messages come on the same queue
	// (nil: such messages are dropped).
	Checks Checks
	Log    *slog.Logger
	// Budget bounds the work of one message (Budget when 0; tests make it small).
	Budget time.Duration
}

// Handle takes an SQS batch (answering which records failed, so that only they are
// delivered again) or the scheduled tick.
func (u *Updater) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	batch, detailType, err := function.SQSOrEventBridge(raw)
	switch {
	case err != nil:
		return nil, err
	case batch != nil:
		return u.batch(ctx, *batch), nil
	case detailType == "Scheduled Event":
		return u.Service.Tick(ctx)
	}
	return nil, fault.Newf(fault.ErrInvalid, "The event is neither an SQS batch nor the scheduled tick.")
}

// budget is the time one message may take: Budget, and less when the invocation's deadline
// is nearer than Budget plus a margin to save and answer.
func (u *Updater) budget(ctx context.Context) time.Duration {
	b := u.Budget
	if b == 0 {
		b = Budget
	}
	if dl, ok := ctx.Deadline(); ok {
		b = min(b, time.Until(dl)-5*time.Second)
	}
	return max(b, time.Second)
}

// batch advances each message's run. A message whose run has work left is sent again (a
// new message, so that the next invocation starts with a fresh budget); a message that
// failed, or whose follow-up could not be sent, is reported failed and delivered again.
func (u *Updater) batch(ctx context.Context, batch events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range batch.Records {
		var m updates.Message
		err := json.Unmarshal([]byte(rec.Body), &m)
		if err != nil || m.DeploymentID == "" || (m.RunID == "" && (m.Check == "" || u.Checks == nil)) {
			// Delivering it again would not help: dropped, and logged.
			u.Log.WarnContext(ctx, "update message dropped: not a run or a check", slog.String("messageId", rec.MessageId))
			continue
		}
		var more bool
		if m.RunID != "" {
			more, err = u.Service.Advance(ctx, m, u.budget(ctx))
		} else {
			more, err = u.Checks.Advance(ctx, m.DeploymentID, m.Check, u.budget(ctx))
		}
		if err == nil && more && u.Service.Queue != nil {
			err = u.Service.Queue.Send(ctx, m)
		}
		if err != nil {
			level := slog.LevelError
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fault.ErrUnavailable) {
				level = slog.LevelWarn
			}
			u.Log.Log(ctx, level, "update message failed; delivered again", slog.String("messageId", rec.MessageId),
				slog.String("deployment", m.DeploymentID), slog.String("run", m.RunID), slog.String("check", m.Check), slog.String("error", err.Error()))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}
