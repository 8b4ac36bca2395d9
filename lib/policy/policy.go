// Package policy is the signing policy engine: it decides whether a user may sign with a
// certificate. It is pure: no I/O, no clock of its own (the request carries the instant), so
// the signer, the console's dry-run endpoint and the tests all get the same answer.
//
// A Policy connects What (certificates, certificate groups) to Who (users, roles) under
// Where (applications the agent reports) and When (a weekly schedule and a validity window).
// Evaluation is deterministic, whatever the order of the policies:
//
//  1. A request without a certificate, or whose certificate is disabled, expired or not yet
//     issued, is denied: such a certificate never signs, not even for its owner.
//  2. Among the enabled policies that match the request, the highest priority decides, and
//     at equal priority Deny wins. This holds for the certificate's owner too: a matching
//     Deny refuses the owner unless an Allow of higher priority matches.
//  3. When no policy matches, the certificate's owner may sign, provided it holds the signing
//     role (SigningRole, which portal Admins and Users hold and portal Viewers do not): the
//     owner exception stands in for an Allow policy, it overrides neither a Deny nor the loss
//     of that role. Anyone else is denied.
//
// A Decision carries two texts: Reason, for the event log and the console's dry run, names
// the deciding policy; CallerReason, for the requester, who may not be allowed to read
// policies, names none.
//
// The work an evaluation can cost is bounded by what a deployment may hold: MaxPolicies
// policies, each with at most MaxApplications applications, whose patterns compile to at most
// MaxDeploymentProgram instructions over all policies (Admin enforces the limits that span
// policies). Go's RE2 matches in time linear in the
// input, with the program size as factor, so the worst evaluation is about
// MaxDeploymentProgram × the longest process or command line a request may report
// (BenchmarkWorstCase).
package policy

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	// The zone database is embedded so that schedules resolve the same way on every host,
	// including minimal Lambda images without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
)

// Action is what a matching policy does: allow or deny.
type Action string

// Policy actions.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// Limits on what a policy may hold. They keep validation and evaluation cheap and bound
// the work an administrator can make the signing path do.
const (
	MaxPatternLen   = 1024 // bytes of one process or command-line pattern
	MaxProgram      = 2000 // instructions of one compiled pattern (see CompileFull)
	MaxListLen      = 1000 // entries in each What/Who list
	MaxApplications = 100  // applications (Where) of one policy (as before the program budget; stored policies keep validating)
	MaxWindows      = 100
	MaxNameLen      = 200
	MaxIDLen        = 128 // certificate ids, group names, user ids, role names, policy ids
	MaxPriority     = 1_000_000
	MinPriority     = -1_000_000
)

// Limits on what a deployment may hold, enforced by Admin when a policy is created or
// replaced (a single policy over MaxDeploymentProgram is refused by Validate already).
// Every policy counts, disabled ones too, so that enabling one never goes over. Evaluation
// matches a request against the patterns of every policy that could apply, so their
// instructions add up: RE2 costs some 6 ns per instruction and byte, so MaxDeploymentProgram
// instructions against a 4 KiB process name and command line cost about 0.1 s of CPU at
// worst (BenchmarkWorstCase), where unbounded policies could cost seconds per policy. Realistic
// patterns like `(?i)signtool\.exe` or `.* /fd sha256 .*` compile to 15 to 40 instructions,
// so the budget holds about a hundred applications.
const (
	MaxPolicies          = 200
	MaxDeploymentProgram = 4000 // instructions of the where patterns of all policies
)

// SigningRole is the role an owner must hold to sign by the owner exception: the console
// role "signer", which portal Admins and Users open the console with and portal Viewers do
// not (identity.ConsoleRolesFor). Policies may let any role sign; the exception does not
// outlive a demotion.
const SigningRole = string(identity.Signer)

// PortalRolePrefix marks a portal product role among Who.Roles and Request.Roles, so that a
// console role and a portal role of the same spelling cannot be confused.
const PortalRolePrefix = "portal:"

// PortalRole returns the name under which a portal product role appears in Who.Roles and
// Request.Roles, e.g. "portal:Admin".
func PortalRole(r identity.PortalRole) string { return PortalRolePrefix + string(r) }

