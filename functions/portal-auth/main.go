// Command portal-auth is the portal-auth Lambda function. It only wires: configuration, clients and the
// handler from lib/api/portal, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/portal"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(portal.BuildAuth) }
