package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
)

func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// canonicalEvent has every member of Event but hash, in RFC 8785 order: a field added to
// Event and not here fails this test rather than dropping out of the hash.
func TestCanonicalEventOrder(t *testing.T) {
	fast := jsonNames(reflect.TypeFor[canonicalEvent]())
	if !slices.IsSorted(fast) {
		t.Errorf("canonicalEvent's members are not in order: %v", fast)
	}
	want := slices.DeleteFunc(jsonNames(reflect.TypeFor[Event]()), func(n string) bool { return n == "hash" })
	slices.Sort(want)
	if !slices.Equal(fast, want) {
		t.Errorf("canonicalEvent has %v, Event (without hash) has %v", fast, want)
	}
}

// checkFast fails unless the fast canonical form of e, when there is one, is the generic one.
func checkFast(t *testing.T, e Event) {
	t.Helper()
	e.V, e.Hash, e.At = HashJCS, "", e.At.UTC()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	generic, err := CanonicalJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if fast, ok := fastCanonical(e); ok && !bytes.Equal(fast, generic) {
		t.Fatalf("fast canonical form differs:\n fast    %s\n generic %s", fast, generic)
	}
}

// The fast canonical form is the generic one (RFC 8785 by github.com/gowebpki/jcs) on events
// full of what JSON escapes differently: HTML characters, control characters, U+2028,
// invalid UTF-8, non-ASCII map keys, astral characters.
func TestFastCanonicalMatchesJCS(t *testing.T) {
	alphabet := []string{"a", "Z", "0", "<", ">", "&", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
		"é", "\ufeff", "\ue000", "😀", " ", "\xff", "\xc3", "\u2028", "\u2029", "\\u2028"}
	// Half the events use only what the fast path writes itself (the first 22 letters), so
	// that both paths are compared often.
	r := rand.New(rand.NewPCG(1, 2))
	letters := alphabet
	str := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(letters[r.IntN(len(letters))])
		}
		return b.String()
	}
	fastCount := 0
	for i := range 3000 {
		letters = alphabet[:22+(i%2)*(len(alphabet)-22)]
		e := Event{ID: str(), DeploymentID: str(), Lane: r.IntN(8), Seq: r.Int64N(1 << (10 + r.IntN(53))), Kind: str(), At: time.Unix(r.Int64N(1<<33), r.Int64N(1e9)),
			UserID: str(), Process: str(), CommandLine: str(), AgentID: str(), FileName: str(), Reason: str(), Digests: []string{str(), str()},
			DigestCount: r.IntN(65), Cut: []string{str()}, PrevHash: str()}
		if r.IntN(2) == 0 {
			e.CI = map[string]string{str(): str(), str(): str(), "b": str(), "a": str()}
		}
		if r.IntN(3) == 0 {
			e.Workload = map[string]string{str(): str(), "repository": str(), "ref": str()}
		}
		checkFast(t, e)
		if _, ok := fastCanonical(e); ok {
			fastCount++
		}
	}
	if fastCount < 100 {
		t.Errorf("only %d of 3000 events took the fast path", fastCount)
	}
}

// FuzzFastCanonical: the same as TestFastCanonicalMatchesJCS, on any strings.
func FuzzFastCanonical(f *testing.F) {
	f.Add("signtool.exe <a>&b", "\u2028x", "é", "😀\ue000")
	f.Fuzz(func(t *testing.T, process, commandLine, ciKey, ciValue string) {
		checkFast(t, Event{ID: "evt_1", DeploymentID: "dep_1", Kind: KindDecision, At: time.Unix(1764331200, 5),
			Process: process, CommandLine: commandLine, CI: map[string]string{ciKey: ciValue, "k": ciValue}, PrevHash: Genesis})
	})
}

// Statement and Position declare their members in RFC 8785 order, which digestOf's fast path
// relies on.
func TestStatementOrder(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[Statement](), reflect.TypeFor[Position]()} {
		if names := jsonNames(typ); !slices.IsSorted(names) {
			t.Errorf("%s's members are not in order: %v", typ.Name(), names)
		}
	}
}

// digestOf gives a statement the digest of its generic RFC 8785 form, whatever its strings
// and numbers.
func TestStatementDigestMatchesJCS(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := []string{"dep_abc", "dep_<&>", "dep_\"q\"", "dép", "dep_\u2028", "dep\x00", "dep_\xff", "dep_😀"}
	fast := 0
	for i := range 2000 {
		st := Statement{Type: TypeReceipt, DeploymentID: ids[r.IntN(len(ids))], At: time.Unix(r.Int64N(1<<33), r.Int64N(1e9)).UTC()}
		for range r.IntN(4) {
			st.Events = append(st.Events, Position{Lane: r.IntN(8), Seq: r.Int64N(1 << (10 + r.IntN(53))), ID: ids[r.IntN(len(ids))], Hash: Genesis})
		}
		if i%2 == 0 {
			st.DeploymentID = "dep_abc"
		}
		raw, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		generic, err := jcs.Transform(raw)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(generic)
		if got, err := digestOf(st); err != nil || !bytes.Equal(got, want[:]) {
			t.Fatalf("digest of %s differs from its RFC 8785 form %s", raw, generic)
		}
		if plainJSON(raw) && exactNumbers(st) {
			fast++
		}
	}
	if fast < 100 {
		t.Errorf("only %d of 2000 statements took the fast path", fast)
	}
}
