// Command operator is the operator Lambda function. It only wires: configuration, clients and the
// handler from lib/api/operator, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/operator"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(operator.Build) }
