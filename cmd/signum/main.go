// Command signum is the client of the signing service: it lists the certificates the caller
// may sign with, signs digests, signs files (Authenticode for Windows PE files, a detached
// CMS/PKCS#7 signature for anything else) and verifies them. Files are hashed locally; only
// their digests are sent. Authentication is mutual TLS with a .p12, or a console token.
//
// Exit codes: 0 done; 1 failed (server error, a signature that does not verify); 2 usage or
// configuration; 3 authentication refused; 4 signing denied by policy (or the request was rejected
// or expired); 5 server unreachable; 6 held for approval, not signed yet (sign --wait waits).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
