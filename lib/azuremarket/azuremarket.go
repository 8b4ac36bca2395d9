// Package azuremarket speaks Microsoft's commercial marketplace protocols for a SaaS offer:
// the SaaS fulfilment API v2 (resolve, get, activate, operations), the metered billing
// usageEvent API, the Entra ID client-credentials token they need, and the bearer token the
// marketplace puts on its webhook calls.
//
// Client implements marketplace.AzureAPI and Verifier implements
// marketplace.WebhookVerifier. DecodeWebhook and the decoders of the API's answers are
// tolerant on purpose: Microsoft's own examples spell quantities as numbers and as padded
// strings, statuses in varying case and with spaces, and it reserves the right to add fields,
// so any of those is accepted; only what cannot be understood is refused.
//
// Wire facts this package relies on (Microsoft Learn, "SaaS fulfillment APIs v2",
// "Implementing a webhook on the SaaS service", "Marketplace metered billing APIs",
// "Register a SaaS application"):
//
//   - every call carries api-version=2018-08-31, "Authorization: Bearer <token>", and the
//     x-ms-requestid and x-ms-correlationid GUIDs;
//   - the token is an Entra ID v1 client-credentials token for the resource
//     20e940b3-4c77-4b0b-9a53-9e16a1b010a7 (the marketplace API), valid for about an hour;
//   - resolve takes the landing page's token, URL-decoded, in x-ms-marketplace-token, and
//     answers 400 for a missing, malformed or expired one;
//   - activate answers 400 when the subscription is already Subscribed or Suspended;
//   - usageEvent answers 200 "Accepted", or 409 with additionalInfo.acceptedMessage (status
//     "Duplicate") when the hour of that resource and dimension was already reported.
package azuremarket

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultAPIBase is the marketplace API's base URL; paths such as /saas/subscriptions
	// are appended to it.
	DefaultAPIBase = "https://marketplaceapi.microsoft.com/api"
	// DefaultLoginBase is Entra ID's base URL; "/{tenant}/oauth2/token" and
	// "/{tenant}/discovery/v2.0/keys" are appended to it.
	DefaultLoginBase = "https://login.microsoftonline.com"
)

// APIVersion is the api-version every call of the fulfilment and metering APIs names.
const APIVersion = "2018-08-31"

// MarketplaceAppID is the marketplace API's application id: the resource a publisher's
// token is for, and the client application (azp, or appid in a v1 token) of the tokens on
// webhook calls.
const MarketplaceAppID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"

// Config is what the Client and the Verifier need. The zero values of the optional fields
// mean the defaults in the comments.
type Config struct {
	// TenantID is the publisher's Entra ID tenant: the one the app is registered in, that
	// issues the client-credentials token, and whose keys sign the webhook's token (its tid).
	TenantID string
	// ClientID is the app registration's application id named in the offer's technical
	// configuration: the client of the API calls, and the audience of the webhook's token.
	ClientID string
	// ClientSecret is the app's secret (the Client only). It is sent to the token endpoint
	// and nowhere else, and never appears in an error.
	ClientSecret string
	// APIBase replaces DefaultAPIBase (the local stand-in: "<base>/api").
	APIBase string
	// LoginBase replaces DefaultLoginBase (the local stand-in: "<base>/login").
	LoginBase string
	// HTTPClient makes the calls (default: a client with a 10-second timeout). The URLs are
	// the operator's configuration, never a customer's, so no address filter is needed.
	HTTPClient *http.Client
	// Now is the clock (default time.Now): token lifetimes, cache ages.
	Now func() time.Time
	// MaxAttempts bounds the attempts of one call when the API fails or throttles (5xx, 429,
	// a network error); default 3. 1 makes no retry.
	MaxAttempts int
	// Backoff is the wait before the second attempt, doubled for each further one (default
	// 200 ms).
	Backoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if c.LoginBase == "" {
		c.LoginBase = DefaultLoginBase
	}
	c.APIBase = strings.TrimRight(c.APIBase, "/")
	c.LoginBase = strings.TrimRight(c.LoginBase, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.Backoff <= 0 {
		c.Backoff = 200 * time.Millisecond
	}
	c.TenantID = strings.TrimSpace(c.TenantID)
	c.ClientID = strings.TrimSpace(c.ClientID)
	return c
}

// newGUID returns a random (version 4) GUID for x-ms-requestid and x-ms-correlationid.
func newGUID() string {
	var b [16]byte
	// crypto/rand.Read does not fail on supported platforms (Go 1.24+ panics itself).
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// isGUID reports whether s is a GUID in its usual 8-4-4-4-12 hexadecimal form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// NormalizeGUID returns s trimmed and in lower case, and whether it is a GUID. Azure's ids
// (subscriptions, operations, tenants) are GUIDs it may spell in either case.
func NormalizeGUID(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	return s, isGUID(s)
}