// RolesFor are the roles policies match (Request.Roles) for a user with roles r: the portal
// role spelled with PortalRole for a portal user, then the console roles.
func RolesFor(r identity.Roles) []string {
	roles := make([]string, 0, len(r.Console)+1)
	if r.Portal != "" {
		roles = append(roles, PortalRole(r.Portal))
	}
	for _, c := range r.Console {
		roles = append(roles, string(c))
	}
	return roles
}

// What lists the certificates a policy is about. A request's certificate matches if its id is
// listed or any of its groups is.
type What struct {
	Certificates []string
	Groups       []string
}

// Who lists the subjects a policy is about. A requester matches if its user id is in Users or
// any of its roles is in Roles. Roles holds console roles ("signer", custom roles) and portal
// product roles spelled with PortalRole ("portal:Admin").
type Who struct {
	Users []string
	Roles []string
}

// Application is a program the signing agent reports. Process and CommandLine are RE2
// patterns that must match the whole reported value (so "make" does not match "cmake");
// an empty CommandLine accepts any command line. Matching is case-sensitive; write (?i) for
// case-insensitive process names.
type Application struct {
	Process, CommandLine string
}

// Window is a weekly time window: on each of Days, from From (inclusive) to To (exclusive),
// wall-clock "HH:MM" in the schedule's time zone. To may be "24:00". A window cannot cross
// midnight: split it into two.
type Window struct {
	Days     []time.Weekday
	From, To string
}

// Schedule says when a policy applies: inside any of Windows (in TimeZone, an IANA name such
// as "Europe/Berlin") and between NotBefore and NotAfter (both inclusive; a zero time is
// open). No windows means any time of the week.
type Schedule struct {
	TimeZone            string
	Windows             []Window
	NotBefore, NotAfter time.Time
}

// Policy is one signing policy. Validate must succeed before the policy can allow anything:
// it compiles the patterns and loads the time zone once, so evaluation does neither.
type Policy struct {
	ID       string
	Name     string
	Enabled  bool
	Priority int // higher wins
	Action   Action
	Version  int64
	What     What
	Who      Who
	Where    []Application
	When     Schedule
	// RequireTimestamp makes every signature the policy allows carry an RFC 3161 token from
	// the deployment's time-stamping authorities (timestamp.go).
	RequireTimestamp bool
	Grant            *Grant // an allow policy's bound: at most so many signatures in a window (grant.go)
	// Approval, when set, holds each request the policy allows until enough approvers
	// approve it (approval.go).
	Approval *Approval

	// c is set by a successful Validate. Copies of the policy share it; it is read-only.
	c *compiled
}

// compiled is what Validate prepares for evaluation. It keeps the sources it was built from
// so evaluation can tell when the exported fields were changed after Validate.
type compiled struct {
	apps    []compiledApp
	tz      string
	loc     *time.Location
	program int // instructions of all the patterns, what an evaluation may cost per byte
}

type compiledApp struct {
	process, commandLine string
	proc, cmd            *regexp.Regexp // cmd is nil when commandLine is ""
}

