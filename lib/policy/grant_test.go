package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

func TestGrantCheck(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		p     Policy
		field string // "" when valid
	}{
		{"ok/no-grant", Policy{Action: Allow}, ""},
		{"ok/open", Policy{Action: Allow, Grant: &Grant{MaxSignatures: 2}}, ""},
		{"ok/window", Policy{Action: Allow, Grant: &Grant{MaxSignatures: 2, From: at, To: at.Add(time.Hour)}}, ""},
		{"fail/deny", Policy{Action: Deny, Grant: &Grant{MaxSignatures: 2}}, "grant"},
		{"fail/zero", Policy{Action: Allow, Grant: &Grant{}}, "grant.maxSignatures"},
		{"fail/too-many", Policy{Action: Allow, Grant: &Grant{MaxSignatures: MaxGrantSignatures + 1}}, "grant.maxSignatures"},
		{"fail/empty-window", Policy{Action: Allow, Grant: &Grant{MaxSignatures: 1, From: at, To: at}}, "grant.to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Name, p.What.Groups, p.Who.Roles = "p", []string{"*"}, []string{"signer"}
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fields, _ := err.(fault.Fields)
			if len(fields) != 1 || fields[0].Name != tt.field {
				t.Fatalf("%v, want a field error on %s", err, tt.field)
			}
		})
	}
}

func TestWithGrants(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	req := Request{UserID: "cu_1", At: at, Certificate: Certificate{ID: "crt_1", Enabled: true}}
	noMatch := Decision{Code: CodeNoMatch, Reason: "none", CallerReason: callerNoMatch}
	g := func(id string, from, to time.Time) UserGrant {
		return UserGrant{ID: id, UserID: "cu_1", CertificateID: "crt_1", Grant: Grant{MaxSignatures: 1, From: from, To: to}}
	}
	open := g("gnt_b", time.Time{}, at.Add(2*time.Hour))
	sooner := g("gnt_c", at.Add(-time.Hour), at.Add(time.Hour))
	later := g("gnt_a", at.Add(time.Hour), time.Time{})
	revoked := g("gnt_r", time.Time{}, time.Time{})
	revoked.RevokedAt = at.Add(-time.Minute)
	other := open
	other.UserID = "cu_2"
	policyGrant := &Grant{MaxSignatures: 3, From: at.Add(time.Hour)}
	for _, tt := range []struct {
		name    string
		d       Decision
		grants  []UserGrant
		allowed bool
		by      string
		code    string
	}{
		{"ok/no-grants", noMatch, nil, false, "", CodeNoMatch},
		{"ok/open-grant-allows", noMatch, []UserGrant{open}, true, "gnt_b", ""},
		{"ok/the-one-ending-first", noMatch, []UserGrant{open, later, sooner}, true, "gnt_c", ""},
		{"ok/owner-without-role", Decision{Code: CodeOwnerNoRole}, []UserGrant{open}, true, "gnt_b", ""},
		{"fail/another-users-grant", noMatch, []UserGrant{other}, false, "", CodeNoMatch},
		{"fail/deny-wins", Decision{Code: CodeDenied, PolicyID: "pol_no"}, []UserGrant{open}, false, "pol_no", CodeDenied},
		{"fail/not-open", noMatch, []UserGrant{later}, false, "gnt_a", CodeGrantClosed},
		{"fail/revoked", noMatch, []UserGrant{revoked}, false, "gnt_r", CodeGrantRevoked},
		{"ok/policy-allows-first", Decision{Allowed: true, PolicyID: "pol_yes"}, []UserGrant{open}, true, "pol_yes", ""},
		{"fail/policy-grant-not-open", Decision{Allowed: true, PolicyID: "pol_g", Grant: policyGrant}, nil, false, "pol_g", CodeGrantClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := WithGrants(tt.d, tt.grants, req)
			if d.Allowed != tt.allowed || d.PolicyID != tt.by || d.Code != tt.code {
				t.Fatalf("%+v, want allowed %v by %q code %q", d, tt.allowed, tt.by, tt.code)
			}
			if d.Allowed && strings.HasPrefix(d.PolicyID, "gnt_") && (d.Grant == nil || d.Grant.MaxSignatures != 1) {
				t.Fatalf("a grant's decision counts nothing: %+v", d)
			}
			if d.Code == CodeGrantClosed && !strings.Contains(d.CallerReason, d.PolicyID) {
				t.Fatalf("the refusal does not name the grant: %q", d.CallerReason)
			}
		})
	}
}
