// Command fallback is the fallback Lambda function. It only wires: configuration, clients and the
// handler from lib/apigw, then lambda.Start.
package main

import (
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/apigw"
)

func main() { function.Main(apigw.BuildFallback) }
