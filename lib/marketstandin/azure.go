package marketstandin

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/tenant"
)

// Azure is an in-process stand-in for Microsoft's commercial marketplace as a SaaS publisher
// sees it: the SaaS fulfilment API v2, the metered billing usageEvent API, and the Entra ID
// tenant of the publisher (the client-credentials token endpoint, the signing keys, and the
// bearer tokens the marketplace puts on its webhook calls).
//
// One base URL serves both halves, so that one listener (an httptest server, or a path of the
// local server) is all a client needs:
//
//	<base>/api/saas/subscriptions/resolve               POST  (x-ms-marketplace-token)
//	<base>/api/saas/subscriptions/{id}                  GET
//	<base>/api/saas/subscriptions/{id}/activate         POST  {"planId","quantity"}
//	<base>/api/saas/subscriptions/{id}/operations       GET   (the pending ones)
//	<base>/api/saas/subscriptions/{id}/operations/{op}  GET, PATCH {"planId","quantity","status"}
//	<base>/api/usageEvent                               POST
//	<base>/login/{tenant}/oauth2/token                  POST  v1 client credentials (resource)
//	<base>/login/{tenant}/oauth2/v2.0/token             POST  v2 client credentials (scope)
//	<base>/login/{tenant}/discovery/v2.0/keys           GET   the signing keys (also /discovery/keys)
//	<base>/login/{tenant}/v2.0/.well-known/openid-configuration  GET (also without /v2.0)
//
// so a client's API base is <base>/api and its login base <base>/login, in place of
// https://marketplaceapi.microsoft.com/api and https://login.microsoftonline.com (AzureBases).
// Every /api call needs api-version=2018-08-31 and a bearer token from the token endpoint
// (403 otherwise, as Azure answers).
//
// The simulation follows Microsoft's documentation: a purchase (Subscribe) is
// PendingFulfillmentStart with a landing token valid 24 hours; activate makes it Subscribed;
// an operation (StartOperation) is recorded and its webhook body returned for the test to
// POST; Suspend, Reinstate and Unsubscribe change the subscription's status when they start,
// as Azure does before it notifies; ChangePlan and ChangeQuantity apply when PATCHed with
// Success, or on their own 10 seconds after they started (Azure accepts them then). Answers
// vary their spellings as Microsoft's examples do (quantities as strings or numbers, a padded
// status, 7-digit fractions), so clients meet the same tolerance tests as in production.
//
// Azure is safe for concurrent use. Times come from AzureOptions.Now, so tests can expire
// tokens and usage.
type Azure struct {
	opts AzureOptions
	mux  *http.ServeMux

	mu          sync.Mutex
	keys        []*azureKey // keys[len-1] signs; all are published
	subs        map[string]*azureSub
	subOrder    []string
	landing     map[string]azureLanding
	access      map[string]time.Time // access token -> expiry
	ops         map[string]*azureOp
	opOrder     []string
	usage       map[string]AzureUsageEvent // duplicate key -> accepted event
	usageOrder  []AzureUsageEvent
	calls       []AzureCall
	activations []AzureActivation
	patches     []AzureOperationPatch
	fail        map[string]int
}

// Defaults of AzureOptions: the stand-in publisher's tenant and app registration.
const (
	AzureTenantID     = "4a1c7e52-0b7e-4c1d-9a3f-2e5d7b9c0a11"
	AzureClientID     = "b3d2e1f0-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	AzureClientSecret = "stand-in-client-secret"
	AzurePublisherID  = "opensignum"
)

// AzureMarketplaceAppID is the marketplace API's application id: the resource of the
// publisher's tokens and the client (azp, appid) of the webhook's tokens.
const AzureMarketplaceAppID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"

// azureAPIVersion is the only api-version the stand-in answers.
const azureAPIVersion = "2018-08-31"

// AzureOptions configure NewAzure; zero values mean the defaults in the comments.
type AzureOptions struct {
	// TenantID, ClientID and ClientSecret are the publisher's tenant and app registration
	// (default AzureTenantID, AzureClientID, AzureClientSecret).
	TenantID, ClientID, ClientSecret string
	// PublisherID is the publisher's id in the answers (default AzurePublisherID).
	PublisherID string
	// BaseURL is the stand-in's public base URL, for the discovery document and the issuer
	// of its tokens (default: the scheme and host of each request, with no path).
	BaseURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Key signs the webhook tokens (default: a new 2048-bit key).
	Key *rsa.PrivateKey
	// AccessTokenTTL is the lifetime of the API access tokens (default 1 hour).
	AccessTokenTTL time.Duration
}

