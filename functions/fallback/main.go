// Command fallback is the fallback Lambda function. It only wires: configuration, clients and the
// handler from lib/apigw, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.Main(apigw.BuildFallback) }
