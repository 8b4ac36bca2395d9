package messaging_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Only the functions that send messages link the EventBridge and SQS clients: every other
// function's bootstrap is a few hundred KB smaller (#18's cold start: each at most 15 MB).
func TestOnlyMessagingFunctionsLinkIt(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if eq .Name "main"}}{{.ImportPath}}: {{join .Deps " "}}{{end}}`, "../../../functions/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	want := []string{"console-events", "notices", "portal-updates", "updater"}
	var linking []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fn, deps, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		name := fn[strings.LastIndex(fn, "/")+1:]
		if strings.Contains(deps, "aws-sdk-go-v2/service/eventbridge ") || strings.Contains(deps, "aws-sdk-go-v2/service/sqs ") {
			linking = append(linking, name)
		}
	}
	slices.Sort(linking)
	if !slices.Equal(linking, want) {
		t.Fatalf("functions linking EventBridge or SQS: %v, want %v", linking, want)
	}
}
