package policy

import "slices"

// Evaluate is the reference evaluation, a plain loop over the policies that the tests hold the
// compiled Set to (same decision, whatever the order of the policies). Exported for the
// external tests (the export_test idiom); production code decides with a Set.
//
// It spells out the order of the package documentation step by step, without the Set's
// index or its shared fallback:
//
//  1. no certificate, or one that is not enabled: denied, even for its owner;
//  2. among the enabled policies that match What, Who, Where and When, the highest priority
//     decides, Deny wins ties, for the owner as for anyone;
//  3. no policy matches: the owner holding SigningRole may sign; an owner without it is
//     denied, and so is anyone else.
//
// Policies must have been validated. One that was not (or was changed after Validate) cannot
// allow, and if it is not an Allow policy it denies whenever its What and Who match: a
// broken Deny fails closed rather than silently stopping to apply.
func Evaluate(policies []Policy, req Request) Decision {
	// 1. The certificate's state.
	if d, done := precheck(&req); done {
		return d
	}
	// 2. The policies.
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
	if best >= 0 {
		return decide(&policies[best], bestBroken, &req)
	}
	// 3. The owner exception, when nothing matched.
	owner := req.Certificate.Owner != "" && req.Certificate.Owner == req.UserID
	switch {
	case owner && slices.Contains(req.Roles, SigningRole):
		return ownerAllowed(&req)
	case owner:
		return ownerWithoutRole(&req)
	}
	return noMatch(&req)
}
