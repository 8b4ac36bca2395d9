// Command marketplace-aws-events is the Lambda function of AWS Marketplace's events: the SNS
// topics' messages through SQS and the EventBridge agreement and license events
// (lib/api/marketplace). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/marketplace"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.MainEvents(marketplace.BuildEvents) }