// AzureSubscription is a SaaS subscription as the stand-in holds it.
type AzureSubscription struct {
	ID, Name, OfferID, PlanID string
	Quantity                  int
	// Status is PendingFulfillmentStart, Subscribed, Suspended or Unsubscribed.
	Status                                            string
	PurchaserEmail, PurchaserTenant, BeneficiaryEmail string
	Created                                           time.Time
}

// AzureOperation is an operation the stand-in started (StartOperation).
type AzureOperation struct {
	ID, SubscriptionID string
	// Action is ChangePlan, ChangeQuantity, Renew, Suspend, Reinstate or Unsubscribe.
	Action   string
	PlanID   string
	Quantity int
	// Status is InProgress until PATCHed (or accepted after 10 s), then Succeeded or Failed;
	// the notify-only actions are Succeeded from the start.
	Status    string
	TimeStamp time.Time
	// Body is the webhook call's JSON body, as the marketplace would POST it.
	Body []byte
}

// AzureCall is one request the stand-in answered. It holds no token or secret.
type AzureCall struct {
	Method, Path string
	// APIVersion is the api-version query parameter ("" for the login endpoints).
	APIVersion string
	// RequestID and CorrelationID are the x-ms-requestid and x-ms-correlationid headers.
	RequestID, CorrelationID string
	Status                   int
}

// AzureActivation is an accepted activate call.
type AzureActivation struct {
	SubscriptionID, PlanID string
	Quantity               int
	At                     time.Time
}

// AzureOperationPatch is an accepted PATCH of an operation.
type AzureOperationPatch struct {
	SubscriptionID, OperationID, PlanID string
	Quantity                            int
	// Status is Success or Failure.
	Status string
	At     time.Time
}

// AzureUsageEvent is an accepted usage event.
type AzureUsageEvent struct {
	ID, ResourceID, Dimension, PlanID string
	Quantity                          float64
	// EffectiveStartTime is as sent; Hour its hour, the duplicate key's part.
	EffectiveStartTime string
	Hour               time.Time
	At                 time.Time
}

type azureSub struct {
	AzureSubscription
	plans     []string  // every plan it had, for usage sent after a change
	changedAt time.Time // when Status last changed
}

type azureLanding struct {
	subID   string
	expires time.Time
}

type azureOp struct {
	AzureOperation
	started time.Time
	// prevStatus is the subscription's status before a Reinstate, restored if it fails.
	prevStatus string
}

