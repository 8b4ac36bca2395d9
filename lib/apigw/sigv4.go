package apigw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// IAMCredentials looks up the secret for an access key id; ok=false when unknown.
// It is a function rather than a map so the caller decides where credentials
// live (a config file, environment, a fake IAM) and can rotate them without
// rebuilding the verifier.
type IAMCredentials func(accessKeyID string) (secret string, accountID string, ok bool)

// IAMCaller is who a verified SigV4 request came from. API Gateway exposes the
// same facts to the integration (requestContext.identity.accessKey and
// accountId), so the local gateway can fill them in from here.
type IAMCaller struct {
	AccessKeyID string
	AccountID   string
}

// ErrSignature is returned (wrapped, with a reason that is safe to show the caller such as
// "missing Authorization header", "unknown access key", "request time too far from server time",
// "signature does not match") when verification fails. Callers test for it
// with errors.Is and answer 403, as API Gateway does; the wrapped text never
// contains the secret or the expected signature.
var ErrSignature = errors.New("invalid AWS Signature Version 4")

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	sigV4Terminal  = "aws4_request"
	// amzDateLayout is the ISO 8601 basic format SigV4 uses in X-Amz-Date.
	amzDateLayout = "20060102T150405Z"
	// sigV4MaxSkew is how far X-Amz-Date may be from the server clock; API
	// Gateway (like every AWS endpoint) refuses requests outside 5 minutes so
	// a captured request cannot be replayed later.
	sigV4MaxSkew = 5 * time.Minute
)

// sdkUnsignableHeaders are headers the SDK signer always leaves out of the
// canonical request (its internal IgnoredHeaders list, plus authorization
// which cannot sign itself). If a client listed one of them in SignedHeaders
// the recomputation could never include it, so it is refused with a clear
// reason instead of a confusing mismatch.
var sdkUnsignableHeaders = map[string]bool{
	"authorization":     true,
	"user-agent":        true,
	"x-amzn-trace-id":   true,
	"expect":            true,
	"transfer-encoding": true,
}

// sigV4Auth is the parsed Authorization header.
type sigV4Auth struct {
	accessKeyID   string
	date          string // yyyymmdd from the credential scope
	region        string
	service       string
	signedHeaders string // as sent, e.g. "content-type;host;x-amz-date"
	headerNames   []string
	signature     string
}

func sigV4Fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSignature, fmt.Sprintf(format, args...))
}

// VerifySigV4 checks the Authorization header (AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=..., Signature=...)
// of r whose body bytes are body. region and service are what the credential scope must name
// (e.g. "us-east-1", "execute-api"). now is the server clock; requests whose X-Amz-Date is more
// than 5 minutes away are refused. It must not read r.Body (the caller passes body).
//
// r must be the request as received (path, query and Host not rewritten),
// since those are what the client signed. The canonical request is rebuilt
// by the SDK's own signer rather than by hand, so the verifier agrees with
// what SDK clients produce byte for byte; only the signed headers are handed
// to it. Presigned (query-string) authentication and SigV4a are not
// supported, and the payload must be signed (X-Amz-Content-Sha256, when
// present, must be the real SHA-256 of body; UNSIGNED-PAYLOAD is refused).
func VerifySigV4(r *http.Request, body []byte, lookup IAMCredentials, region, service string, now time.Time) (IAMCaller, error) {
	if r == nil || r.URL == nil {
		return IAMCaller{}, sigV4Fail("malformed request")
	}
	auth, err := parseSigV4Authorization(r.Header.Values("Authorization"))
	if err != nil {
		return IAMCaller{}, err
	}
	if auth.region != region {
		return IAMCaller{}, sigV4Fail("credential scope region %q is not %q", auth.region, region)
	}
	if auth.service != service {
		return IAMCaller{}, sigV4Fail("credential scope service %q is not %q", auth.service, service)
	}

	dates := r.Header.Values("X-Amz-Date")
	if len(dates) == 0 {
		return IAMCaller{}, sigV4Fail("missing X-Amz-Date header")
	}
	if len(dates) > 1 {
		return IAMCaller{}, sigV4Fail("multiple X-Amz-Date headers")
	}
	signingTime, err := time.Parse(amzDateLayout, dates[0])
	if err != nil {
		return IAMCaller{}, sigV4Fail("malformed X-Amz-Date header")
	}
	// The signing key is derived from the scope date while the string to
	// sign carries X-Amz-Date; both must describe the same day.
	if auth.date != dates[0][:8] {
		return IAMCaller{}, sigV4Fail("credential scope date does not match X-Amz-Date")
	}
	if skew := now.Sub(signingTime); skew > sigV4MaxSkew || skew < -sigV4MaxSkew {
		return IAMCaller{}, sigV4Fail("request time too far from server time")
	}

	if lookup == nil {
		return IAMCaller{}, sigV4Fail("unknown access key")
	}
	secret, accountID, ok := lookup(auth.accessKeyID)
	if !ok {
		return IAMCaller{}, sigV4Fail("unknown access key")
	}

	// The payload hash is always computed from the bytes actually received:
	// trusting the client's X-Amz-Content-Sha256 would let a body be swapped
	// under a valid signature.
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if sent := r.Header.Values("X-Amz-Content-Sha256"); len(sent) > 0 {
		if len(sent) > 1 || sent[0] != payloadHash {
			return IAMCaller{}, sigV4Fail("X-Amz-Content-Sha256 does not match the request body")
		}
	}

	clone, err := sigV4Clone(r, auth)
	if err != nil {
		return IAMCaller{}, err
	}
	creds := aws.Credentials{AccessKeyID: auth.accessKeyID, SecretAccessKey: secret}
	// A fresh signer per call: the SDK's derived-key cache is keyed by access
	// key id, region, service and day, not by the secret, so a shared signer
	// would keep accepting an old secret after it was rotated.
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, clone, payloadHash, service, region, signingTime); err != nil {
		return IAMCaller{}, sigV4Fail("signature does not match")
	}
	recomputed, err := parseSigV4Authorization(clone.Header.Values("Authorization"))
	if err != nil {
		return IAMCaller{}, sigV4Fail("signature does not match")
	}
	// The signer decides on its own which headers to include (it always adds
	// host and x-amz-date, adds content-length when the length is positive and
	// skips its ignore list). No separate check of its SignedHeaders against
	// the client's is needed: the list is part of the canonical request, so
	// if they differ the signatures differ too.
	if !hmac.Equal([]byte(recomputed.signature), []byte(auth.signature)) {
		return IAMCaller{}, sigV4Fail("signature does not match")
	}
	return IAMCaller{AccessKeyID: auth.accessKeyID, AccountID: accountID}, nil
}

