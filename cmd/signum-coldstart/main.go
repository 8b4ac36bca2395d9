// Command signum-coldstart measures every function's cold start as Lambda sees it: from exec of
// its bootstrap to its first request for work (GET /2018-06-01/runtime/invocation/next) on a
// small fake Runtime API, and the size of its Lambda build. It builds each function for this
// machine (same flags as the Lambda build), starts it several times with a configuration whose
// AWS endpoints answer nothing (an AWS call at start would show as a failed or slow start), and
// prints one line per function and a summary line:
//
//	coldstart function=signer init_ms=4.1 bootstrap_mb=13.2
//	summary coldstart max_init_ms=… max_bootstrap_mb=…
//
// The sizes are those of the Lambda builds in -bin (make build), when they are there.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/function"
)

func main() {
	bin := flag.String("bin", "bin", "where make build put the Lambda builds (bin/<function>/bootstrap), for their sizes")
	runs := flag.Int("runs", 5, "starts per function; the median is reported")
	cgo := flag.String("cgo", "console-certificates signer insights", "functions built with cgo (the Makefile's CGO_FUNCTIONS)")
	flag.Parse()
	if err := run(*bin, max(1, *runs), strings.Fields(*cgo)); err != nil {
		fmt.Fprintln(os.Stderr, "signum-coldstart:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int, cgo []string) error {
	dirs, err := filepath.Glob("functions/*")
	if err != nil || len(dirs) == 0 {
		return fmt.Errorf("no functions/ here (run it from the repository's root): %v", err)
	}
	tmp, err := os.MkdirTemp("", "signum-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var maxInit, maxMB float64
	for _, dir := range dirs {
		name := filepath.Base(dir)
		exe := filepath.Join(tmp, name)
		build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", exe, "./"+dir)
		build.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[slices.Contains(cgo, name)])
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
		var times []float64
		for range runs {
			d, err := start(exe)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times = append(times, float64(d.Microseconds())/1000)
		}
		slices.Sort(times)
		median := times[len(times)/2]
		size := filepath.Join(bin, name, "bootstrap")
		fi, err := os.Stat(size)
		if err != nil {
			return fmt.Errorf("no Lambda build of %s in %s (run make build): %w", name, bin, err)
		}
		mb := float64(fi.Size()) / (1 << 20)
		fmt.Printf("coldstart function=%s init_ms=%.1f bootstrap_mb=%.2f\n", name, median, mb)
		maxInit, maxMB = max(maxInit, median), max(maxMB, mb)
	}
	fmt.Printf("summary coldstart max_init_ms=%.1f max_bootstrap_mb=%.2f\n", maxInit, maxMB)
	return nil
}

// start runs exe against a fake Runtime API and times exec to its first request for work.
func start(exe string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	asked := make(chan time.Time, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case asked <- time.Now():
			default:
			}
			<-r.Context().Done() // no work: the function waits, as it would for an event
			return
		}
		http.Error(w, "the fake Runtime API only hands out no work", http.StatusNotFound)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cmd := exec.Command(exe)
	cmd.Env = append(environment(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case t := <-asked:
		return t.Sub(t0), nil
	case err := <-exited:
		exited <- err // for the deferred wait
		return 0, fmt.Errorf("exited before asking for work (%v): %s", err, stderr.String())
	case <-ctx.Done():
		return 0, fmt.Errorf("asked for no work within 10 s: %s", stderr.String())
	}
}

// environment is what a function is configured with in AWS (template.yaml), with endpoints
// that answer nothing: a function must make no AWS call before its first event.
func environment() []string {
	nowhere := "http://127.0.0.1:9"
	c := function.Config{Region: "us-east-1", TableName: "signum", ServiceKeyID: "alias/signum-service", TokenKeyID: "alias/signum-token",
		DynamoDBEndpoint: nowhere, KMSEndpoint: nowhere, S3Endpoint: nowhere, APIGatewayEndpoint: nowhere, EventBridgeEndpoint: nowhere, SQSEndpoint: nowhere,
		OperatorAccountID: "111122223333", LogLevel: "error", CheckpointKeyID: "alias/signum-checkpoint", AnchorBucket: "anchors", TruststoreBucket: "truststore",
		UpdatesQueueURL: nowhere + "/111122223333/updates",
		// No Azure Marketplace (optional in the template): with it, the fulfilment function reads
		// its app's secret at start.
		Marketplace: function.MarketplaceConfig{Region: "us-east-1", MeteringEndpoint: nowhere, EntitlementEndpoint: nowhere}}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "AWS_ACCESS_KEY_ID=coldstart", "AWS_SECRET_ACCESS_KEY=coldstart"}
	for k, v := range function.EnvVars(c) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