// NewAzure returns the stand-in with opts.
func NewAzure(opts AzureOptions) *Azure {
	if opts.TenantID == "" {
		opts.TenantID = AzureTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = AzureClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = AzureClientSecret
	}
	if opts.PublisherID == "" {
		opts.PublisherID = AzurePublisherID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	opts.TenantID = strings.ToLower(opts.TenantID)
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	a := &Azure{
		opts: opts, subs: map[string]*azureSub{}, landing: map[string]azureLanding{}, access: map[string]time.Time{},
		ops: map[string]*azureOp{}, usage: map[string]AzureUsageEvent{}, fail: map[string]int{},
	}
	a.keys = []*azureKey{newAzureKey(opts.Key)}
	a.routes()
	return a
}

// AzureBases are the API and login bases of clients of a stand-in served at baseURL.
func AzureBases(baseURL string) (apiBase, loginBase string) {
	baseURL = strings.TrimRight(baseURL, "/")
	return baseURL + "/api", baseURL + "/login"
}

// TenantID, ClientID and ClientSecret are the publisher's tenant and app registration the
// stand-in accepts.
func (a *Azure) TenantID() string     { return a.opts.TenantID }
func (a *Azure) ClientID() string     { return a.opts.ClientID }
func (a *Azure) ClientSecret() string { return a.opts.ClientSecret }

// Subscribe simulates a purchase: a new subscription, PendingFulfillmentStart, of offer and
// plan with quantity seats (0: not per seat), bought by purchaserEmail from a new customer
// tenant. It returns the landing page token (valid 24 hours; as it is, not URL-encoded: it
// has '+' and '/' in it, as Azure's have) and the subscription's id.
func (a *Azure) Subscribe(name, offer, plan string, quantity int, purchaserEmail string) (landingToken, subscriptionID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	s := &azureSub{AzureSubscription: AzureSubscription{
		ID: azureGUID(), Name: name, OfferID: offer, PlanID: plan, Quantity: quantity, Status: "PendingFulfillmentStart",
		PurchaserEmail: purchaserEmail, PurchaserTenant: azureGUID(), BeneficiaryEmail: purchaserEmail, Created: now,
	}, plans: []string{plan}, changedAt: now}
	a.subs[s.ID] = s
	a.subOrder = append(a.subOrder, s.ID)
	return a.newLandingLocked(s.ID, now), s.ID
}

// LandingToken is a new landing token for an existing subscription, as when the customer
// selects "Manage account" again; "" for an unknown subscription.
func (a *Azure) LandingToken(subscriptionID string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := strings.ToLower(subscriptionID)
	if a.subs[id] == nil {
		return ""
	}
	return a.newLandingLocked(id, a.opts.Now())
}

func (a *Azure) newLandingLocked(subID string, now time.Time) string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	// Standard base64, so the token has '+', '/' and maybe '=': a client must URL-decode
	// the landing page's parameter exactly once.
	t := base64.StdEncoding.EncodeToString(b)
	if !strings.ContainsAny(t, "+/") {
		t = t[:10] + "+/" + t[12:]
	}
	a.landing[t] = azureLanding{subID: subID, expires: now.Add(24 * time.Hour)}
	return t
}

// ExpireTokens makes every landing token issued so far expired.
func (a *Azure) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, l := range a.landing {
		l.expires = time.Time{}
		a.landing[t] = l
	}
}

// RevokeAccessTokens invalidates every API access token issued so far (the API answers 403
// to them), as a rotated secret or a disabled app would.
func (a *Azure) RevokeAccessTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.access)
}

// Subscription returns the subscription id as it stands.
func (a *Azure) Subscription(id string) (AzureSubscription, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.subs[strings.ToLower(id)]
	if s == nil {
		return AzureSubscription{}, false
	}
	return s.AzureSubscription, true
}

// StartOperation starts an operation on the subscription, as the customer or Azure would,
// and returns it with the webhook body to POST. action is ChangePlan, ChangeQuantity, Renew,
// Suspend, Reinstate or Unsubscribe (any case); plan and quantity are what a ChangePlan or
// ChangeQuantity changes to ("" and 0 keep the subscription's). Suspend, Reinstate and
// Unsubscribe change the subscription's status now. It panics for an unknown subscription or
// action: it is for tests and the local tooling.
func (a *Azure) StartOperation(subscriptionID, action, plan string, quantity int) AzureOperation {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.subs[strings.ToLower(subscriptionID)]
	if s == nil {
		panic(fmt.Sprintf("marketstandin: StartOperation: no subscription %q", subscriptionID))
	}
	i := slices.IndexFunc(azureActions, func(x string) bool { return strings.EqualFold(x, strings.TrimSpace(action)) })
	if i < 0 {
		panic(fmt.Sprintf("marketstandin: StartOperation: unknown action %q", action))
	}
	now := a.opts.Now()
	op := &azureOp{AzureOperation: AzureOperation{ID: azureGUID(), SubscriptionID: s.ID, Action: azureActions[i], PlanID: s.PlanID, Quantity: s.Quantity, TimeStamp: now}, started: now}
	if plan != "" {
		op.PlanID = plan
	}
	if quantity > 0 {
		op.Quantity = quantity
	}
	op.Status = "Succeeded"
	switch op.Action {
	case "ChangePlan", "ChangeQuantity":
		op.Status = "InProgress"
	case "Reinstate":
		op.Status, op.prevStatus = "InProgress", s.Status
		a.setStatusLocked(s, "Subscribed", now)
	case "Suspend":
		a.setStatusLocked(s, "Suspended", now)
	case "Unsubscribe":
		a.setStatusLocked(s, "Unsubscribed", now)
	}
	op.Body = a.webhookBodyLocked(op, s)
	a.ops[op.ID] = op
	a.opOrder = append(a.opOrder, op.ID)
	return op.AzureOperation
}

