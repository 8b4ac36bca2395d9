// Command marketplace-azure-webhook is the Azure Marketplace SaaS fulfilment webhook Lambda
// function (lib/api/marketplace). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/marketplace"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(marketplace.BuildWebhook) }
