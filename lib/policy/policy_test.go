package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
)

var berlin = mustZone("Europe/Berlin")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a Wednesday, 10:00 in Berlin.
var at = time.Date(2024, 6, 12, 10, 0, 0, 0, berlin)

// pol returns a valid, enabled allow policy of the given id connecting user alice to
// certificate c1; edit applies changes before validation.
func pol(t testing.TB, id string, edit func(*policy.Policy)) policy.Policy {
	t.Helper()
	p := policy.Policy{
		ID: id, Name: "policy " + id, Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{"c1"}},
		Who:  policy.Who{Users: []string{"alice"}},
	}
	if edit != nil {
		edit(&p)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("policy %s: %v", id, err)
	}
	return p
}

func req(edit func(*policy.Request)) policy.Request {
	r := policy.Request{
		UserID: "alice", Roles: []string{"signer"}, Process: "signtool.exe",
		CommandLine: "signtool.exe sign /fd sha256 app.exe", At: at,
		Certificate: policy.Certificate{ID: "c1", Owner: "bob", Groups: []string{"release"}, Enabled: true},
	}
	if edit != nil {
		edit(&r)
	}
	return r
}

// check evaluates with both Evaluate and a Set and compares with the expectation.
func check(t *testing.T, ps []policy.Policy, r policy.Request, allowed bool, id string, owner bool) {
	t.Helper()
	d := policy.Evaluate(ps, r)
	if d.Allowed != allowed || d.PolicyID != id || d.Owner != owner {
		t.Errorf("Evaluate = %+v, want allowed=%v policy=%q owner=%v", d, allowed, id, owner)
	}
	if d.Reason == "" {
		t.Error("empty reason")
	}
	checkCallerReason(t, ps, r, d)
	if s := policy.NewSet(ps).Evaluate(r); s != d {
		t.Errorf("Set.Evaluate = %+v, Evaluate = %+v", s, d)
	}
}

