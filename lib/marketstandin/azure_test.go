package marketstandin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/marketstandin"
)

// azureServer is the stand-in on a loopback server, its clock fixed at now.
func azureServer(t *testing.T, now time.Time) (*marketstandin.Azure, *httptest.Server) {
	t.Helper()
	az := marketstandin.NewAzure(marketstandin.AzureOptions{Now: func() time.Time { return now }})
	srv := httptest.NewServer(az)
	t.Cleanup(srv.Close)
	return az, srv
}

// azureDo makes a raw request and decodes the JSON answer (nil when there is none).
func azureDo(t *testing.T, method, u string, header http.Header, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func azureToken(t *testing.T, az *marketstandin.Azure, srv *httptest.Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()}, "resource": {marketstandin.AzureMarketplaceAppID}}
	status, out := azureDo(t, http.MethodPost, srv.URL+"/login/"+az.TenantID()+"/oauth2/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, out)
	}
	return out["access_token"].(string)
}

func TestAzureLogin(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	az, srv := azureServer(t, now)
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()}, "resource": {marketstandin.AzureMarketplaceAppID}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	ct := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	v1 := srv.URL + "/login/" + az.TenantID() + "/oauth2/token"

	// ok: v1 writes its numbers as strings; v2 as numbers.
	status, out := azureDo(t, http.MethodPost, v1, ct, form())
	if status != http.StatusOK || out["expires_in"] != "3600" || out["resource"] != marketstandin.AzureMarketplaceAppID || out["access_token"] == "" {
		t.Errorf("ok/v1: %d %v", status, out)
	}
	v := url.Values{"grant_type": {"client_credentials"}, "client_id": {az.ClientID()}, "client_secret": {az.ClientSecret()}, "scope": {marketstandin.AzureMarketplaceAppID + "/.default"}}
	status, out = azureDo(t, http.MethodPost, srv.URL+"/login/"+az.TenantID()+"/oauth2/v2.0/token", ct, v.Encode())
	if status != http.StatusOK || out["expires_in"] != float64(3600) {
		t.Errorf("ok/v2: %d %v", status, out)
	}
	for name, c := range map[string]struct {
		url, body string
		status    int
		code      string
	}{
		"fail/secret":   {v1, form("client_secret", "wrong"), http.StatusUnauthorized, "invalid_client"},
		"fail/client":   {v1, form("client_id", "00000000-0000-4000-8000-000000000000"), http.StatusBadRequest, "unauthorized_client"},
		"fail/resource": {v1, form("resource", "https://management.azure.com/"), http.StatusBadRequest, "invalid_resource"},
		"fail/grant":    {v1, form("grant_type", "password"), http.StatusBadRequest, "unsupported_grant_type"},
		"fail/tenant":   {srv.URL + "/login/contoso.onmicrosoft.com/oauth2/token", form(), http.StatusBadRequest, "invalid_request"},
	} {
		status, out := azureDo(t, http.MethodPost, c.url, ct, c.body)
		if status != c.status || out["error"] != c.code {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}

	// The discovery document names this server; the key set has the signing key.
	status, out = azureDo(t, http.MethodGet, srv.URL+"/login/"+az.TenantID()+"/v2.0/.well-known/openid-configuration", nil, "")
	if status != http.StatusOK || out["jwks_uri"] != srv.URL+"/login/"+az.TenantID()+"/discovery/v2.0/keys" {
		t.Errorf("openid-configuration: %d %v", status, out)
	}
	status, out = azureDo(t, http.MethodGet, out["jwks_uri"].(string), nil, "")
	keys, _ := out["keys"].([]any)
	if status != http.StatusOK || len(keys) != 1 || keys[0].(map[string]any)["kid"] != az.KeyID() || keys[0].(map[string]any)["kty"] != "RSA" {
		t.Errorf("keys: %d %v", status, out)
	}
	az.RotateKey()
	if _, out = azureDo(t, http.MethodGet, srv.URL+"/login/"+az.TenantID()+"/discovery/keys", nil, ""); len(out["keys"].([]any)) != 2 {
		t.Errorf("keys after a roll: %v", out)
	}
}

