package signer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// syncBuffer is a log destination that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeyErrorLogLines: the metric filter with which template.yaml counts KMS failures
// (SignerKeyErrorsMetric; KMS publishes no error metrics) matches the line the signer logs
// when KMS fails a signature, whether for the moment (503) or not (500), and not the lines of
// a signature that succeeds.
func TestKeyErrorLogLines(t *testing.T) {
	pattern := keyErrorsPattern(t)
	for _, tt := range []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, "ThrottlingException"},
		{http.StatusBadRequest, "AccessDeniedException"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			logs := &syncBuffer{}
			w.env.Log = function.NewLogger(logs, "info")
			var signs atomic.Int64
			d, cert := w.deployment(t, "keyerrors.localhost")
			_, _, tok := w.signerUser(t, d, cert)
			h := w.signerOnAnsweringKMS(t, tt.status, tt.code, &signs)
			resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
			if err != nil || resp.StatusCode < 500 {
				t.Fatalf("answer %d %v, want a 5xx", resp.StatusCode, err)
			}
			if !anyLineMatches(t, logs.String(), pattern) {
				t.Fatalf("no log line matches the metric filter %s:\n%s", pattern, logs)
			}

			// A signature that succeeds logs nothing the filter counts.
			ok := &syncBuffer{}
			w.env.Log = function.NewLogger(ok, "debug")
			good := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(awskms.New(w.tg.Clients.KMS)))
			if resp, err := good(ctx, signEvent(d.DomainName, tok, signBody(cert, 1))); err != nil || resp.StatusCode != 200 {
				t.Fatalf("good signature: %d %v %s", resp.StatusCode, err, resp.Body)
			}
			if anyLineMatches(t, ok.String(), pattern) {
				t.Fatalf("a successful signature's log matches the filter:\n%s", ok)
			}
		})
	}
}

// keyErrorsPattern is SignerKeyErrorsMetric's FilterPattern in template.yaml, which the
// certificates function's CertificatesKeyErrorsMetric must repeat (its key errors are logged
// by the same code, edge.WriteProblem over the same key backends).
func keyErrorsPattern(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, name := range []string{"SignerKeyErrorsMetric", "CertificatesKeyErrorsMetric"} {
		_, rest, ok := strings.Cut(string(raw), "  "+name+":\n")
		m := regexp.MustCompile(`FilterPattern: '([^']+)'`).FindStringSubmatch(rest)
		if !ok || m == nil {
			t.Fatalf("no %s FilterPattern in template.yaml", name)
		}
		patterns = append(patterns, m[1])
	}
	if patterns[0] != patterns[1] {
		t.Fatalf("the signer's and the certificates function's key error filters differ: %q, %q", patterns[0], patterns[1])
	}
	return patterns[0]
}

// anyLineMatches evaluates a CloudWatch Logs JSON filter pattern — the subset the template
// uses: { ... } around terms ($.field = "value", where * in the value matches anything),
// && and || and parentheses — on each JSON log line.
func anyLineMatches(t *testing.T, logs, pattern string) bool {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var fields map[string]any
		if json.Unmarshal([]byte(line), &fields) != nil {
			continue
		}
		p := &filterParser{src: strings.TrimSpace(pattern), fields: fields, t: t}
		p.expect("{")
		v := p.or()
		p.expect("}")
		if v {
			return true
		}
	}
	return false
}

type filterParser struct {
	src    string
	fields map[string]any
	t      *testing.T
}

var filterTerm = regexp.MustCompile(`^\$\.([A-Za-z0-9_]+)\s*=\s*"([^"]*)"`)

func (p *filterParser) skip() { p.src = strings.TrimSpace(p.src) }

func (p *filterParser) expect(tok string) {
	p.skip()
	if !strings.HasPrefix(p.src, tok) {
		p.t.Fatalf("filter pattern: want %q at %q", tok, p.src)
	}
	p.src = p.src[len(tok):]
}

func (p *filterParser) or() bool {
	v := p.and()
	for p.skip(); strings.HasPrefix(p.src, "||"); p.skip() {
		p.src = p.src[2:]
		v = p.and() || v
	}
	return v
}

func (p *filterParser) and() bool {
	v := p.term()
	for p.skip(); strings.HasPrefix(p.src, "&&"); p.skip() {
		p.src = p.src[2:]
		v = p.term() && v
	}
	return v
}

func (p *filterParser) term() bool {
	p.skip()
	if strings.HasPrefix(p.src, "(") {
		p.src = p.src[1:]
		v := p.or()
		p.expect(")")
		return v
	}
	m := filterTerm.FindStringSubmatch(p.src)
	if m == nil {
		p.t.Fatalf("filter pattern: no term at %q", p.src)
	}
	p.src = p.src[len(m[0]):]
	got, _ := p.fields[m[1]].(string)
	glob := "^" + strings.ReplaceAll(regexp.QuoteMeta(m[2]), `\*`, ".*") + "$"
	return regexp.MustCompile(glob).MatchString(got)
}
