package policy

// Evaluate is the reference evaluation, a plain loop over the policies that the tests hold the
// compiled Set to (same decision, whatever the order of the policies). Exported for the
// external tests (the export_test idiom); production code decides with a Set.
//
// Evaluate decides req against policies: a disabled certificate never signs (even for its
// owner); the certificate owner may always sign with it; otherwise among enabled policies
// that match What, Who, Where and When, the highest priority decides, Deny wins ties, and no
// match means deny. Deterministic whatever the order of policies.
//
// Policies must have been validated. One that was not (or was changed after Validate) cannot
// allow, and if it is not an Allow policy it denies whenever its What and Who match: a
// broken Deny fails closed rather than silently stopping to apply.
func Evaluate(policies []Policy, req Request) Decision {
	if d, done := precheck(&req); done {
		return d
	}
	best := -1
	var bestBroken bool
	for i := range policies {
		p := &policies[i]
		if !p.Enabled {
			continue
		}
		ok, broken := match(p, &req)
		if !ok {
			continue
		}
		if best < 0 || better(p, broken, &policies[best], bestBroken) {
			best, bestBroken = i, broken
		}
	}
	if best < 0 {
		return noMatch(&req)
	}
	return decide(&policies[best], bestBroken, &req)
}
