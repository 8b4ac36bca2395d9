package policy_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
)

// Small universes make matches, ties and duplicate ids common.
var (
	certIDs   = []string{"c0", "c1", "c2", "c3"}
	groups    = []string{"g0", "g1", "g2"}
	users     = []string{"u0", "u1", "u2"}
	roles     = []string{"signer", "console-admin", "portal:Admin", "portal:User", "portal:Viewer"}
	processes = []string{"make", "cmake", "signtool.exe", "SignTool.exe", "jarsigner", ""}
	cmdlines  = []string{"", "make release", "signtool sign /fd sha256 a.exe", "x --release y"}
	procPats  = []string{"make", ".*make", `signtool\.exe`, `(?i)signtool\.exe`, "jarsigner|make"}
	cmdPats   = []string{"", ".*release.*", `signtool sign .*`}
	base      = time.Date(2024, 3, 25, 0, 0, 0, 0, time.UTC) // the DST week in Europe
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func subset[T any](r *rand.Rand, s []T, max int) []T {
	var out []T
	for range r.IntN(max + 1) {
		out = append(out, pick(r, s))
	}
	return out
}

// randomPolicy returns a policy; most are validated, some are left unvalidated or changed
// after validation so that the fail-closed rule is exercised as well.
func randomPolicy(r *rand.Rand, i int) policy.Policy {
	p := policy.Policy{
		ID:       fmt.Sprintf("p%d", r.IntN(i+1)), // duplicates happen
		Name:     fmt.Sprintf("n%d", r.IntN(3)),
		Enabled:  r.IntN(5) > 0,
		Priority: r.IntN(4),
		Action:   pick(r, []policy.Action{policy.Allow, policy.Deny}),
		What:     policy.What{Certificates: subset(r, certIDs, 2), Groups: subset(r, groups, 2)},
		Who:      policy.Who{Users: subset(r, users, 2), Roles: subset(r, roles, 2)},
	}
	if len(p.What.Certificates)+len(p.What.Groups) == 0 {
		p.What.Groups = []string{pick(r, groups)}
	}
	if len(p.Who.Users)+len(p.Who.Roles) == 0 {
		p.Who.Users = []string{pick(r, users)}
	}
	for range r.IntN(3) {
		p.Where = append(p.Where, policy.Application{Process: pick(r, procPats), CommandLine: pick(r, cmdPats)})
	}
	if r.IntN(2) == 0 {
		p.When.TimeZone = pick(r, []string{"Europe/Berlin", "America/New_York", "UTC"})
		for range r.IntN(3) {
			from := r.IntN(24 * 60)
			to := from + 1 + r.IntN(24*60-from)
			p.When.Windows = append(p.When.Windows, policy.Window{
				Days: subset(r, []time.Weekday{0, 1, 2, 3, 4, 5, 6}, 3),
				From: fmt.Sprintf("%02d:%02d", from/60, from%60), To: fmt.Sprintf("%02d:%02d", to/60, to%60),
			})
			if len(p.When.Windows[len(p.When.Windows)-1].Days) == 0 {
				p.When.Windows[len(p.When.Windows)-1].Days = []time.Weekday{time.Sunday}
			}
		}
	}
	if r.IntN(4) == 0 {
		p.When.NotBefore = base.Add(time.Duration(r.IntN(7*24)) * time.Hour)
	}
	if r.IntN(4) == 0 {
		p.When.NotAfter = base.Add(time.Duration(r.IntN(7*24)) * time.Hour)
		if p.When.NotAfter.Before(p.When.NotBefore) {
			p.When.NotAfter = p.When.NotBefore
		}
	}
	switch r.IntN(20) {
	case 0: // never validated
		return p
	case 1: // changed after validation
		if err := p.Validate(); err != nil {
			panic(err)
		}
		p.Where = append(p.Where, policy.Application{Process: ".*"})
		return p
	}
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("%+v: %v", p, err))
	}
	return p
}

