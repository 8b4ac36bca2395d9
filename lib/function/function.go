// Package function starts a Lambda function the same way everywhere: configuration from the
// environment, AWS clients, the parts most functions share (store, tokens, access guard, key
// backends), the function's handler, lambda.Start. The local server builds the
// same handlers with the same Build functions, pointed at the stand-ins.
package function

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/opensignum/signum/lib/edge"
)

// Env is what a function's handler is built from.
type Env struct {
	Config  Config
	Clients *Clients
	Log     *slog.Logger
	Now     func() time.Time
}

// Build makes a function's HTTP handler. It runs once per cold start.
type Build func(ctx context.Context, env Env) (http.Handler, error)

// Main is the whole of a function's main: it never returns.
func Main(build Build) {
	ctx, env := start()
	h, err := build(ctx, env)
	if err != nil {
		fail(env.Log, "start", err)
	}
	lambda.Start(edge.Lambda(h))
}

// EventHandler handles one event of an event-driven function (a stream batch, a schedule
// tick, a CloudFormation custom resource request), given as its JSON. An error makes Lambda
// retry the event and, once the retries are used up, send it to the function's dead-letter
// destination.
type EventHandler func(ctx context.Context, event json.RawMessage) (any, error)

// EventBuild makes an event-driven function's handler. It runs once per cold start.
type EventBuild func(ctx context.Context, env Env) (EventHandler, error)

// MainEvents is the whole of an event-driven function's main: it never returns.
func MainEvents(build EventBuild) {
	ctx, env := start()
	h, err := build(ctx, env)
	if err != nil {
		fail(env.Log, "start", err)
	}
	lambda.Start(func(ctx context.Context, event json.RawMessage) (any, error) {
		out, err := h(ctx, event)
		if err != nil {
			env.Log.ErrorContext(ctx, "event failed", slog.String("error", err.Error()))
		}
		return out, err
	})
}

// start reads the configuration and builds the clients, or exits.
func start() (context.Context, Env) {
	ctx := context.Background()
	cfg, err := FromEnv()
	log := NewLogger(os.Stdout, cfg.LogLevel)
	if err != nil {
		fail(log, "configuration", err)
	}
	clients, err := NewClients(ctx, cfg)
	if err != nil {
		fail(log, "AWS clients", err)
	}
	return ctx, Env{Config: cfg, Clients: clients, Log: log, Now: time.Now}
}

func fail(log *slog.Logger, what string, err error) {
	log.Error(what, slog.String("error", err.Error()))
	os.Exit(1)
}

// NewLogger returns the JSON logger functions use; level is debug, info (default), warn or
// error.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
