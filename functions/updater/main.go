// Command updater is the Lambda function that runs software updates' data migrations: its
// queue's messages and a scheduled tick (lib/api/updates). It only wires.
package main

import (
	"github.com/opensignum/signum/lib/api/updates"
	"github.com/opensignum/signum/lib/function"
)

func main() { function.MainEvents(updates.BuildUpdater) }
