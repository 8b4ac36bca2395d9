package function

import (
	"context"

	"github.com/opensignum/signum/lib/eventcheck"
)

// EventChecker is the event log's checker of env on p: the console's incremental check, and
// the full check in the background, whose messages go to the updater's queue when
// UpdatesQueueURL is set (the events function, which starts full checks, and the updater,
// which advances them).
func EventChecker(ctx context.Context, env Env, p *Parts) (*eventcheck.Checker, error) {
	c := &eventcheck.Checker{Store: p.Store, Now: p.Now, Log: env.Log}
	if p.Notary != nil {
		c.Root = p.Notary.Root
	}
	if p.Anchors != nil {
		c.Anchors = p.Anchors
	}
	if env.Config.UpdatesQueueURL != "" {
		client, err := env.SQS(ctx)
		if err != nil {
			return nil, err
		}
		c.Queue = sqsQueue{client: client, url: env.Config.UpdatesQueueURL}
	}
	return c, nil
}
