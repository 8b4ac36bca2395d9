package edge

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/opensignum/signum/lib/fault"
)

// IfMatchVersion is the version an If-Match header names (an object's ETag, like "3"), 0 when
// none (or "*") is sent. Anything else, a weak tag or a list included, is a 412 problem that
// names what (the object, as "group" or "role").
func IfMatchVersion(r *http.Request, what string) (int64, error) {
	m := strings.TrimSpace(r.Header.Get("If-Match"))
	if m == "" || m == "*" {
		return 0, nil
	}
	inner, ok := strings.CutPrefix(m, `"`)
	inner, closed := strings.CutSuffix(inner, `"`)
	v, err := strconv.ParseInt(inner, 10, 64)
	if !ok || !closed || err != nil || v < 1 {
		return 0, fault.Newf(fault.ErrPrecondition, "If-Match must be the %s's ETag, like \"3\".", what)
	}
	return v, nil
}
