package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
)

// MarketPrefix is where the local server's marketplace simulator answers: what the buyer and
// the marketplaces do on their side (subscribe, change the plan, suspend), done to the
// stand-ins, so that a person or a browser test can walk through a subscription. It exists
// only on the local server; no route of the template reaches it.
const MarketPrefix = "/_local/marketplace/"

// The AWS customer of the events/marketplace-aws-events fixtures: subscribing it (POST
// /_local/marketplace/aws/subscribe with {"fixture": true}) makes the fixtures' events and
// the fulfilment URL name the same customer.
var fixtureAWSCustomer = marketplace.AWSCustomer{AWSAccountID: "111122223333",
	LicenseARN:         "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0",
	CustomerIdentifier: "cust-standin-1", ProductCode: "prodcode-signum-standard"}

// withMarket serves the simulator under MarketPrefix, the rest by next.
func (s *Server) withMarket(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	// GET aws/buy — a page that posts a new buyer's registration token to the fulfilment
	// URL, as AWS Marketplace's "Set up your account" does (?plan=standard&quantity=0).
	mux.HandleFunc("GET "+MarketPrefix+"aws/buy", s.awsBuy)
	// POST aws/subscribe — a new buyer ({"plan","quantity","account"}; {"fixture": true} for
	// the fixtures' customer): its token and the customer.
	mux.HandleFunc("POST "+MarketPrefix+"aws/subscribe", s.awsSubscribe)
	// POST aws/entitlement — the customer's contract changes ({"customer": {...},
	// "dimension", "value", "expired"}); send entitlement-updated or a License Updated event
	// after it (make invoke).
	mux.HandleFunc("POST "+MarketPrefix+"aws/entitlement", s.awsEntitlement)
	// GET aws/meter-records — what AWS accepted from BatchMeterUsage.
	mux.HandleFunc("GET "+MarketPrefix+"aws/meter-records", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Stack.AWSMarket.MeterRecords())
	})
	// GET azure/buy — a new Azure subscription; redirects to the landing page with its token
	// (?plan=standard&quantity=0&email=buyer@example.com; &format=json answers the
	// subscription's id, the token and the landing page's URL instead).
	mux.HandleFunc("GET "+MarketPrefix+"azure/buy", s.azureBuy)
	// POST azure/operations — the customer or Azure acts on a subscription
	// ({"subscriptionId", "action", "plan", "quantity"}): the operation is started and its
	// webhook delivered to POST /marketplace/azure/webhook, with a token of the stand-in's
	// Entra tenant; answers the operation and the webhook's answer.
	mux.HandleFunc("POST "+MarketPrefix+"azure/operations", s.azureOperation)
	// GET azure/webhook-token — a webhook token (make invoke puts it in the webhook fixtures).
	mux.HandleFunc("GET "+MarketPrefix+"azure/webhook-token", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"token": s.Stack.AzureMarket.WebhookToken(marketstandin.AzureWebhookTokenOptions{})})
	})
	// GET azure/usage-events — what Azure accepted as metered usage.
	mux.HandleFunc("GET "+MarketPrefix+"azure/usage-events", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Stack.AzureMarket.UsageEvents())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, MarketPrefix) {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func quantityOf(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return max(n, 0)
}

func (s *Server) awsBuy(w http.ResponseWriter, r *http.Request) {
	plan := r.URL.Query().Get("plan")
	if plan == "" {
		plan = "standard"
	}
	account := fmt.Sprintf("%012d", time.Now().UnixNano()%1_000_000_000_000)
	token, _ := s.Stack.AWSMarket.Subscribe(account, "prodcode-signum-standard", plan, quantityOf(r.URL.Query().Get("quantity")))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AWS Marketplace (local stand-in)</title></head>
<body><main><h1>AWS Marketplace (local stand-in)</h1><p>Account %s subscribed to plan %s.</p>
<form method="post" action="/marketplace/aws/register"><input type="hidden" name="x-amzn-marketplace-token" value="%s">
<button type="submit">Set up your account</button></form></main></body></html>`, html.EscapeString(account), html.EscapeString(plan), html.EscapeString(token))
}

func (s *Server) awsSubscribe(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Fixture  bool   `json:"fixture"`
		Account  string `json:"account"`
		Plan     string `json:"plan"`
		Quantity int    `json:"quantity"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
	if body.Plan == "" {
		body.Plan = "standard"
	}
	var token string
	var c marketplace.AWSCustomer
	if body.Fixture {
		c = fixtureAWSCustomer
		s.Stack.AWSMarket.SetEntitlement(c, body.Plan, max(body.Quantity, 1), time.Time{})
		token = s.Stack.AWSMarket.NewToken(c)
	} else {
		if body.Account == "" {
			body.Account = fmt.Sprintf("%012d", time.Now().UnixNano()%1_000_000_000_000)
		}
		token, c = s.Stack.AWSMarket.Subscribe(body.Account, "prodcode-signum-standard", body.Plan, body.Quantity)
	}
	writeJSON(w, map[string]any{"token": token, "customer": c,
		"form": "x-amzn-marketplace-token=" + url.QueryEscape(token), "fulfilmentUrl": s.URL + "/marketplace/aws/register"})
}

func (s *Server) awsEntitlement(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Customer  *marketplace.AWSCustomer `json:"customer"`
		Dimension string                   `json:"dimension"`
		Value     int                      `json:"value"`
		Expired   bool                     `json:"expired"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Dimension == "" {
		http.Error(w, `send {"dimension": "<plan>", "value": N, "expired": false} (and "customer", else the fixtures' customer)`, http.StatusBadRequest)
		return
	}
	c := fixtureAWSCustomer
	if body.Customer != nil {
		c = *body.Customer
	}
	s.Stack.AWSMarket.RemoveEntitlements(c)
	var expires time.Time
	if body.Expired {
		expires = time.Now().Add(-time.Minute)
	}
	s.Stack.AWSMarket.SetEntitlement(c, body.Dimension, max(body.Value, 1), expires)
	writeJSON(w, map[string]any{"customer": c, "dimension": body.Dimension, "value": max(body.Value, 1), "expired": body.Expired})
}

func (s *Server) azureBuy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	plan, email := q.Get("plan"), q.Get("email")
	if plan == "" {
		plan = "standard"
	}
	if email == "" {
		email = "buyer@contoso.example"
	}
	token, id := s.Stack.AzureMarket.Subscribe("Contoso signing", "signum-saas", plan, quantityOf(q.Get("quantity")), email)
	landing := WebPrefix + "marketplace/azure?token=" + url.QueryEscape(token)
	if q.Get("format") == "json" {
		writeJSON(w, map[string]string{"subscriptionId": id, "token": token, "landingUrl": landing})
		return
	}
	w.Header().Set("X-Azure-Subscription-Id", id)
	http.Redirect(w, r, landing, http.StatusSeeOther)
}

func (s *Server) azureOperation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SubscriptionID string `json:"subscriptionId"`
		Action         string `json:"action"`
		Plan           string `json:"plan"`
		Quantity       int    `json:"quantity"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		http.Error(w, "send {\"subscriptionId\", \"action\", \"plan\", \"quantity\"}", http.StatusBadRequest)
		return
	}
	if _, ok := s.Stack.AzureMarket.Subscription(body.SubscriptionID); !ok {
		http.Error(w, "no such Azure subscription in the stand-in", http.StatusNotFound)
		return
	}
	var op marketstandin.AzureOperation
	if err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("%v", v)
			}
		}()
		op = s.Stack.AzureMarket.StartOperation(body.SubscriptionID, body.Action, body.Plan, body.Quantity)
		return nil
	}(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, s.URL+"/marketplace/azure/webhook", bytes.NewReader(op.Body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Stack.AzureMarket.WebhookToken(marketstandin.AzureWebhookTokenOptions{}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	writeJSON(w, map[string]any{"operation": op.ID, "action": op.Action, "webhookStatus": res.StatusCode, "webhook": json.RawMessage(answer)})
}
