// Package marketplace is the HTTP face of the marketplace subscriptions (lib/fulfilment):
// the fulfilment URL AWS Marketplace sends buyers to, Azure's landing page token exchange,
// the registration that creates a buyer's deployment, the Azure fulfilment webhook, and a
// portal view of a deployment's subscription, plan, limits and usage.
package marketplace

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/fulfilment"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	mkt "github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// DefaultRegistrationURL is the web app's registration page.
const DefaultRegistrationURL = "/app/marketplace/register"

type api struct {
	svc     *fulfilment.Service
	store   *store.Store
	webhook mkt.WebhookVerifier
	regURL  string
	signer  func(domain string) string
	now     func() time.Time
}

// Build is the fulfilment function's handler: registration and the portal's subscription
// view.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	svc, verifier, err := function.Fulfilment(ctx, env, p)
	if err != nil {
		return nil, err
	}
	return NewHandler(env, p, svc, verifier), nil
}

// BuildWebhook is the Azure webhook function's handler.
func BuildWebhook(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	svc, verifier, err := function.Fulfilment(ctx, env, p)
	if err != nil {
		return nil, err
	}
	return NewWebhookHandler(env, p, svc, verifier), nil
}

// NewHandler returns the marketplace routes.
func NewHandler(env function.Env, p *function.Parts, svc *fulfilment.Service, verifier mkt.WebhookVerifier) *access.Mux {
	a := api{svc: svc, store: p.Store, webhook: verifier, regURL: env.Config.Marketplace.RegistrationURL, signer: p.Guard.SignerEndpoint, now: p.Now}
	if a.regURL == "" {
		a.regURL = DefaultRegistrationURL
	}
	m := access.NewMux(env.Log, p.Guard)
	// POST /marketplace/aws/register — anyone (the buyer's browser, sent by AWS Marketplace
	// with x-amzn-marketplace-token in a form): resolves the token at once and sends the
	// browser to the registration page with a ticket (JSON for a client that asks for it).
	m.Handle("POST /marketplace/aws/register", access.Public(), a.awsRegister)
	// POST /marketplace/azure/resolve — anyone (the landing page, with the token Azure put
	// in its URL): the subscription and a registration ticket.
	m.Handle("POST /marketplace/azure/resolve", access.Public(), a.azureResolve)
	// POST /marketplace/registrations/preview — anyone holding a ticket: what is being
	// registered (plan, limits, region, state).
	m.Handle("POST /marketplace/registrations/preview", access.Public(), a.preview)
	// POST /marketplace/registrations — anyone holding a ticket: create the subscription's
	// deployment; answers the first Admin's deployment link, once.
	m.Handle("POST /marketplace/registrations", access.Public(), a.register)
	// GET /portal/deployments/{id}/subscription — portal Admin, User and Viewer: the plan, its
	// limits, the usage against them and the marketplace subscription's state.
	m.Handle("GET /portal/deployments/{id}/subscription", access.PortalRoles(identity.RoleAdmin, identity.RoleUser, identity.RoleViewer), a.portalSubscription)
	return m
}

// NewWebhookHandler returns the Azure webhook's route.
func NewWebhookHandler(env function.Env, p *function.Parts, svc *fulfilment.Service, verifier mkt.WebhookVerifier) *access.Mux {
	a := api{svc: svc, store: p.Store, webhook: verifier, signer: p.Guard.SignerEndpoint, now: p.Now}
	m := access.NewMux(env.Log, p.Guard)
	// POST /marketplace/azure/webhook — Azure (a bearer token signed by the publisher
	// tenant's keys, for our app, from the marketplace's app; checked here, not by the
	// guard, since it is not one of our tokens).
	m.Handle("POST /marketplace/azure/webhook", access.Public(), a.azureWebhook)
	return m
}

// maxFormBytes bounds the fulfilment form (a token of a few hundred bytes).
const maxFormBytes = 16 << 10

func (a api) awsRegister(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	token, err := marketplaceToken(r)
	browser := wantsHTML(r)
	if err == nil {
		var ticket string
		var sub mkt.Subscription
		ticket, sub, err = a.svc.ResolveAWS(r.Context(), token)
		if err == nil {
			if browser {
				http.Redirect(w, r, a.regURL+"#ticket="+url.QueryEscape(ticket), http.StatusSeeOther)
				return nil
			}
			edge.WriteJSON(w, http.StatusCreated, Ticket{Ticket: ticket, RegistrationURL: a.regURL, Subscription: wire.SubscriptionJSON(sub)})
			return nil
		}
	}
	if browser && !isServerFault(err) {
		// A person in a browser sees the registration page explain what went wrong, not a
		// JSON document.
		p := edge.ProblemFor(err)
		http.Redirect(w, r, a.regURL+"#error="+url.QueryEscape(p.Detail), http.StatusSeeOther)
		return nil
	}
	return err
}

// isServerFault reports whether err is the service's (5xx) rather than the request's.
func isServerFault(err error) bool { return edge.ProblemFor(err).Status >= 500 }

