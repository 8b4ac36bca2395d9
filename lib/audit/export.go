package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Export formats of the event log.
const (
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// CSVHeader is the first row of a CSV export: one column per field of an event.
var CSVHeader = []string{"id", "at", "kind", "userId", "clientIp", "certificateId", "decision", "policyId", "reason", "process",
	"commandLine", "agentId", "fileName", "ci", "digest", "digestAlgorithm", "of", "outcome", "signatureSha256", "lane", "seq", "hash",
	"contextEvent", "digests", "digestCount", "cut", "workload", "files"}

// WriteJSONL writes events as JSON lines, one event per line.
func WriteJSONL(w io.Writer, events []Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

// WriteCSV writes events as CSV with CSVHeader first. Values a client reported cannot be read
// as spreadsheet formulas (see CSVCell).
func WriteCSV(w io.Writer, events []Event) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, e := range events {
		ci, count, wl, files := "", "", "", ""
		if e.DigestCount > 0 {
			count = strconv.Itoa(e.DigestCount)
		}
		if len(e.CI) > 0 {
			raw, _ := json.Marshal(e.CI)
			ci = string(raw)
		}
		if len(e.Workload) > 0 {
			raw, _ := json.Marshal(e.Workload)
			wl = string(raw)
		}
		if len(e.Files) > 0 {
			raw, _ := json.Marshal(e.Files)
			files = string(raw)
		}
		row := []string{e.ID, e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.UserID, e.ClientIP, e.CertificateID, e.Decision, e.PolicyID,
			e.Reason, e.Process, e.CommandLine, e.AgentID, e.FileName, ci, e.Digest, e.DigestAlgorithm, e.Of, e.Outcome, e.SignatureSHA256,
			strconv.Itoa(e.Lane), strconv.FormatInt(e.Seq, 10), e.Hash, e.ContextEvent, strings.Join(e.Digests, " "), count, strings.Join(e.Cut, " "), wl, files}
		for i := range row {
			row[i] = CSVCell(row[i])
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// CSVCell keeps a value that a client reported (a process name, a command line) from being read
// as a formula by the spreadsheet the CSV is opened in: a leading =, +, -, @, tab or carriage
// return gets a quote in front (the OWASP advice on CSV injection).
func CSVCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// MaxExportLine is the longest line ReadExport accepts.
const MaxExportLine = 1 << 20

// Export is a deployment's log as exported (GET /console/events?format=jsonl, every page):
// a LaneReader for Verify, with no checkpoints (the table's are not exported; receipts and
// anchors stand in for them).
type Export struct {
	// DeploymentID is the deployment of the events.
	DeploymentID string
	lanes        map[int]*Lane
}

// ReadExport reads a JSON-lines export. Events are kept with their lines, so that an event's
// hash is taken over what the file says, members this code does not know included. A line
// that is not an event of the same deployment is an error that names the line.
func ReadExport(r io.Reader) (*Export, error) {
	x := &Export{lanes: map[int]*Lane{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d is not an event: %v", n, err)
		}
		if e.Lane < 0 || e.Lane >= Lanes {
			return nil, fmt.Errorf("line %d: lane %d is not one of 0 to %d", n, e.Lane, Lanes-1)
		}
		if x.DeploymentID == "" {
			x.DeploymentID = e.DeploymentID
		} else if e.DeploymentID != x.DeploymentID {
			return nil, fmt.Errorf("line %d is an event of deployment %q, not %q", n, e.DeploymentID, x.DeploymentID)
		}
		l := x.lanes[e.Lane]
		if l == nil {
			l = &Lane{Number: e.Lane, NoCheckpoints: true}
			x.lanes[e.Lane] = l
		}
		l.Events, l.Raw = append(l.Events, e), append(l.Raw, line)
	}
	// An export lists events by time; a lane is verified in sequence order.
	for _, l := range x.lanes {
		idx := make([]int, len(l.Events))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return l.Events[idx[a]].Seq < l.Events[idx[b]].Seq })
		events, raw := make([]Event, len(idx)), make([][]byte, len(idx))
		for i, j := range idx {
			events[i], raw[i] = l.Events[j], l.Raw[j]
		}
		l.Events, l.Raw = events, raw
	}
	return x, nil
}

// readLine reads one line of at most MaxExportLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxExportLine {
			return nil, fmt.Errorf("longer than %d bytes", MaxExportLine)
		}
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// Events is how many events the export holds.
func (x *Export) Events() int {
	n := 0
	for _, l := range x.lanes {
		n += len(l.Events)
	}
	return n
}

// ReadLane is the export's events of lane, in sequence order.
func (x *Export) ReadLane(_ context.Context, dep string, lane int) (Lane, error) {
	if l := x.lanes[lane]; l != nil && dep == x.DeploymentID {
		return *l, nil
	}
	return Lane{Number: lane, NoCheckpoints: true}, nil
}
