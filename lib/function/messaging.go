package function

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Messaging are the clients only some functions need: EventBridge for the notices' events,
// SQS for the updater's queue. They are made where they are used (Env.EventBridge, Env.SQS),
// not with every function's clients, so that the other functions neither make them at start
// nor carry their code (the packages' own initialisation, a few hundred KB, is still linked
// into every function through this package).
type Messaging struct {
	EventBridge *eventbridge.Client
	SQS         *sqs.Client
}

// AddMessaging makes c's messaging clients for cfg (the local server, which records every
// function's calls, gives them to every function).
func (c *Clients) AddMessaging(ctx context.Context, cfg Config) error {
	m, err := newMessaging(ctx, cfg)
	c.Messaging = m
	return err
}

// EventBridge is the client the notices' events go to: the one in e.Clients when set, else
// one made for e.Config.
func (e Env) EventBridge(ctx context.Context) (*eventbridge.Client, error) {
	if e.Clients != nil && e.Clients.Messaging != nil {
		return e.Clients.Messaging.EventBridge, nil
	}
	return newEventBridge(ctx, e.Config)
}

// SQS is the client of the updater's queue: the one in e.Clients when set, else one made for
// e.Config.
func (e Env) SQS(ctx context.Context) (*sqs.Client, error) {
	if e.Clients != nil && e.Clients.Messaging != nil {
		return e.Clients.Messaging.SQS, nil
	}
	return newSQS(ctx, e.Config)
}

func newMessaging(ctx context.Context, c Config) (*Messaging, error) {
	eb, err := newEventBridge(ctx, c)
	if err != nil {
		return nil, err
	}
	q, err := newSQS(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Messaging{EventBridge: eb, SQS: q}, nil
}

func newEventBridge(ctx context.Context, c Config) (*eventbridge.Client, error) {
	cfg, err := awsConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if c.EventBridgeEndpoint != "" {
			o.BaseEndpoint = aws.String(c.EventBridgeEndpoint)
		}
	}), nil
}

func newSQS(ctx context.Context, c Config) (*sqs.Client, error) {
	cfg, err := awsConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if c.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SQSEndpoint)
		}
	}), nil
}