var azureActions = []string{"ChangePlan", "ChangeQuantity", "Renew", "Suspend", "Reinstate", "Unsubscribe"}

func (a *Azure) setStatusLocked(s *azureSub, status string, now time.Time) {
	if s.Status != status {
		s.Status, s.changedAt = status, now
	}
}

// webhookBodyLocked is the webhook's body, shaped like Microsoft's examples: the operation
// at the top (quantity as a number), the subscription as it stands nested.
func (a *Azure) webhookBodyLocked(op *azureOp, s *azureSub) []byte {
	body := map[string]any{
		"id":                     op.ID,
		"activityId":             azureGUID(),
		"publisherId":            a.opts.PublisherID,
		"offerId":                s.OfferID,
		"planId":                 op.PlanID,
		"quantity":               op.Quantity,
		"subscriptionId":         s.ID,
		"timeStamp":              azureTime(op.TimeStamp),
		"action":                 op.Action,
		"status":                 op.Status,
		"operationRequestSource": "Azure",
		"subscription":           a.subscriptionJSONLocked(s, false),
		"purchaseToken":          nil,
	}
	b, _ := json.Marshal(body)
	return b
}

// Operations lists the operations started so far, oldest first, as they stand.
func (a *Azure) Operations() []AzureOperation {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AzureOperation, 0, len(a.opOrder))
	for _, id := range a.opOrder {
		op := a.ops[id]
		a.autoAcceptLocked(op)
		out = append(out, op.AzureOperation)
	}
	return out
}

// Calls lists the requests answered so far, oldest first.
func (a *Azure) Calls() []AzureCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// Activations lists the accepted activate calls.
func (a *Azure) Activations() []AzureActivation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.activations)
}

// OperationPatches lists the accepted PATCHes of operations.
func (a *Azure) OperationPatches() []AzureOperationPatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.patches)
}

// UsageEvents lists the accepted usage events (duplicates are not repeated).
func (a *Azure) UsageEvents() []AzureUsageEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.usageOrder)
}

// FailNext makes the next n requests to path (the URL path, without query, e.g.
// "/api/saas/subscriptions/resolve" or "/login/<tenant>/oauth2/token") answer 500, for
// tests of retries. n <= 0 cancels.
func (a *Azure) FailNext(path string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n <= 0 {
		delete(a.fail, path)
		return
	}
	a.fail[path] = n
}

// ServeHTTP answers the API and login endpoints (see Azure).
func (a *Azure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &azureRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		call := AzureCall{Method: r.Method, Path: r.URL.Path, RequestID: r.Header.Get("x-ms-requestid"), CorrelationID: r.Header.Get("x-ms-correlationid"), Status: rec.status}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			call.APIVersion = r.URL.Query().Get("api-version")
		}
		a.mu.Lock()
		a.calls = append(a.calls, call)
		a.mu.Unlock()
	}()
	a.mu.Lock()
	failing := a.fail[r.URL.Path] > 0
	if failing {
		a.fail[r.URL.Path]--
	}
	a.mu.Unlock()
	if failing {
		azureError(rec, http.StatusInternalServerError, "InternalServerError", "Injected failure (FailNext).")
		return
	}
	// Azure echoes the request and correlation ids, or makes them up.
	for _, h := range []string{"x-ms-requestid", "x-ms-correlationid"} {
		v := r.Header.Get(h)
		if v == "" {
			v = azureGUID()
		}
		rec.Header().Set(h, v)
	}
	a.mux.ServeHTTP(rec, r)
}

type azureRecorder struct {
	http.ResponseWriter
	status int
}

