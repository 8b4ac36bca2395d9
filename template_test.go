package signum_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/awslabs/goformation/v7/cloudformation/s3"
	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
)

func parse(t *testing.T) *apigw.Template {
	t.Helper()
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestFunctionsMatchTemplate: every functions/ directory has a resource, every resource a
// directory with a main.go, a Makefile build target, an entry in the local server, and
// explicit IAM policies.
func TestFunctionsMatchTemplate(t *testing.T) {
	tpl := parse(t)
	dirs, _ := filepath.Glob("functions/*")
	byDir := map[string]string{}
	for id, fn := range tpl.Functions {
		byDir[fn.Dir] = id
	}
	for _, d := range dirs {
		if _, ok := byDir[filepath.ToSlash(d)]; !ok {
			t.Errorf("%s has no function resource in template.yaml", d)
		}
	}
	for id, fn := range tpl.Functions {
		if _, err := os.Stat(filepath.Join(fn.Dir, "main.go")); err != nil {
			t.Errorf("%s: no %s/main.go", id, fn.Dir)
		}
		// sam build runs `make build-<LogicalId>`: it must build this function's directory.
		out, err := exec.Command("make", "-n", "build-"+id, "ARTIFACTS_DIR=/tmp/artifacts").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "./"+fn.Dir) {
			t.Errorf("%s: make build-%s does not build %s: %v\n%s", id, id, fn.Dir, err, out)
		}
		if fn.BuildMethod != "makefile" {
			t.Errorf("%s: Metadata BuildMethod is %q, want makefile", id, fn.BuildMethod)
		}
		if !fn.HasPolicies {
			t.Errorf("%s: no explicit Policies (least privilege is declared per function)", id)
		}
		_, isHTTP := local.Builds[id]
		_, isEvent := local.EventBuilds[id]
		switch {
		case isHTTP == isEvent:
			t.Errorf("%s: in local.Builds %v, in local.EventBuilds %v: make run needs it in exactly one", id, isHTTP, isEvent)
		case isEvent && len(tpl.RoutesOf(id)) > 0:
			t.Errorf("%s: an event-driven function with routes", id)
		}
		sf, err := tpl.Serverless(id)
		if err != nil {
			t.Fatal(err)
		}
		if sf.Runtime != nil && *sf.Runtime != "provided.al2023" {
			t.Errorf("%s: runtime %s", id, *sf.Runtime)
		}
	}
	for id := range local.Builds {
		if _, ok := tpl.Functions[id]; !ok {
			t.Errorf("local.Builds has %s, which template.yaml lacks", id)
		}
	}
	for id := range local.EventBuilds {
		if _, ok := tpl.Functions[id]; !ok {
			t.Errorf("local.EventBuilds has %s, which template.yaml lacks", id)
		}
	}
}

// TestNoWildcardAllow: no function's policy allows every action or every resource.
func TestNoWildcardAllow(t *testing.T) {
	tpl := parse(t)
	for id := range tpl.Functions {
		sf, _ := tpl.Serverless(id)
		if sf.Policies == nil || sf.Policies.IAMPolicyDocumentArray == nil {
			t.Errorf("%s: policies are not inline statements", id)
			continue
		}
		for _, doc := range *sf.Policies.IAMPolicyDocumentArray {
			for _, st := range doc.Statement {
				s, ok := st.(map[string]interface{})
				if !ok {
					continue
				}
				if _, isIf := s["Fn::If"]; isIf {
					continue // conditional statements (e.g. the HSM PIN secret) name one resource
				}
				if s["Effect"] == "Deny" {
					// A Deny of every action also takes the function's logging away.
					for _, v := range asList(s["Action"]) {
						if v == "*" {
							t.Errorf("%s: Deny of Action \"*\" blocks CloudWatch Logs; use NotAction", id)
						}
					}
					continue
				}
				for _, v := range asList(s["Action"]) {
					if v == "*" || strings.HasSuffix(v, ":*") {
						t.Errorf("%s: Allow statement with Action %q", id, v)
					}
				}
				// Resource "*" only where the action names no resource yet (kms:CreateKey),
				// and then limited by a condition.
				for _, v := range asList(s["Resource"]) {
					if v == "*" && s["Condition"] == nil {
						t.Errorf("%s: Allow statement on every resource without a condition", id)
					}
				}
			}
		}
	}
}

