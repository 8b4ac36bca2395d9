package awskms_test

import (
	"context"
	"crypto"
	"testing"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// BenchmarkSign signs a SHA-256 digest with every algorithm and scheme through the embedded
// KMS stand-in: the backend and SDK cost plus a loopback HTTP round trip and the stand-in's
// own signing (and LevelDB key load), not AWS KMS latency.
func BenchmarkSign(b *testing.B) {
	tg := devstack.NewEmbedded(b)
	backend := awskms.New(tg.Clients.KMS)
	ctx := context.Background()
	for _, alg := range keys.Algorithms {
		k := generate(b, backend, alg)
		for _, scheme := range keys.SchemesFor(alg) {
			b.Run("alg="+string(alg)+"/scheme="+string(scheme), func(b *testing.B) {
				digest := randDigest(crypto.SHA256)
				opts := keys.Opts(scheme, crypto.SHA256)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := k.SignContext(ctx, digest, opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
