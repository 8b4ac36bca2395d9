package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

// make invoke runs a function's handler with an events/ fixture against a running local
// server, from another process's point of view: only the data directory is shared.
func TestInvokeAgainstTheRunningStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: dir, Log: function.NewLogger(io.Discard, "error")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// sam local's environment points every function at this server's stand-ins, with local
	// credentials: nothing reaches real AWS.
	raw, err := os.ReadFile(filepath.Join(dir, local.SAMEnvFile))
	var samEnv struct{ Parameters map[string]string }
	if err != nil || json.Unmarshal(raw, &samEnv) != nil {
		t.Fatalf("sam local environment: %v %s", err, raw)
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_S3"} {
		if v := samEnv.Parameters[k]; !strings.HasPrefix(v, "http://host.docker.internal:") {
			t.Errorf("sam local's %s is %q, not this server's stand-in", k, v)
		}
	}
	if p := samEnv.Parameters; p["AWS_ACCESS_KEY_ID"] != "local" || p["TABLE_NAME"] != srv.Config.TableName || p["TOKEN_KEY_ID"] == "" {
		t.Errorf("sam local's environment: %v", p)
	}
	for _, name := range []string{"health", "HealthFunction"} {
		var out bytes.Buffer
		if err := run(ctx, []string{"-function", name, "-event", "../../events/health/get.json", "-data-dir", dir}, &out); err != nil {
			t.Fatalf("ok/%s: %v", name, err)
		}
		var resp struct {
			StatusCode int
			Body       string
		}
		if err := json.Unmarshal(out.Bytes(), &resp); err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"ok"`) {
			t.Fatalf("ok/%s: %v %s", name, err, out.String())
		}
	}
	// An event-driven function takes its own events: the truststore function publishes to
	// the running server's truststore bucket.
	var out bytes.Buffer
	if err := run(ctx, []string{"-function", "truststore", "-event", "../../events/truststore/scheduled.json", "-data-dir", dir}, &out); err != nil {
		t.Fatalf("ok/truststore: %v", err)
	}
	var st struct {
		TruststoreURI string
		Current       bool
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || !st.Current || st.TruststoreURI != "s3://"+srv.Config.TruststoreBucket+"/truststore.pem" {
		t.Fatalf("ok/truststore: %v %s", err, out.String())
	}
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"not a truststore event": {[]string{"-function", "truststore", "-event", "../../events/health/get.json", "-data-dir", dir}, "not an event the truststore function takes"},
		"unknown function":       {[]string{"-function", "nope", "-event", "../../events/health/get.json", "-data-dir", dir}, "the functions are"},
		"no stack":               {[]string{"-function", "health", "-event", "../../events/health/get.json", "-data-dir", t.TempDir()}, "make run"},
		"not an event":           {[]string{"-function", "health", "-event", "main.go", "-data-dir", dir}, "not an API Gateway"},
		"no arguments":           {nil, "usage"},
	} {
		if err := run(ctx, c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fail/%s: %v", name, err)
		}
	}
}