// Validate checks a policy and compiles its patterns; errors are fault.Fields (names like
// "who", "where[1].process", "when.windows[0].from"). On failure the policy is left
// unvalidated, which means it can never allow.
func (p *Policy) Validate() error {
	p.c = nil
	var f fault.Fields
	c := &compiled{}

	if len(p.ID) > MaxIDLen {
		f.Add("id", "is longer than %d bytes", MaxIDLen)
	}
	if strings.TrimSpace(p.Name) == "" {
		f.Add("name", "is required")
	} else if len(p.Name) > MaxNameLen {
		f.Add("name", "is longer than %d bytes", MaxNameLen)
	}
	if p.Action != Allow && p.Action != Deny {
		f.Add("action", "must be %q or %q", Allow, Deny)
	}
	if p.Priority < MinPriority || p.Priority > MaxPriority {
		f.Add("priority", "must be between %d and %d", MinPriority, MaxPriority)
	}

	if len(p.What.Certificates) == 0 && len(p.What.Groups) == 0 {
		f.Add("what", "name at least one certificate or certificate group")
	}
	checkNames(&f, "what.certificates", p.What.Certificates, false)
	checkNames(&f, "what.groups", p.What.Groups, false)

	if len(p.Who.Users) == 0 && len(p.Who.Roles) == 0 {
		f.Add("who", "name at least one user or role")
	}
	checkNames(&f, "who.users", p.Who.Users, false)
	checkNames(&f, "who.roles", p.Who.Roles, true)

	if len(p.Where) > MaxApplications {
		f.Add("where", "has more than %d applications", MaxApplications)
	} else {
		for i, a := range p.Where {
			ca := compiledApp{process: a.Process, commandLine: a.CommandLine}
			name := "where[" + strconv.Itoa(i) + "]"
			var n int
			if a.Process == "" {
				f.Add(name+".process", "is required")
			} else {
				ca.proc, n = compileFull(&f, name+".process", a.Process)
				c.program += n
			}
			if a.CommandLine != "" {
				ca.cmd, n = compileFull(&f, name+".commandLine", a.CommandLine)
				c.program += n
			}
			c.apps = append(c.apps, ca)
		}
		if c.program > MaxDeploymentProgram {
			f.Add("where", "patterns compile to %d instructions in all, more than the %d all policies of a deployment may have together; use fewer applications or simpler patterns", c.program, MaxDeploymentProgram)
		}
	}

	s := &p.When
	if s.TimeZone != "" {
		// "Local" depends on the host and "" is ambiguous; both are refused so a schedule
		// means the same everywhere.
		if s.TimeZone == "Local" || len(s.TimeZone) > MaxIDLen {
			f.Add("when.timeZone", "%q is not an IANA time zone like Europe/Berlin", truncate(s.TimeZone, 80))
		} else if loc, err := time.LoadLocation(s.TimeZone); err != nil {
			f.Add("when.timeZone", "%q is not an IANA time zone like Europe/Berlin", truncate(s.TimeZone, 80))
		} else {
			c.tz, c.loc = s.TimeZone, loc
		}
	} else if len(s.Windows) > 0 {
		f.Add("when.timeZone", "is required when there are windows")
	}
	if len(s.Windows) > MaxWindows {
		f.Add("when.windows", "has more than %d windows", MaxWindows)
	} else {
		for i, w := range s.Windows {
			name := "when.windows[" + strconv.Itoa(i) + "]"
			if len(w.Days) == 0 {
				f.Add(name+".days", "name at least one day")
			}
			for _, d := range w.Days {
				if d < time.Sunday || d > time.Saturday {
					f.Add(name+".days", "%d is not a weekday (0 = Sunday … 6 = Saturday)", int(d))
					break
				}
			}
			from, okFrom := parseClock(w.From)
			to, okTo := parseClock(w.To)
			if !okFrom || from == 24*60 {
				f.Add(name+".from", "%q is not a time HH:MM from 00:00 to 23:59", truncate(w.From, 20))
			}
			if !okTo || to == 0 {
				f.Add(name+".to", "%q is not a time HH:MM from 00:01 to 24:00", truncate(w.To, 20))
			}
			if okFrom && okTo && from < 24*60 && to > 0 && to <= from {
				f.Add(name+".to", "must be after from; split a window that crosses midnight in two")
			}
		}
	}
	if !s.NotBefore.IsZero() && !s.NotAfter.IsZero() && s.NotAfter.Before(s.NotBefore) {
		f.Add("when.notAfter", "is before notBefore")
	}

	p.validateTimestamp(&f)
	checkGrant(&f, p)
	validateApproval(&f, p)

	if err := f.Err(); err != nil {
		return err
	}
	p.c = c
	return nil
}

// checkNames checks the ids in one What/Who list.
func checkNames(f *fault.Fields, field string, list []string, roles bool) {
	if len(list) > MaxListLen {
		f.Add(field, "has more than %d entries", MaxListLen)
		return
	}
	for i, s := range list {
		name := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(s) == "":
			f.Add(name, "is empty")
		case len(s) > MaxIDLen:
			f.Add(name, "is longer than %d bytes", MaxIDLen)
		case roles && strings.HasPrefix(s, PortalRolePrefix) && !identity.PortalRole(s[len(PortalRolePrefix):]).Valid():
			f.Add(name, "%q is not a portal role (portal:Admin, portal:User or portal:Viewer)", truncate(s, 80))
		}
	}
}

