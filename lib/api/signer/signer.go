// Package signer is the signing API: a caller asks to sign digests with a certificate's key;
// the request is checked against the deployment's policies, every decision is recorded in the
// hash-chained event log, and an allowed request is signed by the key in KMS or the HSM. It
// fails closed: the decision event is written before the key is used, the completion event
// after, and a signature is returned only when both are written.
package signer

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/readcache"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// Lanes is audit.Lanes: how many hash chains a deployment's event log spreads over.
const Lanes = audit.Lanes

// MaxDigests is the most digests one request signs.
const MaxDigests = 64

// ErrDenied is a signing request the policies refuse (403); it is recorded.
var ErrDenied = fmt.Errorf("signer: denied: %w", fault.ErrForbidden)

// API serves the signer routes.
type API struct {
	parts    *function.Parts
	keys     *keys.Registry
	policies *policy.Cache
}

// NewHandler returns the signer routes on registry's key backends.
func NewHandler(p *function.Parts, registry *keys.Registry, m *access.Mux) *access.Mux {
	a := &API{parts: p, keys: registry, policies: policy.NewCache(p.Store)}
	anyConsole := access.AnyConsoleCaller()
	// GET /sign/certificates — any console caller of the deployment: the certificates the
	// policies let it sign with (at this time, from any process).
	m.Handle("GET /sign/certificates", anyConsole, a.certificates)
	// POST /sign — any console caller; the policies decide, and every decision is recorded.
	// Its reads may come from the cache: they are confirmed while the decision is written,
	// before the key is used (see signOnce).
	m.HandleCached("POST /sign", anyConsole, a.sign, p.Store.ConfirmReads)
	return m
}

// The wire types of the signing API live in lib/signapi, shared with the clients.
type (
	Digest          = wire.Digest
	Context         = wire.Context
	Request         = wire.Request
	Signature       = wire.Signature
	Response        = wire.Response
	CertificateView = wire.Certificate
)

// Limits on the CI metadata a request reports.
const (
	MaxCIEntries  = 32
	MaxCIKeyLen   = 64
	MaxCIValueLen = 1024
)

