//go:build cgo

package pkcs11

import (
	"fmt"

	"github.com/ThalesGroup/crypto11"
	"github.com/opensignum/signum/lib/keys"
)

// KeyAttributes reads PKCS#11 attributes of k's private half (or its public half), for the
// tests to check what the token holds.
func KeyAttributes(k keys.Key, public bool, types ...crypto11.AttributeType) (crypto11.AttributeSet, error) {
	kk, ok := k.(*key)
	if !ok {
		return nil, fmt.Errorf("not a pkcs11 key: %T", k)
	}
	if public {
		return kk.b.ctx.GetPubAttributes(kk.s, types)
	}
	return kk.b.ctx.GetAttributes(kk.s, types)
}
