package clientauth

// AttributeTypes (tests only) lists the OIDs of the attribute types DN names, so that a test
// can check each name against openssl's.
func AttributeTypes() []string {
	var out []string
	for oid := range attributeNames {
		out = append(out, oid)
	}
	return out
}
