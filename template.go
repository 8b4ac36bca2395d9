// Package signum holds the SAM template, embedded, so that the local server, the fallback
// function and the tests read the one route table there is.
package signum

import _ "embed"

// Template is template.yaml.
//
//go:embed template.yaml
var Template []byte
