package function

import (
	"context"

	"github.com/opensignum/signum/lib/health"
)

// HealthSources are what a deployment's health is read from (lib/health) in a function of
// env with parts p: the store, the key backends env configures (an HSM key is unknown
// without PKCS11_LIBRARY), the truststore when SIGNUM_TRUSTSTORE_BUCKET is set, and the
// software updates (a failed or paused one is a notice).
//
// The key states and the truststore are read through this instance's caches
// (health.CachedKeyStates, health.CachedTruststore): both are service-wide work (KMS calls,
// every deployment's registrations, S3 and API Gateway) that a tenant's Viewer could otherwise
// drive as often as they reload the health page. Call it once per instance (at Build), so that
// the caches are shared by its requests.
func HealthSources(ctx context.Context, env Env, p *Parts) (health.Sources, error) {
	reg, err := KeyRegistry(ctx, env)
	if err != nil {
		return health.Sources{}, err
	}
	src := health.Sources{Deployments: p.Store, Certificates: p.Store, Keys: health.NewCachedKeyStates(reg, p.Now), ClientCredentials: p.Store,
		Activity: p.Store, Subscriptions: p.Store, Updates: Updates(env, p)}
	if p.Truststore != nil {
		// A nil *Publisher in the interface would not read as "not configured".
		src.Truststore = health.NewCachedTruststore(p.Truststore, p.Now)
	}
	return src, nil
}
