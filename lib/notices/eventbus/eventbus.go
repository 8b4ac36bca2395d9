// Package eventbus publishes notice changes (lib/notices) as EventBridge events. It is apart
// from package notices so that the functions that only read notices do not link the
// EventBridge client.
package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/opensignum/signum/lib/notices"
)

// The events' source and detail types, for an operator's EventBridge rules to match.
const (
	EventSource       = "signum.notices"
	DetailTypeRaised  = "Signum Notice Raised"
	DetailTypeCleared = "Signum Notice Cleared"
)

// maxPutEntries is PutEvents' limit of entries a call.
const maxPutEntries = 10

// API is the part of the EventBridge client the publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Compile-time check that the SDK client satisfies API.
var _ API = (*eventbridge.Client)(nil)

// Publisher publishes notice changes as EventBridge events (IAM: events:PutEvents on the
// bus).
type Publisher struct {
	client API
	bus    string
}

// New returns a publisher that puts events on bus ("" for the account's default bus) through
// client.
func New(client API, bus string) *Publisher {
	return &Publisher{client: client, bus: bus}
}

// EventDetail is the detail of a published event.
type EventDetail struct {
	DeploymentID string         `json:"deploymentId"`
	Change       notices.Change `json:"change"`
	ChangeID     string         `json:"changeId"`
	Notice       NoticeDetail   `json:"notice"`
	At           time.Time      `json:"at"`
}

// NoticeDetail is a notice in an event's detail.
type NoticeDetail struct {
	ID       string           `json:"id"`
	Severity notices.Severity `json:"severity"`
	Title    string           `json:"title"`
	Detail   string           `json:"detail,omitempty"`
	Link     string           `json:"link,omitempty"`
	Since    time.Time        `json:"since"`
}

// Publish puts events, at most 10 a call. Entries EventBridge fails (FailedEntryCount) are
// put once more; entries that fail again are an error naming how many and the first code.
func (e *Publisher) Publish(ctx context.Context, events []notices.Event) error {
	for len(events) > 0 {
		n := min(len(events), maxPutEntries)
		if err := e.put(ctx, events[:n]); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

func (e *Publisher) put(ctx context.Context, events []notices.Event) error {
	entries := make([]ebtypes.PutEventsRequestEntry, len(events))
	for i, ev := range events {
		raw, err := json.Marshal(EventDetail{DeploymentID: ev.DeploymentID, Change: ev.Change, ChangeID: ev.ChangeID(), At: ev.At.UTC(),
			Notice: NoticeDetail{ID: ev.Notice.ID, Severity: ev.Notice.Severity, Title: ev.Notice.Title, Detail: ev.Notice.Detail,
				Link: ev.Notice.Link, Since: ev.Notice.Since.UTC()}})
		if err != nil {
			return fmt.Errorf("notices: event detail: %w", err)
		}
		dt := DetailTypeRaised
		if ev.Change == notices.Cleared {
			dt = DetailTypeCleared
		}
		entries[i] = ebtypes.PutEventsRequestEntry{Source: aws.String(EventSource), DetailType: aws.String(dt),
			Detail: aws.String(string(raw)), Time: aws.Time(ev.At)}
		if e.bus != "" {
			entries[i].EventBusName = aws.String(e.bus)
		}
	}
	for attempt := 0; ; attempt++ {
		out, err := e.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("notices: put %d events: %w", len(entries), err)
		}
		if out.FailedEntryCount == 0 {
			return nil
		}
		var failed []ebtypes.PutEventsRequestEntry
		code := ""
		for i, r := range out.Entries {
			if r.ErrorCode != nil && i < len(entries) {
				failed = append(failed, entries[i])
				if code == "" {
					code = aws.ToString(r.ErrorCode)
				}
			}
		}
		if attempt == 1 || len(failed) == 0 {
			return fmt.Errorf("notices: EventBridge failed %d of %d events (%s)", out.FailedEntryCount, len(entries), code)
		}
		entries = failed
	}
}