var hashes = map[string]crypto.Hash{"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512}

// parsed is a validated request.
type parsed struct {
	digests [][]byte
	hashes  []crypto.Hash
}

func parse(r Request) (parsed, error) {
	var bad fault.Fields
	if r.CertificateID == "" {
		bad.Add("certificateId", "is required")
	}
	if len(r.Digests) == 0 || len(r.Digests) > MaxDigests {
		bad.Add("digests", "1 to %d digests", MaxDigests)
	}
	var p parsed
	for i, d := range r.Digests {
		name := fmt.Sprintf("digests[%d]", i)
		alg := strings.ToUpper(strings.ReplaceAll(d.DigestAlgorithm, "-", ""))
		h, ok := hashes[alg]
		if !ok {
			if alg == "SHA1" || alg == "MD5" {
				bad.Add(name+".digestAlgorithm", "%s is refused: it is broken for signatures; use SHA256, SHA384 or SHA512", alg)
			} else {
				bad.Add(name+".digestAlgorithm", "must be SHA256, SHA384 or SHA512")
			}
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(d.Digest)
		if err != nil {
			bad.Add(name+".digest", "is not base64")
			continue
		}
		if len(raw) != h.Size() {
			bad.Add(name+".digest", "a %s digest is %d bytes, this one is %d", alg, h.Size(), len(raw))
			continue
		}
		p.digests, p.hashes = append(p.digests, raw), append(p.hashes, h)
	}
	for name, v := range map[string]string{"context.process": r.Context.Process, "context.commandLine": r.Context.CommandLine,
		"context.fileName": r.Context.FileName, "context.agentId": r.Context.AgentID} {
		if len(v) > 4096 {
			bad.Add(name, "is longer than 4096 bytes")
		}
	}
	for i, d := range r.Digests {
		if len(d.FileName) > 4096 {
			bad.Add(fmt.Sprintf("digests[%d].fileName", i), "is longer than 4096 bytes")
		}
	}
	if len(r.Context.CI) > MaxCIEntries {
		bad.Add("context.ci", "has at most %d entries", MaxCIEntries)
	}
	for k, v := range r.Context.CI {
		if k == "" || len(k) > MaxCIKeyLen || len(v) > MaxCIValueLen {
			bad.Add("context.ci", "keys are 1 to %d bytes and values at most %d", MaxCIKeyLen, MaxCIValueLen)
			break
		}
	}
	return p, bad.Err()
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 200

func (a *API) sign(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Request
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	p, err := parse(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	dep := req.Deployment.ID
	// Idempotency-Key: a retry of the same request by the same caller gets the first answer,
	// and nothing is signed twice. The key is claimed before anything happens.
	idem := r.Header.Get("Idempotency-Key")
	if idem != "" {
		if len(idem) > MaxIdempotencyKey || strings.IndexFunc(idem, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
			return fault.Fields{{Name: "Idempotency-Key", Reason: fmt.Sprintf("must be 1 to %d visible ASCII characters", MaxIdempotencyKey)}}
		}
		canon, _ := json.Marshal(body)
		sum := sha256.Sum256(canon)
		fp := hex.EncodeToString(sum[:])
		prior, err := a.parts.Store.ClaimIdempotency(ctx, dep, "sign:"+req.Principal.UserID, idem, fp)
		if err != nil {
			return err
		}
		switch {
		case prior == nil:
		case prior.Fingerprint != fp:
			return fault.Newf(fault.ErrUnprocessable, "This Idempotency-Key was used for a different signing request; use a new key.")
		case !prior.Done:
			return fault.Newf(fault.ErrConflict, "A signing request with this Idempotency-Key is in progress; retry in a moment.")
		default:
			// (What admitted the caller is confirmed before this answer goes out: HandleCached.)
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(prior.Response + "\n")) // as edge.WriteJSON ends its body
			return nil
		}
		out, err := a.signOnce(ctx, r, req, body, p)
		if err != nil {
			_ = a.parts.Store.ReleaseIdempotency(context.WithoutCancel(ctx), dep, "sign:"+req.Principal.UserID, idem)
			return err
		}
		raw, _ := json.Marshal(out)
		// A failure to store the answer leaves the key claimed until it expires: a retry is
		// then refused (409), never signed twice.
		_ = a.parts.Store.CompleteIdempotency(context.WithoutCancel(ctx), dep, "sign:"+req.Principal.UserID, idem, string(raw))
		edge.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	out, err := a.signOnce(ctx, r, req, body, p)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// signOnce decides, records and signs one request.
func (a *API) signOnce(ctx context.Context, r *http.Request, req *access.Request, body Request, p parsed) (Response, error) {
	dep := req.Deployment.ID
	// The certificate and the policies' version in one call; the compiled policy set is
	// reloaded only when the version moved. The caller's roles are those the guard read from
	// the stored user: no second read.
	cert, version, err := a.parts.Store.CertificateForSigning(ctx, dep, body.CertificateID)
	if err != nil {
		return Response{}, err
	}
	set, err := a.policies.SetAt(ctx, dep, version)
	if err != nil {
		return Response{}, err
	}
	scheme := keys.Scheme(body.SignatureScheme)
	if scheme == "" {
		scheme = keys.SchemesFor(cert.Algorithm)[0]
	}
	if !contains(keys.SchemesFor(cert.Algorithm), scheme) {
		return Response{}, fault.Fields{{Name: "signatureScheme", Reason: fmt.Sprintf("a %s key signs with %v", cert.Algorithm, keys.SchemesFor(cert.Algorithm))}}
	}
	now := a.parts.Now()
	decision := decide(set, req.Principal.UserID, req.Principal.PolicyRoles(), body.Context, cert, now)
	ip := ""
	if addr, err := edge.SourceIP(r); err == nil {
		ip = addr.String()
	}
	base := audit.Event{DeploymentID: dep, Kind: audit.KindDecision, At: now, UserID: req.Principal.UserID, ClientIP: ip,
		CertificateID: cert.ID, PolicyID: decision.PolicyID, Reason: decision.Reason, Process: body.Context.Process,
		CommandLine: body.Context.CommandLine, AgentID: body.Context.AgentID, CI: body.Context.CI}
	base.Decision = audit.Deny
	if decision.Allowed {
		base.Decision = audit.Allow
	}
	// What decided may have come from this instance's cache (the deployment, the caller, the
	// certificate, the policies' version). A denial is written only once those are confirmed
	// current; an allowed request confirms them while its decisions are written, and the key
	// is used only after. Changed items make the route decide again on fresh reads.
	// (ConfirmReads makes no call when nothing came from the cache.)
	st := a.parts.Store
	confirmed := make(chan error, 1)
	if decision.Allowed {
		go func() { confirmed <- st.ConfirmReads(ctx) }()
	} else if err := st.ConfirmReads(ctx); err != nil {
		return Response{}, err
	} else {
		confirmed <- nil
	}
	// Every decision is recorded, denials too; an allowed digest is recorded before the key
	// is used. A failed write means no signature.
	// The digests' decisions go to their lanes in parallel.
	events := make([]audit.Event, len(p.digests))
	errs := make([]error, len(p.digests))
	var wg sync.WaitGroup
	for i, d := range p.digests {
		e := base
		e.ID = tenant.NewID("evt_")
		e.Lane = lane(e.ID)
		e.Digest, e.DigestAlgorithm = hex.EncodeToString(d), hashName(p.hashes[i])
		e.FileName = body.Context.FileName
		if f := body.Digests[i].FileName; f != "" {
			e.FileName = f
		}
		wg.Add(1)
		go func() { defer wg.Done(); events[i], errs[i] = st.AppendEvent(ctx, e) }()
	}
	wg.Wait()
	confirmErr := <-confirmed
	if err := errors.Join(errs...); err != nil {
		// Some decisions may be recorded — those written, and those whose write had no answer
		// (they may have landed): they are closed as failed (best effort), so no allowed
		// decision is left without its outcome.
		var maybe, written []audit.Event
		for i, e := range events {
			if errs[i] == nil {
				written = append(written, e)
			}
			if errs[i] == nil || e.Seq > 0 {
				maybe = append(maybe, e)
			}
		}
		if decision.Allowed {
			_ = a.complete(ctx, maybe, len(written) == len(maybe), nil, audit.Failed, "")
		} else if len(written) > 0 {
			// Checkpoints name only events known to be written.
			a.checkpoint(ctx, written...)
		}
		return Response{}, err
	}
	if confirmErr != nil {
		// The decisions rest on items that changed (or could not be confirmed): they are
		// closed unsigned, and the route decides again on fresh reads.
		reason := "not signed: what decided changed before the key was used; decided again"
		if !errors.Is(confirmErr, readcache.ErrStale) {
			reason = "not signed: what decided could not be confirmed current"
		}
		_ = a.complete(ctx, events, true, nil, audit.Failed, reason)
		return Response{}, confirmErr
	}
	if !decision.Allowed {
		a.checkpoint(ctx, events...)
		return Response{}, fault.Newf(ErrDenied, "Signing with %s is not allowed: %s", cert.ID, decision.Reason)
	}
	// The completion goes to the first decision's lane, and its checkpoint covers that lane;
	// the other decisions' lanes' checkpoints move while the key signs.
	var others []audit.Event
	for _, e := range events[1:] {
		if e.Lane != events[0].Lane {
			others = append(others, e)
		}
	}
	if len(others) > 0 {
		checkpointed := make(chan struct{})
		go func() { defer close(checkpointed); a.checkpoint(ctx, others...) }()
		defer func() { <-checkpointed }()
	}
	key, err := a.keys.Open(ctx, cert.KeyURI)
	if err != nil {
		_ = a.complete(ctx, events, true, nil, audit.Failed, "")
		return Response{}, err
	}
	out := Response{CertificateID: cert.ID, Algorithm: string(cert.Algorithm), SignatureScheme: string(scheme), ChainPEM: cert.ChainPEM}
	sigs := make([][]byte, len(p.digests))
	for i, d := range p.digests {
		if sigs[i], err = key.SignContext(ctx, d, keys.Opts(scheme, p.hashes[i])); err != nil {
			// None of the request's signatures is returned, so none is recorded as signed.
			_ = a.complete(ctx, events, true, nil, audit.Failed, "")
			return Response{}, err
		}
	}
	// The signatures are returned only once their completion is recorded.
	if err := a.complete(ctx, events, true, sigs, audit.Signed, ""); err != nil {
		return Response{}, err
	}
	for i, s := range sigs {
		out.Signatures = append(out.Signatures, Signature{Digest: base64.StdEncoding.EncodeToString(p.digests[i]),
			Signature: base64.StdEncoding.EncodeToString(s), EventID: events[i].ID})
	}
	return out, nil
}

// complete records the outcome of a request's decision events in one completion event (one
// append, so that it is written for all the signatures or for none): the decisions it closes
// and, when signed, the SHA-256 of each signature in the same order.
// written says whether every decision is known to be recorded (else some may not be, and no
// checkpoint may name them).
// reason, when set, says why an unsigned request ended so.
func (a *API) complete(ctx context.Context, decisions []audit.Event, written bool, sigs [][]byte, outcome, reason string) error {
	if len(decisions) == 0 {
		return nil
	}
	ids := make([]string, len(decisions))
	var sums []string
	for i, d := range decisions {
		ids[i] = d.ID
		if outcome == audit.Signed {
			sum := sha256.Sum256(sigs[i])
			sums = append(sums, hex.EncodeToString(sum[:]))
		}
	}
	d := decisions[0]
	e := audit.Event{ID: tenant.NewID("evt_"), DeploymentID: d.DeploymentID, Kind: audit.KindCompletion, At: a.parts.Now(),
		Of: strings.Join(ids, ","), Outcome: outcome, CertificateID: d.CertificateID, UserID: d.UserID,
		SignatureSHA256: strings.Join(sums, ","), Reason: reason}
	e.Lane = d.Lane
	ctx = context.WithoutCancel(ctx)
	sealed, err := a.parts.Store.AppendEvent(ctx, e)
	if err == nil {
		a.after(ctx, sealed, len(sigs))
		return nil
	}
	if outcome == audit.Signed && sealed.Seq > 0 && a.settle(ctx, sealed) {
		a.after(ctx, sealed, len(sigs))
		return nil
	}
	// The completion is not recorded; the decisions' lane still gets its checkpoint.
	if written {
		a.checkpoint(ctx, d)
	}
	return err
}

// settle decides a signed completion whose write failed without an answer: it may have
// landed. A void completion (outcome failed) is written at the same place on condition that
// the place is empty; whichever write holds the place is the record. settle reports whether
// the signed completion holds it (then the signatures must be returned; otherwise none may
// be, and none can be recorded later). When even that cannot be learnt, nothing is returned
// and the signed completion may stand without its signatures having gone out: that needs
// every one of several attempts to fail.
func (a *API) settle(ctx context.Context, sealed audit.Event) bool {
	void := sealed
	void.ID, void.Outcome, void.SignatureSHA256, void.Hash, void.PrevHash = tenant.NewID("evt_"), audit.Failed, "", "", ""
	for attempt := 0; attempt < 8; attempt++ {
		held, err := a.parts.Store.SettleEvent(ctx, sealed, void)
		if err == nil {
			if held.ID == sealed.ID && held.Hash == sealed.Hash {
				return true
			}
			a.checkpoint(ctx, held)
			return false
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return false
}

// after does what follows a recorded completion: its lane's checkpoint moves to it and, in
// the same write, the certificate's usage counts the signatures (a statistic for the
// console; the events are the record, so a failure is logged, not returned).
func (a *API) after(ctx context.Context, completion audit.Event, signed int) {
	var err error
	if signed > 0 {
		err = a.parts.Store.CheckpointEventsCounting(ctx, store.Use{CertificateID: completion.CertificateID, N: signed, At: completion.At}, completion)
	} else {
		err = a.parts.Store.CheckpointEvents(ctx, completion)
	}
	if err != nil {
		edge.Logger(ctx).Warn("event checkpoint or certificate usage not written", slog.String("error", err.Error()))
	}
}

// checkpoint moves the event lanes' checkpoints forward. The events are recorded already; a
// failure only leaves the checkpoint behind until the lane's next event, so it is logged,
// not returned.
func (a *API) checkpoint(ctx context.Context, events ...audit.Event) {
	if err := a.parts.Store.CheckpointEvents(context.WithoutCancel(ctx), events...); err != nil {
		edge.Logger(ctx).Warn("event checkpoint not moved", slog.String("error", err.Error()))
	}
}

// decide is the policy decision for a request of a caller with roles, on set.
func decide(set *policy.Set, userID string, roles []string, c Context, cert certificates.Certificate, now time.Time) policy.Decision {
	return set.Evaluate(policy.Request{UserID: userID, Roles: roles, Process: c.Process, CommandLine: c.CommandLine, At: now,
		Certificate: cert.ForPolicy(now)})
}

func (a *API) certificates(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx := r.Context()
	dep := req.Deployment.ID
	now := a.parts.Now()
	set, err := a.policies.Set(ctx, dep)
	if err != nil {
		return err
	}
	roles := req.Principal.PolicyRoles()
	// Policies limited to applications (Where) decide for the process and command line the
	// agent reports here, as they will when it signs; without them only policies that hold
	// for any application count.
	q := r.URL.Query()
	app := Context{Process: q.Get("process"), CommandLine: q.Get("commandLine")}
	if len(app.Process) > 4096 || len(app.CommandLine) > 4096 {
		return fault.Fields{{Name: "process", Reason: "process and commandLine are at most 4096 bytes"}}
	}
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Certificate], error) {
		return a.parts.Store.ListCertificates(ctx, dep, pr)
	})
	if err != nil {
		return err
	}
	out := []CertificateView{}
	for _, c := range all {
		if c.State(now) != certificates.StatusActive {
			continue
		}
		d := decide(set, req.Principal.UserID, roles, app, c, now)
		if !d.Allowed {
			continue
		}
		var schemes []string
		for _, s := range keys.SchemesFor(c.Algorithm) {
			schemes = append(schemes, string(s))
		}
		out = append(out, CertificateView{ID: c.ID, Name: c.Name, Algorithm: string(c.Algorithm), Schemes: schemes,
			Subject: c.Subject.CommonName, Thumbprint: c.Thumbprint, NotAfter: c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
			PolicyID: d.PolicyID, Owner: d.Owner, ChainPEM: c.ChainPEM})
	}
	edge.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func lane(id string) int {
	sum := sha256.Sum256([]byte(id))
	return int(binary.BigEndian.Uint32(sum[:4]) % Lanes)
}

func hashName(h crypto.Hash) string {
	for k, v := range hashes {
		if v == h {
			return k
		}
	}
	return h.String()
}

func contains(list []keys.Scheme, s keys.Scheme) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