func (r *azureRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (a *Azure) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /api/saas/subscriptions/resolve", a.api(a.resolve))
	m.HandleFunc("GET /api/saas/subscriptions/{id}", a.api(a.getSubscription))
	m.HandleFunc("POST /api/saas/subscriptions/{id}/activate", a.api(a.activate))
	m.HandleFunc("GET /api/saas/subscriptions/{id}/operations", a.api(a.listOperations))
	m.HandleFunc("GET /api/saas/subscriptions/{id}/operations/{op}", a.api(a.getOperation))
	m.HandleFunc("PATCH /api/saas/subscriptions/{id}/operations/{op}", a.api(a.patchOperation))
	m.HandleFunc("POST /api/usageEvent", a.api(a.usageEvent))
	m.HandleFunc("POST /login/{tenant}/oauth2/token", a.login(a.token(false)))
	m.HandleFunc("POST /login/{tenant}/oauth2/v2.0/token", a.login(a.token(true)))
	m.HandleFunc("GET /login/{tenant}/discovery/v2.0/keys", a.login(a.jwks))
	m.HandleFunc("GET /login/{tenant}/discovery/keys", a.login(a.jwks))
	m.HandleFunc("GET /login/{tenant}/v2.0/.well-known/openid-configuration", a.login(a.openIDConfiguration))
	m.HandleFunc("GET /login/{tenant}/.well-known/openid-configuration", a.login(a.openIDConfiguration))
	a.mux = m
}

