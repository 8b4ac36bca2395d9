package devstack

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // hashes PSS re-signing may need
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/nsmithuk/local-kms/src/cmk"
	kmsdata "github.com/nsmithuk/local-kms/src/data"
	kmshandler "github.com/nsmithuk/local-kms/src/handler"
	"github.com/sirupsen/logrus"
)

// kmsHandler serves local-kms's JSON API the way its src.HandleRequest does, but with a
// logger of our own: local-kms's package logger writes a coloured line per call to stderr,
// which would bury the service's own JSON logs in `make run` and in test output.
func kmsHandler(db *kmsdata.Database) http.Handler {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if !strings.Contains(r.Header.Get("Content-Type"), "json") {
			http.Error(w, "Only JSON based content types accepted", http.StatusUnsupportedMediaType)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		reqBody, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read request", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		h := kmshandler.NewRequestHandler(r, quiet, db)
		// X-Amz-Target is "TrentService.<Operation>"; local-kms has one method per operation.
		target := strings.Split(r.Header.Get("X-Amz-Target"), ".")
		if len(target) == 2 {
			if m := reflect.ValueOf(h).MethodByName(target[1]); m.IsValid() {
				if out := m.Call(nil); len(out) == 1 {
					if resp, ok := out[0].Interface().(kmshandler.Response); ok {
						if target[1] == "Sign" && resp.Code == http.StatusOK {
							resp.Body = fixPSS(db, reqBody, resp.Body)
						}
						w.WriteHeader(resp.Code)
						_, _ = io.WriteString(w, resp.Body)
						return
					}
				}
			}
		}
		w.WriteHeader(http.StatusNotImplemented)
		fmt.Fprintf(w, "operation %q is not implemented by the KMS stand-in", r.Header.Get("X-Amz-Target"))
	})
}

// fixPSS corrects local-kms's RSASSA-PSS signatures. local-kms signs PSS with the longest
// salt the key allows; AWS KMS uses a salt as long as the hash, which is what verifiers of
// code signatures expect. After local-kms has checked the request (key state, usage,
// algorithm, digest length) and signed, the signature is made again with the right salt by
// the same key. Everything else passes through untouched.
func fixPSS(db *kmsdata.Database, reqBody []byte, respBody string) string {
	var in struct {
		KeyId, SigningAlgorithm, MessageType string
		Message                              []byte
	}
	if json.Unmarshal(reqBody, &in) != nil || !strings.HasPrefix(in.SigningAlgorithm, "RSASSA_PSS_") {
		return respBody
	}
	var out map[string]any
	if json.Unmarshal([]byte(respBody), &out) != nil {
		return respBody
	}
	arn, _ := out["KeyId"].(string)
	key, err := db.LoadKey(arn)
	if err != nil {
		return respBody
	}
	rk, ok := key.(*cmk.RsaKey)
	if !ok {
		return respBody
	}
	hash := map[string]crypto.Hash{"RSASSA_PSS_SHA_256": crypto.SHA256, "RSASSA_PSS_SHA_384": crypto.SHA384, "RSASSA_PSS_SHA_512": crypto.SHA512}[in.SigningAlgorithm]
	digest := in.Message
	if in.MessageType != "DIGEST" {
		h := hash.New()
		h.Write(in.Message)
		digest = h.Sum(nil)
	}
	priv := rsa.PrivateKey(rk.PrivateKey)
	sig, err := rsa.SignPSS(rand.Reader, &priv, hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return respBody
	}
	out["Signature"] = base64.StdEncoding.EncodeToString(sig)
	fixed, err := json.Marshal(out)
	if err != nil {
		return respBody
	}
	return string(fixed)
}
