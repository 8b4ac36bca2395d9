// Package signer is the signing API's HTTP face: it decodes a request, hands it to the signing
// protocol (lib/signing) for the caller the guard admitted, and encodes the answer.
package signer

import (
	"context"
	"net/http"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/signing"
	"github.com/opensignum/signum/lib/wire"
)

type api struct{ signer *signing.Signer }

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
	a := api{signing.New(p.Store, registry, p.Now, edge.Logger)}
	anyConsole := access.AnyConsoleCaller()
	// GET /sign/certificates — any console caller of the deployment: the certificates the
	// policies let it sign with (at this time, from any process).
	m.Handle("GET /sign/certificates", anyConsole, a.certificates)
	// POST /sign — any console caller; the policies decide, and every decision is recorded.
	// Its reads may come from the cache: they are confirmed while the decision is written,
	// before the key is used (see signing.Signer.Sign).
	m.HandleCached("POST /sign", anyConsole, a.sign, p.Store.ConfirmReads)
	return m
}

// caller is who the guard admitted, as the signing protocol knows callers.
func caller(r *http.Request, req *access.Request) signing.Caller {
	c := signing.Caller{DeploymentID: req.Deployment.ID, UserID: req.Principal.UserID, Roles: req.Principal.PolicyRoles()}
	if addr, err := edge.SourceIP(r); err == nil {
		c.ClientIP = addr.String()
	}
	return c
}

func (a api) sign(w http.ResponseWriter, r *http.Request, req *access.Request) error {
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
	out, err := a.signer.Sign(r.Context(), caller(r, req), parsed, idem)
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

func (a api) certificates(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	q := r.URL.Query()
	out, err := a.signer.Certificates(r.Context(), caller(r, req), q.Get("process"), q.Get("commandLine"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}
