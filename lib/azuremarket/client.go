package azuremarket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// ErrNotFound is a subscription or operation the API does not know (or, for activate, one
// that is Unsubscribed).
var ErrNotFound = fmt.Errorf("azure marketplace: %w", fault.ErrNotFound)

// maxAnswer bounds an answer read from the API or the token endpoint.
const maxAnswer = 1 << 20

// tokenMargin is how long before its expiry a token is replaced, so that a call never sets
// out with a token that expires on the way.
const tokenMargin = 5 * time.Minute

// Client is the SaaS fulfilment and metering APIs (marketplace.AzureAPI). It is safe for
// concurrent use; it caches its access token until shortly before the token expires.
type Client struct {
	cfg Config

	mu      sync.Mutex // held while a token is fetched, so that callers share one fetch
	token   string
	expires time.Time
}

var _ marketplace.AzureAPI = (*Client)(nil)

// NewClient returns a Client for cfg. TenantID, ClientID and ClientSecret are required.
func NewClient(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if _, ok := NormalizeGUID(cfg.TenantID); !ok {
		return nil, errors.New("azuremarket: the tenant id is not a GUID")
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("azuremarket: the client id and secret are required")
	}
	return &Client{cfg: cfg}, nil
}

// Resolve exchanges a landing page token for its subscription. The token may be given as it
// stands in the landing page's URL (percent-encoded) or decoded once (a '+' that a form
// decoder turned into a space is restored: the tokens are base64, which has no spaces). A
// token the API refuses (400, 403, 404) is marketplace.ErrTokenRejected.
func (c *Client) Resolve(ctx context.Context, token string) (marketplace.AzureSubscription, error) {
	token = landingToken(token)
	if token == "" {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure resolve: no token: %w", marketplace.ErrTokenRejected)
	}
	a, err := c.call(ctx, http.MethodPost, "/saas/subscriptions/resolve", nil, http.Header{"X-Ms-Marketplace-Token": {token}})
	if err != nil {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure resolve: %w", err)
	}
	switch a.status {
	case http.StatusOK:
		s, err := decodeSubscription(a.body)
		if err != nil {
			return marketplace.AzureSubscription{}, fmt.Errorf("azure resolve: the answer does not decode: %v", err)
		}
		return s, nil
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
		// 403 is also the answer for a token of an offer published under another app id;
		// the message says which, for the log.
		return marketplace.AzureSubscription{}, fmt.Errorf("azure resolve: %s: %w", a, marketplace.ErrTokenRejected)
	}
	return marketplace.AzureSubscription{}, fmt.Errorf("azure resolve: %w", a.err())
}

// GetSubscription returns the subscription id (ErrNotFound when the API does not know it).
func (c *Client) GetSubscription(ctx context.Context, id string) (marketplace.AzureSubscription, error) {
	id, ok := NormalizeGUID(id)
	if !ok {
		return marketplace.AzureSubscription{}, fault.Newf(fault.ErrInvalid, "The Azure subscription id is not a GUID.")
	}
	a, err := c.call(ctx, http.MethodGet, "/saas/subscriptions/"+id, nil, nil)
	if err != nil {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure get subscription %s: %w", id, err)
	}
	if a.status != http.StatusOK {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure get subscription %s: %w", id, a.err())
	}
	s, err := decodeSubscription(a.body)
	if err != nil {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure get subscription %s: the answer does not decode: %v", id, err)
	}
	if s.ID != id {
		return marketplace.AzureSubscription{}, fmt.Errorf("azure get subscription %s: the answer is for subscription %s", id, s.ID)
	}
	return s, nil
}

