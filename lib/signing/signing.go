// Package signing is the signing protocol as one call: a caller asks to sign digests with a
// certificate's key; the request is checked against the deployment's policies, every decision
// is recorded in the hash-chained event log (lib/audit), and an allowed request is signed by
// the key in KMS or the HSM. It fails closed: the decision events are written before the key is
// used, the completion event after, and signatures are returned only when both are written.
//
// A handler (lib/api/signer), a test or a queue consumer drives it the same way: Parse the
// request, then Sign it for a Caller. The package knows nothing of HTTP.
package signing

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/readcache"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// ErrDenied is a signing request the policies refuse (403); it is recorded.
var ErrDenied = fmt.Errorf("signing: denied: %w", fault.ErrForbidden)

// Store is what signing needs of the table (store.Store): the certificate and the policies,
// the confirmation of cached reads, the event log and the idempotency records.
type Store interface {
	policy.Source
	CertificateForSigning(ctx context.Context, dep, id string) (certificates.Certificate, int64, error)
	ListCertificates(ctx context.Context, dep string, pr store.PageRequest) (store.Page[certificates.Certificate], error)
	ConfirmReads(ctx context.Context) error
	AppendEvent(ctx context.Context, e audit.Event) (audit.Event, error)
	SettleEvent(ctx context.Context, sealed, void audit.Event) (audit.Event, error)
	CheckpointEvents(ctx context.Context, seal store.Sealer, events ...audit.Event) error
	AppendEventCounting(ctx context.Context, e audit.Event, seal store.Sealer, use store.Use) (audit.Event, error, error)
	ClaimIdempotency(ctx context.Context, dep, scope, k, fingerprint string) (*store.Idempotent, error)
	CompleteIdempotency(ctx context.Context, dep, scope, k, response string) error
	ReleaseIdempotency(ctx context.Context, dep, scope, k string) error
	GrantStore
	HeldStore
}

// Keys opens a certificate's key by its URI (keys.Registry).
type Keys interface {
	Open(ctx context.Context, uri string) (keys.Key, error)
}

// Signer runs the protocol. It keeps each deployment's compiled policies between requests of a
// warm function (reloaded when their version moves). It is safe for concurrent use.
type Signer struct {
	store    Store
	keys     Keys
	policies *policy.Cache
	now      func() time.Time
	log      func(ctx context.Context) *slog.Logger

	notary      *audit.Notary
	anchors     audit.Anchors
	anchorEvery time.Duration
	anchored    sync.Map // "<deployment>#<lane>" → time.Time of its last anchor by this instance

	ts     *timestamps // WithTimestamps (timestamps.go)
	grants grantCache  // each deployment's user grants (grants.go)
}

// Option configures a Signer.
type Option func(*Signer)

// WithNotary seals every checkpoint the signer writes and gives each signing answer a receipt
// (nil: neither). The key is used only once the notary can seal: a signature is never
// returned without its receipt.
func WithNotary(n *audit.Notary) Option { return func(s *Signer) { s.notary = n } }

// WithAnchors anchors a lane's sealed checkpoint in a every so often (per instance and lane;
// nil: never). It needs WithNotary.
func WithAnchors(a audit.Anchors, every time.Duration) Option {
	return func(s *Signer) { s.anchors, s.anchorEvery = a, every }
}

