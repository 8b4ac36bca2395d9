package signing

// Approvals (M of N): a request whose deciding policy requires approval is recorded as a
// pending decision and held (a store item) instead of signed. Approvers named by the policy,
// directly or by role, approve or reject it in the console; each answer is an event of the
// log (KindApproval), recorded before it counts. Once M have approved, the requester's next
// fetch (GET /sign/requests/{id}) decides again on fresh reads, signs exactly the digests
// that were held and closes the pending decision with its completion, as POST /sign does;
// the answer is kept with the request, so that fetching again returns the same signatures.
// A request nobody decided in time expires; a rejected, expired or failed one ends with a
// failed completion saying why.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// checkHeldID refuses an id that is no held request's id (the id of a decision event,
// tenant.NewID("evt_")) before anything is read: a field error naming requestId.
func checkHeldID(id string) error {
	ok := len(id) == len("evt_")+26 && strings.HasPrefix(id, "evt_")
	for i := len("evt_"); ok && i < len(id); i++ {
		c := id[i]
		ok = (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')
	}
	if !ok {
		return fault.Fields{{Name: "requestId", Reason: fmt.Sprintf("%q is not a signing request id (evt_…)", fault.Clip(id, 40))}}
	}
	return nil
}

// HeldStore is what approvals need of the table (store.Store, pattern 67).
type HeldStore interface {
	CreateApprovalRequest(ctx context.Context, r store.ApprovalRequest) (store.ApprovalRequest, error)
	GetApprovalRequest(ctx context.Context, dep, id string) (store.ApprovalRequest, error)
	ListApprovalRequests(ctx context.Context, dep, status string, pr store.PageRequest) (store.Page[store.ApprovalRequest], error)
	SaveApprovalRequest(ctx context.Context, current int64, next store.ApprovalRequest) (store.ApprovalRequest, error)
}

// Held is Sign's answer to a request held for approval (202 at the edge): nothing is signed
// yet; the requester fetches the outcome by RequestID.
type Held struct {
	RequestID string
	ExpiresAt time.Time
	Required  int
}

func (h *Held) Error() string { return "signing: held for approval as " + h.RequestID }

// heldReplay marks an Idempotency-Key's stored answer as a held request's (the JSON of Held
// follows): a retry with the key answers the same held request.
const heldReplay = "held:"

// Answers an approver gives.
const (
	Approve = audit.Approve
	Reject  = audit.Reject
)

// Held requests' states beyond wire's: signing is an approved request a fetch has claimed.
const heldSigning = "signing"

// claimTimeout is how long a fetch's claim on an approved request stands: a fetch that died
// while signing leaves it claimed, and a later fetch takes it over after this (longer than
// the signer's timeout, so that two fetches never sign it at once).
const claimTimeout = time.Minute

// MaxComment is the longest approver's comment kept.
const MaxComment = 1000

// staleRetries bounds the re-reads of a held request that changed under a write.
const staleRetries = 8

// hold records req, which a allows once approved, as a pending decision and keeps it
// (with its digests and context) for the approvers; the answer is a *Held.
func (s *Signer) hold(ctx context.Context, c Caller, req Request, cert certificates.Certificate, scheme keys.Scheme, base audit.Event, a *policy.Approval) error {
	// What decided is confirmed current before anything is recorded (nothing is signed now,
	// so nothing runs beside it).
	if err := s.store.ConfirmReads(ctx); err != nil {
		return err
	}
	if err := s.sealReady(ctx); err != nil {
		return err
	}
	base.Decision = audit.Pending
	base.Reason = fmt.Sprintf("%s, once %d approver(s) approve", base.Reason, a.Required)
	events, err := s.recordDecisions(ctx, base, req, true, false, "")
	if err != nil {
		return err
	}
	d := events[0]
	// The request may wait for hours: its lane's checkpoint moves now, not with the
	// completion.
	s.checkpoint(ctx, d)
	raw, _ := json.Marshal(d)
	now := s.now()
	r := store.ApprovalRequest{ID: d.ID, DeploymentID: d.DeploymentID, UserID: c.UserID, ClientIP: c.ClientIP, CertificateID: cert.ID,
		PolicyID: d.PolicyID, Scheme: string(scheme), Process: d.Process, CommandLine: d.CommandLine, AgentID: d.AgentID, FileName: d.FileName,
		CI: d.CI, Workload: c.Workload, Required: a.Required, Users: a.Users, Roles: a.Roles, CreatedAt: now, Expires: now.Add(a.Expiry()),
		Status: wire.HeldPending, Decision: string(raw)}
	for i, dg := range req.digests {
		r.Digests = append(r.Digests, store.HeldDigest{Digest: base64.StdEncoding.EncodeToString(dg), Algorithm: hashName(req.hashes[i]),
			FileName: cut(req.body.Digests[i].FileName, maxRecordedName)})
	}
	if _, err := s.store.CreateApprovalRequest(ctx, r); err != nil {
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, "not held: the request could not be kept for its approvers")
		return err
	}
	return &Held{RequestID: r.ID, ExpiresAt: r.Expires, Required: r.Required}
}

