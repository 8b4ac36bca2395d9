// Command console-certificates is the console-certificates Lambda function. It only wires:
// configuration, clients and the handler from lib/api/certificates, then lambda.Start. It is
// built with cgo (the PKCS#11 backend) for x86_64.
package main

import (
	"github.com/opensignum/signum/lib/api/certificates"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(certificates.Build) }
