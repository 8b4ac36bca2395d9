// Command signum-invoke runs one function's Lambda handler with an event file against the
// stack `make run` is running, and prints the response: what `sam local invoke -e` does,
// without Docker. `make invoke FUNCTION=health EVENT=events/health/get.json` runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/opensignum/signum/lib/local"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signum-invoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("signum-invoke", flag.ContinueOnError)
	name := fs.String("function", "", "function: its functions/ directory (health) or logical id (HealthFunction)")
	eventFile := fs.String("event", "", "event file (API Gateway HTTP API v2 for HTTP functions, the function's own events for the others), e.g. events/health/get.json")
	dataDir := fs.String("data-dir", ".local", "the running local server's data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *eventFile == "" {
		return fmt.Errorf("usage: signum-invoke -function NAME -event FILE [-data-dir .local]")
	}
	id, err := local.FunctionID(*name)
	if err != nil {
		return err
	}
	event, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	resp, err := local.Invoke(ctx, *dataDir, id, event)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(resp)
}
