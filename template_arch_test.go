package signum_test

import (
	"encoding/json"
	"maps"
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
		ns, _ := json.Marshal(r.Properties["Namespace"])
		watched[strings.Trim(string(ns), `"`)+"/"+r.Properties["MetricName"].(string)] = true
		if actions, _ := json.Marshal(r.Properties["AlarmActions"]); !strings.Contains(string(actions), "HasAlarmTopic") || !strings.Contains(string(actions), "AlarmTopicArn") {
			t.Errorf("alarm %s does not notify the alarm topic: %s", id, actions)
		}
	}
	// The signer's key errors are counted in the stack's own namespace ({"Fn::Sub": ...}).
	for _, m := range []string{"AWS/ApiGateway/5xx", "AWS/Lambda/Errors", "AWS/Lambda/Throttles", "AWS/SQS/ApproximateNumberOfMessagesVisible",
		`{"Fn::Sub":"signum/${AWS::StackName}"}/KeyErrors`} {
		if !watched[m] {
			t.Errorf("no alarm on %s", m)
		}
	}
}

// TestHsmFunctionsReachTheirServices: with an HSM, exactly the functions that load PKCS#11
// (PKCS11_LIBRARY in their environment) run in its VPC with the CloudHSM client's layer, and
// only then (VpcConfig and Layers under the HasHsm condition); inside the VPC, endpoints
// reach every service they call (DynamoDB and S3 through gateways, KMS and Secrets Manager
// and API Gateway's control plane through interfaces admitting the functions' security
// group), under the same condition.
func TestHsmFunctionsReachTheirServices(t *testing.T) {
	var tpl struct {
		Conditions map[string]any
		Resources  map[string]struct {
			Type       string
			Condition  string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(transformed(t), &tpl); err != nil {
		t.Fatal(err)
	}
	condition := func(v any) string {
		m, _ := v.(map[string]any)
		args, _ := m["Fn::If"].([]any)
		if len(args) != 3 {
			return ""
		}
		s, _ := args[0].(string)
		return s
	}
	hsm := 0
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		env, _ := json.Marshal(r.Properties["Environment"])
		loads := strings.Contains(string(env), "PKCS11_LIBRARY")
		vpc, layers := r.Properties["VpcConfig"], r.Properties["Layers"]
		switch {
		case loads && (condition(vpc) != "HasHsm" || condition(layers) != "HasHsm"):
			t.Errorf("%s loads PKCS#11 but its VpcConfig %v and Layers %v are not under HasHsm", id, vpc, layers)
		case loads:
			hsm++
			cfg, _ := json.Marshal(vpc)
			for _, want := range []string{"VpcSubnetIds", "VpcSecurityGroupIds", "HsmFunctionSecurityGroup"} {
				if !strings.Contains(string(cfg), want) {
					t.Errorf("%s's VpcConfig does not use %s: %s", id, want, cfg)
				}
			}
		case vpc != nil || layers != nil:
			t.Errorf("%s loads no PKCS#11 but runs in a VPC or with layers", id)
		}
	}
	if hsm != 3 {
		t.Errorf("%d functions load PKCS#11, want the certificates function, the signer and insights (HSM keys' health)", hsm)
	}
	endpoints := map[string]string{}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::EC2::VPCEndpoint" {
			continue
		}
		name, _ := json.Marshal(r.Properties["ServiceName"])
		service := string(name)[strings.LastIndex(string(name), ".")+1 : len(name)-2]
		endpoints[service], _ = r.Properties["VpcEndpointType"].(string)
		if want := "Has" + endpoints[service] + "Endpoints"; r.Condition != want {
			t.Errorf("endpoint %s has the condition %q, want %s (an HSM, and the parameter that creates them)", id, r.Condition, want)
		}
		if cond, _ := json.Marshal(tpl.Conditions[r.Condition]); !strings.Contains(string(cond), `"HasHsm"`) {
			t.Errorf("endpoint %s's condition %s does not require an HSM: %s", id, r.Condition, cond)
		}
		if endpoints[service] == "Interface" {
			sg, _ := json.Marshal(r.Properties["SecurityGroupIds"])
			if !strings.Contains(string(sg), "EndpointSecurityGroup") || r.Properties["PrivateDnsEnabled"] != true {
				t.Errorf("interface endpoint %s: security groups %s, private DNS %v", id, sg, r.Properties["PrivateDnsEnabled"])
			}
		}
	}
	want := map[string]string{"dynamodb": "Gateway", "s3": "Gateway", "kms": "Interface", "secretsmanager": "Interface", "apigateway": "Interface"}
	if !maps.Equal(endpoints, want) {
		t.Errorf("VPC endpoints %v, want %v", endpoints, want)
	}
	ingress, _ := json.Marshal(tpl.Resources["EndpointSecurityGroup"].Properties["SecurityGroupIngress"])
	if !strings.Contains(string(ingress), `"HsmFunctionSecurityGroup"`) || !strings.Contains(string(ingress), `"FromPort":443`) {
		t.Errorf("the endpoints do not admit the HSM functions on 443: %s", ingress)
	}
}
