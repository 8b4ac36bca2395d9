// Command fallback is the fallback Lambda function. It only wires: configuration, clients and the
// handler from lib/api/fallback, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/fallback"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(fallback.Build) }
