package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// serviceLog reads the service's JSON log as it is written: the answers carry a fixed
// detail for every 5xx (the cause is for the log only), so the cause of each failure — which
// AWS call, which error — is counted from the service's own "request failed" lines, as its
// operators would. Every line also goes to next.
type serviceLog struct {
	next io.Writer

	mu      sync.Mutex
	partial []byte
	// causes counts the failed requests (5xx) by status and AWS cause
	// ("503 KMS:Sign KMSInternalException"); lines counts the log's lines by level and
	// message.
	causes, lines map[string]int
}

func newServiceLog(next io.Writer) *serviceLog {
	return &serviceLog{next: next, causes: map[string]int{}, lines: map[string]int{}}
}

func (l *serviceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	return l.next.Write(p)
}

func (l *serviceLog) line(b []byte) {
	var rec struct {
		Level, Msg, Error string
		Status            int
	}
	if json.Unmarshal(b, &rec) != nil {
		l.lines["unparsed"]++
		return
	}
	l.lines[rec.Level+" "+rec.Msg]++
	if rec.Msg == "request failed" && rec.Status >= 500 {
		l.causes[fmt.Sprintf("%d %s", rec.Status, awsCause(rec.Error))]++
	}
}

// The SDK's error text: "operation error KMS: Sign, exceeded maximum number of attempts, 3,
// https response error StatusCode: 500, RequestID: …, KMSInternalException: …".
var (
	sdkCall = regexp.MustCompile(`operation error ([\w ]+): (\w+),`)
	sdkCode = regexp.MustCompile(`RequestID: [^,]*, (?:api error )?(\w+):`)
)

// awsCause names the AWS call and error in an error's text ("KMS:Sign KMSInternalException",
// "DynamoDB:PutItem ProvisionedThroughputExceededException"); a transaction cancelled by
// throttling is "TransactionCanceledException/ThrottlingError".
func awsCause(text string) string {
	call := sdkCall.FindStringSubmatch(text)
	if call == nil {
		return "no AWS call named"
	}
	code := "no error code"
	if m := sdkCode.FindStringSubmatch(text); m != nil {
		code = m[1]
	}
	if code == "TransactionCanceledException" && strings.Contains(text, "ThrottlingError") {
		code += "/ThrottlingError"
	}
	return call[1] + ":" + call[2] + " " + code
}

// failures counts the failed requests whose cause is KMS, DynamoDB's throttling, and the
// rest.
func (l *serviceLog) failures() (kms, throttled, other int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, n := range l.causes {
		_, what, _ := strings.Cut(c, " ")
		switch {
		case strings.HasPrefix(what, "KMS:"):
			kms += n
		case strings.HasPrefix(what, "DynamoDB:") && isThrottle(what):
			throttled += n
		default:
			other += n
		}
	}
	return kms, throttled, other
}

func isThrottle(cause string) bool {
	for _, c := range []string{"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "ThrottlingError"} {
		if strings.Contains(cause, c) {
			return true
		}
	}
	return false
}