func TestEvaluate(t *testing.T) {
	deny := func(p *policy.Policy) { p.Action = policy.Deny }
	prio := func(n int) func(*policy.Policy) { return func(p *policy.Policy) { p.Priority = n } }
	both := func(fs ...func(*policy.Policy)) func(*policy.Policy) {
		return func(p *policy.Policy) {
			for _, f := range fs {
				f(p)
			}
		}
	}
	disabled := func(p *policy.Policy) { p.Enabled = false }
	where := func(apps ...policy.Application) func(*policy.Policy) {
		return func(p *policy.Policy) { p.Where = apps }
	}
	who := func(w policy.Who) func(*policy.Policy) { return func(p *policy.Policy) { p.Who = w } }
	what := func(w policy.What) func(*policy.Policy) { return func(p *policy.Policy) { p.What = w } }
	process := func(proc, cmd string) func(*policy.Request) {
		return func(r *policy.Request) { r.Process, r.CommandLine = proc, cmd }
	}
	tests := []struct {
		name    string
		ps      func(t *testing.T) []policy.Policy
		req     policy.Request
		allowed bool
		id      string
		owner   bool
	}{
		{"ok/single allow", func(t *testing.T) []policy.Policy { return []policy.Policy{pol(t, "p1", nil)} }, req(nil), true, "p1", false},
		{"fail/no policies", func(t *testing.T) []policy.Policy { return nil }, req(nil), false, "", false},
		{"fail/no match", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "p1", who(policy.Who{Users: []string{"carol"}}))}
		}, req(nil), false, "", false},
		{"ok/owner without policy", func(t *testing.T) []policy.Policy { return nil }, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), true, "", true},
		// The owner exception stands in for an Allow policy, nothing more: a matching Deny
		// still refuses the owner, and so does the loss of the signing role.
		{"fail/deny naming the owner", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "p1", both(deny, prio(policy.MaxPriority)))}
		}, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), false, "p1", false},
		{"fail/low-priority deny still refuses the owner", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "p1", both(deny, prio(policy.MinPriority)))}
		}, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), false, "p1", false},
		{"fail/deny by role refuses the owner", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "p1", both(deny, who(policy.Who{Roles: []string{"signer"}})))}
		}, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), false, "p1", false},
		{"ok/owner under a higher allow than the deny", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "d", both(deny, prio(5))), pol(t, "a", prio(6))}
		}, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), true, "a", false},
		{"ok/owner when the deny does not match", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "d", both(deny, where(policy.Application{Process: `jarsigner`})))}
		}, req(func(r *policy.Request) { r.Certificate.Owner = "alice" }), true, "", true},
		{"fail/owner demoted to viewer", func(t *testing.T) []policy.Policy { return nil },
			req(func(r *policy.Request) {
				r.Certificate.Owner, r.Roles = "alice", []string{"portal:Viewer", "console-viewer"}
			}), false, "", false},
		{"fail/owner without any role", func(t *testing.T) []policy.Policy { return nil },
			req(func(r *policy.Request) { r.Certificate.Owner, r.Roles = "alice", nil }), false, "", false},
		{"ok/owner as portal user", func(t *testing.T) []policy.Policy { return nil },
			req(func(r *policy.Request) {
				r.Certificate.Owner, r.Roles = "alice", policy.RolesFor(identity.Roles{Portal: identity.RoleUser, Console: identity.ConsoleRolesFor(identity.PortalUser{Role: identity.RoleUser})})
			}), true, "", true},
		{"ok/a policy still allows a demoted owner it names", func(t *testing.T) []policy.Policy { return []policy.Policy{pol(t, "p1", nil)} },
			req(func(r *policy.Request) { r.Certificate.Owner, r.Roles = "alice", []string{"portal:Viewer"} }), true, "p1", false},
		{"fail/empty owner is not empty user", func(t *testing.T) []policy.Policy { return nil },
			req(func(r *policy.Request) { r.Certificate.Owner, r.UserID = "", "" }), false, "", false},
		{"fail/disabled certificate with allow policy", func(t *testing.T) []policy.Policy { return []policy.Policy{pol(t, "p1", nil)} },
			req(func(r *policy.Request) { r.Certificate.Enabled = false }), false, "", false},
		{"fail/disabled certificate for its owner", func(t *testing.T) []policy.Policy { return nil },
			req(func(r *policy.Request) { r.Certificate.Enabled, r.Certificate.Owner = false, "alice" }), false, "", false},
		{"fail/no certificate id", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "p1", what(policy.What{Groups: []string{"release"}}))}
		}, req(func(r *policy.Request) { r.Certificate.ID = "" }), false, "", false},

		// Priority and ties.
		{"ok/higher priority allow beats lower deny", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "d", both(deny, prio(5))), pol(t, "a", prio(6))}
		}, req(nil), true, "a", false},
		{"fail/higher priority deny beats lower allow", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", prio(5)), pol(t, "d", both(deny, prio(6)))}
		}, req(nil), false, "d", false},
		{"fail/deny wins tie", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), pol(t, "z", deny)}
		}, req(nil), false, "z", false},
		{"fail/deny wins tie in either order", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "z", deny), pol(t, "a", nil)}
		}, req(nil), false, "z", false},
		{"ok/equal allows: smallest id decides", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "b", nil), pol(t, "a", nil)}
		}, req(nil), true, "a", false},
		{"ok/non-matching higher deny is ignored", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), pol(t, "d", both(deny, prio(99), what(policy.What{Certificates: []string{"c2"}})))}
		}, req(nil), true, "a", false},

		// Enabled.
		{"ok/disabled deny ignored", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), pol(t, "d", both(deny, prio(99), disabled))}
		}, req(nil), true, "a", false},
		{"fail/disabled allow ignored", func(t *testing.T) []policy.Policy { return []policy.Policy{pol(t, "a", disabled)} }, req(nil), false, "", false},

		// What.
		{"ok/what by id", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", what(policy.What{Certificates: []string{"c0", "c1"}}))}
		}, req(nil), true, "a", false},
		{"ok/what by group", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", what(policy.What{Groups: []string{"nightly", "release"}}))}
		}, req(func(r *policy.Request) { r.Certificate.Groups = []string{"x", "release"} }), true, "a", false},
		{"fail/what other certificate and group", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", what(policy.What{Certificates: []string{"c2"}, Groups: []string{"nightly"}}))}
		}, req(nil), false, "", false},

		// Who.
		{"ok/who by console role", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", who(policy.Who{Roles: []string{"signer"}}))}
		}, req(func(r *policy.Request) { r.UserID = "dave" }), true, "a", false},
		{"ok/who by portal role", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", who(policy.Who{Roles: []string{policy.PortalRole(identity.RoleAdmin), policy.PortalRole(identity.RoleUser)}}))}
		}, req(func(r *policy.Request) { r.UserID, r.Roles = "dave", []string{"portal:User"} }), true, "a", false},
		{"fail/who portal viewer not listed", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", who(policy.Who{Roles: []string{"portal:Admin", "portal:User"}}))}
		}, req(func(r *policy.Request) { r.UserID, r.Roles = "dave", []string{"portal:Viewer"} }), false, "", false},
		{"fail/who console role is not a portal role", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", who(policy.Who{Roles: []string{"portal:Admin"}}))}
		}, req(func(r *policy.Request) { r.Roles = []string{"Admin"} }), false, "", false},
		{"fail/who other user", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", who(policy.Who{Users: []string{"bob"}, Roles: []string{"console-admin"}}))}
		}, req(nil), false, "", false},

		// Where.
		{"ok/where process", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `make`}))}
		}, req(process("make", "make all")), true, "a", false},
		{"fail/where make does not match cmake", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `make`}))}
		}, req(process("cmake", "")), false, "", false},
		{"fail/where make does not match maker", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `make|gmake`}))}
		}, req(process("maker", "")), false, "", false},
		{"ok/where command line", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `(?i)signtool\.exe`, CommandLine: `.* /fd sha256 .*`}))}
		}, req(process("SignTool.exe", "signtool sign /fd sha256 a.exe")), true, "a", false},
		{"fail/where command line must match in full", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `signtool\.exe`, CommandLine: `sign`}))}
		}, req(process("signtool.exe", "signtool sign /fd sha256 a.exe")), false, "", false},
		{"ok/where second application", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `jarsigner`}, policy.Application{Process: `signtool\.exe`}))}
		}, req(nil), true, "a", false},
		{"fail/where nothing reported", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", where(policy.Application{Process: `signtool\.exe`}))}
		}, req(process("", "")), false, "", false},
		{"fail/where deny for one tool", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), pol(t, "d", both(deny, where(policy.Application{Process: `signtool\.exe`})))}
		}, req(nil), false, "d", false},
		{"ok/where deny for another tool", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), pol(t, "d", both(deny, where(policy.Application{Process: `jarsigner`})))}
		}, req(nil), true, "a", false},

		// Validity window.
		{"ok/validity inside", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", func(p *policy.Policy) { p.When.NotBefore, p.When.NotAfter = at.Add(-time.Hour), at })}
		}, req(nil), true, "a", false},
		{"fail/validity not yet", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", func(p *policy.Policy) { p.When.NotBefore = at.Add(time.Second) })}
		}, req(nil), false, "", false},
		{"fail/validity over", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", func(p *policy.Policy) { p.When.NotAfter = at.Add(-time.Second) })}
		}, req(nil), false, "", false},

		// Unvalidated policies fail closed.
		{"fail/unvalidated allow never allows", func(t *testing.T) []policy.Policy {
			return []policy.Policy{{ID: "a", Name: "a", Enabled: true, Action: policy.Allow,
				What: policy.What{Certificates: []string{"c1"}}, Who: policy.Who{Users: []string{"alice"}}}}
		}, req(nil), false, "", false},
		{"fail/unvalidated deny applies on what and who", func(t *testing.T) []policy.Policy {
			return []policy.Policy{pol(t, "a", nil), {ID: "d", Name: "d", Enabled: true, Priority: 10, Action: policy.Deny,
				What: policy.What{Certificates: []string{"c1"}}, Who: policy.Who{Users: []string{"alice"}},
				Where: []policy.Application{{Process: "never"}}}}
		}, req(nil), false, "d", false},
		{"fail/allow changed after validation", func(t *testing.T) []policy.Policy {
			p := pol(t, "a", where(policy.Application{Process: `jarsigner`}))
			p.Where = []policy.Application{{Process: `.*`}}
			return []policy.Policy{p}
		}, req(nil), false, "", false},
		{"fail/deny with a window broken after validation", func(t *testing.T) []policy.Policy {
			d := pol(t, "d", both(deny, prio(11), func(p *policy.Policy) {
				p.When.TimeZone = "UTC"
				p.When.Windows = []policy.Window{{Days: []time.Weekday{time.Sunday}, From: "00:00", To: "01:00"}}
			}))
			d.When.Windows = []policy.Window{{Days: []time.Weekday{time.Sunday}, From: "0:00", To: "01:00"}}
			return []policy.Policy{pol(t, "a", nil), d}
		}, req(nil), false, "d", false},
		{"fail/unknown action set after validation denies", func(t *testing.T) []policy.Policy {
			p := pol(t, "a", nil)
			p.Action = "Allow"
			return []policy.Policy{p}
		}, req(nil), false, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.ps(t), tt.req, tt.allowed, tt.id, tt.owner)
		})
	}
}