// New returns a signer on st and the key backends of ks; now is the clock and log gives the
// request's logger (warnings that do not change the answer go there).
func New(st Store, ks Keys, now func() time.Time, log func(ctx context.Context) *slog.Logger, opts ...Option) *Signer {
	s := &Signer{store: st, keys: ks, policies: policy.NewCache(st), now: now, log: log}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Caller is who asks, as authenticated and authorised to reach the signer.
type Caller struct {
	DeploymentID string
	UserID       string
	// Roles are the roles the policies match for the caller (identity's policy roles).
	Roles []string
	// ClientIP is recorded with the decision ("" when unknown).
	ClientIP string
	// Workload, for a CI job signing with a session made from its OIDC token, is what the
	// verified token said of the job: recorded on every decision of its requests.
	Workload map[string]string
	// Admit, when set, says whether the caller may go on (its rate limits): the caller's
	// handler starts it before Sign, so that it runs while the signer reads, and the signer
	// waits for it before anything is recorded. A refusal ends the request unrecorded.
	Admit func() error
	// Spend, when set, takes what an allowed request of n digests uses of capacity shared
	// with other callers (its deployment's signing limit): only allowed requests spend it,
	// so that callers who may not sign cannot use it up. It runs while the decisions are
	// written; a refusal closes them unsigned, with the reason, and ends the request.
	Spend func(n int) error
}

// Answer is the outcome of Sign.
type Answer struct {
	Response wire.Response
	// Replay, when set, is the first answer to an idempotent request, exactly as it was
	// given then (Response is empty).
	Replay []byte
}

// Sign decides, records and signs req for c. idempotencyKey ("" for none) makes a retry of the
// same request by the same caller get the first answer: nothing is signed twice. The key is
// claimed before anything happens.
func (s *Signer) Sign(ctx context.Context, c Caller, req Request, idempotencyKey string) (Answer, error) {
	if idempotencyKey == "" {
		out, err := s.signOnce(ctx, c, req)
		return Answer{Response: out}, err
	}
	dep, scope := c.DeploymentID, "sign:"+c.UserID
	canon, _ := json.Marshal(req.body)
	sum := sha256.Sum256(canon)
	fp := hex.EncodeToString(sum[:])
	prior, err := s.store.ClaimIdempotency(ctx, dep, scope, idempotencyKey, fp)
	if err != nil {
		return Answer{}, err
	}
	switch {
	case prior == nil:
	case prior.Fingerprint != fp:
		return Answer{}, fault.Newf(fault.ErrUnprocessable, "This Idempotency-Key was used for a different signing request; use a new key.")
	case !prior.Done:
		return Answer{}, fault.Newf(fault.ErrConflict, "A signing request with this Idempotency-Key is in progress; retry in a moment.")
	case strings.HasPrefix(prior.Response, heldReplay):
		// The first try was held for approval: a retry is the same held request, not a
		// second one for the approvers.
		var h Held
		if err := json.Unmarshal([]byte(strings.TrimPrefix(prior.Response, heldReplay)), &h); err != nil {
			return Answer{}, fmt.Errorf("idempotency: the held answer does not parse: %w", err)
		}
		return Answer{}, &h
	default:
		return Answer{Replay: []byte(prior.Response)}, nil
	}
	out, err := s.signOnce(ctx, c, req)
	var held *Held
	if errors.As(err, &held) {
		raw, _ := json.Marshal(held)
		_ = s.store.CompleteIdempotency(context.WithoutCancel(ctx), dep, scope, idempotencyKey, heldReplay+string(raw))
		return Answer{}, err
	}
	if err != nil {
		_ = s.store.ReleaseIdempotency(context.WithoutCancel(ctx), dep, scope, idempotencyKey)
		return Answer{}, err
	}
	raw, _ := json.Marshal(out)
	// A failure to store the answer leaves the key claimed until it expires: a retry is then
	// refused (409), never signed twice.
	_ = s.store.CompleteIdempotency(context.WithoutCancel(ctx), dep, scope, idempotencyKey, string(raw))
	return Answer{Response: out}, nil
}

// signOnce decides, records and signs one request.
func (s *Signer) signOnce(ctx context.Context, c Caller, req Request) (wire.Response, error) {
	body, dep := req.body, c.DeploymentID
	// The certificate and the policies' version in one call; the compiled policy set is
	// reloaded only when the version moved. The caller's roles are those the guard read from
	// the stored user: no second read.
	cert, version, err := s.store.CertificateForSigning(ctx, dep, body.CertificateID)
	if err != nil {
		return wire.Response{}, err
	}
	set, err := s.policies.SetAt(ctx, dep, version)
	if err != nil {
		return wire.Response{}, err
	}
	scheme := keys.Scheme(body.SignatureScheme)
	if scheme == "" {
		scheme = keys.SchemesFor(cert.Algorithm)[0]
	}
	if !slices.Contains(keys.SchemesFor(cert.Algorithm), scheme) {
		return wire.Response{}, fault.Fields{{Name: "signatureScheme", Reason: fmt.Sprintf("a %s key signs with %v", cert.Algorithm, keys.SchemesFor(cert.Algorithm))}}
	}
	if c.Admit != nil {
		if err := c.Admit(); err != nil {
			return wire.Response{}, err
		}
	}
	now := s.now()
	decision, err := s.decideGranted(ctx, set, version, c, body.Context, cert, now)
	if err != nil {
		return wire.Response{}, err
	}
	base := audit.Event{DeploymentID: dep, Kind: audit.KindDecision, At: now, UserID: c.UserID, ClientIP: c.ClientIP,
		CertificateID: cert.ID, PolicyID: decision.PolicyID, Reason: decision.Reason, Workload: c.Workload}
	base.Decision = audit.Deny
	if decision.Allowed {
		base.Decision = audit.Allow
	}
	// A caller no policy could let sign and who owns nothing it asks to sign with is refused
	// with the smallest record: who, which certificate, how many digests, why.
	bare := !decision.Allowed && cert.Owner != c.UserID && !set.MayAllow(c.UserID, c.Roles)
	if a := set.ApprovalOf(decision.PolicyID); decision.Allowed && a != nil {
		// Its policy requires approval: the request is recorded and held (approvals.go).
		return wire.Response{}, s.hold(ctx, c, req, cert, scheme, base, a)
	}
	// What decided may have come from this instance's cache (the deployment, the caller, the
	// certificate, the policies' version). A denial is written only once those are confirmed
	// current; an allowed request confirms them while its decisions are written, and the key
	// is used only after. Changed items make the route decide again on fresh reads.
	// (ConfirmReads makes no call when nothing came from the cache.)
	confirmed, spent := make(chan error, 1), make(chan error, 1)
	if decision.Allowed && c.Spend != nil {
		go func() { spent <- c.Spend(len(req.digests)) }()
	} else {
		spent <- nil
	}
	// An allowed request whose grant counts its signatures takes them meanwhile (grants.go);
	// they are given back unless they go out.
	hold := s.holdGrant(ctx, dep, decision, len(req.digests))
	defer hold.release()
	if decision.Allowed {
		// The notary must be able to seal the receipt before the key is used: on a cold
		// instance it has the checkpoint key certify its sealing key meanwhile.
		go func() {
			err := s.store.ConfirmReads(ctx)
			if s.notary != nil {
				if nerr := s.notary.Ready(ctx); nerr != nil && err == nil {
					err = fault.Wrap(fault.ErrUnavailable, nerr, "The event log's checkpoint key cannot be used; retry.")
				}
			}
			confirmed <- err
		}()
	} else if err := s.store.ConfirmReads(ctx); err != nil {
		return wire.Response{}, err
	} else {
		confirmed <- nil
	}
	// Every decision is recorded, denials too; an allowed digest is recorded before the key
	// is used. A failed write means no signature.
	events, err := s.recordDecisions(ctx, base, req, decision.Allowed, bare, decision.Code)
	confirmErr := <-confirmed
	if err != nil {
		return wire.Response{}, err
	}
	if confirmErr != nil {
		// The decisions rest on items that changed (or could not be confirmed): they are
		// closed unsigned, and the route decides again on fresh reads.
		reason := staleReason
		if !errors.Is(confirmErr, readcache.ErrStale) {
			reason = "not signed: what decided could not be confirmed current, or the log could not be sealed"
		}
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, reason)
		return wire.Response{}, confirmErr
	}
	if !decision.Allowed {
		return wire.Response{}, fault.Newf(ErrDenied, "Signing with %s is not allowed: %s", cert.ID, decision.CallerReason)
	}
	if err := hold.wait(cert.ID); err != nil {
		return wire.Response{}, s.refuseGrant(ctx, events, err)
	}
	if err := <-spent; err != nil {
		reason := "not signed: the deployment's signing capacity could not be taken"
		if errors.Is(err, fault.ErrTooManyRequests) {
			reason = "not signed: over the deployment's signing rate limit"
		}
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, reason)
		return wire.Response{}, err
	}
	sigs, err := s.signDigests(ctx, cert, scheme, req)
	if err != nil {
		// None of the request's signatures is returned, so none is recorded as signed.
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, "")
		return wire.Response{}, err
	}
	// A policy that requires timestamps gets a checked token for every signature, or none
	// of them is returned.
	tokens, err := s.timestamp(ctx, dep, set, decision, req, sigs)
	if err != nil {
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, noTimestampReason(err))
		return wire.Response{}, err
	}
	// The signatures are returned only once their completion is recorded.
	completion, err := s.complete(ctx, events, true, sigs, audit.Signed, "")
	if err != nil {
		return wire.Response{}, err
	}
	out := wire.Response{CertificateID: cert.ID, Algorithm: string(cert.Algorithm), SignatureScheme: string(scheme), ChainPEM: cert.ChainPEM,
		Receipt: s.receipt(ctx, append(events, completion))}
	hold.keep()
	for i, sig := range sigs {
		// Every signature names the request's decision, which lists its digest at i.
		out.Signatures = append(out.Signatures, wire.Signature{Digest: base64.StdEncoding.EncodeToString(req.digests[i]),
			Signature: base64.StdEncoding.EncodeToString(sig), EventID: events[0].ID})
		if tokens != nil {
			out.Signatures[i].TimestampToken = base64.StdEncoding.EncodeToString(tokens[i])
		}
	}
	return out, nil
}