func asList(v interface{}) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []interface{}:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestIAMRoutesNeedTheIAMAuthorizer: SAM refuses `Authorizer: AWS_IAM` on a route unless the
// HttpApi enables the IAM authorizer (goformation does not run the transform, so check here).
func TestIAMRoutesNeedTheIAMAuthorizer(t *testing.T) {
	tpl := parse(t)
	for _, r := range tpl.Routes {
		if r.IAM && !tpl.IAMAuthorizer {
			t.Errorf("%s uses AWS_IAM but the HttpApi does not set Auth.EnableIamAuthorizer", r.Key())
		}
	}
}

// TestTableMatchesStore: the template's table has the keys and indexes lib/store creates
// locally, TTL on the store's TTL attribute, and point-in-time recovery.
func TestTableMatchesStore(t *testing.T) {
	tpl := parse(t)
	tables := tpl.CF.GetAllDynamoDBTableResources()
	if len(tables) != 1 {
		t.Fatalf("%d tables, want exactly one (single-table design)", len(tables))
	}
	var tbl = tables["Table"]
	if tbl == nil {
		t.Fatal("no resource named Table")
	}
	want := store.TableSchema("x")
	attrs := map[string]string{}
	for _, a := range tbl.AttributeDefinitions {
		attrs[a.AttributeName] = a.AttributeType
	}
	wantAttrs := map[string]string{}
	for _, a := range want.AttributeDefinitions {
		wantAttrs[*a.AttributeName] = string(a.AttributeType)
	}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("attributes %v, store wants %v", attrs, wantAttrs)
	}
	keys := func(ks []types.KeySchemaElement) string {
		var s []string
		for _, k := range ks {
			s = append(s, *k.AttributeName+"/"+string(k.KeyType))
		}
		return strings.Join(s, ",")
	}
	var got []string
	for _, k := range tbl.KeySchema {
		got = append(got, k.AttributeName+"/"+k.KeyType)
	}
	if strings.Join(got, ",") != keys(want.KeySchema) {
		t.Errorf("key schema %v, store wants %s", got, keys(want.KeySchema))
	}
	if len(tbl.GlobalSecondaryIndexes) != len(want.GlobalSecondaryIndexes) {
		t.Fatalf("%d GSIs, store wants %d", len(tbl.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes))
	}
	for i, g := range tbl.GlobalSecondaryIndexes {
		w := want.GlobalSecondaryIndexes[i]
		var gk []string
		for _, k := range g.KeySchema {
			gk = append(gk, k.AttributeName+"/"+k.KeyType)
		}
		if g.IndexName != *w.IndexName || strings.Join(gk, ",") != keys(w.KeySchema) || g.Projection.ProjectionType == nil || *g.Projection.ProjectionType != string(w.Projection.ProjectionType) {
			t.Errorf("GSI %s differs from the store's %s", g.IndexName, *w.IndexName)
		}
	}
	if tbl.BillingMode == nil || *tbl.BillingMode != "PAY_PER_REQUEST" {
		t.Error("table is not on-demand")
	}
	if tbl.TimeToLiveSpecification == nil || tbl.TimeToLiveSpecification.AttributeName == nil || *tbl.TimeToLiveSpecification.AttributeName != store.TTLAttribute || !tbl.TimeToLiveSpecification.Enabled {
		t.Errorf("TTL is not enabled on %s", store.TTLAttribute)
	}
	if tbl.PointInTimeRecoverySpecification == nil || tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == nil || !*tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled {
		t.Error("point-in-time recovery is off")
	}
	// The data outlives the stack and a stray DeleteTable: retained, deletion-protected,
	// encrypted.
	if tbl.DeletionProtectionEnabled == nil || !*tbl.DeletionProtectionEnabled {
		t.Error("deletion protection is off")
	}
	if tbl.SSESpecification == nil || !tbl.SSESpecification.SSEEnabled {
		t.Error("server-side encryption is not set")
	}
	if p := tbl.AWSCloudFormationDeletionPolicy; p != "Retain" {
		t.Errorf("deletion policy %q, want Retain", p)
	}
}

