package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	rpkcs7 "github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"

	"github.com/opensignum/signum/lib/wire"
)

// stamps is the pkcs9.Timestamper of one file's signatures. When the policy that allowed a
// signature requires timestamps, the service returned an RFC 3161 token over it with the
// signature (wire.Signature.TimestampToken): that token is the file's timestamp, embedded by
// relic exactly as one it had fetched itself (the Authenticode unsigned timestamp attribute,
// or CMS's id-aa-timeStampToken). A signature without one is stamped by --timestamp's
// authority, when one was given.
type stamps struct{ key *remoteKey }

// Timestamp implements pkcs9.Timestamper.
func (t *stamps) Timestamp(ctx context.Context, req *pkcs9.Request) (*rpkcs7.ContentInfoSignedData, error) {
	if der := t.key.tokenFor(req.EncryptedDigest); der != nil {
		tok, err := rpkcs7.Unmarshal(der)
		if err != nil {
			return nil, fmt.Errorf("%w: the service's timestamp token does not parse: %v", ErrServer, err)
		}
		// The service checked it; checking again costs nothing and keeps a wrong token out
		// of the file.
		if _, err := pkcs9.Verify(tok, req.EncryptedDigest, nil); err != nil {
			return nil, fmt.Errorf("%w: the service's timestamp token is not over this signature: %v", ErrServer, err)
		}
		return tok, nil
	}
	if t.key.tsaURL == "" {
		return nil, fmt.Errorf("%w: the signature has no timestamp and no --timestamp authority was given", ErrServer)
	}
	ts, err := timestamper(t.key.tsaURL)
	if err != nil {
		return nil, err
	}
	return ts.Timestamp(ctx, req)
}

// tokenFor is the service's token for the signature sig, nil when it returned none.
func (k *remoteKey) tokenFor(sig []byte) []byte {
	for _, s := range append([]*slot{k.submitted}, k.more...) {
		if s != nil && s.token != nil && bytes.Equal(s.sig, sig) {
			return s.token
		}
	}
	return nil
}

// stampWith makes the file's certificate stamp its signatures once one came back with a
// token. relic reads the certificate's Timestamper after the signature is made (it times
// stamps the signature value), so setting it here, when the token is known, is in time; a
// file whose signature carries no token keeps what --timestamp set.
func (k *remoteKey) stampWith(token []byte) {
	if token != nil && k.cert != nil && k.cert.Timestamper == nil {
		k.cert.Timestamper = &stamps{key: k}
	}
}

// decodeToken is the DER of a signature's timestamp token, nil when it has none.
func decodeToken(s wire.Signature) ([]byte, error) {
	if s.TimestampToken == "" {
		return nil, nil
	}
	der, err := base64.StdEncoding.DecodeString(s.TimestampToken)
	if err != nil {
		return nil, fmt.Errorf("the timestamp token is not base64: %v", err)
	}
	return der, nil
}