// recordDecisions records the decision on req in one event (from base), one write: a
// request, allowed or denied, is one decision whatever its number of digests. One digest is
// recorded as Digest (with its algorithm and file name); more as Digests ("<algorithm>:<hex>",
// in the request's order) with their file names in Files. The request's shared context
// (process, command line, agent, CI, file name) is cut to what the log keeps (recordContext).
// A bare denial keeps neither digests nor context: who, which certificate, how many digests,
// why.
//
// An allowed decision is appended alone, before the key is used; its lane's checkpoint moves
// with the completion. A denial is the request's last record: its lane's checkpoint and the
// deployment's activity count move in the same write (code is the denial's reason as the
// activity counts it). An allowed decision whose write failed but may have landed is closed
// as failed (best effort), so that none is left without its outcome.
func (s *Signer) recordDecisions(ctx context.Context, base audit.Event, req Request, allowed, bare bool, code string) ([]audit.Event, error) {
	e := base
	e.ID = tenant.NewID("evt_")
	e.Lane = audit.LaneOf(e.ID)
	if len(req.digests) > 1 || !allowed {
		e.DigestCount = len(req.digests)
	}
	if !bare {
		recordContext(&e, req.body.Context)
		if len(req.digests) == 1 && allowed {
			e.Digest, e.DigestAlgorithm = hex.EncodeToString(req.digests[0]), hashName(req.hashes[0])
			if f := req.body.Digests[0].FileName; f != "" {
				e.FileName = recordName(&e, "fileName", f)
			}
		} else {
			for i, d := range req.digests {
				e.Digests = append(e.Digests, hashName(req.hashes[i])+":"+hex.EncodeToString(d))
			}
			recordFiles(&e, req.body.Digests)
		}
	}
	if !allowed {
		ctx = context.WithoutCancel(ctx)
		use := store.Use{CertificateID: e.CertificateID, At: e.At, Activity: &activity.Tally{At: e.At, CertificateID: e.CertificateID,
			UserID: e.UserID, Agent: agentOf(e), Denied: true, Reason: code}}
		sealed, err := s.appendCounting(ctx, e, use)
		if err != nil {
			return nil, err
		}
		return []audit.Event{sealed}, nil
	}
	sealed, err := s.store.AppendEvent(ctx, e)
	if err != nil {
		if sealed.Seq > 0 {
			_, _ = s.complete(ctx, []audit.Event{sealed}, false, nil, audit.Failed, "")
		}
		return nil, err
	}
	return []audit.Event{sealed}, nil
}