func randomRequest(r *rand.Rand) policy.Request {
	return policy.Request{
		UserID:      pick(r, users),
		Roles:       subset(r, roles, 2),
		Process:     pick(r, processes),
		CommandLine: pick(r, cmdlines),
		At:          base.Add(time.Duration(r.IntN(7*24*60)) * time.Minute),
		Certificate: policy.Certificate{ID: pick(r, certIDs), Owner: pick(r, append(users, "")), Groups: subset(r, groups, 2), Enabled: r.IntN(10) > 0},
	}
}

// TestDeterminism checks that the decision does not depend on the order of the policies and
// that a Set decides exactly as Evaluate does.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var allowed, denied, byPolicy int
	for round := range 300 {
		ps := make([]policy.Policy, r.IntN(40))
		for i := range ps {
			ps[i] = randomPolicy(r, i)
		}
		set := policy.NewSet(ps)
		for range 30 {
			req := randomRequest(r)
			want := policy.Evaluate(ps, req)
			if want.Allowed {
				allowed++
			} else {
				denied++
			}
			if want.PolicyID != "" {
				byPolicy++
			}
			if got := set.Evaluate(req); got != want {
				t.Fatalf("round %d: Set.Evaluate = %+v, Evaluate = %+v\nrequest %+v", round, got, want, req)
			}
			checkCallerReason(t, ps, req, want)
			for range 3 {
				shuffled := append([]policy.Policy(nil), ps...)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if got := policy.Evaluate(shuffled, req); got != want {
					t.Fatalf("round %d: shuffled Evaluate = %+v, want %+v", round, got, want)
				}
				if got := policy.NewSet(shuffled).Evaluate(req); got != want {
					t.Fatalf("round %d: shuffled Set.Evaluate = %+v, want %+v", round, got, want)
				}
			}
		}
	}
	// The property is only meaningful if the random sets produce all kinds of outcome.
	if allowed < 500 || denied < 500 || byPolicy < 1000 {
		t.Fatalf("weak sample: %d allowed, %d denied, %d by a policy", allowed, denied, byPolicy)
	}
	t.Logf("%d allowed, %d denied, %d decided by a policy", allowed, denied, byPolicy)
}

// TestOwnerException checks the owner exception against the rest of the engine: making the
// requester the certificate's owner changes nothing when a policy decides (a Deny refuses the
// owner as anyone), and when none matches it allows exactly an owner holding SigningRole. A
// certificate that is not enabled signs for nobody.
func TestOwnerException(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var deniedOwner, allowedOwner, roleless int
	for round := range 300 {
		ps := make([]policy.Policy, r.IntN(30))
		for i := range ps {
			ps[i] = randomPolicy(r, i)
		}
		set := policy.NewSet(ps)
		for range 30 {
			req := randomRequest(r)
			if r.IntN(3) == 0 {
				req.Roles = append(req.Roles, policy.SigningRole)
			}
			other, own := req, req
			other.Certificate.Owner, own.Certificate.Owner = "someone else", req.UserID
			asOther, asOwner := policy.Evaluate(ps, other), policy.Evaluate(ps, own)
			if got := set.Evaluate(own); got != asOwner {
				t.Fatalf("round %d: Set.Evaluate = %+v, Evaluate = %+v", round, got, asOwner)
			}
			c := &req.Certificate
			switch {
			case c.ID == "" || !c.Enabled:
				if asOwner.Allowed {
					t.Fatalf("round %d: a certificate that cannot sign allowed its owner: %+v", round, asOwner)
				}
			case asOther.PolicyID != "":
				// A policy decides: ownership changes nothing.
				if asOwner != asOther {
					t.Fatalf("round %d: policy %s decided %+v for another, %+v for the owner", round, asOther.PolicyID, asOther, asOwner)
				}
				if !asOwner.Allowed {
					deniedOwner++
				}
			default:
				signer := slices.Contains(req.Roles, policy.SigningRole)
				if asOther.Allowed || asOwner.Allowed != signer || asOwner.Owner != signer || asOwner.PolicyID != "" {
					t.Fatalf("round %d: no policy matched; other %+v, owner (signer %v) %+v", round, asOther, signer, asOwner)
				}
				if signer {
					allowedOwner++
				} else {
					roleless++
				}
			}
		}
	}
	if deniedOwner < 100 || allowedOwner < 100 || roleless < 100 {
		t.Fatalf("weak sample: %d owners denied by a policy, %d allowed as owner, %d owners without the signing role", deniedOwner, allowedOwner, roleless)
	}
	t.Logf("%d owners denied by a policy, %d allowed as owner, %d owners without the signing role", deniedOwner, allowedOwner, roleless)
}