func TestSchedule(t *testing.T) {
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	sunday := []time.Weekday{time.Sunday}
	tests := []struct {
		name    string
		windows []policy.Window
		at      time.Time
		allowed bool
	}{
		{"ok/office hours", []policy.Window{{Days: weekdays, From: "09:00", To: "17:00"}}, at, true},
		{"fail/office hours end is exclusive", []policy.Window{{Days: weekdays, From: "09:00", To: "17:00"}},
			time.Date(2024, 6, 12, 17, 0, 0, 0, berlin), false},
		{"ok/office hours last second", []policy.Window{{Days: weekdays, From: "09:00", To: "17:00"}},
			time.Date(2024, 6, 12, 16, 59, 59, 0, berlin), true},
		{"fail/before office hours", []policy.Window{{Days: weekdays, From: "09:00", To: "17:00"}},
			time.Date(2024, 6, 12, 8, 59, 59, 0, berlin), false},
		{"fail/weekend", []policy.Window{{Days: weekdays, From: "00:00", To: "24:00"}},
			time.Date(2024, 6, 15, 12, 0, 0, 0, berlin), false},
		{"ok/24:00 covers the last minute", []policy.Window{{Days: []time.Weekday{time.Saturday}, From: "22:00", To: "24:00"}},
			time.Date(2024, 6, 15, 23, 59, 59, 0, berlin), true},
		// The weekday is Berlin's, not UTC's: 2024-03-30 23:30 UTC is Sunday 00:30 in Berlin.
		{"ok/day in the zone", []policy.Window{{Days: sunday, From: "00:00", To: "01:00"}},
			time.Date(2024, 3, 30, 23, 30, 0, 0, time.UTC), true},
		{"fail/day in the zone", []policy.Window{{Days: []time.Weekday{time.Saturday}, From: "23:00", To: "24:00"}},
			time.Date(2024, 3, 30, 23, 30, 0, 0, time.UTC), false},
		// Spring forward, Sunday 2024-03-31: 02:00 CET becomes 03:00 CEST.
		{"ok/dst spring morning is CEST", []policy.Window{{Days: sunday, From: "09:00", To: "17:00"}},
			time.Date(2024, 3, 31, 7, 30, 0, 0, time.UTC), true}, // 09:30 CEST (08:30 if still CET)
		{"fail/dst spring afternoon is CEST", []policy.Window{{Days: sunday, From: "09:00", To: "17:00"}},
			time.Date(2024, 3, 31, 15, 30, 0, 0, time.UTC), false}, // 17:30 CEST (16:30 if still CET)
		{"fail/dst spring last minute before jump", []policy.Window{{Days: sunday, From: "02:00", To: "03:00"}},
			time.Date(2024, 3, 31, 0, 59, 59, 0, time.UTC), false}, // 01:59:59 CET
		{"fail/dst spring first instant after jump", []policy.Window{{Days: sunday, From: "02:00", To: "03:00"}},
			time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC), false}, // 03:00 CEST
		{"ok/dst spring window after jump", []policy.Window{{Days: sunday, From: "03:00", To: "04:00"}},
			time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC), true},
		// Fall back, Sunday 2024-10-27: 02:00-03:00 happens twice.
		{"ok/dst autumn first 02:30", []policy.Window{{Days: sunday, From: "02:00", To: "03:00"}},
			time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC), true},
		{"ok/dst autumn second 02:30", []policy.Window{{Days: sunday, From: "02:00", To: "03:00"}},
			time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC), true},
		{"fail/dst autumn 03:00", []policy.Window{{Days: sunday, From: "02:00", To: "03:00"}},
			time.Date(2024, 10, 27, 2, 0, 0, 0, time.UTC), false},
		{"ok/second window", []policy.Window{{Days: weekdays, From: "09:00", To: "12:00"}, {Days: weekdays, From: "13:00", To: "17:00"}},
			time.Date(2024, 6, 12, 13, 0, 0, 0, berlin), true},
		{"fail/lunch break", []policy.Window{{Days: weekdays, From: "09:00", To: "12:00"}, {Days: weekdays, From: "13:00", To: "17:00"}},
			time.Date(2024, 6, 12, 12, 30, 0, 0, berlin), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pol(t, "a", func(p *policy.Policy) {
				p.When = policy.Schedule{TimeZone: "Europe/Berlin", Windows: tt.windows}
			})
			r := req(func(r *policy.Request) { r.At = tt.at })
			id := ""
			if tt.allowed {
				id = "a"
			}
			check(t, []policy.Policy{p}, r, tt.allowed, id, false)
		})
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", policy.MaxPatternLen+1)
	tests := []struct {
		name  string
		edit  func(*policy.Policy)
		field string // "" means valid
	}{
		{"ok/minimal", func(p *policy.Policy) {}, ""},
		{"ok/full", func(p *policy.Policy) {
			p.What = policy.What{Certificates: []string{"c1"}, Groups: []string{"release"}}
			p.Who = policy.Who{Users: []string{"alice"}, Roles: []string{"signer", "portal:Admin", "custom role"}}
			p.Where = []policy.Application{{Process: `(?i)signtool\.exe`, CommandLine: `.*`}, {Process: strings.Repeat("a", policy.MaxPatternLen)}}
			p.When = policy.Schedule{TimeZone: "America/New_York", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "00:00", To: "24:00"}},
				NotBefore: at, NotAfter: at}
		}, ""},
		{"ok/zone without windows", func(p *policy.Policy) { p.When.TimeZone = "UTC" }, ""},
		{"fail/name", func(p *policy.Policy) { p.Name = " " }, "name"},
		{"fail/unknown action", func(p *policy.Policy) { p.Action = "Allow" }, "action"},
		{"fail/empty action", func(p *policy.Policy) { p.Action = "" }, "action"},
		{"fail/priority", func(p *policy.Policy) { p.Priority = policy.MaxPriority + 1 }, "priority"},
		{"fail/empty what", func(p *policy.Policy) { p.What = policy.What{} }, "what"},
		{"fail/empty group", func(p *policy.Policy) { p.What.Groups = []string{"g", ""} }, "what.groups[1]"},
		{"fail/empty who", func(p *policy.Policy) { p.Who = policy.Who{} }, "who"},
		{"fail/empty user", func(p *policy.Policy) { p.Who.Users = []string{""} }, "who.users[0]"},
		{"fail/unknown portal role", func(p *policy.Policy) { p.Who.Roles = []string{"portal:Owner"} }, "who.roles[0]"},
		{"fail/bad regex", func(p *policy.Policy) { p.Where = []policy.Application{{Process: "ok"}, {Process: "a("}} }, "where[1].process"},
		{"fail/unbalanced regex that wrapping would hide", func(p *policy.Policy) { p.Where = []policy.Application{{Process: "a)|(b"}} }, "where[0].process"},
		{"fail/bad command line regex", func(p *policy.Policy) { p.Where = []policy.Application{{Process: "x", CommandLine: "[z-a]"}} }, "where[0].commandLine"},
		{"fail/empty process", func(p *policy.Policy) { p.Where = []policy.Application{{CommandLine: ".*"}} }, "where[0].process"},
		{"fail/long pattern", func(p *policy.Policy) { p.Where = []policy.Application{{Process: long}} }, "where[0].process"},
		{"fail/too complex pattern", func(p *policy.Policy) {
			p.Where = []policy.Application{{Process: "x", CommandLine: strings.Repeat(`.{0,100}`, 20)}}
		}, "where[0].commandLine"},
		{"ok/applications at the cap", func(p *policy.Policy) { p.Where = apps(policy.MaxApplications, "make", "") }, ""},
		{"fail/too many applications", func(p *policy.Policy) { p.Where = apps(policy.MaxApplications+1, "make", "") }, "where"},
		{"fail/patterns too complex in all", func(p *policy.Policy) {
			// Each pattern is within MaxProgram; three applications of them are more than
			// MaxDeploymentProgram.
			p.Where = apps(3, "x", `.{0,700}`)
		}, "where"},
		{"ok/patterns at the policy's budget", func(p *policy.Policy) { p.Where = apps(2, "x", `.{0,700}`) }, ""},
		{"ok/bounded repetition", func(p *policy.Policy) {
			p.Where = []policy.Application{{Process: `[a-z]{1,64}\.exe`, CommandLine: `.{0,500}`}}
		}, ""},
		{"fail/unknown zone", func(p *policy.Policy) { p.When.TimeZone = "Europe/Atlantis" }, "when.timeZone"},
		{"fail/local zone", func(p *policy.Policy) { p.When.TimeZone = "Local" }, "when.timeZone"},
		{"fail/windows without zone", func(p *policy.Policy) {
			p.When.Windows = []policy.Window{{Days: []time.Weekday{time.Monday}, From: "09:00", To: "10:00"}}
		}, "when.timeZone"},
		{"fail/bad from", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "9:00", To: "10:00"}}}
		}, "when.windows[0].from"},
		{"fail/from 24:00", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "24:00", To: "24:00"}}}
		}, "when.windows[0].from"},
		{"fail/bad to", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "09:00", To: "24:01"}}}
		}, "when.windows[0].to"},
		{"fail/bad minutes", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "09:60", To: "10:00"}}}
		}, "when.windows[0].from"},
		{"fail/crosses midnight", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "22:00", To: "02:00"}}}
		}, "when.windows[0].to"},
		{"fail/empty window", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{time.Monday}, From: "10:00", To: "10:00"}}}
		}, "when.windows[0].to"},
		{"fail/no days", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{From: "09:00", To: "10:00"}}}
		}, "when.windows[0].days"},
		{"fail/bad day", func(p *policy.Policy) {
			p.When = policy.Schedule{TimeZone: "UTC", Windows: []policy.Window{{Days: []time.Weekday{7}, From: "09:00", To: "10:00"}}}
		}, "when.windows[0].days"},
		{"fail/validity reversed", func(p *policy.Policy) { p.When.NotBefore, p.When.NotAfter = at, at.Add(-time.Second) }, "when.notAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Policy{ID: "p", Name: "p", Enabled: true, Action: policy.Allow,
				What: policy.What{Certificates: []string{"c1"}}, Who: policy.Who{Users: []string{"alice"}}}
			tt.edit(&p)
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var f fault.Fields
			if !errors.As(err, &f) || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("Validate = %v, want fault.Fields", err)
			}
			if f[0].Name != tt.field {
				t.Fatalf("first field = %q (%v), want %q", f[0].Name, err, tt.field)
			}
			if len(err.Error()) > 2000 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
			// A policy that failed validation cannot allow, even if it was valid before.
			q := pol(t, "q", nil)
			q.Name = ""
			if q.Validate() == nil || policy.Evaluate([]policy.Policy{q}, req(nil)).Allowed {
				t.Fatal("a policy that failed Validate still allows")
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	deny := func(p *policy.Policy) { p.Action = policy.Deny }
	sched := func(zone, from, to string, days ...time.Weekday) policy.Schedule {
		return policy.Schedule{TimeZone: zone, Windows: []policy.Window{{Days: days, From: from, To: to}}}
	}
	tests := []struct {
		name      string
		existing  []func(*policy.Policy) // ids e0, e1, ...
		candidate func(*policy.Policy)
		want      []string
	}{
		{"fail/same what and who opposite action", []func(*policy.Policy){deny}, nil, []string{"e0"}},
		{"ok/same action", []func(*policy.Policy){nil}, nil, nil},
		{"ok/other priority", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.Priority = 11 }}, nil, nil},
		{"ok/existing disabled", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.Enabled = false }}, nil, nil},
		{"ok/candidate disabled", []func(*policy.Policy){deny}, func(p *policy.Policy) { p.Enabled = false }, nil},
		{"ok/previous version of the candidate", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.ID = "cand" }}, nil, nil},
		{"ok/disjoint what", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.What.Certificates = []string{"c2"} }}, nil, nil},
		{"fail/shared group", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.What = policy.What{Groups: []string{"g", "release"}} }},
			func(p *policy.Policy) {
				p.What = policy.What{Certificates: []string{"c9"}, Groups: []string{"release"}}
			}, []string{"e0"}},
		{"ok/disjoint who", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.Who = policy.Who{Users: []string{"bob"}} }}, nil, nil},
		{"fail/shared role", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.Who = policy.Who{Roles: []string{"portal:User"}} }},
			func(p *policy.Policy) { p.Who = policy.Who{Users: []string{"bob"}, Roles: []string{"portal:User"}} }, []string{"e0"}},
		{"fail/where assumed to overlap", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.Where = []policy.Application{{Process: "a"}} }},
			func(p *policy.Policy) { p.Where = []policy.Application{{Process: "b"}} }, []string{"e0"}},
		{"ok/disjoint days", []func(*policy.Policy){func(p *policy.Policy) {
			deny(p)
			p.When = sched("Europe/Berlin", "00:00", "24:00", time.Saturday, time.Sunday)
		}},
			func(p *policy.Policy) { p.When = sched("Europe/Berlin", "00:00", "24:00", time.Monday) }, nil},
		{"ok/disjoint hours", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When = sched("Europe/Berlin", "00:00", "09:00", time.Monday) }},
			func(p *policy.Policy) { p.When = sched("Europe/Berlin", "09:00", "17:00", time.Monday) }, nil},
		{"fail/overlapping hours", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When = sched("Europe/Berlin", "00:00", "09:01", time.Monday) }},
			func(p *policy.Policy) { p.When = sched("Europe/Berlin", "09:00", "17:00", time.Monday) }, []string{"e0"}},
		{"fail/different zones assumed to overlap", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When = sched("UTC", "00:00", "24:00", time.Sunday) }},
			func(p *policy.Policy) { p.When = sched("Europe/Berlin", "00:00", "24:00", time.Monday) }, []string{"e0"}},
		{"fail/one always", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When = sched("UTC", "00:00", "01:00", time.Sunday) }}, nil, []string{"e0"}},
		{"ok/disjoint validity", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When.NotAfter = at }},
			func(p *policy.Policy) { p.When.NotBefore = at.Add(time.Second) }, nil},
		{"fail/touching validity", []func(*policy.Policy){func(p *policy.Policy) { deny(p); p.When.NotAfter = at }},
			func(p *policy.Policy) { p.When.NotBefore = at }, []string{"e0"}},
		{"fail/several sorted", []func(*policy.Policy){deny, nil, deny, func(p *policy.Policy) { deny(p); p.Priority = 1 }}, nil, []string{"e0", "e2"}},
		{"fail/deny candidate", []func(*policy.Policy){nil}, deny, []string{"e0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var existing []policy.Policy
			for i, e := range tt.existing {
				existing = append(existing, pol(t, fmt.Sprintf("e%d", i), e))
			}
			cand := pol(t, "cand", tt.candidate)
			got := policy.Conflicts(existing, cand)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Conflicts = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAllCertificates: the "*" group matches every certificate, in Evaluate and in a Set.
func TestAllCertificates(t *testing.T) {
	p := policy.Policy{ID: "default", Name: "Default signing policy", Enabled: true, Priority: 0, Action: policy.Allow,
		What: policy.What{Groups: []string{policy.AllCertificates}}, Who: policy.Who{Roles: []string{"portal:Admin", "portal:User"}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	req := policy.Request{UserID: "pu_x", Roles: []string{"portal:User"}, At: time.Now(), Certificate: policy.Certificate{ID: "crt_any", Enabled: true}}
	if d := policy.Evaluate([]policy.Policy{p}, req); !d.Allowed || d.PolicyID != "default" {
		t.Fatalf("Evaluate: %+v", d)
	}
	if d := policy.NewSet([]policy.Policy{p}).Evaluate(req); !d.Allowed {
		t.Fatalf("Set: %+v", d)
	}
	req.Roles = []string{"portal:Viewer"}
	if d := policy.Evaluate([]policy.Policy{p}, req); d.Allowed {
		t.Fatalf("Viewer allowed: %+v", d)
	}
}

// apps returns n applications with the given patterns.
func apps(n int, process, commandLine string) []policy.Application {
	out := make([]policy.Application, n)
	for i := range out {
		out[i] = policy.Application{Process: process, CommandLine: commandLine}
	}
	return out
}

// checkCallerReason holds what a requester is told (d, the decision of r against ps) to what it
// may say: it is set, quotes nothing (every user-supplied part of Reason is quoted), and it
// does not depend on the policies' ids or names, so it cannot reveal them: renaming every
// policy (keeping the ids' order, which breaks ties) leaves it as it was.
func checkCallerReason(t *testing.T, ps []policy.Policy, r policy.Request, d policy.Decision) {
	t.Helper()
	if d.CallerReason == "" || strings.Contains(d.CallerReason, `"`) {
		t.Errorf("caller reason %q", d.CallerReason)
	}
	renamed := make([]policy.Policy, len(ps))
	for i, p := range ps {
		p.ID, p.Name = "secret-id-"+p.ID, "Secret name "+p.Name
		renamed[i] = p
	}
	if got := policy.Evaluate(renamed, r); got.CallerReason != d.CallerReason {
		t.Errorf("caller reason %q depends on the policies' names: %q once renamed", d.CallerReason, got.CallerReason)
	} else if strings.Contains(got.CallerReason, "ecret") {
		t.Errorf("caller reason %q names a policy", got.CallerReason)
	}
}
