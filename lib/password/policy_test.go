package password_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/password"
)

// The reasons Check gives; FuzzCheck also uses them to prove errors carry only fixed text.
const (
	tooShort12   = "must be at least 12 characters"
	tooShort8    = "must be at least 8 characters"
	tooLong      = "must be at most 256 bytes"
	notUTF8      = "must be valid UTF-8"
	hasControl   = "must not contain control characters"
	needUpper    = "must contain an upper-case letter"
	needLower    = "must contain a lower-case letter"
	needDigit    = "must contain a digit"
	needSymbol   = "must contain a symbol"
	sameAsUser   = "must not be the same as the user name"
	fieldsPrefix = "invalid request: password: "
)

func TestPolicyCheck(t *testing.T) {
	def := password.DefaultPolicy()
	withSymbol := def
	withSymbol.RequireSymbol = true
	eight := password.Policy{MinLength: 8, RequireUpper: true, RequireLower: true, RequireDigit: true}
	tests := []struct {
		name     string
		policy   password.Policy
		password string
		identity string
		want     []string // broken rules in order; nil = accepted
	}{
		{"ok/default", def, "Correct4Horse", "alice", nil},
		{"ok/exactly-min-length", def, "Abcdefghij12", "", nil},
		{"ok/runes-not-bytes", eight, "Ünïcödé1", "", nil},
		{"ok/symbol", withSymbol, "Correct4Horse!", "", nil},
		{"ok/space-is-a-symbol", withSymbol, "Correct4 Horse", "", nil},
		{"ok/exactly-256-bytes", def, "Aa1" + strings.Repeat("x", 253), "", nil},
		{"ok/zero-policy-has-floor-8", password.Policy{}, "abcdefgh", "", nil},
		{"ok/identity-differs", def, "Alice.Smith1x", "alice.smith1", nil},
		{"ok/empty-identity-not-compared", password.Policy{}, "abcdefgh", "", nil},
		{"ok/emoji-with-joiner", withSymbol, "Correct4Horse👩‍💻", "", nil},
		{"fail/too-short", def, "Short1Aa", "", []string{tooShort12}},
		{"fail/zero-policy-floor", password.Policy{}, "abcdefg", "", []string{tooShort8}},
		{"fail/multibyte-counted-as-runes", eight, "Ünïcöd1", "", []string{tooShort8}},
		{"fail/no-upper", def, "correct4horse", "", []string{needUpper}},
		{"fail/no-lower", def, "CORRECT4HORSE", "", []string{needLower}},
		{"fail/no-digit", def, "CorrectHorse!", "", []string{needDigit}},
		{"fail/no-symbol", withSymbol, "Correct4Horse", "", []string{needSymbol}},
		{"fail/too-long", def, "Aa1" + strings.Repeat("x", 254), "", []string{tooLong}},
		{"fail/too-long-multibyte", def, "Aa1" + strings.Repeat("密", 86), "", []string{tooLong}},
		{"fail/newline", def, "Correct4Horse\n", "", []string{hasControl}},
		{"fail/tab", def, "Correct4\tHorse", "", []string{hasControl}},
		{"fail/nul", def, "Correct4\x00Horse", "", []string{hasControl}},
		{"fail/del", def, "Correct4\x7fHorse", "", []string{hasControl}},
		{"fail/c1-control", def, "Correct4\u0085Horse", "", []string{hasControl}},
		{"fail/invalid-utf8", def, "Correct4Horse\xff", "", []string{notUTF8}},
		{"fail/same-as-identity", def, "Alice.Smith1@Example.com", "alice.smith1@example.com", []string{sameAsUser}},
		{"fail/combined", withSymbol, "abc", "", []string{tooShort12, needUpper, needDigit, needSymbol}},
		{"fail/all", withSymbol, "", "", []string{tooShort12, needUpper, needLower, needDigit, needSymbol}},
		{"fail/short-and-identity", def, "Bob1bob", "BOB1BOB", []string{tooShort12, sameAsUser}},
		{"fail/long-control-and-no-digit", def, "Aa\n" + strings.Repeat("x", 254), "", []string{tooLong, hasControl, needDigit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.password, tt.identity)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("Check = %v, want an ErrInvalid", err)
			}
			var fields fault.Fields
			if !errors.As(err, &fields) || len(fields) != 1 || fields[0].Name != "password" {
				t.Fatalf("Check = %#v, want one fault.Fields entry named password", err)
			}
			if got, want := fields[0].Reason, strings.Join(tt.want, "; "); got != want {
				t.Errorf("reason = %q\nwant     %q", got, want)
			}
			if len(tt.password) > 3 && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	want := password.Policy{MinLength: 12, RequireUpper: true, RequireLower: true, RequireDigit: true}
	if got := password.DefaultPolicy(); got != want {
		t.Errorf("DefaultPolicy = %+v, want %+v", got, want)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("DefaultPolicy().Validate = %v", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy password.Policy
		want   []string // field names; nil = valid
	}{
		{"ok/default", password.DefaultPolicy(), nil},
		{"ok/min-length-8", password.Policy{MinLength: 8}, nil},
		{"ok/min-length-128", password.Policy{MinLength: 128}, nil},
		{"ok/max-age-3650", password.Policy{MinLength: 12, MaxAgeDays: 3650}, nil},
		{"fail/zero", password.Policy{}, []string{"minLength"}},
		{"fail/min-length-7", password.Policy{MinLength: 7}, []string{"minLength"}},
		{"fail/min-length-129", password.Policy{MinLength: 129}, []string{"minLength"}},
		{"fail/max-age-negative", password.Policy{MinLength: 12, MaxAgeDays: -1}, []string{"maxAgeDays"}},
		{"fail/max-age-3651", password.Policy{MinLength: 12, MaxAgeDays: 3651}, []string{"maxAgeDays"}},
		{"fail/both", password.Policy{MinLength: -5, MaxAgeDays: 99999}, []string{"minLength", "maxAgeDays"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkFields(t, tt.policy.Validate(), tt.want) })
	}
}

// checkFields asserts err is nil for want == nil, else a fault.Fields naming exactly want.
func checkFields(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return
	}
	var fields fault.Fields
	if !errors.As(err, &fields) || !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("Validate = %v, want fault.Fields", err)
	}
	var got []string
	for _, f := range fields {
		if f.Reason == "" {
			t.Errorf("field %s has no reason", f.Name)
		}
		got = append(got, f.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

func TestPolicyExpired(t *testing.T) {
	setAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name   string
		maxAge int
		setAt  time.Time
		now    time.Time
		want   bool
	}{
		{"ok/never-expires", 0, setAt, setAt.Add(100 * 365 * day), false},
		{"ok/negative-never-expires", -1, setAt, setAt.Add(100 * 365 * day), false},
		{"ok/just-before", 90, setAt, setAt.Add(90*day - time.Second), false},
		{"ok/set-in-future", 90, setAt, setAt.Add(-day), false},
		{"ok/huge-max-age-no-overflow", 1 << 40, setAt, setAt.Add(day), false},
		{"fail/at-max-age", 90, setAt, setAt.Add(90 * day), true},
		{"fail/after-max-age", 90, setAt, setAt.Add(91 * day), true},
		{"fail/never-recorded", 90, time.Time{}, setAt, true},
		{"fail/huge-max-age-clamped", 1 << 40, setAt, setAt.Add(3651 * day), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := password.Policy{MinLength: 12, MaxAgeDays: tt.maxAge}
			if got := p.Expired(tt.setAt, tt.now); got != tt.want {
				t.Errorf("Expired = %v, want %v", got, tt.want)
			}
		})
	}
}
