package signer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestSigningByPlan: a regional plan (standard-eu) is rate-limited as its tier (standard)
// unless the limits name it; a plan whose month of signatures is used up (SigningCapped, set
// by the metering) is refused with a plan-limit problem that names the plan and what it
// includes, before anything is counted or recorded, and signs again once the cap is cleared.
func TestSigningByPlan(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.env.Config.Limits = function.Limits{SigningPerPlan: map[string]ratelimit.Limit{"standard": {N: 6, Per: time.Hour}, "enterprise-eu": {N: 2, Per: time.Hour}}}
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	change := func(d tenant.Deployment, f func(*tenant.Deployment)) tenant.Deployment {
		t.Helper()
		cur, err := w.clean.Store.GetDeployment(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		next := cur
		f(&next)
		if next, err = w.clean.Store.UpdateDeployment(ctx, cur, next, nil); err != nil {
			t.Fatal(err)
		}
		return next
	}
	sign := func(host, tok, body string) (int, edge.Problem, string) {
		t.Helper()
		resp, err := h(ctx, signEvent(host, tok, body))
		if err != nil {
			t.Fatal(err)
		}
		var p edge.Problem
		_ = json.Unmarshal([]byte(resp.Body), &p)
		return resp.StatusCode, p, resp.Body
	}

	eu, euCert := w.deployment(t, "eu.localhost")
	eu = change(eu, func(d *tenant.Deployment) { d.Plan, d.Region = "standard-eu", "eu-central-1" })
	_, _, euCI := w.signerUser(t, eu, euCert)
	if code, _, body := sign(eu.DomainName, euCI, signBody(euCert, 7)); code != 400 || !strings.Contains(body, "the standard-eu plan signs at most 6 digests") {
		t.Fatalf("fail/standard-eu limited as standard: %d %s", code, body)
	}
	// A plan the limits name is limited by its own entry, not its tier's.
	ent, entCert := w.deployment(t, "ent.localhost")
	ent = change(ent, func(d *tenant.Deployment) { d.Plan = "enterprise-eu" })
	_, _, entCI := w.signerUser(t, ent, entCert)
	if code, _, body := sign(ent.DomainName, entCI, signBody(entCert, 3)); code != 400 || !strings.Contains(body, "the enterprise-eu plan signs at most 2 digests") {
		t.Fatalf("fail/enterprise-eu by its own limit: %d %s", code, body)
	}

	trial, trialCert := w.deployment(t, "trial.localhost")
	trial = change(trial, func(d *tenant.Deployment) { d.Plan, d.SigningCapped = "trial", true })
	_, _, trialCI := w.signerUser(t, trial, trialCert)
	events := func() int {
		t.Helper()
		page, err := w.clean.Store.ListEvents(ctx, trial.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	code, p, _ := sign(trial.DomainName, trialCI, signBody(trialCert, 1))
	if code != 403 || p.Type != edge.ProblemTypeBase+"plan-limit" ||
		!strings.HasPrefix(p.Detail, "The trial plan includes 1000 signatures a month and they are used up;") || !strings.Contains(p.Detail, "portal Admin") {
		t.Fatalf("fail/capped: %d %+v", code, p)
	}
	if n := events(); n != 0 {
		t.Fatalf("fail/capped: a refused request left %d events", n)
	}
	change(trial, func(d *tenant.Deployment) { d.SigningCapped = false })
	if code, p, _ := sign(trial.DomainName, trialCI, signBody(trialCert, 1)); code != 200 {
		t.Fatalf("ok/cap cleared: %d %+v", code, p)
	}
}