// Activate starts billing the subscription on planID (quantity 0: not a per-seat plan, sent
// as no quantity). The API refuses to activate an active subscription (400); since an
// activation whose answer was lost is retried, a 400 for a subscription that is Subscribed
// (or Suspended since: activated all the same) is success.
func (c *Client) Activate(ctx context.Context, subscriptionID, planID string, quantity int) error {
	id, ok := NormalizeGUID(subscriptionID)
	if !ok {
		return fault.Newf(fault.ErrInvalid, "The Azure subscription id is not a GUID.")
	}
	body := struct {
		PlanID   string `json:"planId"`
		Quantity int    `json:"quantity,omitempty"`
	}{strings.TrimSpace(planID), quantity}
	a, err := c.call(ctx, http.MethodPost, "/saas/subscriptions/"+id+"/activate", body, nil)
	if err != nil {
		return fmt.Errorf("azure activate %s: %w", id, err)
	}
	switch a.status {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		return nil
	case http.StatusBadRequest:
		if s, gerr := c.GetSubscription(ctx, id); gerr == nil && (s.Status == "Subscribed" || s.Status == "Suspended") {
			return nil
		}
	}
	return fmt.Errorf("azure activate %s: %w", id, a.err())
}

// GetOperation returns an operation of the subscription. An answer for another subscription
// is refused, so that a webhook cannot make the service act on one subscription with an
// operation of another.
func (c *Client) GetOperation(ctx context.Context, subscriptionID, operationID string) (marketplace.AzureOperation, error) {
	sub, ok1 := NormalizeGUID(subscriptionID)
	op, ok2 := NormalizeGUID(operationID)
	if !ok1 || !ok2 {
		return marketplace.AzureOperation{}, fault.Newf(fault.ErrInvalid, "The Azure subscription and operation ids must be GUIDs.")
	}
	a, err := c.call(ctx, http.MethodGet, "/saas/subscriptions/"+sub+"/operations/"+op, nil, nil)
	if err != nil {
		return marketplace.AzureOperation{}, fmt.Errorf("azure get operation %s: %w", op, err)
	}
	if a.status != http.StatusOK {
		return marketplace.AzureOperation{}, fmt.Errorf("azure get operation %s: %w", op, a.err())
	}
	got, err := decodeOperation(a.body)
	if err != nil {
		return marketplace.AzureOperation{}, fmt.Errorf("azure get operation %s: the answer does not decode: %v", op, err)
	}
	switch {
	case got.ID != op:
		return marketplace.AzureOperation{}, fmt.Errorf("azure get operation %s: the answer is for operation %s", op, got.ID)
	case got.SubscriptionID == "":
		got.SubscriptionID = sub
	case got.SubscriptionID != sub:
		return marketplace.AzureOperation{}, fmt.Errorf("azure get operation %s: the operation is of subscription %s, not %s", op, got.SubscriptionID, sub)
	}
	return got, nil
}

// UpdateOperation tells the API that the service applied (success) or refused a ChangePlan
// or ChangeQuantity operation, naming the plan and quantity it applied. A 409 (a newer
// change already fulfilled) is a fault.ErrConflict.
func (c *Client) UpdateOperation(ctx context.Context, subscriptionID, operationID, planID string, quantity int, success bool) error {
	sub, ok1 := NormalizeGUID(subscriptionID)
	op, ok2 := NormalizeGUID(operationID)
	if !ok1 || !ok2 {
		return fault.Newf(fault.ErrInvalid, "The Azure subscription and operation ids must be GUIDs.")
	}
	body := struct {
		PlanID   string `json:"planId,omitempty"`
		Quantity int    `json:"quantity,omitempty"`
		Status   string `json:"status"`
	}{strings.TrimSpace(planID), quantity, "Failure"}
	if success {
		body.Status = "Success"
	}
	a, err := c.call(ctx, http.MethodPatch, "/saas/subscriptions/"+sub+"/operations/"+op, body, nil)
	if err != nil {
		return fmt.Errorf("azure update operation %s: %w", op, err)
	}
	if a.status == http.StatusOK || a.status == http.StatusAccepted || a.status == http.StatusNoContent {
		return nil
	}
	return fmt.Errorf("azure update operation %s: %w", op, a.err())
}

