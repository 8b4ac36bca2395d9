package policy

import (
	"cmp"
	"slices"
)

// Set is an index over policies for the signing hot path. It gives the same decisions as
// Evaluate over the same policies, but looks only at policies whose What names the request's
// certificate or one of its groups, and stops at the first match because each list is kept
// in decision order.
//
// A Set keeps the policies it was built from (a shallow copy): do not change them, their
// slices included, while the Set is in use; build a new Set instead. A Set is safe for
// concurrent use.
type Set struct {
	policies []Policy // enabled policies, in decision order
	broken   []bool   // policies[i] is not ready (see ready); fixed since policies are too
	byCert   map[string][]int32
	byGroup  map[string][]int32
}

// NewSet builds a Set from policies, which should already be validated (see Evaluate for
// what happens to those that are not). Disabled policies are dropped.
func NewSet(policies []Policy) *Set {
	s := &Set{byCert: map[string][]int32{}, byGroup: map[string][]int32{}}
	for i := range policies {
		if policies[i].Enabled {
			s.policies = append(s.policies, policies[i])
		}
	}
	// Readiness is a tie-breaker of last resort (see better); it is computed once here.
	s.broken = make([]bool, len(s.policies))
	order := make([]int, len(s.policies))
	for i := range s.policies {
		order[i] = i
		s.broken[i] = !ready(&s.policies[i])
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := &s.policies[a], &s.policies[b]
		switch {
		case better(pa, s.broken[a], pb, s.broken[b]):
			return -1
		case better(pb, s.broken[b], pa, s.broken[a]):
			return 1
		}
		return cmp.Compare(a, b)
	})
	sorted := make([]Policy, len(order))
	broken := make([]bool, len(order))
	for r, i := range order {
		sorted[r], broken[r] = s.policies[i], s.broken[i]
	}
	s.policies, s.broken = sorted, broken

	for r := range s.policies {
		p := &s.policies[r]
		// A name listed twice in one policy is indexed once.
		for i, id := range p.What.Certificates {
			if !slices.Contains(p.What.Certificates[:i], id) {
				s.byCert[id] = append(s.byCert[id], int32(r))
			}
		}
		for i, g := range p.What.Groups {
			if !slices.Contains(p.What.Groups[:i], g) {
				s.byGroup[g] = append(s.byGroup[g], int32(r))
			}
		}
	}
	return s
}

// Evaluate decides req against the policies the Set was built from, in the order of the
// package documentation: a disabled certificate never signs (even for its owner); among
// enabled policies that match What, Who, Where and When, the highest priority decides and
// Deny wins ties, for the certificate's owner too; when none matches, the owner holding
// SigningRole may sign and anyone else is denied. Deterministic whatever the order of
// policies.
//
// Policies must have been validated. One that was not (or was changed after Validate) cannot
// allow, and if it is not an Allow policy it denies whenever its What and Who match: a
// broken Deny fails closed rather than silently stopping to apply. The tests hold it to the
// reference loop (Evaluate in reference_test.go).
func (s *Set) Evaluate(req Request) Decision {
	if d, done := precheck(&req); done {
		return d
	}
	best := int32(len(s.policies))
	var bestBroken bool
	// Each list is in decision order, so the first match of a list is its best and a list
	// can stop as soon as it reaches the rank already found.
	scan := func(list []int32) {
		for _, r := range list {
			if r >= best {
				return
			}
			if ok, broken := match(&s.policies[r], &req); ok {
				best, bestBroken = r, broken
				return
			}
		}
	}
	scan(s.byCert[req.Certificate.ID])
	scan(s.byGroup[AllCertificates])
	for _, g := range req.Certificate.Groups {
		scan(s.byGroup[g])
	}
	if int(best) == len(s.policies) {
		return unmatched(&req)
	}
	return decide(&s.policies[best], bestBroken, &req)
}
