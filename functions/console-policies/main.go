// Command console-policies is the console-policies Lambda function. It only wires:
// configuration, clients and the handler from lib/api/policies, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/policies"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(policies.Build) }
