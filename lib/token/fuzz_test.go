package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/token"
)

// FuzzVerify feeds Verify arbitrary input: it must never panic, never accept anything but the
// one valid token, fail only with ErrUnauthenticated or ErrUnavailable, and never call KMS
// per input (the key is cached first; the clock is fixed, so the once-a-minute refetch for an
// unknown kid never comes due).
func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	now := func() time.Time { return t0 }
	valid, want := e.issue(f, alice, now)
	cnt := &countingKMS{k: e.kms}
	v := token.NewVerifier(cnt, e.keyARN, now)
	ctx := context.Background()
	if _, err := v.Verify(ctx, valid, token.Portal); err != nil {
		f.Fatal(err)
	}

	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + segment(f, with(claims(), "roles", []string{"admin"})) + "." + parts[2])
	f.Add(segment(f, with(e.header(), "alg", "none")) + "." + parts[1] + ".")
	f.Add(jwtSign(f, jwt.SigningMethodHS256, e.pubDER, e.header(), claims()))
	f.Add(jwtSign(f, jwt.SigningMethodES256, mustECKey(f), with(e.header(), "kid", "other"), claims()))
	f.Add(kmsSign(f, e.kms, e.keyARN, e.header(), with(claims(), "dep", nil)))
	f.Add(kmsSign(f, e.kms, e.keyARN, e.header(), with(claims(), "exp", "soon", "aud", 7)))
	f.Add(valid[:len(valid)/2])
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(segment(f, []int{1}) + "." + segment(f, "x") + ".AAAA")

	f.Fuzz(func(t *testing.T, raw string) {
		got, err := v.Verify(ctx, raw, token.Portal)
		if err == nil {
			if raw != valid || !equalClaims(got, want) {
				t.Fatalf("accepted %q as %+v", raw, got)
			}
		} else if !errors.Is(err, fault.ErrUnauthenticated) && !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("err = %v: neither unauthenticated nor unavailable", err)
		} else if _, ok := fault.DetailOf(err); !ok {
			t.Fatalf("err = %v has no caller-safe detail", err)
		}
		if n := cnt.gets.Load() + cnt.signs.Load(); n != 1 {
			t.Fatalf("%d KMS calls, want the one that cached the key", n)
		}
	})
}
