package signer

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/signing"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/wire"
)

// Approvals are served by the signer: a held request is part of the signing protocol (its
// answer is signed by the requester's fetch, with the keys only this function may use), and
// its approvals are events of the signing log, which this function writes and seals.

// approvalRoutes adds the held requests' routes to m.
func (a api) approvalRoutes(m *access.Mux, confirm func(context.Context) error) {
	// GET /sign/requests/{requestId} — the console caller (or CI session) that made the
	// request, only: its state, or once approved its signatures (signed by the first fetch).
	// Its reads may come from the cache: they are confirmed before the key is used.
	m.HandleCached("GET /sign/requests/{requestId}", access.Signer(), a.fetch, confirm)
	// GET /console/approvals — any console user: the held requests it may approve or made.
	m.Handle("GET /console/approvals", access.AnyConsoleCaller(), a.heldList)
	// GET /console/approvals/{requestId} — any console user who may approve it or made it.
	m.Handle("GET /console/approvals/{requestId}", access.AnyConsoleCaller(), a.heldGet)
	// POST /console/approvals/{requestId}/approve — an approver the policy names, not the
	// requester.
	m.Handle("POST /console/approvals/{requestId}/approve", access.AnyConsoleCaller(), a.answer(signing.Approve))
	// POST /console/approvals/{requestId}/reject — an approver the policy names, not the
	// requester.
	m.Handle("POST /console/approvals/{requestId}/reject", access.AnyConsoleCaller(), a.answer(signing.Reject))
}

// heldAnswer writes the 202 answer to a request held for approval.
func heldAnswer(w http.ResponseWriter, h *signing.Held) {
	w.Header().Set("Location", "/sign/requests/"+h.RequestID)
	edge.WriteJSON(w, http.StatusAccepted, wire.HeldRequest{RequestID: h.RequestID, Status: wire.HeldPending,
		ExpiresAt: h.ExpiresAt.UTC().Format(time.RFC3339), Required: h.Required})
}

func (a api) fetch(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx := r.Context()
	// A fetch is one of the caller's requests (polling is bounded by its rate limit); the
	// signatures it makes come from the deployment's, as POST /sign's do.
	if err := access.Once(ctx, "sign:caller", func() error {
		return ratelimit.Check(ctx, a.rates, a.now(), a.callerRequest(req))
	}); err != nil {
		return err
	}
	c := caller(r, req)
	c.Spend = func(n int) error {
		if err := capped(req.Deployment); err != nil {
			return err
		}
		return access.Once(ctx, "sign:deployment", func() error { return a.spend(ctx, req, n) })
	}
	out, err := a.signer.Fetch(ctx, c, r.PathValue("requestId"))
	if err != nil {
		return err
	}
	if out.Response != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(out.Response, '\n'))
		return nil
	}
	edge.WriteJSON(w, http.StatusOK, out.State)
	return nil
}

// HeldRequest is a held request as the console shows it.
type HeldRequest struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	RequestedBy   string            `json:"requestedBy"`
	ClientIP      string            `json:"clientIp,omitempty"`
	CertificateID string            `json:"certificateId"`
	PolicyID      string            `json:"policyId"`
	Digests       []HeldDigest      `json:"digests"`
	Process       string            `json:"process,omitempty"`
	CommandLine   string            `json:"commandLine,omitempty"`
	AgentID       string            `json:"agentId,omitempty"`
	FileName      string            `json:"fileName,omitempty"`
	CI            map[string]string `json:"ci,omitempty"`
	Workload      map[string]string `json:"workload,omitempty"`
	Required      int               `json:"required"`
	Approvers     HeldApprovers     `json:"approvers"`
	Answers       []HeldAnswer      `json:"answers"`
	CreatedAt     time.Time         `json:"createdAt"`
	ExpiresAt     time.Time         `json:"expiresAt"`
	Reason        string            `json:"reason,omitempty"`
	// MayAnswer says the caller may approve or reject it now.
	MayAnswer bool `json:"mayAnswer"`
}

