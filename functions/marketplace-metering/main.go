// Command marketplace-metering is the hourly metering Lambda function: every subscription's
// usage to its marketplace, once per hour (lib/api/marketplace). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/marketplace"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.MainEvents(marketplace.BuildMetering) }
