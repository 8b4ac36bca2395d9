// Package function starts a Lambda function the same way everywhere: configuration from the
// environment, AWS clients, the parts most functions share (store, tokens, access guard, key
// backends), the function's handler, lambda.Start. The local server builds the
// same handlers with the same Build functions, pointed at the stand-ins.
package function

import (
	"context"
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
	ctx := context.Background()
	cfg, err := FromEnv()
	log := NewLogger(os.Stdout, cfg.LogLevel)
	if err != nil {
		log.Error("configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	clients, err := NewClients(ctx, cfg)
	if err != nil {
		log.Error("AWS clients", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h, err := build(ctx, Env{Config: cfg, Clients: clients, Log: log, Now: time.Now})
	if err != nil {
		log.Error("start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(edge.Lambda(h))
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
