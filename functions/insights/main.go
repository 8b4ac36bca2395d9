// Command insights is the insights Lambda function: the portal's and the console's dashboards,
// the portal's health report and notices. It only wires: configuration, clients and the
// handler from lib/api/insights, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/api/insights"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(insights.Build) }
