// Package eventstandin is an in-process Amazon EventBridge stand-in for the local server and
// tests only (like lib/marketstandin, the layout test keeps it out of production code): it
// answers PutEvents in the AWS JSON 1.1 protocol the SDK's eventbridge client speaks, records
// every entry it accepts, and can be told to fail entries, so that code under test uses the
// real SDK client over HTTP, never a mock of it.
//
// Where EventBridge documents its behaviour (the SDK's API reference of PutEvents), the
// stand-in follows it: 1 to 10 entries a call, each with a Source, a DetailType and a Detail
// that is a JSON object, at most 256 KB a call; an entry that fails is answered with its
// ErrorCode in its place and counted in FailedEntryCount, while the others are accepted.
package eventstandin

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/marketstandin"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// TargetPutEvents is the X-Amz-Target of PutEvents, the one operation the stand-in serves.
const TargetPutEvents = "AWSEvents.PutEvents"

// Region is the region the stand-in's client signs for.
const Region = "us-east-1"

// Limits of PutEvents.
const (
	maxEntries = 10
	maxSize    = 256 * 1024
)

// Entry is an event the stand-in accepted.
type Entry struct {
	EventID      string
	EventBusName string // "" is the default bus
	Source       string
	DetailType   string
	// Detail is the event's detail, a JSON object, as sent.
	Detail    string
	Resources []string
	// Time is the entry's Time (zero when the caller set none); Received when it arrived.
	Time, Received time.Time
}

// EventBridge is the stand-in. It is safe for concurrent use.
type EventBridge struct {
	mu       sync.Mutex
	entries  []Entry
	failing  int
	failCode string
	calls    int
	now      func() time.Time
}

// New returns a stand-in with no events, on the system clock.
func New() *EventBridge { return &EventBridge{now: time.Now} }

// Start starts a stand-in on a local test server that t's cleanup closes, and returns it with
// a client pointed at it.
func Start(t testing.TB) (*EventBridge, *eventbridge.Client) {
	t.Helper()
	e := New()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, Client(srv.URL)
}

// Client is the SDK's EventBridge client pointed at endpoint (the URL of a server of the
// stand-in), made as the marketplaces' stand-ins' clients are (marketstandin.SDKConfig).
func Client(endpoint string) *eventbridge.Client {
	cfg := marketstandin.SDKConfig(Region)
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// Entries are the entries accepted so far, oldest first.
func (e *EventBridge) Entries() []Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Entry(nil), e.entries...)
}

// Calls is how many PutEvents calls the stand-in answered.
func (e *EventBridge) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// FailEntries makes the next n entries that would be accepted fail with code (as
// EventBridge's "InternalFailure" or "ThrottlingException" in an entry's place), whichever
// calls they come in.
func (e *EventBridge) FailEntries(n int, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failing, e.failCode = n, code
}

type putEventsInput struct {
	Entries []struct {
		Source       *string
		DetailType   *string
		Detail       *string
		EventBusName *string
		Resources    []string
		Time         *float64
	}
	EndpointId *string
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// ServeHTTP answers PutEvents.
func (e *EventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("standin-%08d", e.calls))
	switch {
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "Only POST is served.")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	case r.Header.Get("X-Amz-Target") != TargetPutEvents:
		writeError(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("The operation %q is not served by the stand-in.", r.Header.Get("X-Amz-Target")))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSize+1))
	if err != nil || len(body) > maxSize {
		writeError(w, http.StatusBadRequest, "ValidationException", "The request is larger than 256 KB.")
		return
	}
	var in putEventsInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "The request body is not the JSON PutEvents takes.")
		return
	}
	if n := len(in.Entries); n < 1 || n > maxEntries {
		writeError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (it has %d)", n))
		return
	}
	out := struct {
		Entries          []resultEntry
		FailedEntryCount int
	}{}
	for _, in := range in.Entries {
		res := resultEntry{}
		detail := aws.ToString(in.Detail)
		var obj map[string]any
		switch {
		case aws.ToString(in.Source) == "" || aws.ToString(in.DetailType) == "":
			res.ErrorCode, res.ErrorMessage = "InvalidArgument", "Parameter(s) Source or DetailType are missing."
		case json.Unmarshal([]byte(detail), &obj) != nil:
			res.ErrorCode, res.ErrorMessage = "MalformedDetail", "Detail is malformed."
		case e.failing > 0:
			e.failing--
			res.ErrorCode, res.ErrorMessage = e.failCode, "The stand-in was told to fail this entry."
		default:
			res.EventID = newID()
			ent := Entry{EventID: res.EventID, EventBusName: aws.ToString(in.EventBusName), Source: *in.Source, DetailType: *in.DetailType,
				Detail: detail, Resources: in.Resources, Received: e.now()}
			if in.Time != nil {
				sec, frac := math.Modf(*in.Time)
				ent.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
			}
			e.entries = append(e.entries, ent)
		}
		if res.ErrorCode != "" {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, res)
	}
	writeJSON(w, http.StatusOK, out)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func writeError(w http.ResponseWriter, status int, errType, msg string) {
	writeJSON(w, status, map[string]string{"__type": errType, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
