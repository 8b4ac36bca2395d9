// Package notices is the notices function's handler: each hour (a schedule), every due
// deployment's notices are synced with its health and their changes published to EventBridge
// (lib/notices). It only wires.
package notices

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/notices"
)

// Build is the notices function: its events go to the account's default EventBridge bus,
// through the SDK's client as the environment configures it (AWS_ENDPOINT_URL_EVENTBRIDGE
// points it elsewhere, as the SDK reads it).
func Build(ctx context.Context, env function.Env) (function.EventHandler, error) {
	return BuildWith(func(ctx context.Context, env function.Env) (notices.Publisher, error) {
		opts := []func(*config.LoadOptions) error{config.WithRegion(env.Config.Region)}
		if env.Config.StaticAccessKey != "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(env.Config.StaticAccessKey, env.Config.StaticSecretKey, "")))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("notices: load AWS config: %w", err)
		}
		return notices.NewEventBridge(eventbridge.NewFromConfig(cfg), ""), nil
	})(ctx, env)
}

// BuildWith is the notices function with the publisher that publish makes (the local server
// and tests point it at the EventBridge stand-in).
func BuildWith(publish func(ctx context.Context, env function.Env) (notices.Publisher, error)) function.EventBuild {
	return func(ctx context.Context, env function.Env) (function.EventHandler, error) {
		p := function.NewParts(env)
		reg, err := function.KeyRegistry(ctx, env)
		if err != nil {
			return nil, err
		}
		pub, err := publish(ctx, env)
		if err != nil {
			return nil, err
		}
		src := health.Sources{Deployments: p.Store, Certificates: p.Store, Keys: reg, ClientCredentials: p.Store,
			Activity: p.Store, Subscriptions: p.Store}
		if p.Truststore != nil {
			// A nil *Publisher in the interface would not read as "not configured".
			src.Truststore = p.Truststore
		}
		s := &notices.Syncer{Health: src, Store: p.Store, Publisher: pub, Now: p.Now}
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			return notices.Run(ctx, s, p.Store, scheduledTime(raw, p.Now()))
		}, nil
	}
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