// PostUsage sends one hour's usage of one dimension. The API's verdict on the record is the
// result, not an error: Accepted, Duplicate (sent before; Accepted is true), or a refusal such
// as Expired (more than 24 hours old) or BadArgument. An error means no verdict: the API
// failed (fault.ErrUnavailable, retry) or the record cannot be sent as it is.
func (c *Client) PostUsage(ctx context.Context, r marketplace.UsageRecord) (marketplace.UsageResult, error) {
	res := marketplace.UsageResult{Record: r}
	id, ok := NormalizeGUID(r.AzureSubscriptionID)
	switch {
	case !ok:
		return res, fault.Newf(fault.ErrInvalid, "The usage record's Azure subscription id is not a GUID.")
	case strings.TrimSpace(r.Dimension) == "":
		return res, fault.Newf(fault.ErrInvalid, "The usage record names no dimension.")
	case r.Quantity <= 0:
		return res, fault.Newf(fault.ErrInvalid, "The usage record's quantity must be more than 0 (the API refuses 0).")
	case r.Hour.IsZero():
		return res, fault.Newf(fault.ErrInvalid, "The usage record names no hour.")
	}
	body := struct {
		ResourceID         string `json:"resourceId"`
		Quantity           int64  `json:"quantity"`
		Dimension          string `json:"dimension"`
		EffectiveStartTime string `json:"effectiveStartTime"`
		PlanID             string `json:"planId"`
	}{id, r.Quantity, strings.TrimSpace(r.Dimension), r.Hour.UTC().Truncate(time.Hour).Format("2006-01-02T15:04:05Z"), strings.TrimSpace(r.Plan)}
	a, err := c.call(ctx, http.MethodPost, "/usageEvent", body, nil)
	if err != nil {
		return res, fmt.Errorf("azure usage event: %w", err)
	}
	switch a.status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		o, err := parseObject(a.body)
		if err != nil {
			return res, fmt.Errorf("azure usage event: the answer does not decode: %v", err)
		}
		status, _ := o.str("status")
		res.ID, _ = o.str("usageEventId")
		res.Status = canonical(status, usageStatuses, nil)
		if res.Status == "" {
			res.Status = "Accepted"
		}
		res.Accepted = res.Status == "Accepted" || res.Status == "Duplicate"
		return res, nil
	case http.StatusConflict:
		// The hour was reported before: additionalInfo.acceptedMessage is the accepted one.
		res.Status, res.Accepted = "Duplicate", true
		if o, err := parseObject(a.body); err == nil {
			if info, _ := o.object("additionalInfo"); info != nil {
				if msg, _ := info.object("acceptedMessage"); msg != nil {
					res.ID, _ = msg.str("usageEventId")
				}
			}
		}
		return res, nil
	case http.StatusBadRequest:
		res.Status = usageRefusal(a.body)
		return res, nil
	}
	return res, fmt.Errorf("azure usage event: %w", a.err())
}

// usageStatuses are the metering API's statuses of a usage event.
var usageStatuses = []string{"Accepted", "Expired", "Duplicate", "Error", "ResourceNotFound", "ResourceNotAuthorized", "InvalidDimension", "InvalidQuantity", "BadArgument"}