// Fetched is the outcome of a held request as its requester fetches it: the signed answer
// (Response, as POST /sign answers it) once signed, else its state.
type Fetched struct {
	Response json.RawMessage
	State    wire.HeldRequest
}

// Fetch is GET /sign/requests/{id} for c: the state of c's own held request, or, once it is
// approved, its signatures. An approved request is signed by the first fetch after its
// approval (on fresh reads: a certificate disabled or deleted meanwhile, or a policy that no
// longer allows c, signs nothing and ends the request failed); later fetches get the same
// answer. Another caller's request is not found.
func (s *Signer) Fetch(ctx context.Context, c Caller, id string) (Fetched, error) {
	if err := checkHeldID(id); err != nil {
		return Fetched{}, err
	}
	for range staleRetries {
		r, err := s.store.GetApprovalRequest(ctx, c.DeploymentID, id)
		if err != nil {
			return Fetched{}, err
		}
		if r.UserID != c.UserID {
			return Fetched{}, fault.Newf(store.ErrNotFound, "No signing request held for approval has the id %q.", fault.Clip(id, 40))
		}
		now := s.now()
		switch r.Status {
		case wire.HeldSigned:
			return Fetched{Response: json.RawMessage(r.Response)}, nil
		case wire.HeldPending:
			if !now.Before(r.Expires) {
				r, err = s.end(ctx, r, wire.HeldExpired, "not signed: not approved before the request expired")
				if errors.Is(err, store.ErrStale) {
					continue
				}
				if err != nil {
					return Fetched{}, err
				}
			}
			return Fetched{State: heldState(r)}, nil
		case heldSigning:
			if now.Sub(r.ClaimedAt) < claimTimeout {
				// Another fetch is signing it: the caller asks again in a moment.
				st := heldState(r)
				st.Status = wire.HeldApproved
				return Fetched{State: st}, nil
			}
			fallthrough
		case wire.HeldApproved:
			claimed := r
			claimed.Status, claimed.ClaimedAt = heldSigning, now
			claimed, err = s.store.SaveApprovalRequest(ctx, r.Version, claimed)
			if errors.Is(err, store.ErrStale) {
				continue
			}
			if err != nil {
				return Fetched{}, err
			}
			return s.signHeld(ctx, c, claimed)
		default:
			return Fetched{State: heldState(r)}, nil
		}
	}
	return Fetched{}, fault.Newf(fault.ErrConflict, "The signing request %s is changing; retry in a moment.", fault.Clip(id, 40))
}

// heldState is r as its requester sees it.
func heldState(r store.ApprovalRequest) wire.HeldRequest {
	st := wire.HeldRequest{RequestID: r.ID, Status: r.Status, ExpiresAt: r.Expires.UTC().Format(time.RFC3339), Required: r.Required, Reason: r.Reason}
	if st.Status == heldSigning {
		st.Status = wire.HeldApproved
	}
	for _, v := range r.Votes {
		if v.Answer == Approve {
			st.Approvals++
		}
	}
	return st
}

