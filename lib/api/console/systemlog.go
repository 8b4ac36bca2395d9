package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// The system log's routes: a filtered listing and its export.

// LogEntry is the JSON form of a system log entry.
type LogEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Section is the part of the product the entry concerns (tenant.LogSections).
	Section string `json:"section"`
	// Object names what changed, when the entry says.
	Object string `json:"object,omitempty"`
	// SourceIP is the address the change or login came from, when a request made it.
	SourceIP string `json:"sourceIp,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

func logEntryJSON(e tenant.LogEntry) LogEntry {
	return LogEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Section: e.Section, Object: e.Object, SourceIP: e.SourceIP, Detail: e.Detail}
}

// Limits of the filters' text.
const (
	maxActorFilter  = 200
	maxActionFilter = 100
)

// logFilter reads the filters of a system-log request (from, to, actor, action, section),
// adding what is wrong with them to bad.
func logFilter(r *http.Request, bad *fault.Fields) store.LogFilter {
	q := r.URL.Query()
	var f store.LogFilter
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil || t.Year() < 1 || t.Year() > 9999 {
			bad.Add(name, "is an RFC 3339 time like 2026-11-28T12:00:00Z")
			continue
		}
		*dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad.Add("to", "is after from (from is included, to is not)")
	}
	f.Actor = q.Get("actor")
	if len(f.Actor) > maxActorFilter || strings.IndexFunc(f.Actor, unicode.IsControl) >= 0 {
		bad.Add("actor", "is at most %d characters of text: part of an actor such as console:cu_… or unknown:", maxActorFilter)
	}
	f.Action = q.Get("action")
	if len(f.Action) > maxActionFilter || strings.IndexFunc(f.Action, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) >= 0 {
		bad.Add("action", "is an action or its beginning, such as certificate. or login.console.failed (letters, digits and dots, at most %d)", maxActionFilter)
	}
	f.Section = q.Get("section")
	if f.Section != "" && !tenant.IsLogSection(f.Section) {
		bad.Add("section", "is one of %s", strings.Join(tenant.LogSections, ", "))
	}
	return f
}

// systemLog is GET /console/system-log: a page of the entries the filters keep, newest first.
// A filtered page may be short, even empty, while next continues (store.SearchLog).
func (a api) systemLog(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var bad fault.Fields
	f := logFilter(r, &bad)
	if _, _, err := edge.PageParams(r, store.MaxPageSize); err != nil {
		var fields fault.Fields
		if !errors.As(err, &fields) {
			return err
		}
		bad = append(bad, fields...)
	}
	if err := bad.Err(); err != nil {
		return err
	}
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
		return a.Store.SearchLog(ctx, req.Deployment.ID, f, pr)
	}, logEntryJSON)
}

// What an export may hold. API Gateway takes at most 6 MB of a Lambda's answer, counted as
// the JSON document that carries the body (quotes and line breaks escaped), so the body is
// counted that way (jsonSize) and kept under 5 MB; 10,000 entries is a year of a busy
// deployment's changes and far under that. An export may read at most maxExportRead entries
// before its filters, so that one over a long range answers before the function's timeout.
const (
	maxExportEntries = 10000
	maxExportBytes   = 5 << 20
	maxExportRead    = 50000
)

// Export formats.
const (
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// logCSVHeader is the first line of a CSV export.
var logCSVHeader = []string{"id", "at", "section", "action", "actor", "object", "sourceIp", "detail"}

// errExportTooLarge stops an export that outgrew its limits.
var errExportTooLarge = errors.New("export too large")

// exportSystemLog is GET /console/system-log/export: every entry the filters keep, newest
// first, as one CSV or JSON-lines file, or a 400 naming from and to when that is more than
// an answer can hold.
func (a api) exportSystemLog(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var bad fault.Fields
	f := logFilter(r, &bad)
	format := r.URL.Query().Get("format")
	if format != formatCSV && format != formatJSONL {
		bad.Add("format", "is csv or jsonl")
	}
	if err := bad.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	size := &jsonSize{w: &buf}
	enc := newLogEncoder(format, size)
	n := 0
	err := a.Store.EachLog(r.Context(), req.Deployment.ID, f, maxExportRead, func(e tenant.LogEntry) error {
		if n++; n > maxExportEntries {
			return errExportTooLarge
		}
		if err := enc.write(logEntryJSON(e)); err != nil {
			return err
		}
		if size.n > maxExportBytes {
			return errExportTooLarge
		}
		return nil
	})
	if err == nil {
		err = enc.flush()
	}
	switch {
	case errors.Is(err, errExportTooLarge):
		reason := fmt.Sprintf("narrow the range: the export holds more than %d entries or %d MB", maxExportEntries, maxExportBytes>>20)
		return fault.Fields{{Name: "from", Reason: reason}, {Name: "to", Reason: reason}}
	case errors.Is(err, store.ErrLogScanLimit):
		reason := fmt.Sprintf("narrow the range: it holds more than %d entries to search", maxExportRead)
		return fault.Fields{{Name: "from", Reason: reason}, {Name: "to", Reason: reason}}
	case err != nil:
		return err
	}
	ctype := "text/csv; charset=utf-8"
	if format == formatJSONL {
		ctype = "application/jsonl"
	}
	name := fmt.Sprintf("system-log-%s-%s.%s", req.Deployment.ID, a.Now().UTC().Format("20060102T150405Z"), format)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Export-Entries", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// logEncoder writes entries in one export format.
type logEncoder struct {
	write func(LogEntry) error
	flush func() error
}

func newLogEncoder(format string, w io.Writer) logEncoder {
	if format == formatJSONL {
		enc := json.NewEncoder(w) // one entry a line: Encode ends each with a newline
		return logEncoder{write: func(e LogEntry) error { return enc.Encode(e) }, flush: func() error { return nil }}
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(logCSVHeader) // buffered; its error, if any, is cw.Error's
	flush := func() error {
		cw.Flush() // after each entry too, so that the size counts what is written
		return cw.Error()
	}
	return logEncoder{write: func(e LogEntry) error {
		row := []string{e.ID, e.At.UTC().Format(time.RFC3339Nano), e.Section, e.Action, e.Actor, e.Object, e.SourceIP, e.Detail}
		for i := range row {
			row[i] = cell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		return flush()
	}, flush: flush}
}

// cell keeps a value that a caller chose (a name tried at login, a certificate's name) from
// being read as a formula by the spreadsheet the CSV is opened in: a leading =, +, -, @, tab
// or carriage return gets a quote in front (the OWASP advice on CSV injection).
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// jsonSize passes bytes on to w and counts n, their size as a JSON string carries them (the
// Lambda answer's body): quotes, backslashes and common escapes take two bytes, other
// control characters and the HTML-sensitive <, > and & six, as encoding/json writes them.
type jsonSize struct {
	w io.Writer
	n int
}

func (j *jsonSize) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t':
			j.n += 2
		case b < 0x20 || b == '<' || b == '>' || b == '&':
			j.n += 6
		default:
			j.n++
		}
	}
	return j.w.Write(p)
}
