package awskms

// ParseURI exposes parseURI to the URI table and fuzz tests.
var ParseURI = parseURI