// signHeld signs r, approved and claimed by this fetch, for c: decided again on fresh reads,
// then signed and completed as signOnce signs.
func (s *Signer) signHeld(ctx context.Context, c Caller, r store.ApprovalRequest) (Fetched, error) {
	var decision audit.Event
	if err := json.Unmarshal([]byte(r.Decision), &decision); err != nil {
		return Fetched{}, fmt.Errorf("held request %s: decision: %w", r.ID, err)
	}
	events := []audit.Event{decision}
	// fail ends r unsigned, with its completion, and says why to the caller.
	fail := func(reason string, cause error) (Fetched, error) {
		_, _ = s.complete(ctx, events, true, nil, audit.Failed, reason)
		r.Status, r.Reason = wire.HeldFailed, reason
		if saved, err := s.saveClaimed(ctx, r); err == nil {
			r = saved
		}
		if cause != nil {
			return Fetched{}, cause
		}
		return Fetched{State: heldState(r)}, nil
	}
	cert, version, err := s.store.CertificateForSigning(ctx, c.DeploymentID, r.CertificateID)
	if errors.Is(err, fault.ErrNotFound) {
		return fail("not signed: the certificate was deleted while the request waited for approval", nil)
	}
	if err != nil {
		return Fetched{}, s.unclaim(ctx, r, err)
	}
	set, err := s.policies.SetAt(ctx, c.DeploymentID, version)
	if err != nil {
		return Fetched{}, s.unclaim(ctx, r, err)
	}
	now := s.now()
	d := decide(set, c, wire.Context{Process: r.Process, CommandLine: r.CommandLine}, cert, now)
	// What decides now must be current: a certificate disabled meanwhile signs nothing.
	if err := s.store.ConfirmReads(ctx); err != nil {
		return Fetched{}, s.unclaim(ctx, r, err)
	}
	if err := s.sealReady(ctx); err != nil {
		return Fetched{}, s.unclaim(ctx, r, err)
	}
	if !d.Allowed {
		return fail("not signed: approved, but no longer allowed: "+d.Reason, nil)
	}
	body := wire.Request{CertificateID: r.CertificateID, SignatureScheme: r.Scheme}
	for _, dg := range r.Digests {
		body.Digests = append(body.Digests, wire.Digest{Digest: dg.Digest, DigestAlgorithm: dg.Algorithm, FileName: dg.FileName})
	}
	req, err := Parse(body)
	if err != nil {
		return fail("not signed: the held digests do not parse", err)
	}
	if c.Spend != nil {
		if err := c.Spend(len(req.digests)); err != nil {
			// Over the deployment's limit: the claim is given back, and a later fetch signs.
			return Fetched{}, s.unclaim(ctx, r, err)
		}
	}
	// A grant of the approving policy counts these signatures as signOnce's would
	// (grants.go); they are given back unless they go out.
	hold := s.holdGrant(ctx, c.DeploymentID, d, len(req.digests))
	defer hold.release()
	if err := hold.wait(cert.ID); err != nil {
		reason := "not signed: the grant's count could not be taken"
		if detail, ok := fault.DetailOf(err); ok && errors.Is(err, ErrGrantUsedUp) {
			reason = "denied: " + detail
		}
		return fail(reason, err)
	}
	sigs, err := s.signDigests(ctx, cert, keys.Scheme(r.Scheme), req)
	if err != nil {
		return fail("", err)
	}
	// A policy that requires timestamps gets them for approved requests too (timestamps.go).
	tokens, err := s.timestamp(ctx, c.DeploymentID, set, d, req, sigs)
	if err != nil {
		return fail(noTimestampReason(err), err)
	}
	completion, err := s.complete(ctx, events, true, sigs, audit.Signed, "")
	if err != nil {
		r.Status, r.Reason = wire.HeldFailed, "not signed: the completion could not be recorded"
		_, _ = s.saveClaimed(ctx, r)
		return Fetched{}, err
	}
	hold.keep()
	out := wire.Response{CertificateID: cert.ID, Algorithm: string(cert.Algorithm), SignatureScheme: r.Scheme, ChainPEM: cert.ChainPEM,
		Receipt: s.receipt(ctx, []audit.Event{decision, completion})}
	for i, sig := range sigs {
		out.Signatures = append(out.Signatures, wire.Signature{Digest: r.Digests[i].Digest, Signature: base64.StdEncoding.EncodeToString(sig), EventID: decision.ID})
		if tokens != nil {
			out.Signatures[i].TimestampToken = base64.StdEncoding.EncodeToString(tokens[i])
		}
	}
	raw, _ := json.Marshal(out)
	r.Status, r.Response = wire.HeldSigned, string(raw)
	// The signatures are recorded: they are returned even when keeping them fails (a later
	// fetch then finds the claim and, after claimTimeout, signs again; both are recorded).
	if _, err := s.saveClaimed(ctx, r); err != nil {
		s.log(ctx).Warn("signed held request not kept", slog.String("request", r.ID), slog.String("error", err.Error()))
	}
	return Fetched{Response: raw}, nil
}

