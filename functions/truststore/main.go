// Command truststore is the truststore Lambda function: it keeps the mutual-TLS custom
// domain's truststore current (lib/api/truststore). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/truststore"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.MainEvents(truststore.Build) }
