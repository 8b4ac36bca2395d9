package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
)

// StackFile is the file in the data directory where a running local server keeps the
// configuration its functions run with (endpoints of the stand-ins, table, keys, the local
// SoftHSM token), so that Invoke can run a function against it from another process. It is
// the user's alone (0600), as is everything in the data directory.
const StackFile = "stack.json"

// SAMEnvFile is the file in the data directory with the environment variables, in the form
// `sam local invoke --env-vars` reads ({"Parameters": {...}}), that point every function at
// this server's stand-ins as a container sees them (host.docker.internal), with the local
// credentials: a function run by sam local never reaches real AWS.
const SAMEnvFile = "sam-env.json"

// APIURLFile is the file in the data directory with the running server's API URL.
const APIURLFile = "api-url"

// webhookTokenPlaceholder stands for the bearer token in the Azure webhook fixtures: a token
// is valid for an hour and signed by the running stand-in's key, so Invoke asks the running
// server for one.
const webhookTokenPlaceholder = "REPLACED-AT-INVOKE"

// writeStackFile keeps cfg in dataDir/StackFile, and its environment for sam local in
// dataDir/SAMEnvFile.
func writeStackFile(dataDir string, cfg function.Config) error {
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataDir, StackFile), raw, 0o600); err != nil {
		return err
	}
	vars := function.EnvVars(cfg)
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_S3"} {
		vars[k] = strings.Replace(vars[k], "127.0.0.1", "host.docker.internal", 1)
	}
	if raw, err = json.MarshalIndent(map[string]map[string]string{"Parameters": vars}, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dataDir, SAMEnvFile), raw, 0o600)
}

// FunctionID is the template's logical id of a function named by its logical id
// ("PortalAuthFunction") or its functions/ directory ("portal-auth").
func FunctionID(name string) (string, error) {
	_, isHTTP := Builds[name]
	if _, isEvent := EventBuilds[name]; isHTTP || isEvent {
		return name, nil
	}
	var names []string
	for id := range allBuilds() {
		dir, err := apigw.FunctionDir(id)
		if err != nil {
			return "", err
		}
		dir = strings.TrimPrefix(dir, "functions/")
		if dir == name {
			return id, nil
		}
		names = append(names, dir)
	}
	sort.Strings(names)
	return "", fmt.Errorf("no function %q; the functions are %s", name, strings.Join(names, ", "))
}

// allBuilds are the ids of every function, HTTP and event-driven.
func allBuilds() map[string]bool {
	ids := map[string]bool{}
	for id := range Builds {
		ids[id] = true
	}
	for id := range EventBuilds {
		ids[id] = true
	}
	return ids
}

// Invoke runs function id's Lambda handler once with event, against the stack a local server
// running on dataDir keeps in its StackFile: what `sam local invoke -e` does, without Docker,
// on the embedded stand-ins. An HTTP function takes an API Gateway HTTP API (v2) event, as in
// events/, and answers its response; an event-driven one takes its own events (a stream
// batch, a scheduled event) and answers what its handler returns.
func Invoke(ctx context.Context, dataDir, id string, event []byte) (any, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, StackFile))
	if err != nil {
		return nil, fmt.Errorf("no running local stack (start it with make run): %w", err)
	}
	var cfg function.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", StackFile, err)
	}
	clients, err := function.NewClients(ctx, cfg)
	if err != nil {
		return nil, err
	}
	env := function.Env{Config: cfg, Clients: clients, Log: function.NewLogger(os.Stderr, "info"), Now: time.Now}
	if eb, ok := EventBuilds[id]; ok {
		h, err := eb(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", id, err)
		}
		return h(ctx, event)
	}
	if bytes.Contains(event, []byte(webhookTokenPlaceholder)) {
		tok, err := webhookToken(ctx, dataDir)
		if err != nil {
			return nil, err
		}
		event = bytes.ReplaceAll(event, []byte(webhookTokenPlaceholder), []byte(tok))
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("the event is not an API Gateway HTTP API (v2) event: %w", err)
	}
	h, err := Builds[id](ctx, env)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", id, err)
	}
	return edge.Lambda(h)(ctx, ev)
}

// webhookToken asks the server running on dataDir for an Azure webhook token.
func webhookToken(ctx context.Context, dataDir string) (string, error) {
	base, err := os.ReadFile(filepath.Join(dataDir, APIURLFile))
	if err != nil {
		return "", fmt.Errorf("no running local server to mint the webhook's token (start it with make run): %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSpace(string(base))+MarketPrefix+"azure/webhook-token", nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint the webhook's token: %w", err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("mint the webhook's token: %d %v", res.StatusCode, err)
	}
	return out.Token, nil
}