// saveClaimed writes r, claimed by this fetch, a few times over (nobody else changes a
// claimed request but a fetch that takes over a claim past claimTimeout).
func (s *Signer) saveClaimed(ctx context.Context, r store.ApprovalRequest) (store.ApprovalRequest, error) {
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := range 3 {
		var saved store.ApprovalRequest
		if saved, err = s.store.SaveApprovalRequest(ctx, r.Version, r); err == nil {
			return saved, nil
		}
		if errors.Is(err, store.ErrStale) {
			return store.ApprovalRequest{}, err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return store.ApprovalRequest{}, err
}

// unclaim gives the claim on r back (approved again, for the next fetch) and returns cause.
func (s *Signer) unclaim(ctx context.Context, r store.ApprovalRequest, cause error) error {
	r.Status, r.ClaimedAt = wire.HeldApproved, time.Time{}
	_, _ = s.saveClaimed(ctx, r)
	return cause
}

// sealReady makes sure the notary can seal the checkpoints an approval step writes (on a
// cold instance it has the checkpoint key certify its sealing key first): a step that cannot
// be sealed is not taken.
func (s *Signer) sealReady(ctx context.Context) error {
	if s.notary == nil {
		return nil
	}
	if err := s.notary.Ready(ctx); err != nil {
		return fault.Wrap(fault.ErrUnavailable, err, "The event log's checkpoint key cannot be used; retry.")
	}
	return nil
}

// end moves pending r to status (rejected by a vote already saved, or expired) and closes its
// decision with a failed completion saying reason. The state is written first, so that of
// two callers ending it only one records the completion.
func (s *Signer) end(ctx context.Context, r store.ApprovalRequest, status, reason string) (store.ApprovalRequest, error) {
	next := r
	next.Status, next.Reason = status, reason
	if err := s.sealReady(ctx); err != nil {
		return r, err
	}
	saved, err := s.store.SaveApprovalRequest(ctx, r.Version, next)
	if err != nil {
		return r, err
	}
	s.closeHeld(ctx, saved, reason)
	return saved, nil
}

// closeHeld records the failed completion of held request r's decision.
func (s *Signer) closeHeld(ctx context.Context, r store.ApprovalRequest, reason string) {
	var decision audit.Event
	if err := json.Unmarshal([]byte(r.Decision), &decision); err != nil {
		s.log(ctx).Warn("held request's decision unreadable", slog.String("request", r.ID), slog.String("error", err.Error()))
		return
	}
	if _, err := s.complete(ctx, []audit.Event{decision}, true, nil, audit.Failed, reason); err != nil {
		s.log(ctx).Warn("held request's completion not recorded", slog.String("request", r.ID), slog.String("error", err.Error()))
	}
}

// Approver is a console user who looks at or answers held requests: its policy roles as
// the guard read them.
type Approver struct {
	DeploymentID, UserID string
	Roles                []string
}

// mayApprove reports whether who is among r's approvers.
func mayApprove(r store.ApprovalRequest, who Approver) bool {
	a := policy.Approval{Users: r.Users, Roles: r.Roles}
	return a.MayApprove(who.UserID, who.Roles)
}

// visible reports whether who may see r: an approver, or its requester.
func visible(r store.ApprovalRequest, who Approver) bool {
	return r.UserID == who.UserID || mayApprove(r, who)
}

// HeldRequests lists the held requests who may see (as approver or requester) a page at a
// time; status, when set, keeps those in that status. Expired requests still marked pending
// are shown expired (they are closed by the next answer or fetch).
func (s *Signer) HeldRequests(ctx context.Context, who Approver, status string, pr store.PageRequest) (store.Page[store.ApprovalRequest], error) {
	stored := status
	if status == wire.HeldExpired || status == wire.HeldApproved {
		stored = "" // some are still marked pending, or signing
	}
	page, err := s.store.ListApprovalRequests(ctx, who.DeploymentID, stored, pr)
	if err != nil {
		return page, err
	}
	now := s.now()
	out := page.Items[:0]
	for _, r := range page.Items {
		r = shown(r, now)
		if visible(r, who) && (status == "" || r.Status == status || (status == wire.HeldApproved && r.Status == heldSigning)) {
			out = append(out, r)
		}
	}
	page.Items = out
	return page, nil
}

// HeldRequest is one held request who may see.
func (s *Signer) HeldRequest(ctx context.Context, who Approver, id string) (store.ApprovalRequest, error) {
	if err := checkHeldID(id); err != nil {
		return store.ApprovalRequest{}, err
	}
	r, err := s.store.GetApprovalRequest(ctx, who.DeploymentID, id)
	if err != nil {
		return r, err
	}
	if !visible(r, who) {
		return store.ApprovalRequest{}, fault.Newf(store.ErrNotFound, "No signing request held for approval has the id %q.", fault.Clip(id, 40))
	}
	return shown(r, s.now()), nil
}

// shown is r as the console shows it at now: pending past its expiry is expired.
func shown(r store.ApprovalRequest, now time.Time) store.ApprovalRequest {
	if r.Status == wire.HeldPending && !now.Before(r.Expires) {
		r.Status = wire.HeldExpired
	}
	return r
}

// Answer records who's answer (Approve or Reject, with an optional comment) to held request
// id. The requester may not answer its own request (403); a request that is no longer
// pending, or expired, or that who answered already, is a conflict (409). The answer is an
// event of the log, recorded before it counts: a vote whose event could not be written
// counts for nothing. The M-th approval approves the request (the requester's next fetch
// signs it); a rejection ends it.
func (s *Signer) Answer(ctx context.Context, who Approver, id, answer, comment string) (store.ApprovalRequest, error) {
	if answer != Approve && answer != Reject {
		return store.ApprovalRequest{}, fault.Fields{{Name: "answer", Reason: "is approve or reject"}}
	}
	if len(comment) > MaxComment {
		return store.ApprovalRequest{}, fault.Fields{{Name: "comment", Reason: fmt.Sprintf("is at most %d bytes", MaxComment)}}
	}
	comment = strings.TrimSpace(comment)
	if err := checkHeldID(id); err != nil {
		return store.ApprovalRequest{}, err
	}
	var recorded bool // this answer's event is in the log (a retry after a stale write does not record it twice)
	for range staleRetries {
		r, err := s.store.GetApprovalRequest(ctx, who.DeploymentID, id)
		if err != nil {
			return r, err
		}
		if r.UserID == who.UserID {
			return store.ApprovalRequest{}, fault.Newf(fault.ErrForbidden, "Nobody approves or rejects their own signing request; another approver must answer it.")
		}
		if !mayApprove(r, who) {
			return store.ApprovalRequest{}, fault.Newf(store.ErrNotFound, "No signing request held for approval has the id %q.", fault.Clip(id, 40))
		}
		if r.Status != wire.HeldPending {
			return store.ApprovalRequest{}, fault.Newf(fault.ErrConflict, "The signing request %s is %s already; it can no longer be answered.", r.ID, shown(r, s.now()).Status)
		}
		now := s.now()
		if !now.Before(r.Expires) {
			if _, err := s.end(ctx, r, wire.HeldExpired, "not signed: not approved before the request expired"); errors.Is(err, store.ErrStale) {
				continue
			}
			return store.ApprovalRequest{}, fault.Newf(fault.ErrConflict, "The signing request %s expired at %s; it can no longer be answered.", r.ID, r.Expires.UTC().Format(time.RFC3339))
		}
		if slices.ContainsFunc(r.Votes, func(v store.ApprovalVote) bool { return v.UserID == who.UserID }) {
			return store.ApprovalRequest{}, fault.Newf(fault.ErrConflict, "You answered the signing request %s already.", r.ID)
		}
		if !recorded {
			if err := s.sealReady(ctx); err != nil {
				return store.ApprovalRequest{}, err
			}
			e := audit.Event{ID: tenant.NewID("evt_"), DeploymentID: r.DeploymentID, Kind: audit.KindApproval, At: now, UserID: who.UserID,
				CertificateID: r.CertificateID, Of: r.ID, Outcome: answer, Reason: comment, PolicyID: r.PolicyID}
			e.Lane = audit.LaneOf(e.ID)
			sealed, err := s.store.AppendEvent(ctx, e)
			if err != nil {
				return store.ApprovalRequest{}, err
			}
			recorded = true
			s.checkpoint(ctx, sealed)
		}
		next := r
		next.Votes = append(slices.Clone(r.Votes), store.ApprovalVote{UserID: who.UserID, Answer: answer, Comment: comment, At: now})
		approvals := 0
		for _, v := range next.Votes {
			if v.Answer == Approve {
				approvals++
			}
		}
		switch {
		case answer == Reject:
			next.Status, next.Reason = wire.HeldRejected, "not signed: rejected by "+who.UserID
		case approvals >= r.Required:
			next.Status = wire.HeldApproved
		}
		saved, err := s.store.SaveApprovalRequest(ctx, r.Version, next)
		if errors.Is(err, store.ErrStale) {
			continue
		}
		if err != nil {
			return store.ApprovalRequest{}, err
		}
		if saved.Status == wire.HeldRejected {
			s.closeHeld(ctx, saved, saved.Reason)
		}
		return saved, nil
	}
	return store.ApprovalRequest{}, fault.Newf(fault.ErrConflict, "The signing request %s is changing; retry in a moment.", fault.Clip(id, 40))
}