// CompileFull compiles pattern so that it must match a whole value, adding what is wrong
// with it to f under field (and returning nil). Other packages whose rules are patterns
// (client-certificate attribute rules) use it too. The pattern is compiled
// alone first: wrapping an unbalanced pattern like "a)|(b" could otherwise turn it into a
// different, valid expression.
func CompileFull(f *fault.Fields, field, pattern string) *regexp.Regexp {
	re, _ := compileFull(f, field, pattern)
	return re
}

// compileFull is CompileFull that also returns the size of the compiled program, the factor
// of what matching costs per byte (0 when the pattern is refused).
func compileFull(f *fault.Fields, field, pattern string) (*regexp.Regexp, int) {
	if len(pattern) > MaxPatternLen {
		f.Add(field, "is longer than %d bytes", MaxPatternLen)
		return nil, 0
	}
	if _, err := regexp.Compile(pattern); err != nil {
		f.Add(field, "is not a regular expression: %s", reason(err))
		return nil, 0
	}
	full := `\A(?:` + pattern + `)\z`
	// RE2 matches in time linear in the input, but the factor is the size of the compiled
	// program, which counted repetitions inflate: `.{0,1000}` is 2000 instructions. Capping
	// it bounds what one pattern costs the signing path per byte of a command line.
	var size int
	re, err := syntax.Parse(full, syntax.Perl)
	if err == nil {
		var prog *syntax.Prog
		if prog, err = syntax.Compile(re.Simplify()); err == nil {
			if size = len(prog.Inst); size > MaxProgram {
				f.Add(field, "is too complex (%d instructions, at most %d); use fewer counted repetitions", size, MaxProgram)
				return nil, 0
			}
		}
	}
	compiled, err := regexp.Compile(full)
	if err != nil {
		f.Add(field, "is not a regular expression: %s", reason(err))
		return nil, 0
	}
	return compiled, size
}

// program is what p's patterns cost an evaluation per byte of what the agent reports: their
// instructions in all. A policy that is not ready matches no pattern (see match) and costs
// nothing.
func program(p *Policy) int {
	if !ready(p) {
		return 0
	}
	return p.c.program
}

// reason is the part of a regexp error that describes the problem, without repeating a
// pattern that may be up to 1 KiB long.
func reason(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": `"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "error parsing regexp: ")
}

// parseClock parses "HH:MM" (00:00 to 24:00) into minutes of the day.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range [4]int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Certificate is what the engine needs to know about the certificate of a request.
type Certificate struct {
	ID, Owner string
	Groups    []string
	// Enabled false covers disabled, expired and pending certificates: they never sign.
	Enabled bool
}

// Request is one signing request as the engine sees it. At is the instant of the request,
// from the caller's clock.
type Request struct {
	UserID      string
	Roles       []string // console roles and PortalRole names
	Process     string   // as reported by the agent; "" when not reported
	CommandLine string
	At          time.Time
	Certificate Certificate
}

// Decision is the outcome of an evaluation.
type Decision struct {
	Allowed  bool
	PolicyID string // the deciding policy; "" when none decided
	// Reason is a sentence for the event log and the console's dry run (whose readers may
	// read policies): it names the deciding policy.
	Reason string
	// CallerReason is the decision as the requester may be told it, in the answer to a
	// signing request: it names no policy, because a signer may not be allowed to read them.
	CallerReason string
	Owner        bool // allowed by the owner exception: the requester owns the certificate
	// Code names a denial's kind (the Code… constants) for counting denials by reason; ""
	// when allowed.
	Code string
	// Grant is what an allowed request's signatures are counted against (the deciding
	// policy's grant, or a user grant: see WithGrants); nil when nothing counts them.
	Grant *Grant
}

// Kinds of denial (Decision.Code).
const (
	CodeNoCertificate = "no-certificate"
	CodeInactive      = "certificate-inactive"
	CodeDenied        = "policy-denies"
	CodeNoMatch       = "no-policy-allows"
	CodeOwnerNoRole   = "owner-without-signing-role"
)

