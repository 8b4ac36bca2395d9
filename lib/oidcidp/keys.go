package oidcidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// keyBits is the size of a generated signing key: the smallest RSA size every relying party
// accepts, so that starting a stand-in in a test stays fast.
const keyBits = 2048

// signingKey signs the stand-in's tokens (ID tokens and workload tokens) with RS256, the one
// algorithm every OIDC relying party must accept, under a key id derived from the public key
// (its RFC 7638 thumbprint), so that two stand-ins never share a kid by accident.
type signingKey struct {
	kid    string
	signer jose.Signer
	public jose.JSONWebKey
}

func newSigningKey(key *rsa.PrivateKey) (*signingKey, error) {
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, keyBits); err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
	}
	public := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	public.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: public.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	return &signingKey{kid: public.KeyID, signer: signer, public: public}, nil
}

// sign returns claims as a compact JWS.
func (k *signingKey) sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jws.CompactSerialize()
}

// jwks is the JSON Web Key Set published at the jwks_uri.
func (k *signingKey) jwks() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.public}}
}

// randomToken returns n random bytes, base64url-encoded: codes, access tokens, request ids.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