// TestSetAllocations keeps the hot path lean: only building the reason allocates.
func TestSetAllocations(t *testing.T) {
	ps := benchPolicies(1000)
	set := policy.NewSet(ps)
	req := benchRequest()
	if d := set.Evaluate(req); !d.Allowed {
		t.Fatalf("bench request denied: %s", d.Reason)
	}
	if n := testing.AllocsPerRun(100, func() { set.Evaluate(req) }); n > 4 {
		t.Fatalf("Set.Evaluate allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { policy.Evaluate(ps, req) }); n > 4 {
		t.Fatalf("Evaluate allocates %v times", n)
	}
}

// FuzzValidate feeds arbitrary patterns, times and zones to Validate: it must not panic,
// must report fault.Fields, and a policy it accepts must evaluate, match patterns in full and
// respect the length cap.
func FuzzValidate(f *testing.F) {
	f.Add("make", "", "09:00", "17:00", "Europe/Berlin", "cmake", "make all")
	f.Add("a)|(b", ".*", "24:00", "24:00", "Local", "a", "")
	f.Add(`(?i)signtool\.exe`, `.* /fd sha256 .*`, "00:00", "24:00", "UTC", "SignTool.exe", "x /fd sha256 y")
	f.Add("[", "(?P<x>", "9:00", "25:00", "../../etc/passwd", "", "")
	f.Add(strings.Repeat("a*", 600), "x{1001}", "23:59", "00:00", "", "aaa", "x")
	f.Fuzz(func(t *testing.T, proc, cmd, from, to, zone, gotProc, gotCmd string) {
		p := policy.Policy{ID: "p", Name: "p", Enabled: true, Action: policy.Allow,
			What:  policy.What{Certificates: []string{"c"}},
			Who:   policy.Who{Users: []string{"u"}},
			Where: []policy.Application{{Process: proc, CommandLine: cmd}},
			When:  policy.Schedule{TimeZone: zone, Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: from, To: to}}},
		}
		err := p.Validate()
		if err != nil {
			var fe fault.Fields
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("Validate error %v is not fault.Fields", err)
			}
			for _, e := range fe {
				if e.Name == "" || e.Reason == "" || len(e.Reason) > 400 {
					t.Fatalf("bad field error %+v", e)
				}
			}
			if policy.Evaluate([]policy.Policy{p}, policy.Request{UserID: "u", Process: gotProc, CommandLine: gotCmd, At: at,
				Certificate: policy.Certificate{ID: "c", Enabled: true}}).Allowed {
				t.Fatal("invalid policy allowed")
			}
			return
		}
		if len(proc) > policy.MaxPatternLen || len(cmd) > policy.MaxPatternLen || proc == "" {
			t.Fatalf("accepted pattern of %d/%d bytes", len(proc), len(cmd))
		}
		// Compare with an independent oracle: Go's ^ and $ (without (?m)) anchor at the ends
		// of the text, and the window is checked on the wall clock of the zone.
		want := fullMatch(t, proc, gotProc) && (cmd == "" || fullMatch(t, cmd, gotCmd)) && inWindow(t, zone, from, to)
		d := policy.Evaluate([]policy.Policy{p}, policy.Request{UserID: "u", Process: gotProc, CommandLine: gotCmd, At: fuzzAt,
			Certificate: policy.Certificate{ID: "c", Enabled: true}})
		if d.Allowed != want {
			t.Fatalf("Evaluate = %+v, want allowed=%v", d, want)
		}
	})
}