// Texts of CallerReason. They are constants: the requester learns whether a policy denied or
// none allowed, never which policy, and never anything it did not send.
const (
	callerNoCertificate = "the request names no certificate"
	callerInactive      = "the certificate is disabled, expired or not yet issued, so it cannot sign"
	callerAllowed       = "a policy allows this request"
	callerOwner         = "the requester owns the certificate"
	callerDenied        = "a policy denies this request"
	callerNoMatch       = "no policy allows this request"
	callerOwnerNoRole   = "no policy allows this request, and signing as the certificate's owner needs the " + SigningRole + " role"
)

// precheck applies the rule that comes before policies: the certificate's state.
func precheck(req *Request) (Decision, bool) {
	c := &req.Certificate
	if c.ID == "" {
		return Decision{Reason: "the request names no certificate", CallerReason: callerNoCertificate, Code: CodeNoCertificate}, true
	}
	if !c.Enabled {
		return Decision{Reason: sentence("certificate ", c.ID, " is disabled, expired or not yet issued, so it cannot sign", "", ""), CallerReason: callerInactive, Code: CodeInactive}, true
	}
	return Decision{}, false
}

// unmatched decides a request that no enabled policy matches: the owner exception for an
// owner that holds the signing role, a denial for anyone else.
func unmatched(req *Request) Decision {
	if c := &req.Certificate; c.Owner != "" && c.Owner == req.UserID {
		if slices.Contains(req.Roles, SigningRole) {
			return ownerAllowed(req)
		}
		return ownerWithoutRole(req)
	}
	return noMatch(req)
}

func ownerAllowed(req *Request) Decision {
	return Decision{Allowed: true, Owner: true, CallerReason: callerOwner,
		Reason: sentence("no enabled policy matches, and user ", req.UserID, " owns certificate ", req.Certificate.ID, "")}
}

func ownerWithoutRole(req *Request) Decision {
	return Decision{CallerReason: callerOwnerNoRole, Code: CodeOwnerNoRole,
		Reason: sentence("no enabled policy allows user ", req.UserID, " to sign with certificate ", req.Certificate.ID,
			", which the user owns but without the "+SigningRole+" role that signing as owner needs")}
}

func noMatch(req *Request) Decision {
	return Decision{CallerReason: callerNoMatch, Code: CodeNoMatch,
		Reason: sentence("no enabled policy allows user ", req.UserID, " to sign with certificate ", req.Certificate.ID, " here and now")}
}

func decide(p *Policy, broken bool, req *Request) Decision {
	// The reason is built in one buffer: it is the only allocation of a decision.
	b := make([]byte, 0, 160+len(p.Name)+len(p.ID)+len(req.UserID)+len(req.Certificate.ID))
	b = append(b, "policy "...)
	b = strconv.AppendQuote(b, p.Name)
	b = append(b, " (id "...)
	b = strconv.AppendQuote(b, p.ID)
	b = append(b, ", priority "...)
	b = strconv.AppendInt(b, int64(p.Priority), 10)
	allowed := p.Action == Allow && !broken
	if allowed {
		b = append(b, ") allows user "...)
	} else {
		b = append(b, ") denies user "...)
	}
	b = strconv.AppendQuote(b, req.UserID)
	if allowed {
		b = append(b, " to sign with certificate "...)
	} else {
		b = append(b, " signing with certificate "...)
	}
	b = strconv.AppendQuote(b, req.Certificate.ID)
	if broken {
		b = append(b, "; it is applied as a deny because it was not validated or changed after validation"...)
	}
	caller, code := callerDenied, CodeDenied
	if allowed {
		caller, code = callerAllowed, ""
	}
	d := Decision{Allowed: allowed, PolicyID: p.ID, Reason: string(b), CallerReason: caller, Code: code}
	if allowed {
		d.Grant = p.Grant
	}
	return d
}

// sentence builds a1 "q1" a2 "q2" a3, quoting the user-supplied parts.
func sentence(a1, q1, a2, q2, a3 string) string {
	b := make([]byte, 0, len(a1)+len(q1)+len(a2)+len(q2)+len(a3)+8)
	b = append(b, a1...)
	b = strconv.AppendQuote(b, q1)
	b = append(b, a2...)
	if q2 != "" {
		b = strconv.AppendQuote(b, q2)
	}
	b = append(b, a3...)
	return string(b)
}

