package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A cursor is the LastEvaluatedKey of a query, sealed with AES-256-GCM. Sealing makes it
// opaque (clients do not learn key layouts) and tamper-proof (a changed byte fails to open);
// the query's scope (index, partition) is the additional data, so a cursor of one tenant's
// listing cannot be replayed against another's.
type cursorCodec struct{ aead cipher.AEAD }

const cursorVersion = 1

func newCursorCodec(key []byte) (*cursorCodec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("cursor key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cursorCodec{aead: aead}, nil
}

func (c *cursorCodec) seal(scope string, key map[string]types.AttributeValue) (string, error) {
	plain := map[string]string{}
	for name, v := range key {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("cursor key attribute %s is not a string", name)
		}
		plain[name] = s.Value
	}
	msg, err := json.Marshal(plain)
	if err != nil {
		return "", err
	}
	out := make([]byte, 1, 1+c.aead.NonceSize()+len(msg)+c.aead.Overhead())
	out[0] = cursorVersion
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out = append(out, nonce...)
	out = c.aead.Seal(out, nonce, msg, []byte(scope))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func (c *cursorCodec) open(scope, token string) (map[string]types.AttributeValue, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+c.aead.NonceSize()+c.aead.Overhead() || raw[0] != cursorVersion {
		return nil, errCursor
	}
	ns := c.aead.NonceSize()
	msg, err := c.aead.Open(nil, raw[1:1+ns], raw[1+ns:], []byte(scope))
	if err != nil {
		return nil, errCursor
	}
	var plain map[string]string
	if err := json.Unmarshal(msg, &plain); err != nil {
		return nil, errCursor
	}
	key := make(map[string]types.AttributeValue, len(plain))
	for k, v := range plain {
		key[k] = &types.AttributeValueMemberS{Value: v}
	}
	return key, nil
}

var errCursor = errors.New("cursor does not open")
