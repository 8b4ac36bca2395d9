package awskms

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

const uriPrefix = Scheme + ":///"

// A key id is what CreateKey returns: a lowercase UUID, or "mrk-" and 32 hex digits for a
// multi-Region key. A key ARN is arn:<partition>:kms:<region>:<account>:key/<key id>.
// Aliases are refused: an alias can be pointed at another key, and a certificate's key URI
// must always name the same key.
var (
	keyIDPattern  = `(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})`
	keyRefPattern = regexp.MustCompile(`^(?:` + keyIDPattern +
		`|arn:aws(?:-[a-z]+)*:kms:[a-z]+(?:-[a-z]+)+-[0-9]+:[0-9]{12}:key/` + keyIDPattern + `)$`)
)

// parseURI returns the key id or key ARN that uri names: "awskms:///<key-id>" or
// "awskms:///<key-ARN>", exactly (no host, query, fragment or escapes). Anything else is
// keys.ErrNotFound: no key has that URI.
func parseURI(uri string) (string, error) {
	ref, ok := strings.CutPrefix(uri, uriPrefix)
	if !ok || !keyRefPattern.MatchString(ref) {
		return "", fault.Wrap(keys.ErrNotFound, fmt.Errorf("parse AWS KMS key URI %q", clip(uri)),
			"Not an AWS KMS key URI: expected awskms:///<key-id> or awskms:///<key-ARN>.")
	}
	return ref, nil
}

// uriOf is the URI of the key KMS knows as ref (a key id or key ARN).
func uriOf(ref string) string { return uriPrefix + ref }
