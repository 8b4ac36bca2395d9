package password_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/password"
)

// FuzzVerify feeds arbitrary encodings to Verify: it must never panic, must refuse with
// ErrMalformedHash rather than report a match on bad input, must not allocate before
// refusing, and must stay within the time the parameter limits allow.
func FuzzVerify(f *testing.F) {
	f.Add(refP1, "password")
	f.Add(refP2, "wrong")
	f.Add(hugeM, "password") // must be refused before allocating 4 TiB
	for _, m := range malformed {
		f.Add(m.encoded, "password")
	}
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		ok, err := password.Verify(encoded, pw)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			if ok {
				t.Fatal("Verify returned true with an error")
			}
			if !errors.Is(err, password.ErrMalformedHash) {
				t.Fatalf("error %v is not ErrMalformedHash", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Fatalf("refused encoding allocated %d bytes", n)
			}
			if !password.NeedsRehash(encoded, password.DefaultParams) {
				t.Fatal("NeedsRehash(refused encoding) = false")
			}
		}
		// The limits cap one Verify at 64 MiB × 10 passes, about a second here.
		if elapsed > 10*time.Second {
			t.Fatalf("Verify took %v", elapsed)
		}
	})
}

// FuzzCheck checks that Check never panics and that its error is built only from the fixed
// rule texts, so it can never carry the password (or the identity) to a response or a log.
func FuzzCheck(f *testing.F) {
	f.Add("Correct4Horse", "alice", 12, true, true, true, false)
	f.Add("", "", 0, false, false, false, false)
	f.Add("abc\x00\xff\n", "abc\x00\xff\n", 8, true, true, true, true)
	f.Add(strings.Repeat("密", 100), "x", 128, true, false, true, true)
	f.Add("must", "", 12, false, false, false, false)
	f.Fuzz(func(t *testing.T, pw, identity string, minLen int, upper, lower, digit, symbol bool) {
		p := password.Policy{MinLength: minLen, RequireUpper: upper, RequireLower: lower, RequireDigit: digit, RequireSymbol: symbol}
		err := p.Check(pw, identity)
		if err == nil {
			return
		}
		if !errors.Is(err, fault.ErrInvalid) {
			t.Fatalf("Check = %v, not an ErrInvalid", err)
		}
		var fields fault.Fields
		if !errors.As(err, &fields) || len(fields) != 1 || fields[0].Name != "password" {
			t.Fatalf("Check = %#v, want one field named password", err)
		}
		msg := err.Error()
		if msg != fieldsPrefix+fields[0].Reason {
			t.Fatalf("Error() = %q carries more than the reason", msg)
		}
		for _, reason := range strings.Split(fields[0].Reason, "; ") {
			if !fixedReason(reason) {
				t.Fatalf("reason %q is not one of the fixed texts", reason)
			}
		}
		// The literal property. A password written only with characters of the fixed texts
		// (e.g. "must") may appear by coincidence; any other one must never appear.
		if len(pw) > 3 && strings.Contains(msg, pw) && strings.IndexFunc(pw, notFixedRune) >= 0 {
			t.Fatalf("error %q contains the password", msg)
		}
	})
}

// fixedAlphabet is every character the fixed texts can contain.
var fixedAlphabet = strings.Join([]string{fieldsPrefix, tooLong, notUTF8, hasControl, needUpper,
	needLower, needDigit, needSymbol, sameAsUser, "must be at least 0123456789 characters"}, "; ")

func notFixedRune(r rune) bool { return !strings.ContainsRune(fixedAlphabet, r) }

func fixedReason(r string) bool {
	switch r {
	case tooLong, notUTF8, hasControl, needUpper, needLower, needDigit, needSymbol, sameAsUser:
		return true
	}
	n, ok := strings.CutPrefix(r, "must be at least ")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, " characters")
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
}
