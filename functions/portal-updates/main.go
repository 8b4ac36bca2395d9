// Command portal-updates is the Lambda function of a deployment's software updates in the
// portal (lib/api/updates). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/updates"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(updates.Build) }
