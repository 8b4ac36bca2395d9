// Command console-policies is the console-policies Lambda function. It only wires:
// configuration, clients and the handler from lib/policies, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/policies"
)

func main() { function.Main(policies.Build) }
