package function

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/updates"
)

// Migrations are the data migrations releases may name, on st. Tests add their own to the
// registry it returns.
func Migrations(st *store.Store) updates.Registry {
	return updates.Registry{
		updates.GroupsMigration: func(ctx context.Context, dep, cursor string, limit int) (updates.Batch, error) {
			next, n, done, err := certificates.MigrateGroupsStep(ctx, st, dep, cursor, limit)
			return updates.Batch{Cursor: next, Processed: n, Done: done}, err
		},
		updates.EventIndexMigration: func(ctx context.Context, dep, cursor string, limit int) (updates.Batch, error) {
			next, n, done, err := st.IndexEventsStep(ctx, dep, cursor, limit)
			return updates.Batch{Cursor: next, Processed: n, Done: done}, err
		},
	}
}

// Updates is the software updates service of env: the running code and the migrations. It
// sends nothing to the updater's queue (UpdatesWithQueue does): health, notices and the
// operator's rollouts only read and schedule.
func Updates(env Env, p *Parts) *updates.Service {
	return &updates.Service{Store: p.Store, Migrations: Migrations(p.Store), Code: updates.Running, Now: p.Now, Log: env.Log}
}

// UpdatesWithQueue is Updates that sends the runs to advance to the updater's queue when
// UpdatesQueueURL is set (the portal's updates and the updater).
func UpdatesWithQueue(ctx context.Context, env Env, p *Parts) (*updates.Service, error) {
	svc := Updates(env, p)
	if env.Config.UpdatesQueueURL != "" {
		client, err := env.SQS(ctx)
		if err != nil {
			return nil, err
		}
		svc.Queue = sqsQueue{client: client, url: env.Config.UpdatesQueueURL}
	}
	return svc, nil
}

// sqsQueue sends the updater's messages to its SQS queue.
type sqsQueue struct {
	client *sqs.Client
	url    string
}

// Send sends m.
func (q sqsQueue) Send(ctx context.Context, m updates.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("send update message: %w", err)
	}
	return nil
}