func TestAzureAPIGuards(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	az, srv := azureServer(t, now)
	_, id := az.Subscribe("Acme", "signum-saas", "standard", 0, "buyer@acme.example")
	get := srv.URL + "/api/saas/subscriptions/" + id
	tok := azureToken(t, az, srv)
	auth := http.Header{"Authorization": {"Bearer " + tok}, "X-Ms-Requestid": {"0f8fad5b-d9cb-469f-a165-70867728950e"}}

	if status, _ := azureDo(t, http.MethodGet, get+"?api-version=2018-08-31", nil, ""); status != http.StatusForbidden {
		t.Errorf("fail/no-token: %d", status)
	}
	if status, _ := azureDo(t, http.MethodGet, get+"?api-version=2018-08-31", http.Header{"Authorization": {"Bearer made-up"}}, ""); status != http.StatusForbidden {
		t.Errorf("fail/made-up-token: %d", status)
	}
	if status, _ := azureDo(t, http.MethodGet, get+"?api-version=2023-01-01", auth, ""); status != http.StatusBadRequest {
		t.Errorf("fail/api-version: %d", status)
	}
	status, out := azureDo(t, http.MethodGet, get+"?api-version=2018-08-31", auth, "")
	if status != http.StatusOK || out["id"] != id || out["saasSubscriptionStatus"] != "PendingFulfillmentStart" || out["quantity"] != nil {
		t.Errorf("ok/get: %d %v", status, out)
	}
	// Activate checks the plan and quantity against the purchase.
	act := get + "/activate?api-version=2018-08-31"
	for name, body := range map[string]string{
		"fail/no-plan":    `{"quantity": ""}`,
		"fail/other-plan": `{"planId": "enterprise"}`,
		"fail/not-json":   `{`,
	} {
		if status, _ := azureDo(t, http.MethodPost, act, auth, body); status != http.StatusBadRequest {
			t.Errorf("%s: %d", name, status)
		}
	}
	if status, _ := azureDo(t, http.MethodPost, act, auth, `{"planId": "standard", "quantity": ""}`); status != http.StatusOK {
		t.Errorf("ok/activate: %d", status)
	}

	// FailNext fails that path only, n times.
	az.FailNext("/api/saas/subscriptions/"+id, 1)
	if status, _ := azureDo(t, http.MethodGet, get+"?api-version=2018-08-31", auth, ""); status != http.StatusInternalServerError {
		t.Errorf("FailNext: %d", status)
	}
	if status, _ := azureDo(t, http.MethodGet, get+"?api-version=2018-08-31", auth, ""); status != http.StatusOK {
		t.Errorf("after FailNext: %d", status)
	}

	// The calls are recorded with their ids and statuses, and no secret.
	calls := az.Calls()
	last := calls[len(calls)-1]
	if last.Method != http.MethodGet || last.Path != "/api/saas/subscriptions/"+id || last.APIVersion != "2018-08-31" || last.RequestID != "0f8fad5b-d9cb-469f-a165-70867728950e" || last.Status != http.StatusOK {
		t.Errorf("last call %+v", last)
	}
	for _, c := range calls {
		if strings.Contains(c.Path+c.RequestID+c.CorrelationID, tok) || strings.Contains(c.Path, az.ClientSecret()) {
			t.Errorf("call %+v records a secret", c)
		}
	}
	// The access token expires after an hour.
	lateNow := now
	late := marketstandin.NewAzure(marketstandin.AzureOptions{Now: func() time.Time { return lateNow }})
	lsrv := httptest.NewServer(late)
	defer lsrv.Close()
	ltok := azureToken(t, late, lsrv)
	lateNow = lateNow.Add(time.Hour)
	if status, _ := azureDo(t, http.MethodGet, lsrv.URL+"/api/saas/subscriptions/"+id+"?api-version=2018-08-31", http.Header{"Authorization": {"Bearer " + ltok}}, ""); status != http.StatusForbidden {
		t.Errorf("fail/expired-token: %d", status)
	}
}

func TestAzureWebhookBody(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	az, _ := azureServer(t, now)
	token, id := az.Subscribe("Acme", "signum-saas", "enterprise", 25, "buyer@acme.example")
	if !strings.ContainsAny(token, "+/") {
		t.Errorf("landing token %q has neither + nor /", token)
	}
	op := az.StartOperation(id, "changequantity", "", 30)
	var body map[string]any
	if err := json.Unmarshal(op.Body, &body); err != nil {
		t.Fatal(err)
	}
	sub, _ := body["subscription"].(map[string]any)
	if body["id"] != op.ID || body["subscriptionId"] != id || body["action"] != "ChangeQuantity" || body["status"] != "InProgress" || body["quantity"] != float64(30) ||
		body["planId"] != "enterprise" || body["offerId"] != "signum-saas" || body["timeStamp"] != "2026-12-01T10:00:00.1234567Z" || sub["quantity"] != float64(25) {
		t.Errorf("webhook body %s", op.Body)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(op.ID) {
		t.Errorf("operation id %q", op.ID)
	}
	// Notifications are Succeeded and change the status at once.
	for action, status := range map[string]string{"Suspend": "Suspended", "Reinstate": "Subscribed", "Unsubscribe": "Unsubscribed"} {
		op := az.StartOperation(id, action, "", 0)
		if s, _ := az.Subscription(id); s.Status != status {
			t.Errorf("%s: status %q", action, s.Status)
		}
		if want := map[string]string{"Reinstate": "InProgress"}[action]; (want == "" && op.Status != "Succeeded") || (want != "" && op.Status != want) {
			t.Errorf("%s: operation status %q", action, op.Status)
		}
	}
	if n := len(az.Operations()); n != 4 {
		t.Errorf("%d operations", n)
	}
}
