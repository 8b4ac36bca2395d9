package edge

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// ProblemTypeBase is the prefix of every problem "type" URI; each kind has an anchor in
// docs/problems.md so that a client developer can look up what a problem means.
const ProblemTypeBase = "https://github.com/opensignum/signum/blob/main/docs/problems.md#"

// Problem is an RFC 7807 problem details body.
type Problem struct {
	Type          string             `json:"type"`
	Title         string             `json:"title"`
	Status        int                `json:"status"`
	Detail        string             `json:"detail,omitempty"`
	Instance      string             `json:"instance,omitempty"`
	InvalidParams []fault.FieldError `json:"invalid-params,omitempty"`
	Allow         []string           `json:"allow,omitempty"`
}

// Errors detected by the edge itself.
var (
	// ErrUnsupportedMediaType is a body in a content type the route does not take (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrTooLarge is a body over the route's size cap (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrRouteNotFound is a path no route serves (404).
	ErrRouteNotFound = errors.New("no such route")
	// ErrMethodNotAllowed is a known path with a method it does not serve (405).
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// problemKind is one row of the error → HTTP table.
type problemKind struct {
	kind   error
	status int
	slug   string
	title  string
	// detail is said when the error carries no caller-safe detail of its own.
	detail string
}

// problemTable is the one place where errors become HTTP statuses. Order matters: the first
// kind the error matches wins, so more specific kinds come first.
var problemTable = []problemKind{
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "too-large", "Request body too large", "The request body is larger than this route accepts."},
	{ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "This route accepts application/json bodies only."},
	{ErrRouteNotFound, http.StatusNotFound, "no-such-route", "No such route", "No route serves this path."},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "This path does not accept this method."},
	{fault.ErrPlanLimit, http.StatusForbidden, "plan-limit", "Plan limit reached", "The deployment's plan does not allow more of this; a larger plan does."},
	{fault.ErrSubscriptionInactive, http.StatusForbidden, "subscription-inactive", "Subscription inactive", "The deployment's subscription is suspended or cancelled."},
	{fault.ErrInvalid, http.StatusBadRequest, "invalid-request", "Invalid request", "The request is not valid."},
	{fault.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Unauthenticated", "The request does not carry valid credentials."},
	{fault.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden", "The caller may not do this."},
	{fault.ErrNotFound, http.StatusNotFound, "not-found", "Not found", "The object does not exist."},
	{fault.ErrConflict, http.StatusConflict, "conflict", "Conflict", "The request conflicts with the current state."},
	{fault.ErrPrecondition, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", "The object has changed since it was read."},
	{fault.ErrGone, http.StatusGone, "gone", "Gone", "The object is no longer usable."},
	{fault.ErrUnprocessable, http.StatusUnprocessableEntity, "unprocessable", "Unprocessable request", "The request cannot be carried out as sent."},
	{fault.ErrTooManyRequests, http.StatusTooManyRequests, "too-many-requests", "Too many requests", "The caller sent more requests than its limit allows; retry later."},
	{fault.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "A dependency of the service is unavailable; retry later."},
	{fault.ErrBadGateway, http.StatusBadGateway, "bad-gateway", "Bad gateway", "An outside service the deployment configured failed."},
}

// internalProblem is the answer to every error not in the table. Its detail is constant: the
// cause may hold SDK messages, ARNs or key ids and goes to the log only.
var internalProblem = problemKind{nil, http.StatusInternalServerError, "internal", "Internal error", "The server could not complete the request; the failure has been logged."}

// ProblemFor turns err into the problem body the caller gets. It never exposes the text of an
// error that is not a caller-safe fault.Public or fault.Fields.
func ProblemFor(err error) Problem {
	pk := internalProblem
	for _, row := range problemTable {
		if errors.Is(err, row.kind) {
			pk = row
			break
		}
	}
	p := Problem{Type: ProblemTypeBase + pk.slug, Title: pk.title, Status: pk.status, Detail: pk.detail}
	if pk.status >= 500 && pk.kind != fault.ErrBadGateway {
		// 5xx details stay constant whatever the error carries, but for an outside
		// service's failure, whose detail names what the deployment configured.
		return p
	}
	if d, ok := fault.DetailOf(err); ok {
		p.Detail = d
	}
	var fields fault.Fields
	if errors.As(err, &fields) {
		p.InvalidParams = fields
		if len(fields) == 1 {
			p.Detail = fields[0].Name + ": " + fields[0].Reason
		} else {
			p.Detail = strconv.Itoa(len(fields)) + " fields are invalid; see invalid-params."
		}
	}
	return p
}

// WriteProblem answers r with the problem for err and logs it: server faults at error level
// with their cause, caller mistakes at info level.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(err)
	p.Instance = RequestID(r.Context())
	log := Logger(r.Context())
	if p.Status >= 500 {
		log.Error("request failed", slog.Int("status", p.Status), slog.String("error", err.Error()))
	} else {
		log.Info("request refused", slog.Int("status", p.Status), slog.String("problem", p.Type), slog.String("error", err.Error()))
	}
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// HTTP requires a challenge on every 401; the service's credentials are bearer tokens.
		w.Header().Set("WWW-Authenticate", `Bearer realm="signum"`)
	}
	if d, ok := fault.RetryAfter(err); ok && (p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable) {
		w.Header().Set("Retry-After", strconv.Itoa(RetrySeconds(d)))
	}
	writeProblem(w, p)
}

// RetrySeconds is d as the whole seconds of a Retry-After header: rounded up, at least 1.
func RetrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
