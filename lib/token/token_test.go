package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/token"
)

// t0 is the tests' "now"; fixed, so that tokens and expectations do not depend on the date.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const ttl = 15 * time.Minute

// clock is an injectable, movable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// countingKMS counts the calls that reach KMS.
type countingKMS struct {
	k           token.KMS
	gets, signs atomic.Int32
}

func (c *countingKMS) Sign(ctx context.Context, in *kms.SignInput, o ...func(*kms.Options)) (*kms.SignOutput, error) {
	c.signs.Add(1)
	return c.k.Sign(ctx, in, o...)
}

func (c *countingKMS) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, o ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	c.gets.Add(1)
	return c.k.GetPublicKey(ctx, in, o...)
}

// env is one test's KMS stand-in with a token signing key.
type env struct {
	tg     *devstack.Target
	kms    *kms.Client
	keyARN string
	pubDER []byte
}

func newEnv(t testing.TB) *env {
	t.Helper()
	tg := devstack.NewEmbedded(t)
	e := &env{tg: tg, kms: tg.Clients.KMS}
	e.keyARN = createSigningKey(t, e.kms)
	out, err := e.kms.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: aws.String(e.keyARN)})
	if err != nil {
		t.Fatal(err)
	}
	e.pubDER = out.PublicKey
	return e
}

