// Command console-events is the console-events Lambda function. It only wires:
// configuration, clients and the handler from lib/api/events, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/events"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(events.Build) }
