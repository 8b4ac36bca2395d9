// Package messaging makes the AWS clients only some functions need: EventBridge for the
// notices' events, SQS for the updater's queue. It is apart from package function, which every
// function links, so that the others carry neither the clients nor their SDK packages (a few
// hundred KB of each function's bootstrap).
package messaging

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/opensignum/signum/lib/eventcheck"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/updates"
)

// Clients are the messaging clients.
type Clients struct {
	EventBridge *eventbridge.Client
	SQS         *sqs.Client
}

// New makes the messaging clients for c (the local server makes them once and gives them to
// every function in function.Clients.Messaging, so that their calls are recorded).
func New(ctx context.Context, c function.Config) (*Clients, error) {
	eb, err := newEventBridge(ctx, c)
	if err != nil {
		return nil, err
	}
	q, err := newSQS(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Clients{EventBridge: eb, SQS: q}, nil
}

// given is the messaging clients env's clients carry, if any.
func given(env function.Env) *Clients {
	if env.Clients == nil {
		return nil
	}
	m, _ := env.Clients.Messaging.(*Clients)
	return m
}

// EventBridge is the client the notices' events go to: the one env's clients carry, else one
// made for env.Config.
func EventBridge(ctx context.Context, env function.Env) (*eventbridge.Client, error) {
	if m := given(env); m != nil {
		return m.EventBridge, nil
	}
	return newEventBridge(ctx, env.Config)
}

// SQS is the client of the updater's queue: the one env's clients carry, else one made for
// env.Config.
func SQS(ctx context.Context, env function.Env) (*sqs.Client, error) {
	if m := given(env); m != nil {
		return m.SQS, nil
	}
	return newSQS(ctx, env.Config)
}

func newEventBridge(ctx context.Context, c function.Config) (*eventbridge.Client, error) {
	cfg, err := function.AWSConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if c.EventBridgeEndpoint != "" {
			o.BaseEndpoint = aws.String(c.EventBridgeEndpoint)
		}
	}), nil
}

func newSQS(ctx context.Context, c function.Config) (*sqs.Client, error) {
	cfg, err := function.AWSConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if c.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SQSEndpoint)
		}
	}), nil
}

// UpdatesWithQueue is function.Updates that sends the runs to advance to the updater's queue
// when UpdatesQueueURL is set (the portal's updates and the updater).
func UpdatesWithQueue(ctx context.Context, env function.Env, p *function.Parts) (*updates.Service, error) {
	svc := function.Updates(env, p)
	if env.Config.UpdatesQueueURL != "" {
		client, err := SQS(ctx, env)
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

// EventChecker is the event log's checker of env on p: the console's incremental check, and
// the full check in the background, whose messages go to the updater's queue when
// UpdatesQueueURL is set (the events function, which starts full checks, and the updater,
// which advances them).
func EventChecker(ctx context.Context, env function.Env, p *function.Parts) (*eventcheck.Checker, error) {
	c := &eventcheck.Checker{Store: p.Store, Now: p.Now, Log: env.Log}
	if p.Notary != nil {
		c.Root = p.Notary.Root
	}
	if p.Anchors != nil {
		c.Anchors = p.Anchors
	}
	if env.Config.UpdatesQueueURL != "" {
		client, err := SQS(ctx, env)
		if err != nil {
			return nil, err
		}
		c.Queue = sqsQueue{client: client, url: env.Config.UpdatesQueueURL}
	}
	return c, nil
}
