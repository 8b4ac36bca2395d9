package policy

// MayAllow reports whether any enabled Allow policy of the Set names the user or one of its
// roles in Who, whatever its What, Where and When: when none does (and the user owns no
// certificate), nothing the user asks to sign can be allowed, and the signer refuses it at
// once with the smallest record.
func (s *Set) MayAllow(userID string, roles []string) bool {
	req := Request{UserID: userID, Roles: roles}
	for i := range s.policies {
		if p := &s.policies[i]; p.Action == Allow && !s.broken[i] && matchWho(p, &req) {
			return true
		}
	}
	return false
}
