// Command health is the health Lambda function. It only wires: configuration, clients and the
// handler from lib/health, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/health"
)

func main() { function.Main(health.Build) }
