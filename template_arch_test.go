package signum_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/apigw"
)

// TestOneArchitecturePerFunction: after the SAM transform (what CloudFormation deploys), every
// Lambda function has exactly one architecture, the one the Makefile builds it for: x86_64 for
// the functions that load PKCS#11 (cgo), arm64 for the others. SAM appends a Globals list to a
// function's own, so a global Architectures plus a function's gave two, which Lambda refuses.
func TestOneArchitecturePerFunction(t *testing.T) {
	out := transformed(t)
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
		dir, err := apigw.FunctionDir(id)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(cgo, strings.TrimPrefix(dir, "functions/")) {
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

// transformed is the CloudFormation template SAM makes of template.yaml (JSON), offline
// (scripts/sam-transform.py): what CloudFormation deploys. Without python3 and
// aws-sam-translator the test is skipped, or fails under SIGNUM_REQUIRE_TOOLS (CI).
func transformed(t *testing.T) []byte {
	t.Helper()
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
	return out
}

// TestOperable: what an operator needs is in the deployed template. Every function logs to a
// log group of its own with a retention (the signing path's longer) that outlives the stack;
// the API writes an access log and throttles by default; the signer can have reserved
// concurrency; tracing is a parameter; alarms watch the API's 5xx answers and the signer's
// errors and throttles, and notify the alarm topic when there is one.
func TestOperable(t *testing.T) {
	var tpl struct {
		Resources map[string]struct {
			Type           string
			DeletionPolicy string
			Properties     map[string]any
		}
	}
	if err := json.Unmarshal(transformed(t), &tpl); err != nil {
		t.Fatal(err)
	}
	ref := func(v any) string {
		m, _ := v.(map[string]any)
		s, _ := m["Ref"].(string)
		return s
	}
	get := func(m map[string]any, keys ...string) any {
		var v any = m
		for _, k := range keys {
			mm, _ := v.(map[string]any)
			v = mm[k]
		}
		return v
	}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		group := ref(get(r.Properties, "LoggingConfig", "LogGroup"))
		lg, ok := tpl.Resources[group]
		if !ok || lg.Type != "AWS::Logs::LogGroup" || lg.DeletionPolicy != "Retain" {
			t.Errorf("%s logs to %q, not a retained log group of the stack", id, group)
			continue
		}
		want := "LogRetentionDays"
		if id == "SignerFunction" || id == "ConsoleEventsFunction" {
			want = "AuditLogRetentionDays"
		}
		if got := ref(lg.Properties["RetentionInDays"]); got != want {
			t.Errorf("%s's logs are kept for %q, want the parameter %s", id, got, want)
		}
		if got := ref(get(r.Properties, "TracingConfig", "Mode")); got != "Tracing" {
			t.Errorf("%s's tracing is %v, want the Tracing parameter", id, r.Properties["TracingConfig"])
		}
	}
	if get(tpl.Resources["SignerFunction"].Properties, "ReservedConcurrentExecutions") == nil {
		t.Error("the signer cannot have reserved concurrency")
	}
	stage := tpl.Resources["HttpApiApiGatewayDefaultStage"].Properties
	if dest := get(stage, "AccessLogSettings", "DestinationArn"); dest == nil {
		t.Error("the API writes no access log")
	}
	if format, _ := get(stage, "AccessLogSettings", "Format").(string); !strings.Contains(format, "$context.requestId") {
		t.Errorf("the access log does not carry the request id: %q", format)
	}
	if ref(get(stage, "DefaultRouteSettings", "ThrottlingRateLimit")) != "ApiThrottlingRateLimit" || ref(get(stage, "DefaultRouteSettings", "ThrottlingBurstLimit")) != "ApiThrottlingBurstLimit" {
		t.Errorf("the API has no default throttling: %v", stage["DefaultRouteSettings"])
	}
	watched := map[string]bool{}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		watched[r.Properties["Namespace"].(string)+"/"+r.Properties["MetricName"].(string)] = true
		if actions, _ := json.Marshal(r.Properties["AlarmActions"]); !strings.Contains(string(actions), "HasAlarmTopic") || !strings.Contains(string(actions), "AlarmTopicArn") {
			t.Errorf("alarm %s does not notify the alarm topic: %s", id, actions)
		}
	}
	for _, m := range []string{"AWS/ApiGateway/5xx", "AWS/Lambda/Errors", "AWS/Lambda/Throttles"} {
		if !watched[m] {
			t.Errorf("no alarm on %s", m)
		}
	}
}
