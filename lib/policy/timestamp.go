package policy

import "github.com/opensignum/signum/lib/fault"

// validateTimestamp checks RequireTimestamp: only what an allow policy signs can carry a
// timestamp, so a deny policy that asks for one is a mistake worth telling.
func (p *Policy) validateTimestamp(f *fault.Fields) {
	if p.RequireTimestamp && p.Action != Allow {
		f.Add("requireTimestamp", "only an allow policy signs; a deny policy cannot require a timestamp")
	}
}

// RequiresTimestamp reports whether the enabled policy id of the Set requires a timestamp:
// the signer asks it of the policy that allowed a request (Decision.PolicyID). An unknown id
// (none decided: the owner exception) requires none. The Set keeps few policies, and it is
// asked only of allowed requests, so a scan is enough.
func (s *Set) RequiresTimestamp(id string) bool {
	if id == "" {
		return false
	}
	for i := range s.policies {
		if s.policies[i].ID == id {
			return s.policies[i].RequireTimestamp
		}
	}
	return false
}
