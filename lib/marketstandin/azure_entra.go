package marketstandin

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// azureKey is a signing key of the stand-in tenant, under a key id derived from the public
// key (its RFC 7638 thumbprint), so that two stand-ins never share a kid by accident.
type azureKey struct {
	priv *rsa.PrivateKey
	kid  string
}

func newAzureKey(k *rsa.PrivateKey) *azureKey {
	if k == nil {
		var err error
		// 2048 bits: the smallest size every verifier accepts, so that tests start fast.
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic("marketstandin: generate key: " + err.Error())
		}
	}
	thumb, err := (&jose.JSONWebKey{Key: &k.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic("marketstandin: key thumbprint: " + err.Error())
	}
	return &azureKey{priv: k, kid: base64.RawURLEncoding.EncodeToString(thumb)}
}

// KeyID is the key id of the key that signs webhook tokens now.
func (a *Azure) KeyID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[len(a.keys)-1].kid
}

// RotateKey makes a new key sign the webhook tokens from now on, as Entra ID rolls its keys;
// the old ones stay published. It returns the new key's id.
func (a *Azure) RotateKey() string {
	k := newAzureKey(nil)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, k)
	return k.kid
}

// AzureWebhookTokenOptions override the claims and the signing of a webhook token, for tests
// of a verifier's refusals. For the string claims, "" means the right value and "-" leaves
// the claim out.
type AzureWebhookTokenOptions struct {
	// Audience is aud (default the publisher's app, ClientID).
	Audience string
	// TenantID is tid (default the publisher's tenant).
	TenantID string
	// AZP is azp (default AzureMarketplaceAppID in a v2 token, none in a v1 token).
	AZP string
	// AppID is appid (default AzureMarketplaceAppID in a v1 token, none in a v2 token).
	AppID string
	// V1 makes a v1.0 token: appid instead of azp, the sts.windows.net issuer.
	V1 bool
	// Expires is exp (default an hour from now); NotBefore is nbf (default now).
	Expires, NotBefore time.Time
	// Key signs it (default the tenant's current key); KeyID is its kid (default the tenant's
	// current key's, or Key's thumbprint when Key is given; "-" leaves it out).
	Key   *rsa.PrivateKey
	KeyID string
	// Alg is "RS256" (default), "none" (no signature), or "HS256" (an HMAC keyed with the
	// tenant's public key: the algorithm-confusion forgery).
	Alg string
}

