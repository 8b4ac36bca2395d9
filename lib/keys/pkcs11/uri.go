package pkcs11

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// Limits of the PKCS#11 attributes a URI names.
const (
	// maxTokenLabel is the size of CK_TOKEN_INFO.label.
	maxTokenLabel = 32
	// maxKeyLabel is the longest key label this backend generates; CloudHSM refuses labels
	// over 127 characters.
	maxKeyLabel = 127
)

// URI names a key pair on a token: the subset of RFC 7512 this backend issues and accepts.
// A zero field is absent from the URI and matches anything, as RFC 7512 says; Token absent
// means the configured token.
type URI struct {
	// Token is the token label (the "token" path attribute).
	Token string
	// Object is the key label, CKA_LABEL (the "object" path attribute).
	Object string
	// ID is the key's CKA_ID (the "id" path attribute).
	ID []byte
}

// String formats u as "pkcs11:token=…;object=…;id=…", leaving out absent attributes. Every
// character of token and object other than ALPHA / DIGIT / "-" / "." / "_" / "~" is
// percent-encoded, and so is every byte of id, as RFC 7512 asks for binary attributes (the id
// therefore reads as hex with a "%" before each byte pair: id=%0a%1b…).
func (u URI) String() string {
	var parts []string
	if u.Token != "" {
		parts = append(parts, "token="+escape(u.Token, false))
	}
	if u.Object != "" {
		parts = append(parts, "object="+escape(u.Object, false))
	}
	if len(u.ID) > 0 {
		parts = append(parts, "id="+escape(string(u.ID), true))
	}
	return Scheme + ":" + strings.Join(parts, ";")
}

// ParseURI parses a key URI strictly. It accepts the path attributes token, object and id,
// each at most once, with a non-empty value of RFC 7512 pk11-pchar characters (percent-
// encoding allowed anywhere, required for the rest); object or id must be present. It refuses
// query attributes (pin-value, pin-source, module-name, module-path: the PIN and the module
// come from Config, never from a URI stored on a certificate), fragments, every other
// attribute, and token or object values that are not UTF-8 text.
//
// Errors wrap keys.ErrNotFound (a URI that names no key of this backend) and never quote the
// URI or a value from it: a malformed URI may carry a secret.
func ParseURI(s string) (URI, error) {
	var u URI
	rest, ok := strings.CutPrefix(s, Scheme+":")
	if !ok {
		return u, uriError("it does not start with %q", Scheme+":")
	}
	if strings.ContainsAny(rest, "?#") {
		return u, uriError("query attributes and fragments (e.g. pin-value, module-path) are not accepted")
	}
	if rest == "" {
		return u, uriError("it names no key; give object and id")
	}
	seen := map[string]bool{}
	for _, attr := range strings.Split(rest, ";") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok || name == "" {
			return u, uriError("every attribute must be name=value")
		}
		switch name {
		case "token", "object", "id":
		default:
			return u, uriError("attribute %.32q is not supported; use token, object and id", name)
		}
		if seen[name] {
			return u, uriError("attribute %s appears twice", name)
		}
		seen[name] = true
		v, err := unescape(raw)
		if err != nil {
			return u, uriError("attribute %s: %v", name, err)
		}
		if v == "" {
			return u, uriError("attribute %s is empty", name)
		}
		switch name {
		case "token":
			if !isText(v) {
				return u, uriError("attribute token is not UTF-8 text")
			}
			if len(v) > maxTokenLabel {
				return u, uriError("attribute token is longer than %d bytes", maxTokenLabel)
			}
			u.Token = v
		case "object":
			if !isText(v) {
				return u, uriError("attribute object is not UTF-8 text")
			}
			u.Object = v
		case "id":
			u.ID = []byte(v)
		}
	}
	if u.Object == "" && len(u.ID) == 0 {
		return u, uriError("it names no key; give object and id")
	}
	return u, nil
}

func uriError(format string, args ...any) error {
	return notFoundf("not a valid %s key URI: "+format, append([]any{Scheme}, args...)...)
}

// isPchar reports whether c may appear unencoded in an RFC 7512 path attribute value:
// unreserved / pk11-res-avail.
func isPchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:[]@!$'()*+,=&", c) >= 0
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// isText reports whether s is UTF-8 without control characters.
func isText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func escape(s string, all bool) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !all && isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%% at offset %d is not followed by two hex digits", i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%% at offset %d is not followed by two hex digits", i)
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		case isPchar(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("the character at offset %d must be percent-encoded", i)
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// notFoundf is a keys.ErrNotFound with a caller-safe detail.
func notFoundf(format string, args ...any) error {
	return fault.Newf(keys.ErrNotFound, format, args...)
}