// usageRefusal is the status of a usage event the API answered 400: the body's status when it
// has one, else the most specific code of its error details (BadArgument is the generic one),
// with an expiry recognised from the message ("effectiveStartTime is more than 24 hours in
// the past").
func usageRefusal(body []byte) string {
	o, err := parseObject(body)
	if err != nil {
		return "BadArgument"
	}
	if s, _ := o.str("status"); s != "" {
		return canonical(s, usageStatuses, nil)
	}
	code, _ := o.str("code")
	msg, _ := o.str("message")
	var details []json.RawMessage
	if raw, ok := o["details"]; ok {
		_ = json.Unmarshal(raw, &details)
	}
	for _, d := range details {
		do, err := parseObject(d)
		if err != nil {
			continue
		}
		dc, _ := do.str("code")
		dm, _ := do.str("message")
		if dc != "" && !strings.EqualFold(dc, "BadArgument") {
			code = dc
			break
		}
		msg += " " + dm
	}
	if (code == "" || strings.EqualFold(code, "BadArgument")) && strings.Contains(strings.ToLower(msg), "expired") {
		return "Expired"
	}
	if code == "" {
		return "BadArgument"
	}
	return canonical(code, usageStatuses, nil)
}

// landingToken is the landing page token as the API wants it, decoded once.
func landingToken(t string) string {
	t = strings.TrimSpace(t)
	if strings.Contains(t, "%") {
		// PathUnescape, not QueryUnescape: a '+' is part of the token, not a space.
		if u, err := url.PathUnescape(t); err == nil {
			t = u
		}
	}
	return strings.ReplaceAll(t, " ", "+")
}

// answer is the API's answer to one call.
type answer struct {
	method, path string
	status       int
	body         []byte
	retryAfter   time.Duration
}

// String names the call and the answer, with the API's message (never a token) for the log.
func (a *answer) String() string {
	s := fmt.Sprintf("%s %s answered %d", a.method, a.path, a.status)
	if o, err := parseObject(a.body); err == nil {
		code, _ := o.str("code")
		msg, _ := o.str("message")
		if code != "" || msg != "" {
			s += fmt.Sprintf(" (%s: %s)", fault.Clip(code, 60), fault.Clip(msg, 300))
		}
	}
	return s
}

// err is the error for an answer the caller did not expect, by its status.
func (a *answer) err() error {
	switch {
	case a.status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", a, ErrNotFound)
	case a.status == http.StatusConflict:
		return fault.Wrap(fault.ErrConflict, errors.New(a.String()), "The Azure Marketplace refused the change: a newer one was made.")
	case a.status == http.StatusBadRequest:
		return fault.Wrap(fault.ErrInvalid, errors.New(a.String()), "The Azure Marketplace refused the request as invalid.")
	case a.status == http.StatusTooManyRequests || a.status >= 500:
		return unavailable(errors.New(a.String()), a.retryAfter)
	}
	// 401, 403 (after a fresh token) and the unexpected: this service's configuration or a
	// change of the API; a server error.
	return errors.New(a.String())
}

func unavailable(cause error, after time.Duration) error {
	if after <= 0 {
		after = 30 * time.Second
	}
	return fault.RetryLater(fault.Wrap(marketplace.ErrUnavailable, cause, "The Azure Marketplace API is unavailable; try again later."), after)
}

// call makes one API call: the access token, api-version, the request and correlation ids,
// and the JSON body. It retries a failure or throttling (5xx, 429, a network error) up to
// MaxAttempts, and a 401 or 403 once with a new token (the cached one may have been revoked).
// The answer is returned whatever its status; an error means there was none to use.
func (c *Client) call(ctx context.Context, method, path string, body any, header http.Header) (*answer, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	correlation := newGUID()
	freshToken := false
	var last error
	for attempt := 1; ; attempt++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		a, err := c.send(ctx, method, path, payload, header, token, correlation)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, unavailable(fmt.Errorf("%s %s: %w", method, path, ctx.Err()), 0)
		case err != nil:
			last = unavailable(fmt.Errorf("%s %s: %w", method, path, err), 0)
		case (a.status == http.StatusUnauthorized || a.status == http.StatusForbidden) && !freshToken:
			c.dropToken(token)
			freshToken = true
			attempt-- // not a failure of the API
			continue
		case a.status == http.StatusTooManyRequests || a.status >= 500:
			last = a.err()
		default:
			return a, nil
		}
		if attempt >= c.cfg.MaxAttempts {
			return nil, last
		}
		wait := c.cfg.Backoff << (attempt - 1)
		if a != nil && a.retryAfter > wait && a.retryAfter <= 5*time.Second {
			wait = a.retryAfter
		}
		select {
		case <-ctx.Done():
			return nil, last
		case <-time.After(wait):
		}
	}
}

