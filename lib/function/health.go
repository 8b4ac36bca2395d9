package function

import (
	"context"

	"github.com/opensignum/signum/lib/health"
)

// HealthSources are what a deployment's health is read from (lib/health) in a function of
// env with parts p: the store, the key backends env configures (an HSM key is unknown
// without PKCS11_LIBRARY), the truststore when SIGNUM_TRUSTSTORE_BUCKET is set, and the
// software updates (a failed or paused one is a notice).
func HealthSources(ctx context.Context, env Env, p *Parts) (health.Sources, error) {
	reg, err := KeyRegistry(ctx, env)
	if err != nil {
		return health.Sources{}, err
	}
	src := health.Sources{Deployments: p.Store, Certificates: p.Store, Keys: reg, ClientCredentials: p.Store,
		Activity: p.Store, Subscriptions: p.Store, Updates: Updates(env, p)}
	if p.Truststore != nil {
		// A nil *Publisher in the interface would not read as "not configured".
		src.Truststore = p.Truststore
	}
	return src, nil
}
