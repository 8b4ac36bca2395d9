package audit_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/audit"
)

// TestHashRecipeIsDocumented holds the README's worked example of an event hash to the code:
// the event shown, its canonical (RFC 8785) form and its hash are what audit computes, so
// the documented recipe cannot drift from the one used.
func TestHashRecipeIsDocumented(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string // the fenced blocks after the example's marker
	var rest strings.Builder
	in, seen := false, false
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "<!-- event-hash-example"):
			seen = true
		case !seen || len(blocks) == 2 && !in:
			if seen {
				rest.WriteString(line + "\n")
			}
		case strings.HasPrefix(line, "```") && !in:
			in = true
			cur.Reset()
		case strings.HasPrefix(line, "```") && in:
			in = false
			blocks = append(blocks, strings.TrimSpace(cur.String()))
		case in:
			cur.WriteString(line + "\n")
		default:
			rest.WriteString(line + "\n")
		}
	}
	if !seen || len(blocks) < 2 {
		t.Fatalf("README.md has no worked example of an event hash (marker seen: %v, blocks: %d)", seen, len(blocks))
	}
	event, canonical := blocks[0], blocks[1]
	m := regexp.MustCompile("its hash is `([0-9a-f]{64})`").FindStringSubmatch(rest.String())
	if m == nil {
		t.Fatal("the README does not say the example's hash")
	}
	got, err := audit.CanonicalJSON([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != canonical {
		t.Errorf("canonical form:\n got %s\nsays %s", got, canonical)
	}
	var e audit.Event
	if err := json.Unmarshal([]byte(event), &e); err != nil {
		t.Fatal(err)
	}
	h, err := audit.HashJSON([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	if h != m[1] || e.Hash != m[1] || e.ComputeHash() != m[1] || e.V != audit.HashJCS {
		t.Errorf("hash: of the JSON %s, of the event %s, its member %s, v %d; the README says %s", h, e.ComputeHash(), e.Hash, e.V, m[1])
	}
}
