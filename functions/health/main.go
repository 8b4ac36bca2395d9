// Command health is the health Lambda function. It only wires: configuration, clients and the
// handler from lib/api/health, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/health"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(health.Build) }