// parseSigV4Authorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseSigV4Authorization(values []string) (sigV4Auth, error) {
	var a sigV4Auth
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return a, sigV4Fail("missing Authorization header")
	}
	if len(values) > 1 {
		return a, sigV4Fail("multiple Authorization headers")
	}
	algorithm, params, found := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !found || algorithm != sigV4Algorithm {
		return a, sigV4Fail("Authorization header is not %s", sigV4Algorithm)
	}
	var credential string
	var haveCredential, haveSignedHeaders, haveSignature bool
	for _, part := range strings.Split(params, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, sigV4Fail("malformed Authorization header")
		}
		var seen *bool
		switch key {
		case "Credential":
			credential, seen = value, &haveCredential
		case "SignedHeaders":
			a.signedHeaders, seen = value, &haveSignedHeaders
		case "Signature":
			a.signature, seen = value, &haveSignature
		default:
			return a, sigV4Fail("malformed Authorization header")
		}
		if *seen {
			return a, sigV4Fail("malformed Authorization header")
		}
		*seen = true
	}
	if !haveCredential || !haveSignedHeaders || !haveSignature {
		return a, sigV4Fail("malformed Authorization header")
	}

	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[2] == "" || scope[3] == "" || scope[4] != sigV4Terminal {
		return a, sigV4Fail("malformed Credential in Authorization header")
	}
	a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]

	if len(a.signature) != sha256.Size*2 || strings.ToLower(a.signature) != a.signature {
		return a, sigV4Fail("malformed Signature in Authorization header")
	}
	if _, err := hex.DecodeString(a.signature); err != nil {
		return a, sigV4Fail("malformed Signature in Authorization header")
	}

	a.headerNames = strings.Split(a.signedHeaders, ";")
	for i, name := range a.headerNames {
		// SigV4 requires lowercase names in sorted order; checking it here
		// gives a clearer reason than a mismatch later.
		if name == "" || strings.ToLower(name) != name || (i > 0 && name <= a.headerNames[i-1]) {
			return a, sigV4Fail("malformed SignedHeaders in Authorization header")
		}
	}
	return a, nil
}

// sigV4Clone builds the request the SDK signer will canonicalize: same
// method, path, query and host as r, but carrying only the headers the
// client signed, so that unsigned headers added in transit (User-Agent,
// Accept, proxies' headers) do not end up in the recomputation.
func sigV4Clone(r *http.Request, auth sigV4Auth) (*http.Request, error) {
	// On a server-side request the host is in r.Host and r.URL is just the
	// request target; on a client-built one it may only be in r.URL.Host.
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host == "" {
		return nil, sigV4Fail("missing Host header")
	}

	u := *r.URL
	u.Host = host
	// No scheme on purpose: the signer strips ":80"/":443" from the host when
	// it matches the scheme, but the client signed the Host it sent, which
	// is exactly what arrived in r.Host.
	u.Scheme = ""
	u.User = nil
	clone := &http.Request{
		Method: r.Method,
		URL:    &u,
		Host:   host,
		Header: make(http.Header),
	}
	clone = clone.WithContext(r.Context())

	var sawHost, sawDate bool
	for _, name := range auth.headerNames {
		switch {
		case name == "host":
			sawHost = true
			continue // the signer always signs clone.Host
		case name == "x-amz-date":
			sawDate = true
		case sdkUnsignableHeaders[name]:
			return nil, sigV4Fail("signed header %q is not supported", name)
		case name == "content-length":
			// The signer signs content-length from clone.ContentLength, and
			// only when positive; the net/http server may have dropped the
			// header into r.ContentLength.
			n := r.ContentLength
			if v := r.Header.Get("Content-Length"); v != "" {
				var err error
				if n, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, sigV4Fail("malformed Content-Length header")
				}
			}
			if n <= 0 {
				return nil, sigV4Fail("signed header %q is not supported", name)
			}
			clone.ContentLength = n
			continue
		}
		values := r.Header.Values(name)
		if len(values) == 0 {
			return nil, sigV4Fail("signed header %q is missing", name)
		}
		clone.Header[textproto.CanonicalMIMEHeaderKey(name)] = values
	}
	if !sawHost {
		return nil, sigV4Fail("host must be a signed header")
	}
	if !sawDate {
		return nil, sigV4Fail("x-amz-date must be a signed header")
	}
	return clone, nil
}