// recordName is a name the client reported (field f of e), cut to what the log keeps.
func recordName(e *audit.Event, f, v string) string {
	if len(v) <= maxRecordedName {
		return v
	}
	e.Cut = append(e.Cut, f)
	return cut(v, maxRecordedName)
}

// recordFiles puts the file names of a request's digests in e.Files, in the digests' order
// ("" for a digest without one; none at all when no digest has one).
func recordFiles(e *audit.Event, digests []wire.Digest) {
	named := false
	for _, d := range digests {
		named = named || d.FileName != ""
	}
	if !named {
		return
	}
	cutAny := false
	for _, d := range digests {
		f := d.FileName
		if len(f) > maxRecordedName {
			f, cutAny = cut(f, maxRecordedName), true
		}
		e.Files = append(e.Files, f)
	}
	if cutAny {
		e.Cut = append(e.Cut, "files")
	}
}

// maxConcurrentSigns bounds the key calls one request has in flight: a batch signs at the
// key's speed, not one digest after another, without one request taking all of a key
// service's capacity (KMS's request quota is shared by the account).
const maxConcurrentSigns = 16

// signDigests signs every digest of req with cert's key, up to maxConcurrentSigns at a time;
// the first error ends it (signatures made are not returned).
func (s *Signer) signDigests(ctx context.Context, cert certificates.Certificate, scheme keys.Scheme, req Request) ([][]byte, error) {
	key, err := s.keys.Open(ctx, cert.KeyURI)
	if err != nil {
		return nil, err
	}
	sigs := make([][]byte, len(req.digests))
	if len(req.digests) == 1 {
		sigs[0], err = key.SignContext(ctx, req.digests[0], keys.Opts(scheme, req.hashes[0]))
		return sigs, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, maxConcurrentSigns)
	)
	for i, d := range req.digests {
		slots <- struct{}{}
		if ctx.Err() != nil {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			sig, err := key.SignContext(ctx, d, keys.Opts(scheme, req.hashes[i]))
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			sigs[i] = sig
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sigs, nil
}

// complete records the outcome of a request's decision in one completion event, written with
// its lane's checkpoint, the certificate's usage and the deployment's activity count in one
// write (store.AppendEventCounting), so that it is written for all the signatures or for
// none: the decisions it closes and, when signed, the SHA-256 of each signature in the
// digests' order.
// written says whether every decision is known to be recorded (else some may not be, and no
// checkpoint may name them).
// reason, when set, says why an unsigned request ended so.
func (s *Signer) complete(ctx context.Context, decisions []audit.Event, written bool, sigs [][]byte, outcome, reason string) (audit.Event, error) {
	if len(decisions) == 0 {
		return audit.Event{}, nil
	}
	ids := make([]string, len(decisions))
	for i, d := range decisions {
		ids[i] = d.ID
	}
	var sums []string
	if outcome == audit.Signed {
		for _, sig := range sigs {
			sum := sha256.Sum256(sig)
			sums = append(sums, hex.EncodeToString(sum[:]))
		}
	}
	d := decisions[0]
	e := audit.Event{ID: tenant.NewID("evt_"), DeploymentID: d.DeploymentID, Kind: audit.KindCompletion, At: s.now(),
		Of: strings.Join(ids, ","), Outcome: outcome, CertificateID: d.CertificateID, UserID: d.UserID,
		SignatureSHA256: strings.Join(sums, ","), Reason: reason}
	e.Lane = d.Lane
	ctx = context.WithoutCancel(ctx)
	use := store.Use{CertificateID: d.CertificateID, N: len(sigs), At: e.At}
	if reason != staleReason { // decided again: the request's outcome is the next decision's
		use.Activity = &activity.Tally{At: e.At, CertificateID: d.CertificateID, UserID: d.UserID, Agent: agentOf(d),
			Signed: len(sigs), Failed: outcome != audit.Signed}
	}
	sealed, err := s.appendCounting(ctx, e, use)
	if err == nil {
		return sealed, nil
	}
	if outcome == audit.Signed && sealed.Seq > 0 && s.settle(ctx, sealed) {
		return sealed, nil
	}
	// The completion is not recorded; the decisions' lane still gets its checkpoint.
	if written {
		s.checkpoint(ctx, d)
	}
	return audit.Event{}, err
}

// appendCounting appends e with its lane's checkpoint, sealed, and use counted, in one write;
// the checkpoint is anchored (when due) only once it is written. A count that could not be
// written is logged: the events are the record.
func (s *Signer) appendCounting(ctx context.Context, e audit.Event, use store.Use) (audit.Event, error) {
	var seal store.Sealer
	var last *audit.Seal
	var lastOf string // the hash of the event last sealed
	if s.notary != nil {
		seal = func(e audit.Event) *audit.Seal {
			last, lastOf = nil, ""
			sl, err := s.notary.Seal(ctx, audit.TypeCheckpoint, e.DeploymentID, e)
			if err != nil {
				s.log(ctx).Warn("event checkpoint not sealed", slog.String("error", err.Error()))
				return nil
			}
			last, lastOf = &sl, e.Hash
			return last
		}
	}
	sealed, uncounted, err := s.store.AppendEventCounting(ctx, e, seal, use)
	if uncounted != nil {
		s.log(ctx).Warn("certificate usage or activity not counted", slog.String("error", uncounted.Error()))
	}
	if err == nil && last != nil && lastOf == sealed.Hash {
		s.anchor(ctx, *last)
	}
	return sealed, err
}

// settle decides a signed completion whose write failed without an answer: it may have
// landed. A void completion (outcome failed) is written at the same place on condition that
// the place is empty; whichever write holds the place is the record. settle reports whether
// the signed completion holds it (then the signatures must be returned; otherwise none may
// be, and none can be recorded later). When even that cannot be learnt, nothing is returned
// and the signed completion may stand without its signatures having gone out: that needs
// every one of several attempts to fail.
func (s *Signer) settle(ctx context.Context, sealed audit.Event) bool {
	void := sealed
	void.ID, void.Outcome, void.SignatureSHA256, void.Hash, void.PrevHash = tenant.NewID("evt_"), audit.Failed, "", "", ""
	for attempt := 0; attempt < 8; attempt++ {
		held, err := s.store.SettleEvent(ctx, sealed, void)
		if err == nil {
			if held.ID == sealed.ID && held.Hash == sealed.Hash {
				return true
			}
			s.checkpoint(ctx, held)
			return false
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return false
}

// staleReason closes decisions that rested on cached items that changed: the route decides
// again, so the request is counted by its next decision, not as a failure.
const staleReason = "not signed: what decided changed before the key was used; decided again"

// agentOf names the client of a request's first decision for the activity counts: the agent
// id it reported, or the repository of a CI job's verified session.
func agentOf(d audit.Event) string {
	if d.AgentID != "" {
		return d.AgentID
	}
	return d.Workload["repository"]
}

// checkpoint moves the event lanes' checkpoints forward. The events are recorded already; a
// failure only leaves the checkpoint behind until the lane's next event, so it is logged,
// not returned.
func (s *Signer) checkpoint(ctx context.Context, events ...audit.Event) {
	ctx = context.WithoutCancel(ctx)
	if err := s.store.CheckpointEvents(ctx, s.sealer(ctx), events...); err != nil {
		s.log(ctx).Warn("event checkpoint not moved", slog.String("error", err.Error()))
	}
}

// sealer seals the checkpoints the signer writes (nil without a notary) and anchors those
// that are due outside the table. A checkpoint that cannot be sealed is written unsealed:
// the lane's last seal stays, and the next checkpoint seals it.
func (s *Signer) sealer(ctx context.Context) store.Sealer {
	if s.notary == nil {
		return nil
	}
	return func(e audit.Event) *audit.Seal {
		seal, err := s.notary.Seal(ctx, audit.TypeCheckpoint, e.DeploymentID, e)
		if err != nil {
			s.log(ctx).Warn("event checkpoint not sealed", slog.String("error", err.Error()))
			return nil
		}
		s.anchor(ctx, seal)
		return &seal
	}
}

// anchor keeps seal, a checkpoint of a recorded event, outside the table when its lane's
// last anchor by this instance is anchorEvery old: in the background, so that no request
// waits on it (a failed anchor is tried again with the lane's next checkpoint).
func (s *Signer) anchor(ctx context.Context, seal audit.Seal) {
	if s.anchors == nil {
		return
	}
	p := seal.Statement.Events[0]
	k := fmt.Sprintf("%s#%d", seal.Statement.DeploymentID, p.Lane)
	now := s.now()
	if last, ok := s.anchored.Load(k); ok && now.Sub(last.(time.Time)) < s.anchorEvery {
		return
	}
	s.anchored.Store(k, now)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.anchors.PutAnchor(ctx, seal); err != nil {
			s.anchored.Delete(k)
			s.log(ctx).Warn("event checkpoint not anchored", slog.String("error", err.Error()))
		}
	}()
}

// receipt seals where a signed request's events are, for the client to keep (nil without a
// notary). The notary was ready before the key was used, so sealing does not fail but for a
// broken random source; the signatures, recorded, are returned even then.
func (s *Signer) receipt(ctx context.Context, events []audit.Event) json.RawMessage {
	if s.notary == nil {
		return nil
	}
	seal, err := s.notary.Seal(ctx, audit.TypeReceipt, events[0].DeploymentID, events...)
	if err != nil {
		s.log(ctx).Warn("signing receipt not sealed", slog.String("error", err.Error()))
		return nil
	}
	raw, _ := json.Marshal(seal)
	return raw
}

// What the log keeps of what a client reports: a request may report more (Parse's limits),
// and what is cut is named in the event's Cut. Bounded so that no request, allowed or denied,
// can make the permanent log grow by more than a few kilobytes per request beyond its digests.
const (
	maxRecordedName        = 256  // process, agentId, fileName
	maxRecordedCommandLine = 1024 // commandLine
	maxRecordedCI          = 2048 // ci: keys and values together
	maxRecordedCIValue     = 256
)

// recordContext puts the request's shared context in e, cut to what the log keeps.
func recordContext(e *audit.Event, c wire.Context) {
	for _, f := range []struct {
		name string
		dst  *string
		v    string
		max  int
	}{
		{"process", &e.Process, c.Process, maxRecordedName},
		{"commandLine", &e.CommandLine, c.CommandLine, maxRecordedCommandLine},
		{"agentId", &e.AgentID, c.AgentID, maxRecordedName},
		{"fileName", &e.FileName, c.FileName, maxRecordedName},
	} {
		*f.dst = f.v
		if len(f.v) > f.max {
			*f.dst = cut(f.v, f.max)
			e.Cut = append(e.Cut, f.name)
		}
	}
	if len(c.CI) == 0 {
		return
	}
	keys := make([]string, 0, len(c.CI))
	for k := range c.CI {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.CI = map[string]string{}
	budget, cutCI := maxRecordedCI, false
	for _, k := range keys {
		v := c.CI[k]
		if len(v) > maxRecordedCIValue {
			v, cutCI = cut(v, maxRecordedCIValue), true
		}
		if len(k)+len(v) > budget {
			cutCI = true
			continue
		}
		budget -= len(k) + len(v)
		e.CI[k] = v
	}
	if cutCI {
		e.Cut = append(e.Cut, "ci")
	}
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaxApplicationField is the longest process name or command line a caller reports.
const MaxApplicationField = 4096

// Certificates are the certificates c may sign with now, from the application (process and
// command line) the agent reports: policies limited to applications (Where) decide for it as
// they will when it signs; without one only policies that hold for any application count.
func (s *Signer) Certificates(ctx context.Context, c Caller, process, commandLine string) ([]wire.Certificate, error) {
	if len(process) > MaxApplicationField || len(commandLine) > MaxApplicationField {
		return nil, fault.Fields{{Name: "process", Reason: "process and commandLine are at most 4096 bytes"}}
	}
	dep, now := c.DeploymentID, s.now()
	version, err := s.store.PoliciesVersion(ctx, dep)
	if err != nil {
		return nil, err
	}
	set, err := s.policies.SetAt(ctx, dep, version)
	if err != nil {
		return nil, err
	}
	grants, err := s.grantsAt(ctx, dep, version)
	if err != nil {
		return nil, err
	}
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Certificate], error) {
		return s.store.ListCertificates(ctx, dep, pr)
	})
	if err != nil {
		return nil, err
	}
	app := wire.Context{Process: process, CommandLine: commandLine}
	out := []wire.Certificate{}
	for _, cert := range all {
		if cert.State(now) != certificates.StatusActive {
			continue
		}
		d := withGrants(decide(set, c, app, cert, now), grants, c, cert, now)
		if !d.Allowed {
			continue
		}
		var schemes []string
		for _, sc := range keys.SchemesFor(cert.Algorithm) {
			schemes = append(schemes, string(sc))
		}
		out = append(out, wire.Certificate{ID: cert.ID, Name: cert.Name, Algorithm: string(cert.Algorithm), Schemes: schemes,
			Subject: cert.Subject.CommonName, Thumbprint: cert.Thumbprint, NotAfter: cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
			Owner: d.Owner, ChainPEM: cert.ChainPEM})
	}
	return out, nil
}

func hashName(h crypto.Hash) string {
	for k, v := range hashes {
		if v == h {
			return k
		}
	}
	return h.String()
}
