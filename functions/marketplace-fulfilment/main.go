// Command marketplace-fulfilment is the marketplace fulfilment Lambda function: AWS
// Marketplace's fulfilment URL, Azure's landing page token exchange, the registration of a
// buyer's deployment and the portal's subscription view (lib/api/marketplace). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/marketplace"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(marketplace.Build) }
