// Command notices is the hourly notices Lambda function: every due deployment's notices synced
// with its health, each change published to EventBridge (lib/api/notices). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/notices"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.MainEvents(notices.Build) }