// TestRoutersMatchTemplate builds every function and compares the routes its router serves
// with the template's: a route in one and not the other fails.
func TestRoutersMatchTemplate(t *testing.T) {
	tpl := parse(t)
	tg := devstack.NewEmbedded(t)
	cfg := tg.Stack.Env(tg.Table)
	cfg.OperatorAccountID = devstack.AccountID
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: function.NewLogger(os.Stderr, "error"), Now: time.Now}
	for id := range tpl.Functions {
		if _, isEvent := local.EventBuilds[id]; isEvent {
			continue // no routes (TestFunctionsMatchTemplate)
		}
		h, err := local.Builds[id](context.Background(), env)
		if err != nil {
			t.Fatalf("build %s: %v", id, err)
		}
		pr, ok := h.(interface{ Patterns() []string })
		if !ok {
			t.Fatalf("%s: handler %T does not list its patterns", id, h)
		}
		got := pr.Patterns()
		want := tpl.RoutesOf(id)
		if id == "FallbackFunction" {
			// The fallback registers every other route to tell 404 from 405.
			var all []string
			for _, r := range tpl.Routes {
				if r.Path != apigw.DefaultRoute {
					all = append(all, r.Pattern())
				}
			}
			sort.Strings(all)
			want = all
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s serves %v, template routes %v", id, got, want)
		}
		var _ http.Handler = h
	}
}

// TestRoutesAreDocumented: docs/openapi.yaml is a valid OpenAPI document and has exactly the
// template's routes as operations.
func TestRoutesAreDocumented(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not valid: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, r := range parse(t).Routes {
		if r.Path == apigw.DefaultRoute {
			continue
		}
		if !documented[r.Key()] {
			t.Errorf("%s is not documented in docs/openapi.yaml", r.Key())
		}
		delete(documented, r.Key())
	}
	for k := range documented {
		t.Errorf("docs/openapi.yaml documents %s, which template.yaml does not route", k)
	}
}

// The tests below read template.yaml as written (rawTemplate), not through goformation, which
// resolves !GetAtt to nil and !Ref AWS::StackId to a constant: what a key policy names and
// what a condition compares to are the point of them.

// rawTemplate is template.yaml as maps, lists and strings, with each short-form intrinsic
// (!Ref, !GetAtt, !Sub, !If, ...) as its long form ({"Ref": ...}, {"Fn::GetAtt": "A.B"}).
func rawTemplate(t *testing.T) map[string]any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(signum.Template, &doc); err != nil {
		t.Fatal(err)
	}
	m, ok := rawNode(doc.Content[0]).(map[string]any)
	if !ok {
		t.Fatal("template.yaml is not a mapping")
	}
	return m
}

func rawNode(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = rawNode(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, rawNode(c))
		}
		v = l
	case yaml.AliasNode:
		return rawNode(n.Alias)
	default:
		v = n.Value
	}
	switch fn := strings.TrimPrefix(n.Tag, "!"); {
	case !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!"):
		return v
	case fn == "Ref" || fn == "Condition":
		return map[string]any{fn: v}
	default:
		return map[string]any{"Fn::" + fn: v}
	}
}

