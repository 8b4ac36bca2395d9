// Package token issues and verifies the service's short-lived bearer tokens: compact JWTs
// (JWS, ES256) signed by a KMS key of spec ECC_NIST_P256 and usage SIGN_VERIFY.
//
// The private key never leaves KMS; no key sits in a file or in the environment. Issuing
// costs one KMS Sign call. Verifying costs no KMS call once the public key is cached: it is
// fetched with GetPublicKey on first use and refetched, at most once a minute, when a token
// names a key (kid) other than the cached one, which is how a rotation (the alias moved to a
// new key) is picked up.
//
// Limits: only the key the configured id or alias currently names is trusted, so after a
// rotation tokens signed by the previous key stop verifying and their holders sign in again;
// tokens are short-lived, and trusting a kid taken from the token itself would let anyone
// whose key this service can read (a KMS key of the same account) mint tokens. There is no
// revocation list: a token is good until it expires.
package token

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/golang-jwt/jwt/v5"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/fault/awsfault"
)

// System is the user system a token belongs to; it is also the token's audience, so that a
// token issued for one system is refused by the other.
type System string

// The systems. The audience of a token is "signum:" followed by its system.
const (
	// Portal is the customer-facing portal; audience "signum:portal".
	Portal System = "portal"
	// Console is the deployment operators' console; audience "signum:console".
	Console System = "console"
)

// valid says whether s is one of the known systems.
func (s System) valid() bool { return s == Portal || s == Console }

// audience is the "aud" a token for s carries.
func (s System) audience() string { return "signum:" + string(s) }

// issuer is the "iss" of every token: the service itself.
const issuer = "signum"

// Claims are what a token says.
type Claims struct {
	// Subject is the user id ("sub").
	Subject string
	// System is the system the token is for ("sys", and the audience "signum:<system>").
	System System
	// Deployment is the deployment (tenant) id ("dep").
	Deployment string
	// Roles are the user's roles in the deployment ("roles").
	Roles []string
	// Name is a display name or email, for logs and the UI only; optional ("name").
	Name string
	// Generation is the user's token generation when the token was issued ("gen", left out
	// when 0): the access guard refuses a token whose generation is no longer the user's,
	// which is how a password reset, a disable or a change of role ends earlier sessions.
	Generation int64
	// Workload, for a CI job's session (a workload token exchanged for a console token), is
	// what the job's verified OIDC token said of it (repository, ref, workflow, run_id, the
	// rule and issuer that admitted it, ...): the signer records it on the job's signing
	// events ("wl", left out when empty).
	Workload map[string]string
	// Lifetime, when set and shorter than the issuer's, is how long the token lives, so that
	// a session made from a shorter-lived credential does not outlive it. Not in the token.
	Lifetime time.Duration
	// ID is the token's random id ("jti"), set by Issue; it lets logs and audits name a
	// token without showing it.
	ID string
	// IssuedAt and ExpiresAt are set by Issue ("iat", "exp"), to the second.
	IssuedAt, ExpiresAt time.Time
}

// KMS is the part of the KMS client the package uses.
type KMS interface {
	Sign(context.Context, *kms.SignInput, ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// Compile-time check that the SDK client satisfies KMS.
var _ KMS = (*kms.Client)(nil)

// wireClaims is the JSON form of Claims inside a token.
type wireClaims struct {
	jwt.RegisteredClaims
	Deployment string   `json:"dep"`
	System     System   `json:"sys"`
	Roles      []string `json:"roles,omitempty"`
	Name       string   `json:"name,omitempty"`
	Generation int64    `json:"gen,omitempty"`
	// Workload is left out of every token but a CI job's.
	Workload map[string]string `json:"wl,omitempty"`

	// want is the system Verify expects; set before parsing, never from the token.
	want System
}

// retryAdvice marks err, a KMS failure, as worth a retry when KMS was only busy or out of
// reach (the answer gets Retry-After, as the key backend's do); a key that cannot be used is
// not.
func retryAdvice(err error) error {
	if d, ok := awsfault.KMSRetry(err); ok {
		return fault.RetryLater(err, d)
	}
	return err
}