// HeldDigest is one digest of a held request, in hex.
type HeldDigest struct {
	Digest          string `json:"digest"`
	DigestAlgorithm string `json:"digestAlgorithm"`
	FileName        string `json:"fileName,omitempty"`
}

// HeldApprovers name who may approve.
type HeldApprovers struct {
	Users []string `json:"users"`
	Roles []string `json:"roles"`
}

// HeldAnswer is one approver's answer.
type HeldAnswer struct {
	UserID  string    `json:"userId"`
	Answer  string    `json:"answer"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

func approver(req *access.Request) signing.Approver {
	return signing.Approver{DeploymentID: req.Deployment.ID, UserID: req.Principal.UserID, Roles: req.Principal.PolicyRoles()}
}

func heldJSON(r store.ApprovalRequest, who signing.Approver) HeldRequest {
	status := r.Status
	if status == "signing" {
		status = wire.HeldApproved
	}
	out := HeldRequest{ID: r.ID, Status: status, RequestedBy: r.UserID, ClientIP: r.ClientIP, CertificateID: r.CertificateID, PolicyID: r.PolicyID,
		Digests: []HeldDigest{}, Process: r.Process, CommandLine: r.CommandLine, AgentID: r.AgentID, FileName: r.FileName, CI: r.CI,
		Workload: r.Workload, Required: r.Required, Approvers: HeldApprovers{Users: nonNil(r.Users), Roles: nonNil(r.Roles)},
		Answers: []HeldAnswer{}, CreatedAt: r.CreatedAt, ExpiresAt: r.Expires, Reason: r.Reason}
	for _, d := range r.Digests {
		raw, _ := base64.StdEncoding.DecodeString(d.Digest)
		out.Digests = append(out.Digests, HeldDigest{Digest: hex.EncodeToString(raw), DigestAlgorithm: d.Algorithm, FileName: d.FileName})
	}
	voted := false
	for _, v := range r.Votes {
		out.Answers = append(out.Answers, HeldAnswer{UserID: v.UserID, Answer: v.Answer, Comment: v.Comment, At: v.At})
		voted = voted || v.UserID == who.UserID
	}
	out.MayAnswer = status == wire.HeldPending && r.UserID != who.UserID && !voted &&
		(slices.Contains(r.Users, who.UserID) || slices.ContainsFunc(who.Roles, func(x string) bool { return slices.Contains(r.Roles, x) }))
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var heldStatuses = []string{wire.HeldPending, wire.HeldApproved, wire.HeldSigned, wire.HeldRejected, wire.HeldExpired, wire.HeldFailed}

func (a api) heldList(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(heldStatuses, status) {
		return fault.Fields{{Name: "status", Reason: "is pending, approved, signed, rejected, expired or failed"}}
	}
	who := approver(req)
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[store.ApprovalRequest], error) {
		return a.signer.HeldRequests(ctx, who, status, pr)
	}, func(h store.ApprovalRequest) HeldRequest { return heldJSON(h, who) })
}

func (a api) heldGet(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	who := approver(req)
	h, err := a.signer.HeldRequest(r.Context(), who, r.PathValue("requestId"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, heldJSON(h, who))
	return nil
}

// answerBody is the body of an approval or rejection (optional).
type answerBody struct {
	Comment string `json:"comment"`
}

func (a api) answer(answer string) access.Handler {
	return func(w http.ResponseWriter, r *http.Request, req *access.Request) error {
		// The body, {"comment": "..."}, is optional: a request without a content type has none.
		var body answerBody
		if r.Header.Get("Content-Type") != "" {
			if err := edge.DecodeJSON(r, &body, 0); err != nil {
				return err
			}
		}
		who := approver(req)
		h, err := a.signer.Answer(r.Context(), who, r.PathValue("requestId"), answer, body.Comment)
		if err != nil {
			return err
		}
		edge.WriteJSON(w, http.StatusOK, heldJSON(h, who))
		return nil
	}
}
