// Package password hashes passwords with argon2id and holds the password and lockout policies
// of a users domain (portal users and the console's "Local users" domains).
//
// Stored hashes are PHC strings, so cost parameters travel with each hash: raising the cost
// later needs no migration, only NeedsRehash at the next successful login. Everything here is
// pure (no store, no clock): callers pass the time, so lockout and expiry are testable.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB of memory the hash fills
	Time    uint32 // passes over that memory
	Threads uint8  // lanes (parallelism); part of the hash, not only a speed setting
	SaltLen uint32 // bytes of random salt
	KeyLen  uint32 // bytes of derived key
}

// DefaultParams are OWASP's minimum for argon2id (m=19 MiB, t=2, p=1), chosen because the
// functions run in 256 MB Lambdas: a larger m would leave too little memory for concurrent
// work, and p>1 buys nothing on a Lambda's fraction of a core.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters, both for Hash and for stored hashes read by Verify. A stored hash is
// outside input as far as this package knows (a restored backup, a bad migration, a tampered
// item): without limits one item with m=4 GiB would kill every Lambda that reads it.
//
// maxMemory is 64 MiB rather than more because a 256 MB Lambda must still hold the runtime,
// the SDK clients and the request while hashing; it leaves room above OWASP's largest
// recommended m (46 MiB, t=1). Taken together the limits bound one Verify to about a second.
const (
	maxMemory  = 64 * 1024 // KiB
	maxTime    = 10
	maxThreads = 16
	minSaltLen = 8  // RFC 9106 minimum
	maxSaltLen = 64 // RFC 9106 recommends 16
	minKeyLen  = 16 // shorter keys make guessing collisions practical
	maxKeyLen  = 64
	// maxEncodedLen bounds the work done before any field is checked; the longest valid
	// encoding is about 220 characters.
	maxEncodedLen = 256
)

// ErrMalformedHash means a stored hash could not be parsed or has parameters outside the
// limits. It wraps no fault kind on purpose: a bad stored hash is a server fault (500), not
// the caller's.
var ErrMalformedHash = errors.New("password: malformed hash")

// phcPrefix is the fixed start of every encoding: only argon2id, only version 19 (0x13, the
// one x/crypto implements). argon2i and argon2d hashes are refused, not verified.
var phcPrefix = fmt.Sprintf("$argon2id$v=%d$", argon2.Version)

