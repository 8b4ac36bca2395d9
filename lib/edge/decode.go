package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/opensignum/signum/lib/fault"
)

// MaxBodyBytes is the default cap on a JSON request body. API Gateway takes up to 10 MB; no
// JSON request of this service needs more than a few KiB, and a small cap keeps a hostile
// client from costing Lambda memory and time.
const MaxBodyBytes = 64 << 10

// DecodeJSON reads r's body into v. It is the only place request bodies are decoded, so every
// route refuses the same things the same way: a content type other than JSON (415), a body over
// limit bytes (413, limit <= 0 means MaxBodyBytes), an empty body, malformed JSON, unknown
// fields, values of the wrong type and trailing data (all 400, with a detail that says what and
// where).
func DecodeJSON(r *http.Request, v any, limit int64) error {
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return fault.Newf(ErrUnsupportedMediaType, "Content-Type must be application/json, got %q.", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return fault.Wrap(fault.ErrInvalid, err, "The request body could not be read.")
	}
	if int64(len(body)) > limit {
		return fault.Newf(ErrTooLarge, "The request body is larger than %d bytes.", limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fault.Newf(fault.ErrInvalid, "The request body is empty; a JSON object is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(fault.ErrInvalid, err, describeJSONError(err, body))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.Newf(fault.ErrInvalid, "The request body holds more than one JSON value.")
	}
	return nil
}

// describeJSONError turns an encoding/json error into a sentence for the caller. The
// standard messages mention Go types; callers want the field and the JSON type.
func describeJSONError(err error, body []byte) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return fmt.Sprintf("The request body is not valid JSON: %s (line %d, column %d).", syn.Error(), line, col)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Sprintf("The request body must be a JSON object, not %s.", typ.Value)
		}
		return fmt.Sprintf("Field %q must be %s, not %s.", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The request body is truncated JSON."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("Unknown field %s; this route does not accept it.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return "The request body is not valid JSON."
	}
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return "of another type"
}

func position(body []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(body)); i++ {
		if body[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// PageParams reads the paging query parameters every listing takes: ?limit (1..max, 0 when
// absent: the listing's default) and ?cursor (the "next" of the previous page).
func PageParams(r *http.Request, max int) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > max {
			return 0, "", fault.Fields{{Name: "limit", Reason: fmt.Sprintf("must be a whole number from 1 to %d", max)}}
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 200

// IdempotencyKey reads the optional Idempotency-Key header: "" when absent, else 1 to
// MaxIdempotencyKey visible ASCII characters other than the comma. A retry that sends the same
// key gets the first answer; the route says what that means for it.
//
// A key is taken whole or refused, never cut: API Gateway joins a repeated header's values
// with commas, and the Lambda adapter splits every header value at its commas, so a key with a
// comma arrives as several values. Reading only the first made "a,b" and "a,c" the same key
// "a"; several values (or a comma, when the request did not come through the adapter) are
// refused instead.
func IdempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 || len(vals) == 1 && vals[0] == "" {
		return "", nil
	}
	k := vals[0]
	if len(vals) > 1 || len(k) > MaxIdempotencyKey || strings.IndexFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e || c == ',' }) >= 0 {
		return "", fault.Fields{{Name: "Idempotency-Key", Reason: fmt.Sprintf("must be one value of 1 to %d visible ASCII characters other than ','", MaxIdempotencyKey)}}
	}
	return k, nil
}
