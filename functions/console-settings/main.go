// Command console-settings is the console-settings Lambda function. It only wires: configuration, clients and the
// handler from lib/api/console, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/console"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(console.BuildSettings) }