func createSigningKey(t testing.TB, k *kms.Client) string {
	t.Helper()
	out, err := k.CreateKey(context.Background(), &kms.CreateKeyInput{
		KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("signum token test key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

var alice = token.Claims{
	Subject: "user-alice", System: token.Portal, Deployment: "dep-1",
	Roles: []string{"signer", "viewer"}, Name: "alice@example.com",
}

func (e *env) issue(t testing.TB, c token.Claims, now func() time.Time) (string, token.Claims) {
	t.Helper()
	raw, got, err := token.NewIssuer(e.kms, e.keyARN, ttl, now).Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return raw, got
}

// claims is the payload Issue would write for alice on the portal at t0, as a map that
// cases can break.
func claims() map[string]any {
	return map[string]any{
		"iss": "signum", "aud": []string{"signum:portal"}, "sub": "user-alice", "dep": "dep-1",
		"sys": "portal", "roles": []string{"signer"}, "jti": "jti-1",
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(ttl).Unix(),
	}
}

func (e *env) header() map[string]any {
	return map[string]any{"alg": "ES256", "typ": "JWT", "kid": e.keyARN}
}

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// kmsSign signs header and payload with the KMS key keyID exactly as the Issuer does, so
// that tests can give the real key claims the Issuer never writes.
func kmsSign(t testing.TB, k *kms.Client, keyID string, header, payload map[string]any) string {
	t.Helper()
	signing := segment(t, header) + "." + segment(t, payload)
	digest := sha256.Sum256([]byte(signing))
	out, err := k.Sign(context.Background(), &kms.SignInput{
		KeyId: aws.String(keyID), Message: digest[:], MessageType: kmstypes.MessageTypeDigest,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := token.DERToRaw(out.Signature)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// jwtSign signs header and payload with a key outside KMS through the jwt library. An ES256
// signature is given a low S, as the issuer's are, so that it is refused for its key.
func jwtSign(t testing.TB, m jwt.SigningMethod, key any, header, payload map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(payload))
	maps.Copy(tok.Header, header)
	tok.Header["alg"] = m.Alg()
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if m == jwt.SigningMethodES256 && highS(t, s) {
		s = twin(t, s)
	}
	return s
}

// sValue is the s of the ES256 token raw's signature.
func sValue(t testing.TB, raw string) *big.Int {
	t.Helper()
	sig, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature of %d bytes: %v", len(sig), err)
	}
	return new(big.Int).SetBytes(sig[32:])
}

// highS reports whether the ES256 token raw's signature has s above n/2.
func highS(t testing.TB, raw string) bool {
	return sValue(t, raw).Cmp(new(big.Int).Rsh(elliptic.P256().Params().N, 1)) > 0
}

// twin is the ES256 token raw with its signature's other S, n-s: the same token, signed as
// validly, spelled differently.
func twin(t testing.TB, raw string) string {
	t.Helper()
	i := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[i+1:])
	new(big.Int).Sub(elliptic.P256().Params().N, sValue(t, raw)).FillBytes(sig[32:])
	return raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// Each valid ECDSA signature has a twin, (r, n-s), that verifies as well; tokens are issued
// with the low one only and the high twin of a real token is refused, so a token has one
// spelling. (Before, KMS's signatures went out as they came, half of them high, and the twin
// of any token verified.)
func TestHighSTwinRefused(t *testing.T) {
	e := newEnv(t)
	v := token.NewVerifier(e.kms, e.keyARN, nil)
	for i := range 16 {
		raw, _ := e.issue(t, alice, nil)
		if highS(t, raw) {
			t.Fatalf("token %d was issued with a high S", i)
		}
		if _, err := v.Verify(context.Background(), raw, token.Portal); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		tw := twin(t, raw)
		pk, err := x509.ParsePKIXPublicKey(e.pubDER)
		if err != nil {
			t.Fatal(err)
		}
		dot := strings.LastIndexByte(tw, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(tw[dot+1:])
		if err := jwt.SigningMethodES256.Verify(tw[:dot], sig, pk); err != nil {
			t.Fatalf("the twin is not a valid signature: %v", err)
		}
		_, err = v.Verify(context.Background(), tw, token.Portal)
		if !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("the high-S twin of token %d: %v", i, err)
		}
		if d, _ := fault.DetailOf(err); d != "The token is not valid." {
			t.Errorf("detail %q", d)
		}
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	m = maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func decode(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIssueVerify(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newClock()
	v := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	for _, sys := range []token.System{token.Portal, token.Console} {
		t.Run("ok/"+string(sys), func(t *testing.T) {
			in := alice
			in.System = sys
			in.ID, in.IssuedAt = "ignored", t0.Add(-time.Hour) // Issue sets these
			raw, issued := e.issue(t, in, clk.Now)
			if issued.ID == "" || issued.ID == "ignored" || !issued.IssuedAt.Equal(t0) || !issued.ExpiresAt.Equal(t0.Add(ttl)) {
				t.Fatalf("issued claims: %+v", issued)
			}
			got, err := v.Verify(ctx, raw, sys)
			if err != nil {
				t.Fatal(err)
			}
			if !equalClaims(got, issued) {
				t.Fatalf("verified %+v, issued %+v", got, issued)
			}
			want := in
			want.ID, want.IssuedAt, want.ExpiresAt = issued.ID, issued.IssuedAt, issued.ExpiresAt
			if !equalClaims(got, want) {
				t.Fatalf("verified %+v, want %+v", got, want)
			}

			parts := strings.Split(raw, ".")
			if h := decode(t, parts[0]); h["alg"] != "ES256" || h["typ"] != "JWT" || h["kid"] != e.keyARN || len(h) != 3 {
				t.Errorf("header %v", h)
			}
			p := decode(t, parts[1])
			for k, v := range map[string]any{
				"iss": "signum", "sub": in.Subject, "dep": in.Deployment, "sys": string(sys),
				"name": in.Name, "jti": issued.ID, "iat": float64(t0.Unix()), "nbf": float64(t0.Unix()),
				"exp": float64(t0.Add(ttl).Unix()),
			} {
				if p[k] != v {
					t.Errorf("claim %s = %v, want %v", k, p[k], v)
				}
			}
			if aud, _ := p["aud"].([]any); len(aud) != 1 || aud[0] != "signum:"+string(sys) {
				t.Errorf("aud = %v", p["aud"])
			}
			if roles, _ := p["roles"].([]any); len(roles) != 2 {
				t.Errorf("roles = %v", p["roles"])
			}
		})
	}
	t.Run("ok/unique ids", func(t *testing.T) {
		_, a := e.issue(t, alice, clk.Now)
		_, b := e.issue(t, alice, clk.Now)
		if a.ID == b.ID {
			t.Fatalf("two tokens share jti %s", a.ID)
		}
	})
	t.Run("ok/optional name and roles omitted", func(t *testing.T) {
		in := token.Claims{Subject: "u", System: token.Console, Deployment: "d"}
		raw, _ := e.issue(t, in, clk.Now)
		got, err := v.Verify(ctx, raw, token.Console)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "" || len(got.Roles) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
}

// A CI job's session carries the job's claims and lives no longer than the job's token: the
// claims come back from Verify as issued, the lifetime caps the issuer's, never extends it,
// and a lifetime under a second is refused.
func TestIssueWorkloadSession(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	v := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	job := map[string]string{"repository": "acme/app", "ref": "refs/heads/main", "run_id": "1001", "rule": "release"}
	in := token.Claims{Subject: "cu_1", System: token.Console, Deployment: "dep-1", Roles: []string{"signer"}, Workload: job, Lifetime: 90 * time.Second}
	raw, issued := e.issue(t, in, clk.Now)
	if !issued.ExpiresAt.Equal(t0.Add(90*time.Second)) || issued.Lifetime != 0 {
		t.Fatalf("issued %+v", issued)
	}
	got, err := v.Verify(context.Background(), raw, token.Console)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Workload, job) || !got.ExpiresAt.Equal(issued.ExpiresAt) {
		t.Fatalf("verified %+v", got)
	}
	if p := decode(t, strings.Split(raw, ".")[1]); p["wl"] == nil {
		t.Errorf("no wl claim: %v", p)
	}
	// Without a workload, no wl claim; a lifetime over the issuer's is the issuer's.
	raw, issued = e.issue(t, token.Claims{Subject: "cu_1", System: token.Console, Deployment: "dep-1", Lifetime: time.Hour}, clk.Now)
	if p := decode(t, strings.Split(raw, ".")[1]); p["wl"] != nil || !issued.ExpiresAt.Equal(t0.Add(ttl)) {
		t.Errorf("claims %v, expiry %s", p, issued.ExpiresAt)
	}
	if _, _, err := token.NewIssuer(e.kms, e.keyARN, ttl, clk.Now).Issue(context.Background(), token.Claims{Subject: "u", System: token.Console, Deployment: "d", Lifetime: time.Millisecond}); err == nil {
		t.Error("issued a token that lives a millisecond")
	}
}

func equalClaims(a, b token.Claims) bool {
	return a.Subject == b.Subject && a.System == b.System && a.Deployment == b.Deployment &&
		slices.Equal(a.Roles, b.Roles) && a.Name == b.Name && a.ID == b.ID &&
		a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// TestIssueShortSignature issues until KMS returns a signature whose r or s is shorter than
// 32 bytes (about one in 128) and checks that the token verifies: the padding must be kept.
func TestIssueShortSignature(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	is := token.NewIssuer(e.kms, e.keyARN, ttl, clk.Now)
	v := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	for i := 0; i < 5000; i++ {
		raw, _, err := is.Issue(context.Background(), alice)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature of %d bytes: %v", len(sig), err)
		}
		if sig[0] != 0 && sig[32] != 0 {
			continue
		}
		t.Logf("short r or s after %d tokens", i+1)
		if _, err := v.Verify(context.Background(), raw, token.Portal); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no signature with a short r or s in 5000 tokens")
}

func TestIssueRefuses(t *testing.T) {
	e := newEnv(t)
	cnt := &countingKMS{k: e.kms}
	is := token.NewIssuer(cnt, e.keyARN, ttl, nil)
	for name, c := range map[string]token.Claims{
		"fail/no subject":     {System: token.Portal, Deployment: "d"},
		"fail/no deployment":  {Subject: "u", System: token.Portal},
		"fail/no system":      {Subject: "u", Deployment: "d"},
		"fail/unknown system": {Subject: "u", Deployment: "d", System: "admin"},
		"fail/too large":      {Subject: "u", Deployment: "d", System: token.Portal, Name: strings.Repeat("x", 8<<10)},
	} {
		t.Run(name, func(t *testing.T) {
			signs := cnt.signs.Load()
			if raw, _, err := is.Issue(context.Background(), c); err == nil {
				t.Fatalf("issued %d bytes", len(raw))
			}
			if cnt.signs.Load() != signs {
				t.Error("called KMS Sign for claims it refuses")
			}
		})
	}
	t.Run("fail/zero ttl", func(t *testing.T) {
		if _, _, err := token.NewIssuer(e.kms, e.keyARN, 0, nil).Issue(context.Background(), alice); err == nil {
			t.Fatal("issued a token with zero ttl")
		}
	})
	t.Run("fail/not a signing key", func(t *testing.T) {
		// The devstack's service key is an HMAC key: a misconfiguration to refuse, not use.
		_, _, err := token.NewIssuer(e.kms, devstack.ServiceKeyAlias, ttl, nil).Issue(context.Background(), alice)
		if !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newClock()
	valid, issued := e.issue(t, alice, clk.Now)
	parts := strings.Split(valid, ".")

	otherARN := createSigningKey(t, e.kms)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: e.pubDER})
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	kmsSigned := func(payload map[string]any) func() string {
		return func() string { return kmsSign(t, e.kms, e.keyARN, e.header(), payload) }
	}

	tests := []struct {
		name   string
		raw    func() string
		sys    token.System
		at     time.Time // verifier clock; t0 when zero
		detail string    // expected caller-safe detail; "" means the token verifies
		cause  error     // when set, a jwt error the failure must wrap: the reason, not just any
	}{
		{name: "ok/issued", raw: func() string { return valid }},
		// The crafted tokens below differ from this one only where named, so each fails for
		// the reason its name gives.
		{name: "ok/crafted with the KMS key", raw: kmsSigned(claims())},
		{name: "ok/expiry within leeway", raw: func() string { return valid }, at: t0.Add(ttl + 29*time.Second)},
		{name: "ok/issued ahead within leeway", raw: func() string { return valid }, at: t0.Add(-29 * time.Second)},
		{name: "ok/aud as a string", raw: kmsSigned(with(claims(), "aud", "signum:portal"))},
		{name: "ok/no typ", raw: func() string {
			return kmsSign(t, e.kms, e.keyARN, with(e.header(), "typ", nil), claims())
		}},

		{name: "fail/empty", raw: func() string { return "" }, detail: "The token is missing."},
		{name: "fail/expired", raw: func() string { return valid }, at: t0.Add(ttl + 31*time.Second), detail: "The token has expired.", cause: jwt.ErrTokenExpired},
		{name: "fail/not yet valid", raw: func() string { return valid }, at: t0.Add(-31 * time.Second), detail: "The token is not valid yet."},
		{name: "fail/not yet valid by nbf", raw: kmsSigned(with(claims(), "nbf", t0.Add(time.Minute).Unix())), detail: "The token is not valid yet.", cause: jwt.ErrTokenNotValidYet},
		{name: "fail/issued in the future", raw: kmsSigned(with(claims(), "iat", t0.Add(time.Minute).Unix())), detail: "The token is not valid yet.", cause: jwt.ErrTokenUsedBeforeIssued},
		{name: "fail/wrong audience", raw: func() string { return valid }, sys: token.Console, detail: "The token is not valid for this system.", cause: jwt.ErrTokenInvalidAudience},
		{name: "fail/unknown system asked", raw: func() string { return valid }, sys: "admin", detail: "The token is not valid."},
		{name: "fail/tampered payload", raw: func() string {
			return parts[0] + "." + segment(t, with(claims(), "roles", []string{"admin"})) + "." + parts[2]
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/tampered payload bit", raw: func() string { return flip(valid, len(parts[0])+5) }, detail: "The token is not valid.", cause: jwt.ErrTokenMalformed},
		{name: "fail/tampered header", raw: func() string {
			return segment(t, with(e.header(), "x", 1)) + "." + parts[1] + "." + parts[2]
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/tampered signature", raw: func() string { return flip(valid, len(valid)-20) }, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/truncated signature", raw: func() string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:63])
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/signature swapped halves", raw: func() string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sw := append(slices.Clone(sig[32:]), sig[:32]...)
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sw)
		}, detail: "The token is not valid."}, // as invalid, or as a high S when r was one
		{name: "fail/DER signature", raw: func() string {
			// What a conversion bug would send: KMS's DER form instead of r||s.
			signing := parts[0] + "." + parts[1]
			d := sha256.Sum256([]byte(signing))
			out, err := e.kms.Sign(ctx, &kms.SignInput{KeyId: aws.String(e.keyARN), Message: d[:],
				MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
			if err != nil {
				t.Fatal(err)
			}
			return signing + "." + base64.RawURLEncoding.EncodeToString(out.Signature)
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/alg none", raw: func() string {
			return segment(t, with(e.header(), "alg", "none")) + "." + segment(t, claims()) + "."
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/alg none with the real signature", raw: func() string {
			return segment(t, with(e.header(), "alg", "none")) + "." + parts[1] + "." + parts[2]
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/alg none through jwt", raw: func() string {
			return jwtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/HS256 with public key DER as secret", raw: func() string {
			return jwtSign(t, jwt.SigningMethodHS256, e.pubDER, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/HS256 with public key PEM as secret", raw: func() string {
			return jwtSign(t, jwt.SigningMethodHS256, pubPEM, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/RS256", raw: func() string {
			return jwtSign(t, jwt.SigningMethodRS256, rsaKey, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/ES256 by a local key", raw: func() string {
			return jwtSign(t, jwt.SigningMethodES256, ecKey, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/ES256 by a local key with its own kid", raw: func() string {
			return jwtSign(t, jwt.SigningMethodES256, ecKey, with(e.header(), "kid", "local"), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenUnverifiable},
		{name: "fail/another KMS key", raw: func() string {
			return kmsSign(t, e.kms, otherARN, with(e.header(), "kid", otherARN), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenUnverifiable},
		{name: "fail/another KMS key naming ours", raw: func() string {
			return kmsSign(t, e.kms, otherARN, e.header(), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenSignatureInvalid},
		{name: "fail/no kid", raw: func() string { return kmsSign(t, e.kms, e.keyARN, with(e.header(), "kid", nil), claims()) }, detail: "The token is not valid.", cause: jwt.ErrTokenUnverifiable},
		{name: "fail/typ not JWT", raw: func() string {
			return kmsSign(t, e.kms, e.keyARN, with(e.header(), "typ", "at+jwt"), claims())
		}, detail: "The token is not valid.", cause: jwt.ErrTokenUnverifiable},
		{name: "fail/wrong issuer", raw: kmsSigned(with(claims(), "iss", "evil")), detail: "The token is not valid.", cause: jwt.ErrTokenInvalidIssuer},
		{name: "fail/no issuer", raw: kmsSigned(with(claims(), "iss", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no sub", raw: kmsSigned(with(claims(), "sub", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/empty sub", raw: kmsSigned(with(claims(), "sub", "")), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no dep", raw: kmsSigned(with(claims(), "dep", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no jti", raw: kmsSigned(with(claims(), "jti", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no sys", raw: kmsSigned(with(claims(), "sys", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenInvalidClaims},
		{name: "fail/sys not matching aud", raw: kmsSigned(with(claims(), "sys", "console")), detail: "The token is not valid.", cause: jwt.ErrTokenInvalidClaims},
		{name: "fail/sys matching but aud not", raw: kmsSigned(with(claims(), "aud", "signum:console")), detail: "The token is not valid for this system.", cause: jwt.ErrTokenInvalidAudience},
		{name: "fail/two audiences", raw: kmsSigned(with(claims(), "aud", []string{"signum:portal", "signum:console"})), detail: "The token is not valid for this system.", cause: jwt.ErrTokenInvalidAudience},
		{name: "fail/no aud", raw: kmsSigned(with(claims(), "aud", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no exp", raw: kmsSigned(with(claims(), "exp", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no iat", raw: kmsSigned(with(claims(), "iat", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/no nbf", raw: kmsSigned(with(claims(), "nbf", nil)), detail: "The token is not valid.", cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "fail/exp as a string", raw: kmsSigned(with(claims(), "exp", "never")), detail: "The token is not valid.", cause: jwt.ErrTokenMalformed},
		{name: "fail/garbage", raw: func() string { return "notatoken" }, detail: "The token is not valid.", cause: jwt.ErrTokenMalformed},
		{name: "fail/not base64url", raw: func() string { return "not a token" }, detail: "The token is not valid."},
		{name: "fail/three empty segments", raw: func() string { return ".." }, detail: "The token is not valid.", cause: jwt.ErrTokenMalformed},
		{name: "fail/four segments", raw: func() string { return valid + "." + parts[2] }, detail: "The token is not valid.", cause: jwt.ErrTokenMalformed},
		{name: "fail/bearer prefix", raw: func() string { return "Bearer " + valid }, detail: "The token is not valid."},
		{name: "fail/trailing newline", raw: func() string { return valid + "\n" }, detail: "The token is not valid."},
		{name: "fail/padded base64", raw: func() string { return valid + "==" }, detail: "The token is not valid."},
		{name: "fail/oversize", raw: func() string { return strings.Repeat("a", 8<<10+1) }, detail: "The token is not valid."},
		{name: "fail/oversize but signed", raw: kmsSigned(with(claims(), "name", strings.Repeat("x", 8<<10))), detail: "The token is not valid."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			if at.IsZero() {
				at = t0
			}
			sys := tc.sys
			if sys == "" {
				sys = token.Portal
			}
			raw := tc.raw()
			got, err := token.NewVerifier(e.kms, e.keyARN, func() time.Time { return at }).Verify(ctx, raw, sys)
			if tc.detail == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Subject != issued.Subject || got.Deployment != issued.Deployment {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("verified: %+v", got)
			}
			if !errors.Is(err, fault.ErrUnauthenticated) || errors.Is(err, fault.ErrUnavailable) {
				t.Fatalf("err = %v, want only ErrUnauthenticated", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.cause)
			}
			if d, _ := fault.DetailOf(err); d != tc.detail {
				t.Errorf("detail %q, want %q (err %v)", d, tc.detail, err)
			}
			if len(raw) > 10 && strings.Contains(err.Error(), raw) {
				t.Error("the error echoes the token")
			}
			if p := strings.Split(raw, "."); len(p) == 3 && len(p[2]) > 10 && strings.Contains(err.Error(), p[2]) {
				t.Error("the error echoes the signature")
			}
		})
	}
}

// TestKMSDown stops the KMS stand-in: a verifier without the key must say "unavailable"
// (503, retry) rather than "unauthenticated" (401, sign in again); one with the key cached
// keeps working, and a failed fetch is retried once KMS is back.
func TestKMSDown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newClock()
	raw, _ := e.issue(t, alice, clk.Now)
	warm := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	if _, err := warm.Verify(ctx, raw, token.Portal); err != nil {
		t.Fatal(err)
	}
	warmIssuer := token.NewIssuer(e.kms, e.keyARN, ttl, clk.Now)
	if _, _, err := warmIssuer.Issue(ctx, alice); err != nil {
		t.Fatal(err)
	}
	cold := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	cnt := &countingKMS{k: e.kms}
	warmCounted := token.NewVerifier(cnt, e.keyARN, clk.Now)
	if _, err := warmCounted.Verify(ctx, raw, token.Portal); err != nil {
		t.Fatal(err)
	}
	foreign := jwtSign(t, jwt.SigningMethodES256, mustECKey(t), with(e.header(), "kid", "foreign"), claims())

	e.tg.Stack.KMS.Stop()
	t.Run("fail/cold verifier is unavailable", func(t *testing.T) {
		_, err := cold.Verify(ctx, raw, token.Portal)
		if !errors.Is(err, fault.ErrUnavailable) || errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("err = %v, want only ErrUnavailable", err)
		}
		if d, _ := fault.DetailOf(err); d != "The token service is temporarily unavailable." {
			t.Errorf("detail %q", d)
		}
	})
	t.Run("fail/cold verifier still refuses garbage without KMS", func(t *testing.T) {
		_, err := cold.Verify(ctx, "garbage", token.Portal)
		if !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("err = %v, want ErrUnauthenticated", err)
		}
	})
	t.Run("ok/warm verifier works", func(t *testing.T) {
		if _, err := warm.Verify(ctx, raw, token.Portal); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/unknown kids during the outage try KMS once a minute", func(t *testing.T) {
		clk.Set(t0.Add(2 * time.Minute))
		defer clk.Set(t0)
		// The first may be a rotation KMS would tell us about: unavailable, retry.
		if _, err := warmCounted.Verify(ctx, foreign, token.Portal); !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("first: err = %v, want ErrUnavailable", err)
		}
		for range 5 {
			if _, err := warmCounted.Verify(ctx, foreign, token.Portal); !errors.Is(err, fault.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
		}
		if n := cnt.gets.Load(); n != 2 {
			t.Fatalf("GetPublicKey called %d times, want 2 (cache, one refetch)", n)
		}
		if _, err := warmCounted.Verify(ctx, raw, token.Portal); err != nil {
			t.Fatalf("cached key lost after a failed refetch: %v", err)
		}
	})
	t.Run("fail/issue is unavailable", func(t *testing.T) {
		for name, is := range map[string]*token.Issuer{"warm": warmIssuer, "cold": token.NewIssuer(e.kms, e.keyARN, ttl, clk.Now)} {
			if _, _, err := is.Issue(ctx, alice); !errors.Is(err, fault.ErrUnavailable) {
				t.Errorf("%s issuer: err = %v, want ErrUnavailable", name, err)
			}
		}
	})

	if err := e.tg.Stack.KMS.Start(); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/cold verifier recovers", func(t *testing.T) {
		if _, err := cold.Verify(ctx, raw, token.Portal); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotation moves the alias to a new key: the issuer notices from Sign's answer and signs
// with the new kid; verifiers pick the new key up, but no more than once a minute.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const alias = "alias/signum-tokens"
	if _, err := e.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(e.keyARN)}); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cnt := &countingKMS{k: e.kms}
	is := token.NewIssuer(e.kms, alias, ttl, clk.Now)
	v := token.NewVerifier(cnt, alias, clk.Now)

	old, _, err := is.Issue(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, old, token.Portal); err != nil {
		t.Fatal(err)
	}

	newARN := createSigningKey(t, e.kms)
	if _, err := e.kms.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(newARN)}); err != nil {
		t.Fatal(err)
	}
	rotated, _, err := is.Issue(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if kid := decode(t, strings.Split(rotated, ".")[0])["kid"]; kid != newARN {
		t.Fatalf("kid after rotation = %v, want %s", kid, newARN)
	}
	forged := jwtSign(t, jwt.SigningMethodES256, mustECKey(t), with(map[string]any{"typ": "JWT"}, "kid", "forged"), claims())

	clk.Set(t0.Add(30 * time.Second))
	for _, raw := range []string{rotated, forged, forged, rotated} {
		if _, err := v.Verify(ctx, raw, token.Portal); !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("within the minute: err = %v, want ErrUnauthenticated", err)
		}
	}
	if n := cnt.gets.Load(); n != 1 {
		t.Fatalf("GetPublicKey called %d times within the minute, want 1", n)
	}

	clk.Set(t0.Add(61 * time.Second))
	if _, err := v.Verify(ctx, rotated, token.Portal); err != nil {
		t.Fatalf("after the minute: %v", err)
	}
	if n := cnt.gets.Load(); n != 2 {
		t.Fatalf("GetPublicKey called %d times, want 2", n)
	}
	// The old key is no longer trusted (see the package comment), and asking again does not
	// reach KMS.
	for range 3 {
		if _, err := v.Verify(ctx, old, token.Portal); !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("old token: err = %v", err)
		}
	}
	if n := cnt.gets.Load(); n != 2 {
		t.Fatalf("GetPublicKey called %d times, want 2", n)
	}
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestColdConcurrent: many first verifications at once fetch the key once.
func TestColdConcurrent(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	raw, _ := e.issue(t, alice, clk.Now)
	cnt := &countingKMS{k: e.kms}
	v := token.NewVerifier(cnt, e.keyARN, clk.Now)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), raw, token.Portal); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := cnt.gets.Load(); n != 1 {
		t.Fatalf("GetPublicKey called %d times, want 1", n)
	}
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	clk := newClock()
	raw, _ := e.issue(b, alice, clk.Now)
	v := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw, token.Portal); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw, token.Portal); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	e := newEnv(b)
	is := token.NewIssuer(e.kms, e.keyARN, ttl, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := is.Issue(ctx, alice); err != nil {
			b.Fatal(err)
		}
	}
}

// A token verified once is not checked for its signature again, but its times and its
// system are: it expires on time, a token for one system stays refused by another, and a
// token altered by one character is checked afresh (and refused).
func TestVerifiedTokensRecheck(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newClock()
	v := token.NewVerifier(e.kms, e.keyARN, clk.Now)
	raw, issued := e.issue(t, alice, clk.Now)
	for i := range 2 {
		got, err := v.Verify(ctx, raw, token.Portal)
		if err != nil || !equalClaims(got, issued) {
			t.Fatalf("use %d: %+v %v", i, got, err)
		}
	}
	if _, err := v.Verify(ctx, raw, token.Console); !errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("a portal token for the console: %v", err)
	}
	last := raw[len(raw)-1]
	altered := raw[:len(raw)-1] + string("AQ"[(strings.IndexByte("AQ", last)+1)%2])
	if last != 'A' && last != 'Q' {
		altered = raw[:len(raw)-1] + "A"
	}
	if _, err := v.Verify(ctx, altered, token.Portal); !errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("an altered token: %v", err)
	}
	clk.Set(issued.ExpiresAt.Add(31 * time.Second))
	if _, err := v.Verify(ctx, raw, token.Portal); !errors.Is(err, fault.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after its expiry: %v", err)
	}
}

// BenchmarkVerifyFresh verifies tokens this verifier has not seen (BenchmarkVerify: the same
// token again, as an agent sends it with every request): its signature is checked.
func BenchmarkVerifyFresh(b *testing.B) {
	e := newEnv(b)
	clk := newClock()
	var raws []string
	for range 257 {
		raw, _ := e.issue(b, alice, clk.Now)
		raws = append(raws, raw)
	}
	ctx := context.Background()
	var v *token.Verifier
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%256 == 0 {
			// A verifier that has the key but none of the tokens.
			b.StopTimer()
			v = token.NewVerifier(e.kms, e.keyARN, clk.Now)
			if _, err := v.Verify(ctx, raws[256], token.Portal); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, err := v.Verify(ctx, raws[i%256], token.Portal); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