func (c *Client) send(ctx context.Context, method, path string, payload []byte, header http.Header, token, correlation string) (*answer, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.APIBase+path+"?api-version="+APIVersion, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Ms-Requestid", newGUID())
	req.Header.Set("X-Ms-Correlationid", correlation)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	a := &answer{method: method, path: path, status: resp.StatusCode, body: b}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		a.retryAfter = time.Duration(s) * time.Second
	}
	return a, nil
}

// accessToken returns the cached token, or gets a new one when there is none or it expires
// within tokenMargin (or within half its lifetime, for a short-lived one).
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if c.token != "" && now.Before(c.expires) {
		return c.token, nil
	}
	token, lifetime, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	margin := min(tokenMargin, lifetime/2)
	c.token, c.expires = token, now.Add(lifetime-margin)
	return token, nil
}

// dropToken forgets token, unless another caller has replaced it already.
func (c *Client) dropToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// fetchToken asks Entra ID's v1 token endpoint for a client-credentials token for the
// marketplace API (the flow Microsoft documents for the SaaS APIs; the v2 endpoint with
// scope <resource>/.default gives an equal token). The secret goes in the form body only.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret},
		"resource":      {MarketplaceAppID},
	}
	endpoint := c.cfg.LoginBase + "/" + url.PathEscape(c.cfg.TenantID) + "/oauth2/token"
	var last error
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := c.cfg.HTTPClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode == http.StatusOK:
				return c.decodeToken(b)
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				err = fmt.Errorf("answered %d", resp.StatusCode)
			default:
				// invalid_client and the like: the configuration is wrong; no retry.
				return "", 0, fmt.Errorf("azure token: Entra ID refused the client credentials of app %s: %d %s", c.cfg.ClientID, resp.StatusCode, tokenError(b))
			}
		}
		last = unavailable(fmt.Errorf("azure token: %w", err), 0)
		if ctx.Err() != nil || attempt >= c.cfg.MaxAttempts {
			return "", 0, last
		}
		select {
		case <-ctx.Done():
			return "", 0, last
		case <-time.After(c.cfg.Backoff << (attempt - 1)):
		}
	}
}

// decodeToken reads the token endpoint's answer; the v1 endpoint writes its numbers as
// strings ("expires_in": "3599").
func (c *Client) decodeToken(b []byte) (string, time.Duration, error) {
	o, err := parseObject(b)
	if err != nil {
		return "", 0, fmt.Errorf("azure token: the answer is not a JSON object")
	}
	token, err := o.str("access_token")
	if err != nil || token == "" {
		return "", 0, fmt.Errorf("azure token: the answer has no access_token")
	}
	lifetime := time.Hour
	if s, _ := o.str("expires_in"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			lifetime = time.Duration(n) * time.Second
		}
	} else if s, _ := o.str("expires_on"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			lifetime = time.Unix(n, 0).Sub(c.cfg.Now())
		}
	}
	if lifetime <= 0 {
		return "", 0, fmt.Errorf("azure token: the token has expired already")
	}
	return token, lifetime, nil
}

// tokenError is the token endpoint's error code and the first line of its description (an
// AADSTS code and message; it never repeats the secret).
func tokenError(b []byte) string {
	o, err := parseObject(b)
	if err != nil {
		return ""
	}
	code, _ := o.str("error")
	desc, _ := o.str("error_description")
	desc, _, _ = strings.Cut(desc, "\n")
	desc, _, _ = strings.Cut(desc, "\r")
	return strings.TrimSpace(fault.Clip(code, 60) + " " + fault.Clip(desc, 200))
}
