package signer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/store"
)

// kmsAnswering is an HTTP proxy in front of the KMS stand-in that answers every Sign call
// itself with status and the KMS error code, as KMS does when it throttles or fails; the
// other calls (DescribeKey, GetPublicKey) reach the stand-in. It counts the Sign calls.
func kmsAnswering(t *testing.T, target string, status int, code string, signs *atomic.Int64) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "TrentService.Sign" {
			proxy.ServeHTTP(w, r)
			return
		}
		signs.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":"injected by the test"}`, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// signerOnAnsweringKMS is the signer with a key backend whose KMS answers every Sign call
// with status and code (kmsAnswering).
func (w *world) signerOnAnsweringKMS(t *testing.T, status int, code string, signs *atomic.Int64) edge.LambdaHandler {
	t.Helper()
	cfg := w.env.Config
	cfg.KMSEndpoint = kmsAnswering(t, cfg.KMSEndpoint, status, code, signs)
	clients, err := function.NewClients(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(awskms.New(clients.KMS)))
}

// TestKMSThrottlingIsRetryLater: when KMS throttles or fails for the moment, POST /sign
// answers 503 unavailable with a Retry-After header — not 500 — returns no signature, and
// records the decision with a failed completion. KMS's throttling is the account's quota that
// all deployments share, not the caller's own share (that is the per-deployment limit's 429),
// so the caller is told that the service is busy and when to come back.
func TestKMSThrottlingIsRetryLater(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, "ThrottlingException"},
		{http.StatusBadRequest, "LimitExceededException"},
		{http.StatusInternalServerError, "KMSInternalException"},
		{http.StatusServiceUnavailable, "DependencyTimeoutException"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			var signs atomic.Int64
			d, cert := w.deployment(t, "throttled.localhost")
			u, _, tok := w.signerUser(t, d, cert)
			h := w.signerOnAnsweringKMS(t, tt.status, tt.code, &signs)

			resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 2)))
			if err != nil {
				t.Fatal(err)
			}
			if signs.Load() == 0 {
				t.Fatal("the key was never asked to sign")
			}
			var p edge.Problem
			_ = json.Unmarshal([]byte(resp.Body), &p)
			if resp.StatusCode != http.StatusServiceUnavailable || p.Type != edge.ProblemTypeBase+"unavailable" {
				t.Fatalf("got %d %s, want 503 unavailable", resp.StatusCode, resp.Body)
			}
			if s, err := strconv.Atoi(resp.Headers["Retry-After"]); err != nil || s < 1 {
				t.Errorf("Retry-After %q, want whole seconds ≥ 1 (headers %v)", resp.Headers["Retry-After"], resp.Headers)
			}
			if strings.Contains(resp.Body, "signature") || strings.Contains(resp.Body, "injected") {
				t.Errorf("the answer carries a signature or KMS's message: %s", resp.Body)
			}

			page, err := w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			decisions := map[string]bool{}
			var completions []audit.Event
			for _, e := range page.Items {
				switch e.Kind {
				case audit.KindDecision:
					if e.UserID != u.ID || e.Decision != audit.Allow {
						t.Errorf("decision %+v", e)
					}
					decisions[e.ID] = true
				case audit.KindCompletion:
					completions = append(completions, e)
				}
			}
			if len(decisions) != 1 || len(completions) != 1 || completions[0].Outcome != audit.Failed || completions[0].SignatureSHA256 != "" {
				t.Fatalf("events: %d decisions, completions %+v", len(decisions), completions)
			}
			for _, id := range strings.Split(completions[0].Of, ",") {
				if !decisions[id] {
					t.Errorf("the failed completion names %s, not one of the decisions", id)
				}
			}
		})
	}
}