// fuzzAt is a Monday.
var fuzzAt = time.Date(2024, 6, 10, 10, 30, 0, 0, time.UTC)

func fullMatch(t *testing.T, pattern, s string) bool {
	ok, err := regexp.MatchString(`^(?:`+pattern+`)$`, s)
	if err != nil {
		t.Fatalf("accepted pattern %q does not compile: %v", pattern, err)
	}
	return ok
}

func inWindow(t *testing.T, zone, from, to string) bool {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("accepted zone %q: %v", zone, err)
	}
	minutes := func(s string) int {
		if s == "24:00" {
			return 24 * 60
		}
		c, err := time.Parse("15:04", s)
		if err != nil {
			t.Fatalf("accepted time %q: %v", s, err)
		}
		return c.Hour()*60 + c.Minute()
	}
	l := fuzzAt.In(loc)
	m := l.Hour()*60 + l.Minute()
	return l.Weekday() == time.Monday && minutes(from) <= m && m < minutes(to)
}

// benchPolicies returns n validated policies spread over n/10 certificates (at least one),
// with a mix of actions, applications and schedules, plus one allow for the bench request.
func benchPolicies(n int) []policy.Policy {
	r := rand.New(rand.NewPCG(3, 4))
	ps := make([]policy.Policy, 0, n)
	certs := max(n/10, 1)
	for i := range n - 1 {
		p := policy.Policy{
			ID: fmt.Sprintf("p%05d", i), Name: "bench", Enabled: r.IntN(10) > 0, Priority: r.IntN(100),
			Action: pick(r, []policy.Action{policy.Allow, policy.Deny}),
			What:   policy.What{Certificates: []string{fmt.Sprintf("c%d", r.IntN(certs))}, Groups: []string{fmt.Sprintf("g%d", r.IntN(certs))}},
			Who:    policy.Who{Users: []string{fmt.Sprintf("u%d", r.IntN(100))}, Roles: []string{fmt.Sprintf("r%d", r.IntN(20))}},
			Where:  []policy.Application{{Process: fmt.Sprintf(`tool%d\.exe`, r.IntN(5)), CommandLine: `.*--release.*`}},
			When: policy.Schedule{TimeZone: "Europe/Berlin", Windows: []policy.Window{
				{Days: []time.Weekday{1, 2, 3, 4, 5}, From: "08:00", To: "18:00"}}},
		}
		if err := p.Validate(); err != nil {
			panic(err)
		}
		ps = append(ps, p)
	}
	p := policy.Policy{ID: "target", Name: "target", Enabled: true, Priority: 1000, Action: policy.Allow,
		What:  policy.What{Groups: []string{"release"}},
		Who:   policy.Who{Roles: []string{"portal:User"}},
		Where: []policy.Application{{Process: `(?i)signtool\.exe`, CommandLine: `.* /fd sha256 .*`}},
		When:  policy.Schedule{TimeZone: "Europe/Berlin", Windows: []policy.Window{{Days: []time.Weekday{1, 2, 3, 4, 5}, From: "08:00", To: "18:00"}}},
	}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	// Put the deciding policy last so Evaluate has to look at everything.
	return append(ps, p)
}

func benchRequest() policy.Request {
	return policy.Request{UserID: "u1", Roles: []string{"r1", "portal:User"}, Process: "signtool.exe",
		CommandLine: "signtool sign /fd sha256 --release a.exe", At: at,
		Certificate: policy.Certificate{ID: "c1", Owner: "someone", Groups: []string{"g1", "release"}, Enabled: true}}
}

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			ps := benchPolicies(n)
			req := benchRequest()
			b.ReportAllocs()
			for b.Loop() {
				if !policy.Evaluate(ps, req).Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}

