package signum_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOneArchitecturePerFunction: after the SAM transform (what CloudFormation deploys), every
// Lambda function has exactly one architecture, the one the Makefile builds it for: x86_64 for
// the functions that load PKCS#11 (cgo), arm64 for the others. SAM appends a Globals list to a
// function's own, so a global Architectures plus a function's gave two, which Lambda refuses.
func TestOneArchitecturePerFunction(t *testing.T) {
	if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
		if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
			t.Fatalf("python3 with aws-sam-translator is needed (make lint-template installs it): %v", err)
		}
		t.Skip("no python3 with aws-sam-translator")
	}
	cmd := exec.Command("python3", "scripts/sam-transform.py", "template.yaml")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("SAM transform: %v", err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct{ Architectures []string }
		}
	}
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CGO_FUNCTIONS := (.*)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no CGO_FUNCTIONS in the Makefile")
	}
	cgo := strings.Fields(string(m[1]))
	n := 0
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		n++
		want := "arm64"
		if slices.Contains(cgo, functionDir(id)) {
			want = "x86_64"
		}
		if got := r.Properties.Architectures; len(got) != 1 || got[0] != want {
			t.Errorf("%s deploys with architectures %v, want [%s]", id, got, want)
		}
	}
	if n < 10 {
		t.Fatalf("the transformed template has %d functions", n)
	}
}

// functionDir is the functions/ directory of a function's logical id, as the Makefile's
// build-%Function target maps it: ConsoleCertificatesFunction → console-certificates.
func functionDir(id string) string {
	name := strings.TrimSuffix(id, "Function")
	return strings.ToLower(regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(name, "$1-$2"))
}