// b64 is raw (unpadded) standard base64 as PHC uses; Strict refuses non-zero trailing bits so
// each salt and key has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// check reports whether p is within the limits. Its errors name no sentinel: for Hash they
// are a programming error, and decode wraps them in ErrMalformedHash.
func (p Params) check() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("parallelism %d not in 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 needs 8 KiB per lane.
		return fmt.Errorf("memory %d KiB not in %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("iterations %d not in 1..%d", p.Time, maxTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d not in %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d not in %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash returns a PHC-format string: $argon2id$v=19$m=19456,t=2,p=1$<b64 salt>$<b64 hash>
// (raw std base64, no padding), with a fresh random salt. It refuses parameters Verify would
// refuse, so it never writes a hash that cannot be checked.
func Hash(password string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key := idKey([]byte(password), salt, p)
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", phcPrefix, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded; the keys are compared in constant time.
// Malformed encodings return ErrMalformedHash (never a panic), and parameters beyond the
// limits (m > 64 MiB, t > 10, p > 16, salt or key longer than 64 bytes) are refused before
// any memory is allocated, so a stored value cannot be used to exhaust memory or time.
func Verify(encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := idKey([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// hashing bounds the argon2 computations one process runs at once to its CPUs. Each holds
// its memory cost (19 MiB by default) for its whole run, so a burst of logins to one process
// (the local server; a Lambda serves one request at a time) would otherwise take memory
// without bound and starve everything else of CPU; queued, the burst costs the same hashing
// and finishes no later. Every login path hashes through it, so answers still take the same
// time.
var hashing = make(chan struct{}, runtime.GOMAXPROCS(0))

// observe, set by tests only, sees the parameters of every hash.
var observe func(Params)

// idKey is argon2id of password and salt with p, run under hashing.
func idKey(password, salt []byte, p Params) []byte {
	if observe != nil {
		observe(p)
	}
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// NeedsRehash reports whether encoded was made with parameters other than p, so that login
// can store a new hash while it still has the plain password. An unparsable encoding needs
// a rehash too.
func NeedsRehash(encoded string, p Params) bool {
	got, _, _, err := decode(encoded)
	return err != nil || got != p
}

// dummySalt salts VerifyDummy's hash; its value is irrelevant, since the result is thrown away.
var dummySalt = make([]byte, maxSaltLen)

// dummyKey is what VerifyDummy compares its hash with, as Verify compares with a stored key.
var dummyKey = make([]byte, maxKeyLen)

// VerifyDummy does the work Verify does for a user's hash with DefaultParams — one argon2id
// of password, one constant-time comparison — and returns false. Login uses it for unknown
// users so that a wrong user and a wrong password take the same time and user names cannot
// be enumerated by timing. It hashes with the parameters themselves rather than against a
// hash made once: made at package init, that hash was most of every function's cold start
// (#18); made on first use, the first unknown user of an instance took two hashes, which
// told it apart.
func VerifyDummy(password string) bool {
	p := DefaultParams
	got := idKey([]byte(password), dummySalt[:p.SaltLen], p)
	_ = subtle.ConstantTimeCompare(got, dummyKey[:p.KeyLen])
	return false
}

// decode parses a PHC argon2id string strictly: fields in PHC order, no leading zeros, no
// padding, every limit checked before the salt and key are decoded or any hashing is done.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	if len(encoded) > maxEncodedLen {
		return Params{}, nil, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxEncodedLen)
	}
	rest, ok := strings.CutPrefix(encoded, phcPrefix)
	if !ok {
		// Do not echo the input: it is a stored secret-derived value and may be garbage.
		return Params{}, nil, nil, fmt.Errorf("%w: not an argon2id v=%d encoding", ErrMalformedHash, argon2.Version)
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return Params{}, nil, nil, fmt.Errorf("%w: want parameters, salt and hash", ErrMalformedHash)
	}
	mtp := strings.Split(fields[0], ",")
	if len(mtp) != 3 {
		return Params{}, nil, nil, fmt.Errorf("%w: want parameters m, t and p", ErrMalformedHash)
	}
	var v [3]uint32
	for i, name := range [3]string{"m", "t", "p"} {
		if v[i], err = parseParam(mtp[i], name); err != nil {
			return Params{}, nil, nil, err
		}
	}
	if v[2] > maxThreads {
		// Checked here because Threads is a uint8 and the conversion below would wrap.
		return Params{}, nil, nil, fmt.Errorf("%w: parallelism %d not in 1..%d", ErrMalformedHash, v[2], maxThreads)
	}
	// Lengths from the encoded sizes first, so the limit check precedes any decoding.
	p = Params{Memory: v[0], Time: v[1], Threads: uint8(v[2]),
		SaltLen: uint32(b64.DecodedLen(len(fields[1]))), KeyLen: uint32(b64.DecodedLen(len(fields[2])))}
	if err := p.check(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	if salt, err = decodeB64(fields[1]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	if key, err = decodeB64(fields[2]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: hash: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// decodeB64 decodes raw standard base64, refusing the CR and LF that encoding/base64 skips
// even in strict mode: otherwise "<hash>\n" would verify like "<hash>" and one hash would
// have many stored forms.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return b64.DecodeString(s)
}

// parseParam parses "name=N" with N a decimal uint32 without sign or leading zeros.
func parseParam(s, name string) (uint32, error) {
	digits, ok := strings.CutPrefix(s, name+"=")
	if !ok || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') ||
		strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%w: bad parameter %s", ErrMalformedHash, name)
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: parameter %s out of range", ErrMalformedHash, name)
	}
	return uint32(n), nil
}