func BenchmarkSetEvaluate(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			set := policy.NewSet(benchPolicies(n))
			req := benchRequest()
			b.ReportAllocs()
			for b.Loop() {
				if !set.Evaluate(req).Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}

// longest is the most a request may report as process or command line
// (signing.MaxApplicationField): evaluation costs the patterns' instructions per byte of it.
const longest = 4096

// instructions is what a pattern costs per byte, counted as Validate counts it (an
// independent copy, so the worst case below does not trust the code it measures).
func instructions(tb testing.TB, pattern string) int {
	re, err := syntax.Parse(`\A(?:`+pattern+`)\z`, syntax.Perl)
	if err != nil {
		tb.Fatal(err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		tb.Fatal(err)
	}
	return len(prog.Inst)
}

// worstCase is the most expensive evaluation a deployment can be made to do within the
// limits: policy.MaxPolicies enabled policies that every request reaches (every certificate,
// the requester's role after policy.MaxListLen-1 other users), whose where patterns use the
// whole policy.MaxDeploymentProgram and keep every thread of the matcher alive over the
// longest process and command line, only for the command line to fail at its last byte. The
// other policies' schedules never hold (the engine checks When before Where). Nothing
// matches, so every policy is looked at.
func worstCase(tb testing.TB) ([]policy.Policy, policy.Request) {
	others := make([]string, policy.MaxListLen-1)
	for i := range others {
		others[i] = fmt.Sprintf("cu_%026d", i)
	}
	// The largest n whose pair of patterns fits in budget.
	pair := func(budget int) (proc, cmd string, cost int) {
		for n := min(policy.MaxProgram, budget/2) / 3; n > 0; n-- {
			proc, cmd = fmt.Sprintf(`(?:.*){0,%d}`, n), fmt.Sprintf(`(?:a*){0,%d}`, n)
			pi, ci := instructions(tb, proc), instructions(tb, cmd)
			if pi <= policy.MaxProgram && ci <= policy.MaxProgram && pi+ci <= budget {
				return proc, cmd, pi + ci
			}
		}
		return "", "", 0
	}
	left, total := policy.MaxDeploymentProgram, 0
	ps := make([]policy.Policy, policy.MaxPolicies)
	for i := range ps {
		p := policy.Policy{ID: fmt.Sprintf("pol_%03d", i), Name: "worst", Enabled: true, Action: policy.Allow,
			What: policy.What{Groups: []string{policy.AllCertificates}},
			Who:  policy.Who{Users: others, Roles: []string{"signer"}}}
		mine := left
		for mine > 0 && len(p.Where) < policy.MaxApplications {
			proc, cmd, cost := pair(mine)
			if cost == 0 {
				break
			}
			p.Where = append(p.Where, policy.Application{Process: proc, CommandLine: cmd})
			mine, left, total = mine-cost, left-cost, total+cost
		}
		if len(p.Where) == 0 {
			p.When = policy.Schedule{NotAfter: at.Add(-time.Hour)}
		}
		if err := p.Validate(); err != nil {
			tb.Fatal(err)
		}
		ps[i] = p
	}
	if total > policy.MaxDeploymentProgram || total < policy.MaxDeploymentProgram*9/10 {
		tb.Fatalf("the worst case uses %d instructions of %d", total, policy.MaxDeploymentProgram)
	}
	return ps, policy.Request{UserID: "cu_requester", Roles: []string{"signer"}, At: at,
		Process: strings.Repeat("a", longest), CommandLine: strings.Repeat("a", longest-1) + "!",
		Certificate: policy.Certificate{ID: "crt_x", Enabled: true}}
}

// BenchmarkWorstCase measures the worst evaluation within the limits (see worstCase):
//
//	go test ./lib/policy -run '^$' -bench WorstCase
func BenchmarkWorstCase(b *testing.B) {
	ps, req := worstCase(b)
	set := policy.NewSet(ps)
	if d := set.Evaluate(req); d.Allowed || d.PolicyID != "" {
		b.Fatalf("the worst case should match nothing: %+v", d)
	}
	for b.Loop() {
		set.Evaluate(req)
	}
}
