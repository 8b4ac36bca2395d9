// Command operator is the operator Lambda function. It only wires: configuration, clients and the
// handler from lib/operator, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/operator"
)

func main() { function.Main(operator.Build) }
