// Package signer is the signing API's HTTP face: it decodes a request, hands it to the signing
// protocol (lib/signing) for the caller the guard admitted, and encodes the answer.
package signer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/safehttp"
	"github.com/opensignum/signum/lib/signing"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/timestamping"
	"github.com/opensignum/signum/lib/wire"
)

type api struct {
	signer *signing.Signer
	// trials is what a dry run reads (POST /sign/evaluate): the table, afresh.
	trials signing.TrialStore
	rates  ratelimit.Counter
	limits function.Limits
	now    func() time.Time
	// agents is the per-user concurrency limit of login domains (agents.go).
	agents *agents
}

// Build is the signer function: the same key backends as the certificates function.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	registry, err := function.KeyRegistry(ctx, env)
	if err != nil {
		return nil, err
	}
	return NewHandler(p, registry, access.NewMux(env.Log, p.Guard)), nil
}

// NewHandler returns the signer routes on registry's key backends.
func NewHandler(p *function.Parts, registry *keys.Registry, m *access.Mux) *access.Mux {
	a := api{signer: signing.New(p.Store, registry, p.Now, edge.Logger, signing.WithNotary(p.Notary), signing.WithAnchors(p.Anchors, p.AnchorEvery),
		signing.WithTimestamps(p.Store, tsaClient(p))), rates: p.Store, limits: p.Limits, now: p.Now,
		agents: newAgents(p.Store, p.Now), trials: p.Store}
	anyConsole := access.Signer()
	// Both routes serve only while the deployment's subscription is active (the guard
	// refuses them while it is suspended or cancelled).
	// GET /sign/certificates — any console caller of the deployment: the certificates the
	// policies let it sign with (at this time, from any process).
	m.Handle("GET /sign/certificates", anyConsole, a.certificates)
	// POST /sign/evaluate — any console caller: what POST /sign would decide for the caller's
	// own request with a certificate from an application, without signing or recording
	// anything. It takes a request from the caller's rate limit, none of the deployment's
	// signatures.
	m.Handle("POST /sign/evaluate", anyConsole, a.evaluate)
	// POST /sign — any console caller; the policies decide, and every decision is recorded.
	// A plan whose month of signatures is used up signs nothing (403 plan-limit; capped).
	// Before that, the caller's requests and the deployment's signatures are rate-limited
	// (429 with Retry-After; function.Limits), and a user of a login domain with a per-user
	// concurrency limit has at most that many requests in flight (429 with Retry-After;
	// agents.go).
	// Its reads may come from the cache: they are confirmed while the decision is written,
	// before the key is used (see signing.Signer.Sign).
	m.HandleCached("POST /sign", anyConsole, a.sign, p.Store.ConfirmReads)
	a.approvalRoutes(m, p.Store.ConfirmReads)
	return m
}

// tsaClient obtains the tokens of policies that require timestamps from the URLs a console
// admin configured: through lib/safehttp, which refuses the service's private addresses but
// lets plain http through (RFC 3161 answers are signed; most public authorities serve http).
// The local server's stand-in listens on loopback.
func tsaClient(p *function.Parts) *timestamping.Client {
	return timestamping.NewClient(safehttp.New(safehttp.Options{AllowHTTP: true, AllowPrivate: p.Guard.LocalSignerPort != ""}), 0)
}

// caller is who the guard admitted, as the signing protocol knows callers.
func caller(r *http.Request, req *access.Request) signing.Caller {
	c := signing.Caller{DeploymentID: req.Deployment.ID, UserID: req.Principal.UserID, Roles: req.Principal.PolicyRoles(), Workload: req.Principal.Workload}
	if addr, err := edge.SourceIP(r); err == nil {
		c.ClientIP = addr.String()
	}
	return c
}

func (a api) sign(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := capped(req.Deployment); err != nil {
		return err
	}
	var body wire.Request
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	parsed, err := signing.Parse(body)
	if err != nil {
		return err
	}
	idem, err := edge.IdempotencyKey(r)
	if err != nil {
		return err
	}
	// The caller's limit is taken while the signer reads what decides, the deployment's only
	// once the request is allowed, while its decisions are written: no round trip in series,
	// and callers who may not sign cannot use up what the deployment's signers share. A
	// request HandleCached runs again is charged once (access.Once).
	ctx := r.Context()
	admitted := make(chan error, 1)
	go func() {
		admitted <- access.Once(ctx, "sign:caller", func() error { return a.admit(ctx, req, len(body.Digests)) })
	}()
	// The caller's slot under its domain's concurrency limit is taken beside its rate limit
	// (nothing at all for callers without a domain), and given back once the answer is
	// decided, whatever it is. (Not through Once: a run of HandleCached holds a slot only
	// while it runs, so a request run again takes one again, after the first was given back.)
	slot := a.agents.start(ctx, req)
	defer a.agents.release(ctx, req, slot)
	c := caller(r, req)
	c.Admit = func() error {
		if err := <-admitted; err != nil {
			return err
		}
		return slot.wait()
	}
	c.Spend = func(n int) error {
		return access.Once(ctx, "sign:deployment", func() error { return a.spend(ctx, req, n) })
	}
	out, err := a.signer.Sign(r.Context(), c, parsed, idem)
	var held *signing.Held
	if errors.As(err, &held) {
		heldAnswer(w, held)
		return nil
	}
	if err != nil {
		return err
	}
	if out.Replay != nil {
		// (What admitted the caller is confirmed before this answer goes out: HandleCached.)
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(out.Replay, '\n')) // as edge.WriteJSON ends its body
		return nil
	}
	edge.WriteJSON(w, http.StatusOK, out.Response)
	return nil
}