// WebhookToken mints the bearer token the marketplace would put on a webhook call: an
// Entra ID access token that the marketplace's app requested from the publisher's tenant
// for the publisher's app, signed with the tenant's key; opts override it for negative
// tests. The "Authorization" header's value is "Bearer " + the token.
func (a *Azure) WebhookToken(opts AzureWebhookTokenOptions) string {
	a.mu.Lock()
	now := a.opts.Now()
	current := a.keys[len(a.keys)-1]
	a.mu.Unlock()
	tid := a.opts.TenantID
	claims := map[string]any{
		"aud": a.opts.ClientID, "tid": tid, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"sub": "0b1e3f4c-2d5a-4b6c-8d7e-9f0a1b2c3d4e", "oid": "0b1e3f4c-2d5a-4b6c-8d7e-9f0a1b2c3d4e", "idtyp": "app",
		"rh": "0.AAAA-stand-in.", "uti": azureGUID()[:22],
	}
	if opts.V1 {
		claims["iss"] = "https://sts.windows.net/" + tid + "/"
		claims["ver"] = "1.0"
		claims["appid"] = AzureMarketplaceAppID
		claims["appidacr"] = "2"
	} else {
		claims["iss"] = a.issuer(nil) + "/" + tid + "/v2.0"
		claims["ver"] = "2.0"
		claims["azp"] = AzureMarketplaceAppID
		claims["azpacr"] = "2"
	}
	for name, v := range map[string]string{"aud": opts.Audience, "tid": opts.TenantID, "azp": opts.AZP, "appid": opts.AppID} {
		switch v {
		case "":
		case "-":
			delete(claims, name)
		default:
			claims[name] = v
		}
	}
	if !opts.Expires.IsZero() {
		claims["exp"] = opts.Expires.Unix()
	}
	if !opts.NotBefore.IsZero() {
		claims["nbf"] = opts.NotBefore.Unix()
	}
	key := current
	if opts.Key != nil {
		key = newAzureKey(opts.Key)
	}
	kid := key.kid
	if opts.KeyID != "" {
		kid = opts.KeyID
	}
	alg := opts.Alg
	if alg == "" {
		alg = "RS256"
	}
	header := map[string]any{"typ": "JWT", "alg": alg, "kid": kid, "x5t": kid}
	if kid == "-" {
		delete(header, "kid")
		delete(header, "x5t")
	}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	var sig []byte
	switch alg {
	case "none":
	case "HS256":
		pub, _ := x509.MarshalPKIXPublicKey(&current.priv.PublicKey)
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		d := sha256.Sum256([]byte(input))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key.priv, crypto.SHA256, d[:]); err != nil {
			panic("marketstandin: sign: " + err.Error())
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// issuer is the login base the stand-in names in its documents: BaseURL + "/login", or the
// request's scheme and host + "/login", or Entra ID's own host when there is no request.
func (a *Azure) issuer(r *http.Request) string {
	switch {
	case a.opts.BaseURL != "":
		return a.opts.BaseURL + "/login"
	case r != nil:
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + "/login"
	}
	return "https://login.microsoftonline.com"
}

// login wraps a login handler: the tenant must be the stand-in's, the lock is held.
func (a *Azure) login(h func(w http.ResponseWriter, r *http.Request, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.PathValue("tenant"), a.opts.TenantID) {
			azureOAuthError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant '"+r.PathValue("tenant")+"' not found.")
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		h(w, r, a.opts.Now())
	}
}

// token is the client-credentials grant: v1 (resource=<app id>, numbers as strings) or v2
// (scope=<app id>/.default, numbers as numbers).
func (a *Azure) token(v2 bool) func(w http.ResponseWriter, r *http.Request, now time.Time) {
	return func(w http.ResponseWriter, r *http.Request, now time.Time) {
		if err := r.ParseForm(); err != nil {
			azureOAuthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
			return
		}
		target, want := r.PostForm.Get("resource"), AzureMarketplaceAppID
		if v2 {
			target, want = r.PostForm.Get("scope"), AzureMarketplaceAppID+"/.default"
		}
		switch {
		case r.PostForm.Get("grant_type") != "client_credentials":
			azureOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
		case !strings.EqualFold(r.PostForm.Get("client_id"), a.opts.ClientID):
			azureOAuthError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application was not found in the directory.")
		case subtle.ConstantTimeCompare([]byte(r.PostForm.Get("client_secret")), []byte(a.opts.ClientSecret)) != 1:
			azureOAuthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		case !strings.EqualFold(target, want):
			azureOAuthError(w, http.StatusBadRequest, "invalid_resource", "AADSTS500011: The resource principal was not found in the tenant.")
		default:
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			tok := base64.RawURLEncoding.EncodeToString(b)
			ttl := a.opts.AccessTokenTTL
			a.access[tok] = now.Add(ttl)
			secs := int64(ttl / time.Second)
			if v2 {
				azureJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
				return
			}
			azureJSON(w, http.StatusOK, map[string]any{
				"token_type": "Bearer", "expires_in": strconv.FormatInt(secs, 10), "ext_expires_in": strconv.FormatInt(secs, 10),
				"expires_on": strconv.FormatInt(now.Add(ttl).Unix(), 10), "not_before": strconv.FormatInt(now.Unix(), 10),
				"resource": AzureMarketplaceAppID, "access_token": tok,
			})
		}
	}
}

func (a *Azure) jwks(w http.ResponseWriter, r *http.Request, now time.Time) {
	set := jose.JSONWebKeySet{}
	for _, k := range a.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Use: "sig"})
	}
	azureJSON(w, http.StatusOK, set)
}

func (a *Azure) openIDConfiguration(w http.ResponseWriter, r *http.Request, now time.Time) {
	base := a.issuer(r) + "/" + a.opts.TenantID
	azureJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"tenant_region_scope":                   "EU",
	})
}

func azureOAuthError(w http.ResponseWriter, status int, code, description string) {
	azureJSON(w, status, map[string]any{"error": code, "error_description": description, "error_codes": []int{}, "trace_id": azureGUID(), "correlation_id": azureGUID()})
}