// get walks m along keys (mapping keys, or list indexes as "0", "1", ...).
func get(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// items is v as a list: a list, one element, or none.
func items(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// statements are the policy statements of a function (its Policies) or of a key (its
// KeyPolicy) or bucket policy, leaving out the conditional ones (Fn::If).
func statements(t *testing.T, tpl map[string]any, id string) []map[string]any {
	t.Helper()
	res := get(tpl, "Resources", id)
	if res == nil {
		t.Fatalf("template.yaml has no resource %s", id)
	}
	var docs []any
	switch get(res, "Type") {
	case "AWS::Serverless::Function":
		docs = items(get(res, "Properties", "Policies"))
	case "AWS::KMS::Key":
		docs = []any{get(res, "Properties", "KeyPolicy")}
	case "AWS::S3::BucketPolicy":
		docs = []any{get(res, "Properties", "PolicyDocument")}
	}
	var out []map[string]any
	for _, d := range docs {
		for _, s := range items(get(d, "Statement")) {
			if m, ok := s.(map[string]any); ok && m["Fn::If"] == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// actions lists a statement's Action.
func actions(s map[string]any) []string {
	var out []string
	for _, a := range items(s["Action"]) {
		if str, ok := a.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// allows reports whether the statement's actions (with IAM's wildcards) cover action.
func allows(s map[string]any, action string) bool {
	for _, a := range actions(s) {
		if ok, _ := path.Match(strings.ToLower(a), strings.ToLower(action)); ok || a == "*" {
			return true
		}
	}
	return false
}

// roleFunctions maps principals written as !GetAtt <Function>Role.Arn to the functions'
// logical ids; anything else is kept as written (fmt.Sprint), so that it shows in a failure.
func roleFunctions(v any) []string {
	var out []string
	for _, p := range items(v) {
		if ga, ok := get(p, "Fn::GetAtt").(string); ok {
			if fn, ok := strings.CutSuffix(ga, "Role.Arn"); ok {
				out = append(out, fn)
				continue
			}
		}
		out = append(out, fmt.Sprint(p))
	}
	sort.Strings(out)
	return out
}

func isStackID(v any) bool { return get(v, "Ref") == "AWS::StackId" }

var stackKeyARNs = `arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*`

// stackKeyOf is the key (TokenKey, ...) whose alias a statement's kms:ResourceAliases
// condition names, or "".
func stackKeyOf(t *testing.T, tpl map[string]any, s map[string]any) string {
	t.Helper()
	alias := get(s, "Condition", "ForAnyValue:StringEquals", "kms:ResourceAliases", "Fn::Sub")
	if alias == nil {
		return ""
	}
	for _, r := range get(tpl, "Resources").(map[string]any) {
		if get(r, "Type") == "AWS::KMS::Alias" && get(r, "Properties", "AliasName", "Fn::Sub") == alias {
			key, _ := get(r, "Properties", "TargetKeyId", "Ref").(string)
			return key
		}
	}
	t.Errorf("statement %v names alias %v, which no alias of the stack has", s, alias)
	return ""
}

// TestFunctionsReachOnlyThisStacksKeys: every KMS permission of every function is bound to
// this stack: to one of its own keys (by alias), to keys tagged with this stack's id, or, for
// creating and tagging, to requests that tag the key with it. Before, the certificates
// function could tag any key signum:certificate, and it and the signer use any key so tagged:
// the token key, or another stack's keys.
func TestFunctionsReachOnlyThisStacksKeys(t *testing.T) {
	tpl := rawTemplate(t)
	stackTag := function.StackTag
	allowedTags := map[string]bool{stackTag: true, "signum:deployment": true, "signum:certificate": true, awskms.LabelTag: true}
	for id := range parse(t).Functions {
		for _, s := range statements(t, tpl, id) {
			var kmsActions []string
			for _, a := range actions(s) {
				if strings.HasPrefix(a, "kms:") {
					kmsActions = append(kmsActions, a)
				}
			}
			if len(kmsActions) == 0 || s["Effect"] != "Allow" {
				continue
			}
			if stackKeyOf(t, tpl, s) != "" {
				continue
			}
			if isStackID(get(s, "Condition", "StringEquals", "aws:ResourceTag/"+stackTag)) {
				if get(s, "Condition", "Null", "aws:ResourceTag/signum:deployment") != "false" || get(s, "Condition", "Null", "aws:ResourceTag/signum:certificate") != "false" {
					t.Errorf("%s: %v on keys of this stack that name no deployment or certificate", id, kmsActions)
				}
				continue
			}
			creates := true
			for _, a := range kmsActions {
				creates = creates && (a == "kms:CreateKey" || a == "kms:TagResource")
			}
			if !creates || !isStackID(get(s, "Condition", "StringEquals", "aws:RequestTag/"+stackTag)) {
				t.Errorf("%s: %v is not bound to this stack's keys (condition %v)", id, kmsActions, s["Condition"])
				continue
			}
			if get(s, "Condition", "Null", "aws:RequestTag/signum:deployment") != "false" || get(s, "Condition", "Null", "aws:RequestTag/signum:certificate") != "false" {
				t.Errorf("%s: %v without the deployment and certificate tags", id, kmsActions)
			}
			tagKeys := items(get(s, "Condition", "ForAllValues:StringEquals", "aws:TagKeys"))
			if len(tagKeys) == 0 {
				t.Errorf("%s: %v with any tag keys", id, kmsActions)
			}
			for _, k := range tagKeys {
				if !allowedTags[fmt.Sprint(k)] {
					t.Errorf("%s: %v may set tag %v", id, kmsActions, k)
				}
			}
		}
	}
	// The permission to tag at creation cannot claim an existing key: another stack's, one
	// with an alias (this stack's own keys), and no tag can be removed.
	var otherStack, aliased, untag bool
	for _, s := range statements(t, tpl, "ConsoleCertificatesFunction") {
		if s["Effect"] != "Deny" {
			continue
		}
		c := s["Condition"]
		switch {
		case allows(s, "kms:UntagResource") && c == nil:
			untag = true
		case allows(s, "kms:TagResource") && isStackID(get(c, "StringNotEquals", "aws:ResourceTag/"+stackTag)) && get(c, "Null", "aws:ResourceTag/"+stackTag) == "false":
			otherStack = true
		case allows(s, "kms:TagResource") && get(c, "Null", "kms:ResourceAliases") == "false":
			aliased = true
		}
	}
	if !otherStack || !aliased || !untag {
		t.Errorf("ConsoleCertificatesFunction: denies tagging another stack's key %v, a key with an alias %v, untagging %v", otherStack, aliased, untag)
	}
	if !isStackID(get(tpl, "Resources", "ConsoleCertificatesFunction", "Properties", "Environment", "Variables", "SIGNUM_STACK")) {
		t.Error("ConsoleCertificatesFunction: SIGNUM_STACK is not the stack id its policy requires of the keys it tags")
	}
}

// useActions are the cryptographic operations of the stack's keys, by key usage: what the
// key policies must keep to the stack's functions.
var useActions = map[string][]string{
	"SIGN_VERIFY":         {"kms:Sign"},
	"GENERATE_VERIFY_MAC": {"kms:GenerateMac", "kms:VerifyMac"},
}

// cryptoActions are KMS's cryptographic operations: none of them may be granted by IAM on the
// stack's keys.
var cryptoActions = []string{"kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:VerifyMac", "kms:Encrypt", "kms:Decrypt",
	"kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:DeriveSharedSecret"}

// TestKeyPoliciesKeepKeysToTheirFunctions: each of the stack's keys has a key policy that
// (1) lets the account administer it but not use it, (2) grants each function exactly what
// that function's own policy asks of the key, (3) denies its cryptographic operation to every
// principal but those functions' roles, and (4) denies tagging, untagging and grants to all
// but the account root (and the KeyAdministratorArn), since tags and grants decide who may use
// a key. Before, the token and service keys allowed the account kms:*: any IAM policy of the
// account could sign tokens with the token key.
func TestKeyPoliciesKeepKeysToTheirFunctions(t *testing.T) {
	tpl := rawTemplate(t)
	// What the functions' policies grant on each key (by its alias).
	granted := map[string]map[string][]string{} // key → action → functions
	for id := range parse(t).Functions {
		for _, s := range statements(t, tpl, id) {
			key := stackKeyOf(t, tpl, s)
			if key == "" || s["Effect"] != "Allow" {
				continue
			}
			if get(s, "Resource", "Fn::Sub") != stackKeyARNs {
				t.Errorf("%s: grant on %s has resource %v", id, key, s["Resource"])
			}
			for _, a := range actions(s) {
				if granted[key] == nil {
					granted[key] = map[string][]string{}
				}
				granted[key][a] = append(granted[key][a], id)
			}
		}
	}
	keys := []string{"TokenKey", "ServiceKey", "CheckpointKey"}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			usage, _ := get(tpl, "Resources", key, "Properties", "KeyUsage").(string)
			uses := useActions[usage]
			if len(uses) == 0 {
				t.Fatalf("key usage %q", usage)
			}
			inPolicy := map[string][]string{}
			denied := map[string][]string{} // use action → the functions exempted
			var adminOnly []string
			for _, s := range statements(t, tpl, key) {
				principal := get(s, "Principal", "AWS")
				switch {
				case s["Effect"] == "Allow" && get(principal, "Fn::Sub") == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root":
					for _, u := range cryptoActions {
						if allows(s, u) {
							t.Errorf("the account may be granted %s by IAM: %v", u, actions(s))
						}
					}
				case s["Effect"] == "Allow":
					for _, fn := range roleFunctions(principal) {
						for _, a := range actions(s) {
							inPolicy[a] = append(inPolicy[a], fn)
						}
					}
				case s["Effect"] == "Deny" && s["Principal"] == "*":
					exempt := get(s, "Condition", "ArnNotEquals", "aws:PrincipalArn")
					if exempt == nil || len(get(s, "Condition").(map[string]any)) != 1 {
						t.Errorf("deny %v has condition %v", actions(s), s["Condition"])
						continue
					}
					if get(exempt, "Fn::If", "0") == "HasKeyAdministrator" || get(exempt, "Fn::Sub") != nil {
						adminOnly = append(adminOnly, actions(s)...)
						continue
					}
					for _, a := range actions(s) {
						denied[a] = roleFunctions(exempt)
					}
				}
			}
			for a, fns := range inPolicy {
				sort.Strings(fns)
				g := granted[key][a]
				sort.Strings(g)
				if fmt.Sprint(fns) != fmt.Sprint(g) {
					t.Errorf("%s: the key policy allows %v, the functions' policies grant %v", a, fns, g)
				}
			}
			for a, g := range granted[key] {
				if inPolicy[a] == nil {
					t.Errorf("%s: %v have it in their policies, but the key policy does not allow it", a, g)
				}
			}
			for _, u := range uses {
				if inPolicy[u] == nil {
					continue
				}
				if fmt.Sprint(denied[u]) != fmt.Sprint(inPolicy[u]) {
					t.Errorf("%s is denied to all but %v, want all but %v", u, denied[u], inPolicy[u])
				}
			}
			sort.Strings(adminOnly)
			if fmt.Sprint(adminOnly) != "[kms:CreateGrant kms:TagResource kms:UntagResource]" {
				t.Errorf("only administrators may %v, want tag, untag and grant", adminOnly)
			}
		})
	}
	// Who may sign with each signing key, exactly.
	for key, want := range map[string]string{
		"TokenKey":      "[ConsoleAuthFunction PortalAuthFunction PortalDeploymentsFunction]",
		"CheckpointKey": "[SignerFunction]",
	} {
		got := granted[key]["kms:Sign"]
		sort.Strings(got)
		if fmt.Sprint(got) != want {
			t.Errorf("%s: kms:Sign is granted to %v, want %s", key, got, want)
		}
	}
}

// TestCheckpointKey: the event log's checkpoints are signed by an asymmetric KMS key only the
// signer may sign with and the events function verifies; both are told which key.
func TestCheckpointKey(t *testing.T) {
	tpl := rawTemplate(t)
	k, err := parse(t).CF.GetKMSKeyWithName("CheckpointKey")
	if err != nil {
		t.Fatal(err)
	}
	if k.KeySpec == nil || *k.KeySpec != "ECC_NIST_P256" || k.KeyUsage == nil || *k.KeyUsage != "SIGN_VERIFY" {
		t.Errorf("CheckpointKey is %v %v, want ECC_NIST_P256 SIGN_VERIFY", k.KeySpec, k.KeyUsage)
	}
	for fn, want := range map[string]string{
		"SignerFunction":        "[kms:GetPublicKey kms:Sign]",
		"ConsoleEventsFunction": "[kms:GetPublicKey kms:Verify]",
	} {
		var got []string
		for _, s := range statements(t, tpl, fn) {
			if stackKeyOf(t, tpl, s) == "CheckpointKey" {
				got = append(got, actions(s)...)
			}
		}
		sort.Strings(got)
		if fmt.Sprint(got) != want {
			t.Errorf("%s may %v with the checkpoint key, want %s", fn, got, want)
		}
		if v := get(tpl, "Resources", fn, "Properties", "Environment", "Variables", "SIGNUM_CHECKPOINT_KEY", "Fn::GetAtt"); v != "CheckpointKey.Arn" {
			t.Errorf("%s: SIGNUM_CHECKPOINT_KEY is %v, want the checkpoint key's ARN", fn, v)
		}
	}
}

// TestAnchorBucket: checkpoints are anchored in a bucket that keeps every version immutable
// (Object Lock, default retention), is private, encrypted and TLS-only; the signer alone
// writes it, and the events function reads it.
func TestAnchorBucket(t *testing.T) {
	tpl := rawTemplate(t)
	b, err := parse(t).CF.GetS3BucketWithName("AnchorBucket")
	if err != nil {
		t.Fatal(err)
	}
	if b.ObjectLockEnabled == nil || !*b.ObjectLockEnabled || b.ObjectLockConfiguration == nil ||
		b.ObjectLockConfiguration.ObjectLockEnabled == nil || *b.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Error("AnchorBucket: Object Lock is not enabled")
	} else if r := b.ObjectLockConfiguration.Rule; r == nil || r.DefaultRetention == nil || r.DefaultRetention.Mode == nil ||
		(*r.DefaultRetention.Mode != "COMPLIANCE" && *r.DefaultRetention.Mode != "GOVERNANCE") ||
		r.DefaultRetention.Days == nil || *r.DefaultRetention.Days < 365 {
		t.Errorf("AnchorBucket: default retention %+v, want a mode and at least a year", r)
	}
	checkBucket(t, tpl, b, "AnchorBucket", "SignerFunction", "SIGNUM_ANCHOR_BUCKET", map[string]string{
		"SignerFunction":        "[s3:PutObject]",
		"ConsoleEventsFunction": "[s3:GetObject s3:ListBucket]",
	})
}

// TestTruststoreBucket: the mutual-TLS truststore is in a bucket that is versioned (API
// Gateway names the version), private, encrypted and TLS-only; the truststore function alone
// writes it, and the operator's status reads it.
func TestTruststoreBucket(t *testing.T) {
	tpl := rawTemplate(t)
	b, err := parse(t).CF.GetS3BucketWithName("TruststoreBucket")
	if err != nil {
		t.Fatal(err)
	}
	checkBucket(t, tpl, b, "TruststoreBucket", "TruststoreFunction", "SIGNUM_TRUSTSTORE_BUCKET", map[string]string{
		"TruststoreFunction": "[s3:GetObject s3:GetObjectVersion s3:ListBucket s3:PutObject s3:PutObject]",
		"OperatorFunction":   "[s3:GetObject s3:ListBucket]",
	})
}

// checkBucket checks that bucket b (logical id name) is versioned, private, encrypted and
// retained; that its policy denies plain HTTP and writes by all but writer; and that the
// functions of rights may do exactly those actions on it and find it in env.
func checkBucket(t *testing.T, tpl map[string]any, b *s3.Bucket, name, writer, env string, rights map[string]string) {
	t.Helper()
	if b.VersioningConfiguration == nil || b.VersioningConfiguration.Status != "Enabled" {
		t.Errorf("%s: versioning is off", name)
	}
	if p := b.PublicAccessBlockConfiguration; p == nil || p.BlockPublicAcls == nil || !*p.BlockPublicAcls || p.BlockPublicPolicy == nil || !*p.BlockPublicPolicy ||
		p.IgnorePublicAcls == nil || !*p.IgnorePublicAcls || p.RestrictPublicBuckets == nil || !*p.RestrictPublicBuckets {
		t.Errorf("%s: public access is not blocked", name)
	}
	if e := b.BucketEncryption; e == nil || len(e.ServerSideEncryptionConfiguration) == 0 ||
		e.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault == nil || e.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm == "" {
		t.Errorf("%s: no default encryption", name)
	}
	if b.AWSCloudFormationDeletionPolicy != "Retain" {
		t.Errorf("%s: DeletionPolicy %q, want Retain", name, b.AWSCloudFormationDeletionPolicy)
	}

	var policy string
	for id, r := range get(tpl, "Resources").(map[string]any) {
		if get(r, "Type") == "AWS::S3::BucketPolicy" && get(r, "Properties", "Bucket", "Ref") == name {
			policy = id
		}
	}
	if policy == "" {
		t.Fatalf("%s has no bucket policy", name)
	}
	var tlsOnly, writerOnly bool
	for _, s := range statements(t, tpl, policy) {
		if s["Effect"] != "Deny" || s["Principal"] != "*" {
			continue
		}
		if allows(s, "s3:GetObject") && allows(s, "s3:PutObject") && get(s, "Condition", "Bool", "aws:SecureTransport") == "false" {
			tlsOnly = true
		}
		if allows(s, "s3:PutObject") && fmt.Sprint(roleFunctions(get(s, "Condition", "ArnNotEquals", "aws:PrincipalArn"))) == "["+writer+"]" {
			writerOnly = true
		}
	}
	if !tlsOnly || !writerOnly {
		t.Errorf("%s policy: denies plain HTTP %v, denies writes by all but %s %v", name, tlsOnly, writer, writerOnly)
	}

	for fn, want := range rights {
		var got []string
		for _, s := range statements(t, tpl, fn) {
			r := fmt.Sprint(s["Resource"])
			if s["Effect"] == "Allow" && strings.Contains(r, name) {
				got = append(got, actions(s)...)
			}
		}
		sort.Strings(got)
		if fmt.Sprint(got) != want {
			t.Errorf("%s may %v on %s, want %s", fn, got, name, want)
		}
		if get(tpl, "Resources", fn, "Properties", "Environment", "Variables", env, "Ref") != name {
			t.Errorf("%s: %s does not name %s", fn, env, name)
		}
	}
}

// TestWebHosting: in AWS the web app is served as locally (lib/local/web.go): under
// local.WebPrefix on every host the API answers on, through an API route to CloudFront, with
// the same Content-Security-Policy; its bucket is private and readable by that distribution
// alone (origin access control); the app's own routes are index.html, its assets files.
func TestWebHosting(t *testing.T) {
	tpl := rawTemplate(t)
	route := get(tpl, "Resources", "WebRoute", "Properties")
	prefix := strings.TrimSuffix(local.WebPrefix, "/")
	if get(route, "RouteKey") != "GET "+prefix+"/{proxy+}" || get(route, "ApiId", "Ref") != "HttpApi" ||
		!strings.Contains(fmt.Sprint(get(route, "Target")), "WebIntegration") {
		t.Errorf("WebRoute: %v", route)
	}
	integ := get(tpl, "Resources", "WebIntegration", "Properties")
	if get(integ, "IntegrationType") != "HTTP_PROXY" || get(integ, "IntegrationMethod") != "GET" ||
		get(integ, "IntegrationUri", "Fn::Sub") != "https://${WebDistribution.DomainName}"+prefix+"/{proxy}" {
		t.Errorf("WebIntegration: %v", integ)
	}
	headers := get(tpl, "Resources", "WebHeaders", "Properties", "ResponseHeadersPolicyConfig", "SecurityHeadersConfig")
	if got := get(headers, "ContentSecurityPolicy", "ContentSecurityPolicy"); got != local.ContentSecurityPolicy {
		t.Errorf("CloudFront's Content-Security-Policy %q differs from the local server's %q", got, local.ContentSecurityPolicy)
	}
	if get(headers, "FrameOptions", "FrameOption") != "DENY" || get(headers, "ReferrerPolicy", "ReferrerPolicy") != "no-referrer" {
		t.Errorf("CloudFront's security headers: %v", headers)
	}
	// Every other header the local server sends, with the same value.
	want := http.Header{}
	local.WebHeaders(want)
	custom := map[string]string{}
	items, _ := get(tpl, "Resources", "WebHeaders", "Properties", "ResponseHeadersPolicyConfig", "CustomHeadersConfig", "Items").([]any)
	for _, it := range items {
		custom[fmt.Sprint(get(it, "Header"))] = fmt.Sprint(get(it, "Value"))
	}
	for name := range want {
		switch name {
		case "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options":
			continue // SecurityHeadersConfig, above
		}
		if custom[name] != want.Get(name) {
			t.Errorf("CloudFront sends %s: %q, the local server %q", name, custom[name], want.Get(name))
		}
	}
	dist := get(tpl, "Resources", "WebDistribution", "Properties", "DistributionConfig")
	origin := get(dist, "Origins", "0")
	if get(origin, "OriginAccessControlId", "Fn::GetAtt") != "WebOriginAccessControl.Id" || get(origin, "DomainName", "Fn::GetAtt") != "WebBucket.RegionalDomainName" {
		t.Errorf("the distribution's origin is not the bucket through origin access control: %v", origin)
	}
	if get(dist, "DefaultCacheBehavior", "ResponseHeadersPolicyId", "Ref") != "WebHeaders" || get(dist, "DefaultCacheBehavior", "ViewerProtocolPolicy") != "https-only" {
		t.Errorf("the distribution's behavior: %v", get(dist, "DefaultCacheBehavior"))
	}
	code, _ := get(tpl, "Resources", "WebRouting", "Properties", "FunctionCode").(string)
	if !strings.Contains(code, "'"+prefix+"/assets/'") || !strings.Contains(code, "'"+prefix+"/index.html'") {
		t.Errorf("WebRouting does not send the app's routes to index.html: %s", code)
	}
	var readers []string
	for _, s := range statements(t, tpl, "WebBucketPolicy") {
		if s["Effect"] == "Allow" {
			readers = append(readers, fmt.Sprint(get(s, "Principal"), get(s, "Condition", "StringEquals", "AWS:SourceArn")))
		}
	}
	if len(readers) != 1 || !strings.Contains(readers[0], "cloudfront.amazonaws.com") || !strings.Contains(readers[0], "${WebDistribution}") {
		t.Errorf("the web bucket is readable by %v, want the distribution alone", readers)
	}
	if get(tpl, "Resources", "WebBucket", "Properties", "PublicAccessBlockConfiguration", "RestrictPublicBuckets") != "true" {
		t.Error("the web bucket's public access is not blocked")
	}
}
