package audit

import (
	"encoding/csv"
	"encoding/json"
	"io"
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
	"commandLine", "agentId", "fileName", "ci", "digest", "digestAlgorithm", "of", "outcome", "signatureSha256", "lane", "seq", "hash"}

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
// as spreadsheet formulas (see cell).
func WriteCSV(w io.Writer, events []Event) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, e := range events {
		ci := ""
		if len(e.CI) > 0 {
			raw, _ := json.Marshal(e.CI)
			ci = string(raw)
		}
		row := []string{e.ID, e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.UserID, e.ClientIP, e.CertificateID, e.Decision, e.PolicyID,
			e.Reason, e.Process, e.CommandLine, e.AgentID, e.FileName, ci, e.Digest, e.DigestAlgorithm, e.Of, e.Outcome, e.SignatureSHA256,
			strconv.Itoa(e.Lane), strconv.FormatInt(e.Seq, 10), e.Hash}
		for i := range row {
			row[i] = cell(row[i])
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// cell keeps a value that a client reported (a process name, a command line) from being read
// as a formula by the spreadsheet the CSV is opened in: a leading =, +, -, @, tab or carriage
// return gets a quote in front (the OWASP advice on CSV injection).
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