// api wraps an API handler: api-version and the access token are checked, the lock is held.
func (a *Azure) api(h func(w http.ResponseWriter, r *http.Request, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("api-version"); v != azureAPIVersion {
			azureError(w, http.StatusBadRequest, "BadArgument", fmt.Sprintf("The api-version %q is not supported; use %s.", v, azureAPIVersion))
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		now := a.opts.Now()
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if exp, known := a.access[token]; !ok || !known || !now.Before(exp) {
			azureError(w, http.StatusForbidden, "Forbidden", "The authorization token is invalid, expired, missing or this request is attempting to access a SaaS subscription for an offer that was published with a different Azure AD App ID from the one used to create the authorization token.")
			return
		}
		h(w, r, now)
	}
}

func (a *Azure) resolve(w http.ResponseWriter, r *http.Request, now time.Time) {
	l, ok := a.landing[r.Header.Get("x-ms-marketplace-token")]
	s := a.subs[l.subID]
	if !ok || s == nil || !now.Before(l.expires) {
		azureError(w, http.StatusBadRequest, "BadArgument", "The x-ms-marketplace-token is missing, malformed, invalid, or expired.")
		return
	}
	// The summary at the top (quantity as a string, "" when not per seat), the details
	// nested with the status padded, as Microsoft's example has it.
	body := map[string]any{
		"id":               s.ID,
		"subscriptionName": s.Name,
		"offerId":          s.OfferID,
		"planId":           s.PlanID,
		"quantity":         azureQuantityString(s.Quantity),
		"subscription":     a.subscriptionJSONLocked(s, true),
	}
	azureJSON(w, http.StatusOK, body)
}

// subscriptionJSONLocked is the subscription as the get API answers it (quantity as a
// number, null when not per seat); padded pads its status, as the resolve example does.
func (a *Azure) subscriptionJSONLocked(s *azureSub, padded bool) map[string]any {
	status := s.Status
	if padded {
		status = " " + status + " "
	}
	var quantity any
	if s.Quantity > 0 {
		quantity = s.Quantity
	}
	person := map[string]any{"emailId": s.PurchaserEmail, "objectId": azureGUID(), "tenantId": s.PurchaserTenant, "puid": "10032000" + s.ID[:8]}
	start := s.Created.UTC().Truncate(24 * time.Hour)
	return map[string]any{
		"id":                        s.ID,
		"name":                      s.Name,
		"publisherId":               a.opts.PublisherID,
		"offerId":                   s.OfferID,
		"planId":                    s.PlanID,
		"quantity":                  quantity,
		"beneficiary":               map[string]any{"emailId": s.BeneficiaryEmail, "objectId": person["objectId"], "tenantId": s.PurchaserTenant, "puid": person["puid"]},
		"purchaser":                 person,
		"allowedCustomerOperations": []string{"Delete", "Update", "Read"},
		"sessionMode":               "None",
		"isFreeTrial":               false,
		"isTest":                    true,
		"sandboxType":               "None",
		"saasSubscriptionStatus":    status,
		"term":                      map[string]any{"startDate": start.Format(time.RFC3339), "endDate": start.AddDate(0, 1, -1).Format(time.RFC3339), "termUnit": "P1M", "chargeDuration": nil},
		"autoRenew":                 true,
		"created":                   azureTime(s.Created),
		"lastModified":              azureTime(s.changedAt),
	}
}

func (a *Azure) getSubscription(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := a.subs[strings.ToLower(r.PathValue("id"))]
	if s == nil {
		azureError(w, http.StatusNotFound, "EntityNotFound", "The SaaS subscription was not found.")
		return
	}
	azureJSON(w, http.StatusOK, a.subscriptionJSONLocked(s, false))
}

func (a *Azure) activate(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := a.subs[strings.ToLower(r.PathValue("id"))]
	if s == nil || s.Status == "Unsubscribed" {
		azureError(w, http.StatusNotFound, "EntityNotFound", "The SaaS subscription was not found or is unsubscribed.")
		return
	}
	var body struct {
		PlanID   string          `json:"planId"`
		Quantity json.RawMessage `json:"quantity"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		azureError(w, http.StatusBadRequest, "BadArgument", "The request body is not valid JSON.")
		return
	}
	quantity, qok := azureParseQuantity(body.Quantity)
	switch {
	case strings.TrimSpace(body.PlanID) == "":
		azureError(w, http.StatusBadRequest, "BadArgument", "The planId is required.")
	case !strings.EqualFold(strings.TrimSpace(body.PlanID), s.PlanID):
		azureError(w, http.StatusBadRequest, "BadArgument", "The planId does not match the purchased plan.")
	case !qok || (s.Quantity > 0 && quantity != s.Quantity):
		azureError(w, http.StatusBadRequest, "BadArgument", "The quantity does not match the purchased quantity.")
	case s.Status != "PendingFulfillmentStart":
		azureError(w, http.StatusBadRequest, "BadArgument", "The SaaS subscription is in "+s.Status+" state.")
	default:
		a.setStatusLocked(s, "Subscribed", now)
		a.activations = append(a.activations, AzureActivation{SubscriptionID: s.ID, PlanID: s.PlanID, Quantity: quantity, At: now})
		w.WriteHeader(http.StatusOK)
	}
}

// autoAcceptLocked applies a ChangePlan or ChangeQuantity that nobody PATCHed within 10
// seconds, as Azure does.
func (a *Azure) autoAcceptLocked(op *azureOp) {
	if op.Status != "InProgress" || (op.Action != "ChangePlan" && op.Action != "ChangeQuantity") || a.opts.Now().Sub(op.started) < 10*time.Second {
		return
	}
	a.finishLocked(op, true)
}

func (a *Azure) finishLocked(op *azureOp, success bool) {
	s := a.subs[op.SubscriptionID]
	now := a.opts.Now()
	if !success {
		op.Status = "Failed"
		if op.Action == "Reinstate" && s != nil {
			a.setStatusLocked(s, op.prevStatus, now)
		}
		return
	}
	op.Status = "Succeeded"
	if s == nil {
		return
	}
	switch op.Action {
	case "ChangePlan":
		s.PlanID = op.PlanID
		if !slices.Contains(s.plans, op.PlanID) {
			s.plans = append(s.plans, op.PlanID)
		}
	case "ChangeQuantity":
		s.Quantity = op.Quantity
	}
}

// azureOperationJSON is an operation as the operations API answers it (quantity as a string).
func azureOperationJSON(op *azureOp, publisher, offer string) map[string]any {
	return map[string]any{
		"id":              op.ID,
		"activityId":      azureGUID(),
		"subscriptionId":  op.SubscriptionID,
		"offerId":         offer,
		"publisherId":     publisher,
		"planId":          op.PlanID,
		"quantity":        azureQuantityString(op.Quantity),
		"action":          op.Action,
		"timeStamp":       azureTime(op.TimeStamp),
		"status":          op.Status,
		"errorStatusCode": "",
		"errorMessage":    "",
	}
}

func (a *Azure) listOperations(w http.ResponseWriter, r *http.Request, now time.Time) {
	s := a.subs[strings.ToLower(r.PathValue("id"))]
	if s == nil {
		azureError(w, http.StatusNotFound, "EntityNotFound", "The SaaS subscription was not found.")
		return
	}
	list := []any{}
	for _, id := range a.opOrder {
		op := a.ops[id]
		a.autoAcceptLocked(op)
		if op.SubscriptionID == s.ID && op.Status == "InProgress" {
			list = append(list, azureOperationJSON(op, a.opts.PublisherID, s.OfferID))
		}
	}
	azureJSON(w, http.StatusOK, map[string]any{"operations": list})
}

func (a *Azure) operationLocked(w http.ResponseWriter, r *http.Request) (*azureOp, *azureSub) {
	s := a.subs[strings.ToLower(r.PathValue("id"))]
	op := a.ops[strings.ToLower(r.PathValue("op"))]
	if s == nil || op == nil || op.SubscriptionID != s.ID {
		azureError(w, http.StatusNotFound, "EntityNotFound", "The SaaS subscription or operation was not found.")
		return nil, nil
	}
	a.autoAcceptLocked(op)
	return op, s
}

func (a *Azure) getOperation(w http.ResponseWriter, r *http.Request, now time.Time) {
	op, s := a.operationLocked(w, r)
	if op == nil {
		return
	}
	azureJSON(w, http.StatusOK, azureOperationJSON(op, a.opts.PublisherID, s.OfferID))
}

func (a *Azure) patchOperation(w http.ResponseWriter, r *http.Request, now time.Time) {
	op, s := a.operationLocked(w, r)
	if op == nil {
		return
	}
	var body struct {
		PlanID   string          `json:"planId"`
		Quantity json.RawMessage `json:"quantity"`
		Status   string          `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		azureError(w, http.StatusBadRequest, "BadArgument", "The request body is not valid JSON.")
		return
	}
	quantity, qok := azureParseQuantity(body.Quantity)
	var success bool
	switch strings.ToLower(strings.TrimSpace(body.Status)) {
	case "success":
		success = true
	case "failure":
	default:
		azureError(w, http.StatusBadRequest, "BadArgument", "The status must be Success or Failure.")
		return
	}
	switch {
	case body.PlanID != "" && !strings.EqualFold(strings.TrimSpace(body.PlanID), op.PlanID):
		azureError(w, http.StatusBadRequest, "BadArgument", "The planId does not match the operation's.")
		return
	case !qok || (quantity > 0 && op.Quantity > 0 && quantity != op.Quantity):
		azureError(w, http.StatusBadRequest, "BadArgument", "The quantity does not match the operation's.")
		return
	case op.Action != "ChangePlan" && op.Action != "ChangeQuantity" && op.Action != "Reinstate":
		azureError(w, http.StatusConflict, "Conflict", "The operation is a notification; it takes no update.")
		return
	case op.Status == "Succeeded" && success, op.Status == "Failed" && !success:
		// The same answer again (a retry): nothing changes.
	case op.Status != "InProgress":
		azureError(w, http.StatusConflict, "Conflict", "The operation is completed already.")
		return
	default:
		a.finishLocked(op, success)
	}
	status := "Failure"
	if success {
		status = "Success"
	}
	a.patches = append(a.patches, AzureOperationPatch{SubscriptionID: s.ID, OperationID: op.ID, PlanID: strings.TrimSpace(body.PlanID), Quantity: quantity, Status: status, At: now})
	w.WriteHeader(http.StatusOK)
}

// usageEvent takes one usage event. Usage of a subscription that is not Subscribed is taken
// only for hours before its status changed, so that a cancelled subscription's final hour can
// still be billed (the stand-in's reading of "usage against an active resource").
func (a *Azure) usageEvent(w http.ResponseWriter, r *http.Request, now time.Time) {
	var body struct {
		ResourceID         string      `json:"resourceId"`
		Quantity           json.Number `json:"quantity"`
		Dimension          string      `json:"dimension"`
		EffectiveStartTime string      `json:"effectiveStartTime"`
		PlanID             string      `json:"planId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		azureUsageError(w, "BadArgument", "usageEventRequest", "The request body is not valid JSON.")
		return
	}
	start, err := azureParseTime(body.EffectiveStartTime)
	quantity, qerr := body.Quantity.Float64()
	resource := strings.ToLower(strings.TrimSpace(body.ResourceID))
	s := a.subs[resource]
	switch {
	case resource == "":
		azureUsageError(w, "BadArgument", "ResourceId", "The resourceId is required.")
	case strings.TrimSpace(body.Dimension) == "":
		azureUsageError(w, "BadArgument", "Dimension", "The dimension is required.")
	case strings.TrimSpace(body.PlanID) == "":
		azureUsageError(w, "BadArgument", "PlanId", "The planId is required.")
	case err != nil:
		azureUsageError(w, "BadArgument", "EffectiveStartTime", "The effectiveStartTime is not a time.")
	case qerr != nil || quantity <= 0:
		azureUsageError(w, "InvalidQuantity", "Quantity", "The quantity must be greater than 0.")
	case s == nil:
		azureUsageError(w, "ResourceNotFound", "ResourceId", "The usage resource provided is invalid.")
	case !slices.ContainsFunc(s.plans, func(p string) bool { return strings.EqualFold(p, strings.TrimSpace(body.PlanID)) }):
		azureUsageError(w, "BadArgument", "PlanId", "The planId is not the subscription's plan.")
	case !azureDimensionOK(body.PlanID, body.Dimension):
		azureUsageError(w, "InvalidDimension", "Dimension", "The dimension for which the usage is passed is invalid for this offer/plan.")
	case start.Before(now.Add(-24 * time.Hour)):
		azureUsageError(w, "Expired", "EffectiveStartTime", "The usage event has expired: effectiveStartTime is more than 24 hours in the past.")
	case start.After(now.Add(5 * time.Minute)):
		azureUsageError(w, "BadArgument", "EffectiveStartTime", "The effectiveStartTime is in the future.")
	case s.Status != "Subscribed" && !(s.Status != "PendingFulfillmentStart" && start.Truncate(time.Hour).Before(s.changedAt)):
		azureUsageError(w, "BadArgument", "ResourceId", "The SaaS subscription is not in Subscribed status.")
	default:
		hour := start.UTC().Truncate(time.Hour)
		key := resource + "|" + strings.TrimSpace(body.Dimension) + "|" + hour.Format(time.RFC3339)
		if prev, dup := a.usage[key]; dup {
			msg := azureUsageJSON(prev, "Duplicate")
			azureJSON(w, http.StatusConflict, map[string]any{"additionalInfo": map[string]any{"acceptedMessage": msg}, "message": "This usage event already exist.", "code": "Conflict"})
			return
		}
		ev := AzureUsageEvent{ID: azureGUID(), ResourceID: resource, Dimension: strings.TrimSpace(body.Dimension), PlanID: strings.TrimSpace(body.PlanID),
			Quantity: quantity, EffectiveStartTime: body.EffectiveStartTime, Hour: hour, At: now}
		a.usage[key] = ev
		a.usageOrder = append(a.usageOrder, ev)
		azureJSON(w, http.StatusOK, azureUsageJSON(ev, "Accepted"))
	}
}

func azureUsageJSON(ev AzureUsageEvent, status string) map[string]any {
	return map[string]any{
		"usageEventId": ev.ID, "status": status, "messageTime": azureTime(ev.At), "resourceId": ev.ResourceID,
		"quantity": ev.Quantity, "dimension": ev.Dimension, "effectiveStartTime": ev.EffectiveStartTime, "planId": ev.PlanID,
	}
}

// azureDimensionOK: a plan of the catalogue takes its own dimensions only; other plans any.
func azureDimensionOK(plan, dimension string) bool {
	p, ok := tenant.PlanByID(plan)
	if !ok {
		return true
	}
	return slices.Contains(p.Dimensions, tenant.Dimension(strings.TrimSpace(dimension)))
}

// azureUsageError is the usage API's 400: the generic code outside, the specific inside.
func azureUsageError(w http.ResponseWriter, code, target, message string) {
	azureJSON(w, http.StatusBadRequest, map[string]any{
		"message": "One or more errors have occurred.",
		"target":  "usageEventRequest",
		"details": []any{map[string]any{"message": message, "target": target, "code": code}},
		"code":    "BadArgument",
	})
}

func azureError(w http.ResponseWriter, status int, code, message string) {
	azureJSON(w, status, map[string]any{"code": code, "message": message})
}

func azureJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// azureTime formats t as Azure does: UTC with 7 fractional digits.
func azureTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func azureParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
}

// azureQuantityString is a quantity as the string-typed answers spell it ("" when none).
func azureQuantityString(q int) string {
	if q <= 0 {
		return ""
	}
	return strconv.Itoa(q)
}

// azureParseQuantity reads a request's quantity: a number, a string holding one, "", null or
// missing (0).
func azureParseQuantity(raw json.RawMessage) (int, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, true
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(uq)
		if s == "" {
			return 0, true
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// azureGUID is a random version 4 GUID.
func azureGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
