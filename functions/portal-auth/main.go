// Command portal-auth is the portal-auth Lambda function. It only wires: configuration, clients and the
// handler from lib/portal, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/portal"
)

func main() { function.Main(portal.BuildAuth) }
