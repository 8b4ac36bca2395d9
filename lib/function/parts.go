package function

import (
	"context"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/truststore"
)

// TokenTTL is how long a bearer token lives. Short, because a token keeps the roles it was
// issued with: a removed or demoted user keeps them until it expires.
const TokenTTL = 15 * time.Minute

// CursorKeyPurpose names the derived key that seals page cursors.
const CursorKeyPurpose = "store-cursor"

// Parts are the parts most functions share, built from an Env: the store, the token issuer
// and verifier, and the access guard. NewParts runs once per cold start and makes no AWS calls
// itself (keys are fetched when first needed), so a dependency that is down at start makes
// requests fail with 503 instead of failing the function's start.
type Parts struct {
	Store  *store.Store
	Issuer *token.Issuer
	Guard  *access.Guard
	Now    func() time.Time
	// DomainSuffix is what deployment domain names must end in ("" = anything).
	DomainSuffix string
	// Limits are the rate limits (Config.Limits).
	Limits Limits
	// Notary seals the event log's checkpoints and receipts through the checkpoint key, and
	// gives verifiers its public key; nil when SIGNUM_CHECKPOINT_KEY is not set.
	Notary *audit.Notary
	// Anchors keep checkpoints outside the table; nil when SIGNUM_ANCHOR_BUCKET is not set.
	// AnchorEvery is how often the signer anchors a lane (Config.AnchorEvery).
	Anchors     audit.Anchors
	AnchorEvery time.Duration
	// Truststore publishes (and checks) the mutual-TLS truststore; nil when
	// SIGNUM_TRUSTSTORE_BUCKET is not set.
	Truststore *truststore.Publisher
}

// NewParts builds the parts for env.
func NewParts(env Env) *Parts {
	st := store.New(env.Clients.DynamoDB, env.Config.TableName, CursorKey(env), store.WithClock(env.Now))
	return &Parts{
		Store:  st,
		Issuer: token.NewIssuer(env.Clients.KMS, env.Config.TokenKeyID, TokenTTL, env.Now),
		Guard: &access.Guard{
			Tokens:          token.NewVerifier(env.Clients.KMS, env.Config.TokenKeyID, env.Now),
			Tenants:         st,
			OperatorAccount: env.Config.OperatorAccountID,
			Certificates:    st,
			Roles:           st,
			Now:             env.Now,
			DomainSuffix:    env.Config.DeploymentDomainSuffix, SignerDomainSuffix: env.Config.SignerDomainSuffix,
			LocalSignerPort: env.Config.LocalSignerPort,
		},
		Now:          env.Now,
		DomainSuffix: env.Config.DeploymentDomainSuffix,
		Limits:       env.Config.Limits,
		Notary:       notary(env),
		Anchors:      anchors(env),
		AnchorEvery:  env.Config.AnchorEvery,
		Truststore:   trustPublisher(env, st),
	}
}

// trustPublisher publishes the truststore to Config.TruststoreBucket and points the
// mutual-TLS domain (Config.TruststoreDomain, when there is one) at it.
func trustPublisher(env Env, st *store.Store) *truststore.Publisher {
	if env.Config.TruststoreBucket == "" {
		return nil
	}
	p := &truststore.Publisher{
		S3: env.Clients.S3, Bucket: env.Config.TruststoreBucket, Domains: env.Clients.APIGateway,
		Anchors: func(ctx context.Context) ([]clientauth.Credential, error) {
			return store.All(ctx, st.ListTrustAnchors)
		},
		KeyOf:      store.TrustAnchorKey,
		DomainName: env.Config.TruststoreDomain,
		Now:        env.Now, Log: env.Log,
	}
	return p
}

// CursorKey derives the cursor key from the service key in KMS when a listing first needs it.
func CursorKey(env Env) store.KeySource {
	return func(ctx context.Context) ([]byte, error) {
		return DeriveKey(ctx, env.Clients.KMS, env.Config.ServiceKeyID, CursorKeyPurpose)
	}
}