// wantsHTML reports whether the caller is a browser navigating (AWS sends the buyer's
// browser with a form post).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// marketplaceToken reads x-amzn-marketplace-token from the form AWS posts (or from a JSON
// body, for scripts).
func marketplaceToken(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "application/x-www-form-urlencoded":
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
		if err != nil {
			return "", fault.Wrap(fault.ErrInvalid, err, "The form could not be read.")
		}
		if len(body) > maxFormBytes {
			return "", fault.Newf(edge.ErrTooLarge, "The form is larger than %d bytes.", maxFormBytes)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fault.Fields{{Name: "x-amzn-marketplace-token", Reason: "the form is not URL-encoded"}}
		}
		return form.Get("x-amzn-marketplace-token"), nil
	case "application/json":
		var body struct {
			Token string `json:"x-amzn-marketplace-token"`
		}
		if err := edge.DecodeJSON(r, &body, maxFormBytes); err != nil {
			return "", err
		}
		return body.Token, nil
	}
	return "", fault.Newf(edge.ErrUnsupportedMediaType, "Send x-amzn-marketplace-token as an application/x-www-form-urlencoded form (as AWS Marketplace does), got %q.", fault.Clip(ct, 60))
}

// Ticket is a registration ticket with its subscription.
type Ticket struct {
	Ticket          string            `json:"ticket"`
	RegistrationURL string            `json:"registrationUrl"`
	Subscription    wire.Subscription `json:"subscription"`
}

// ResolveRequest is the body of POST /marketplace/azure/resolve.
type ResolveRequest struct {
	Token string `json:"token"`
}

func (a api) azureResolve(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	var body ResolveRequest
	if err := edge.DecodeJSON(r, &body, maxFormBytes); err != nil {
		return err
	}
	ticket, sub, err := a.svc.ResolveAzure(r.Context(), body.Token)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusCreated, Ticket{Ticket: ticket, RegistrationURL: a.regURL, Subscription: wire.SubscriptionJSON(sub)})
	return nil
}

// PreviewRequest is the body of POST /marketplace/registrations/preview.
type PreviewRequest struct {
	Ticket string `json:"ticket"`
}

func (a api) preview(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	var body PreviewRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := checkTicket(body.Ticket); err != nil {
		return err
	}
	sub, err := a.svc.Registration(r.Context(), body.Ticket)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, wire.SubscriptionJSON(sub))
	return nil
}

// checkTicket refuses what cannot be a ticket without a read.
func checkTicket(t string) error {
	if !strings.HasPrefix(t, "mkt_") || len(t) > 100 {
		return fault.Fields{{Name: "ticket", Reason: "is not a registration ticket (they start with mkt_)"}}
	}
	return nil
}

// RegisterRequest is the body of POST /marketplace/registrations.
type RegisterRequest struct {
	Ticket     string `json:"ticket"`
	Name       string `json:"name"`
	DomainName string `json:"domainName"`
	AdminEmail string `json:"adminEmail"`
}

// Registered is a new deployment with its first Admin's deployment link.
type Registered struct {
	Deployment       wire.Deployment   `json:"deployment"`
	Subscription     wire.Subscription `json:"subscription"`
	FirstAdminInvite FirstAdminInvite  `json:"firstAdminInvite"`
}