// admit takes one request from the caller's limit. A request with more digests than the
// deployment's plan signs in a whole window is refused here, before anything is recorded: it
// would never be allowed, however long the caller waited (400, not 429).
func (a api) admit(ctx context.Context, req *access.Request, n int) error {
	dep := req.Deployment
	if plan := a.limits.SigningFor(dep); !plan.Off() && n > plan.N {
		return fault.Fields{{Name: "digests", Reason: fmt.Sprintf("the %s plan signs at most %d digests per %s; send at most %d in one request", dep.Plan, plan.N, plan.Per, plan.N)}}
	}
	return ratelimit.Check(ctx, a.rates, a.now(), a.callerRequest(req))
}

// callerRequest is one request from the caller's limit, which its signing requests and its
// dry runs share.
func (a api) callerRequest(req *access.Request) ratelimit.Take {
	return ratelimit.Take{Key: ratelimit.Key("sign", "caller", req.Deployment.ID, req.Principal.UserID), N: 1, Limit: a.limits.SigningPerCaller, What: "signing requests from you"}
}

// spend takes an allowed request's n signatures from its deployment's limit (by plan).
func (a api) spend(ctx context.Context, req *access.Request, n int) error {
	dep := req.Deployment
	return ratelimit.Check(ctx, a.rates, a.now(),
		ratelimit.Take{Key: ratelimit.Key("sign", "deployment", dep.ID), N: n, Limit: a.limits.SigningFor(dep), What: "signatures for this deployment on the " + dep.Plan + " plan"})
}

// capped refuses to sign for deployment d while its plan caps the month's signatures and they
// are used up (tenant.Deployment.SigningCapped, which the hourly metering sets and clears: a
// deployment may go a little over before it is refused). It is asked first, before anything
// is read or counted; listing what one may sign with still works.
func capped(d tenant.Deployment) error {
	if !d.SigningCapped {
		return nil
	}
	const then = "signing resumes at the start of next month (UTC), or at once when a portal Admin moves the subscription to a larger plan in the marketplace."
	if n := d.Limits().SignaturesPerMonth; n > 0 {
		return fault.Newf(fault.ErrPlanLimit, "The %s plan includes %d signatures a month and they are used up; %s", d.Plan, n, then)
	}
	return fault.Newf(fault.ErrPlanLimit, "The %s plan's signatures for this month are used up; %s", d.Plan, then)
}

// evaluate answers POST /sign/evaluate: the decision the caller's own signing request would
// get (signing.DryRun with the roles the guard read, as Sign decides with them). The allowing
// policy is named, since the caller would sign under it; a denial says only whether a policy
// denies or none allows, as POST /sign's answer does (Decision.CallerReason).
func (a api) evaluate(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body wire.Evaluation
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	var bad fault.Fields
	if body.CertificateID == "" {
		bad.Add("certificateId", "is required")
	}
	for name, v := range map[string]string{"process": body.Process, "commandLine": body.CommandLine} {
		if len(v) > signing.MaxApplicationField {
			bad.Add(name, "is longer than %d bytes", signing.MaxApplicationField)
		}
	}
	if err := bad.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	if err := ratelimit.Check(ctx, a.rates, a.now(), a.callerRequest(req)); err != nil {
		return err
	}
	c := caller(r, req)
	v, err := signing.DryRun(ctx, a.trials, a.now, signing.Trial{DeploymentID: req.Deployment.ID, UserID: c.UserID, Roles: append([]string{}, c.Roles...),
		CertificateID: body.CertificateID, App: wire.Context{Process: body.Process, CommandLine: body.CommandLine}})
	if err != nil {
		return err
	}
	out := wire.Verdict{Allowed: v.Allowed, Owner: v.Owner, Reason: v.CallerReason, ApprovalsRequired: v.Approvals, TimestampRequired: v.RequiresTimestamp}
	if v.Allowed && v.PolicyID != "" {
		out.PolicyID, out.PolicyName = v.PolicyID, v.PolicyName
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a api) certificates(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	q := r.URL.Query()
	out, err := a.signer.Certificates(r.Context(), caller(r, req), q.Get("process"), q.Get("commandLine"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}
