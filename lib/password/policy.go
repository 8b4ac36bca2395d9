package password

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opensignum/signum/lib/fault"
)

// Policy is a password policy of a users domain.
type Policy struct {
	MinLength     int  `json:"minLength"` // characters (runes), 8..128
	RequireUpper  bool `json:"requireUpper"`
	RequireLower  bool `json:"requireLower"`
	RequireDigit  bool `json:"requireDigit"`
	RequireSymbol bool `json:"requireSymbol"`
	MaxAgeDays    int  `json:"maxAgeDays"` // 0 = never expires; at most 3650
}

// Limits of a policy and of a password.
const (
	// minMinLength is NIST SP 800-63B's floor; Check applies it even to a policy that was
	// never validated (a zero Policy), so no stored policy can admit short passwords.
	minMinLength = 8
	maxMinLength = 128
	maxMaxAge    = 3650 // ten years; also keeps the day count far from Duration overflow
	// maxPasswordBytes bounds what is hashed: argon2 itself is not slowed much by a long
	// input, but a cap keeps request bodies, logs of sizes and memory predictable.
	maxPasswordBytes = 256
)

// DefaultPolicy is the policy of a new users domain: at least 12 characters with an upper-case
// letter, a lower-case letter and a digit; symbols not required; passwords never expire
// (NIST SP 800-63B advises against periodic expiry).
func DefaultPolicy() Policy {
	return Policy{MinLength: 12, RequireUpper: true, RequireLower: true, RequireDigit: true}
}

// Validate checks the policy itself (minLength 8..128, maxAgeDays 0..3650) and returns a
// fault.Fields error naming the bad fields by their JSON names.
func (p Policy) Validate() error {
	var bad fault.Fields
	if p.MinLength < minMinLength || p.MinLength > maxMinLength {
		bad.Add("minLength", "must be from %d to %d", minMinLength, maxMinLength)
	}
	if p.MaxAgeDays < 0 || p.MaxAgeDays > maxMaxAge {
		bad.Add("maxAgeDays", "must be from 0 (never expires) to %d", maxMaxAge)
	}
	return bad.Err()
}

// Check returns nil or a fault.Fields error (an ErrInvalid) for the field "password" whose
// reason names every rule the password breaks, e.g. "must be at least 12 characters; must
// contain an upper-case letter", so the user can fix all of them at once. It also refuses
// passwords longer than 256 bytes (bounded hashing work), invalid UTF-8, control characters,
// and a password equal (case-insensitively) to identity, the user's name or e-mail; an empty
// identity is not compared. The error is built from fixed texts only and never includes the
// password or the identity.
//
// Letters without case (e.g. CJK) count as neither upper- nor lower-case; a symbol is any
// character that is neither a letter nor a digit (space included).
func (p Policy) Check(password, identity string) error {
	var broken []string
	minLen := max(p.MinLength, minMinLength)
	if utf8.RuneCountInString(password) < minLen {
		broken = append(broken, "must be at least "+strconv.Itoa(minLen)+" characters")
	}
	if len(password) > maxPasswordBytes {
		broken = append(broken, "must be at most "+strconv.Itoa(maxPasswordBytes)+" bytes")
	}
	if !utf8.ValidString(password) {
		broken = append(broken, "must be valid UTF-8")
	}
	var upper, lower, digit, symbol, control bool
	for _, r := range password {
		switch {
		case r == utf8.RuneError:
			// Invalid UTF-8 (reported above) or U+FFFD itself: neither letter nor symbol.
		case unicode.IsControl(r):
			control = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case !unicode.IsLetter(r):
			symbol = true
		}
	}
	if control {
		broken = append(broken, "must not contain control characters")
	}
	if p.RequireUpper && !upper {
		broken = append(broken, "must contain an upper-case letter")
	}
	if p.RequireLower && !lower {
		broken = append(broken, "must contain a lower-case letter")
	}
	if p.RequireDigit && !digit {
		broken = append(broken, "must contain a digit")
	}
	if p.RequireSymbol && !symbol {
		broken = append(broken, "must contain a symbol")
	}
	if identity != "" && strings.EqualFold(password, identity) {
		broken = append(broken, "must not be the same as the user name")
	}
	if len(broken) == 0 {
		return nil
	}
	return fault.Fields{{Name: "password", Reason: strings.Join(broken, "; ")}}
}

// Expired reports whether a password set at setAt has expired under the policy at now. A zero
// setAt (never recorded) counts as long ago, so it expires under any policy with a maximum age.
func (p Policy) Expired(setAt, now time.Time) bool {
	if p.MaxAgeDays <= 0 {
		return false
	}
	days := min(p.MaxAgeDays, maxMaxAge) // an unvalidated huge value must not overflow Duration
	return !now.Before(setAt.Add(time.Duration(days) * 24 * time.Hour))
}
