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
	}
}

// Updates is the software updates service of env: the running code, the migrations, and
// the updater's queue when UpdatesQueueURL is set.
func Updates(env Env, p *Parts) *updates.Service {
	svc := &updates.Service{Store: p.Store, Migrations: Migrations(p.Store), Code: updates.Running, Now: p.Now, Log: env.Log}
	if env.Config.UpdatesQueueURL != "" {
		svc.Queue = sqsQueue{client: env.Clients.SQS, url: env.Config.UpdatesQueueURL}
	}
	return svc
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