// isDeny reports whether a matching policy denies. Anything but an exact Allow denies.
func isDeny(p *Policy, broken bool) bool { return broken || p.Action != Allow }

// better reports whether a outranks b: higher priority, then deny before allow, then id and
// name (so that the deciding policy does not depend on the order), then working before
// broken (only the reason differs).
func better(a *Policy, aBroken bool, b *Policy, bBroken bool) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if ad, bd := isDeny(a, aBroken), isDeny(b, bBroken); ad != bd {
		return ad
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return !aBroken && bBroken
}

// match reports whether an enabled policy applies to req. broken is true when the policy
// matched only by the fail-closed rule for unvalidated policies.
func match(p *Policy, req *Request) (ok, broken bool) {
	if !matchWhat(p, &req.Certificate) || !matchWho(p, req) {
		return false, false
	}
	if !ready(p) {
		return p.Action != Allow, true
	}
	// When is cheap and Where is the costly part of an evaluation: the schedule first.
	if !matchWhen(p, req.At) {
		return false, false
	}
	if len(p.c.apps) == 0 { // no applications: any program
		return true, false
	}
	for i := range p.c.apps {
		if matchApp(&p.c.apps[i], req) {
			return true, false
		}
	}
	return false, false
}

// matchWhen reports whether at lies in p's validity window and weekly schedule. ready has
// checked that the windows parse.
func matchWhen(p *Policy, at time.Time) bool {
	s := &p.When
	if !s.NotBefore.IsZero() && at.Before(s.NotBefore) || !s.NotAfter.IsZero() && at.After(s.NotAfter) {
		return false
	}
	if len(s.Windows) == 0 {
		return true
	}
	// In and the calendar fields do not allocate; the zone's rules give the wall clock of
	// that instant, so DST change days need no special case.
	t := at.In(p.c.loc)
	wd := t.Weekday()
	m := t.Hour()*60 + t.Minute()
	for i := range s.Windows {
		w := &s.Windows[i]
		from, _ := parseClock(w.From)
		to, _ := parseClock(w.To)
		if m < from || m >= to {
			continue
		}
		for _, d := range w.Days {
			if d == wd {
				return true
			}
		}
	}
	return false
}

// ready reports whether p was validated and the parts Validate compiled or checked are still
// as they were. It depends on the policy only, never on the request.
func ready(p *Policy) bool {
	c := p.c
	if c == nil || len(c.apps) != len(p.Where) || c.tz != p.When.TimeZone {
		return false
	}
	if len(p.When.Windows) > 0 && c.loc == nil {
		return false
	}
	for i := range c.apps {
		if c.apps[i].process != p.Where[i].Process || c.apps[i].commandLine != p.Where[i].CommandLine {
			return false
		}
	}
	for i := range p.When.Windows {
		w := &p.When.Windows[i]
		from, ok1 := parseClock(w.From)
		to, ok2 := parseClock(w.To)
		if !ok1 || !ok2 || to <= from {
			return false
		}
	}
	return true
}

// AllCertificates, as a group of What, matches every certificate of the deployment (the
// default signing policy uses it).
const AllCertificates = "*"

func matchWhat(p *Policy, c *Certificate) bool {
	for _, id := range p.What.Certificates {
		if id == c.ID {
			return true
		}
	}
	for _, g := range p.What.Groups {
		if g == AllCertificates && c.ID != "" {
			return true
		}
		for _, cg := range c.Groups {
			if g == cg {
				return true
			}
		}
	}
	return false
}

func matchWho(p *Policy, req *Request) bool {
	if req.UserID != "" {
		for _, u := range p.Who.Users {
			if u == req.UserID {
				return true
			}
		}
	}
	for _, r := range p.Who.Roles {
		for _, rr := range req.Roles {
			if r == rr {
				return true
			}
		}
	}
	return false
}

func matchApp(a *compiledApp, req *Request) bool {
	if a.proc == nil || !a.proc.MatchString(req.Process) {
		return false
	}
	return a.cmd == nil || a.cmd.MatchString(req.CommandLine)
}