// FirstAdminInvite is the deployment link of the first Admin, shown once.
type FirstAdminInvite struct {
	Token     string    `json:"token"`
	Email     string    `json:"email,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (a api) register(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	var body RegisterRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := checkTicket(body.Ticket); err != nil {
		return err
	}
	if strings.TrimSpace(body.AdminEmail) == "" {
		return fault.Fields{{Name: "adminEmail", Reason: "is required: the first Admin registers with this address"}}
	}
	res, sub, err := a.svc.Register(r.Context(), body.Ticket, fulfilment.RegisterRequest{Name: body.Name, DomainName: body.DomainName, AdminEmail: body.AdminEmail})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/portal/deployments/"+res.Deployment.ID)
	edge.WriteJSON(w, http.StatusCreated, Registered{
		Deployment:       wire.DeploymentJSON(res.Deployment).WithSigner(a.signer),
		Subscription:     wire.SubscriptionJSON(sub),
		FirstAdminInvite: FirstAdminInvite{Token: res.FirstAdminLink, Email: strings.ToLower(strings.TrimSpace(body.AdminEmail)), ExpiresAt: res.FirstAdminLinkExpires},
	})
	return nil
}

// maxWebhookBytes bounds a webhook body (a few hundred bytes in practice).
const maxWebhookBytes = 64 << 10

// WebhookAnswer says what a webhook call did.
type WebhookAnswer struct {
	Outcome string `json:"outcome"`
}

func (a api) azureWebhook(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	if a.webhook == nil {
		return fulfilment.ErrNotConfigured
	}
	// The body is read and decoded first (a small JSON object, read tolerantly), so that a
	// malformed call says what is wrong; nothing is done with it until the token is verified.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBytes+1))
	if err != nil {
		return fault.Wrap(fault.ErrInvalid, err, "The request body could not be read.")
	}
	if len(body) > maxWebhookBytes {
		return fault.Newf(edge.ErrTooLarge, "The request body is larger than %d bytes.", maxWebhookBytes)
	}
	op, err := azuremarket.DecodeWebhook(body)
	if err != nil {
		return err
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(bearer) == "" {
		return fault.Newf(fault.ErrUnauthenticated, "The webhook needs the marketplace's bearer token.")
	}
	if err := a.webhook.Verify(r.Context(), strings.TrimSpace(bearer)); err != nil {
		return err
	}
	// Azure waits about 10 seconds for an answer; a call that takes longer fails here and
	// is delivered again rather than answered after Azure gave up.
	ctx, cancel := context.WithTimeout(r.Context(), 8*time.Second)
	defer cancel()
	out, err := a.svc.AzureWebhook(ctx, op)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, WebhookAnswer{Outcome: string(out)})
	return nil
}

// Usage is a deployment's use of its plan's limits.
type Usage struct {
	Certificates int `json:"certificates"`
	Users        int `json:"users"`
	// SignaturesThisMonth counts this calendar month's (UTC) signatures.
	SignaturesThisMonth int64 `json:"signaturesThisMonth"`
}

// PortalSubscription is the portal's view of what a deployment's plan allows and uses.
type PortalSubscription struct {
	Plan          string             `json:"plan"`
	PlanName      string             `json:"planName"`
	Quantity      int                `json:"quantity,omitempty"`
	Region        string             `json:"region"`
	Status        string             `json:"status"`
	Limits        wire.Limits        `json:"limits"`
	Usage         Usage              `json:"usage"`
	SigningCapped bool               `json:"signingCapped"`
	Subscription  *wire.Subscription `json:"subscription,omitempty"`
	// Upgrade says what to change when a limit is reached ("" when none is).
	Upgrade string `json:"upgrade,omitempty"`
	// History is the subscription's last changes, newest first, from the system log.
	History []SubscriptionEvent `json:"history"`
}

// SubscriptionEvent is one change of a subscription, as the system log has it.
type SubscriptionEvent struct {
	At     time.Time `json:"at"`
	Change string    `json:"change"`
	Detail string    `json:"detail"`
}

// subscriptionLogPrefix is the actions of the system log entries of subscription changes.
const subscriptionLogPrefix = "deployment.subscription."

func (a api) portalSubscription(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx := r.Context()
	d := req.Deployment
	certs, users, err := a.store.UsageCounts(ctx, d.ID)
	if err != nil {
		return err
	}
	total, err := a.store.SignatureTotal(ctx, d.ID)
	if err != nil {
		return err
	}
	p, _ := tenant.PlanByID(d.Plan)
	out := PortalSubscription{Plan: d.Plan, PlanName: p.Name, Quantity: d.Quantity, Region: d.Region, Status: string(d.Status),
		Limits: wire.LimitsJSON(d.Limits()), SigningCapped: d.SigningCapped, Usage: Usage{Certificates: certs, Users: users, SignaturesThisMonth: total}}
	sub, err := a.store.SubscriptionOfDeployment(ctx, d)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		j := wire.SubscriptionJSON(sub)
		out.Subscription = &j
		out.Usage.SignaturesThisMonth = monthSignatures(sub.Metered, total, a.now())
	}
	out.Upgrade = upgrade(d, out.Usage)
	out.History = []SubscriptionEvent{}
	if d.SubscriptionID != "" {
		page, err := a.store.SearchLog(ctx, d.ID, store.LogFilter{Action: subscriptionLogPrefix}, store.PageRequest{Limit: 20})
		if err != nil {
			return err
		}
		for _, e := range page.Items {
			out.History = append(out.History, SubscriptionEvent{At: e.At, Change: strings.TrimPrefix(e.Action, subscriptionLogPrefix), Detail: e.Detail})
		}
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// monthSignatures is this month's signatures: the month's count at the last metering plus
// what was signed since, or only what was signed since when that metering was in an earlier
// month.
func monthSignatures(c mkt.MeterCursor, total int64, now time.Time) int64 {
	since := max(total-c.Signatures, 0)
	month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	if c.Month.Equal(month) {
		return c.MonthSignatures + since
	}
	return since
}

// upgrade says which limit is reached and what to do, "" when none is.
func upgrade(d tenant.Deployment, u Usage) string {
	l := d.Limits()
	var full []string
	if l.Certificates > 0 && u.Certificates >= l.Certificates {
		full = append(full, "certificates")
	}
	if l.Users > 0 && u.Users >= l.Users {
		full = append(full, "console users")
	}
	if d.SigningCapped || l.SignaturesPerMonth > 0 && u.SignaturesThisMonth >= int64(l.SignaturesPerMonth) {
		full = append(full, "signatures this month")
	}
	if len(full) == 0 {
		return ""
	}
	p, _ := tenant.PlanByID(d.Plan)
	what := "a larger plan"
	if p.PerSeat {
		what = "a larger plan or more seats"
	}
	return "The " + d.Plan + " plan's limit is reached for " + strings.Join(full, ", ") + ". Choose " + what + " for this subscription in the marketplace."
}
