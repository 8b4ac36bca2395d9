package certificates

import (
	"context"
	"net/http"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
)

// Build is the console-certificates function: AWS KMS always, and the CloudHSM (PKCS#11)
// backend when PKCS11_LIBRARY is set.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	backends, err := function.Backends(ctx, env)
	if err != nil {
		return nil, err
	}
	return NewHandler(p, keys.NewRegistry(backends...), access.NewMux(env.Log, p.Guard)), nil
}
