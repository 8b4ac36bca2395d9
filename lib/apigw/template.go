package apigw

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"gopkg.in/yaml.v3"

	"github.com/opensignum/signum/lib/apigw/routes"
)

// DefaultRoute is the route key of API Gateway's catch-all route.
const DefaultRoute = routes.DefaultRoute

// Route is one route of the HTTP API (lib/apigw/routes, which reads them alone).
type Route = routes.Route

// Function is a function resource of the template.
type Function struct {
	LogicalID string
	// Dir is the function's source directory, by convention: HealthFunction lives in
	// functions/health, PortalUsersFunction in functions/portal-users.
	Dir string
	// Timeout in seconds (the template's or the global default).
	Timeout int
	// Env is the function's own environment (not the globals), with intrinsics unresolved.
	Env map[string]string
	// HasPolicies is true when the function declares its IAM policies explicitly.
	HasPolicies bool
	// BuildMethod is the Metadata BuildMethod ("makefile").
	BuildMethod string
}

// Template is what the local server and the tests need of template.yaml.
type Template struct {
	Functions map[string]Function
	Routes    []Route
	CF        *cloudformation.Template
	// IAMAuthorizer is true when an HttpApi sets Auth.EnableIamAuthorizer, without which SAM
	// refuses AWS_IAM routes.
	IAMAuthorizer bool
}

// ParseTemplate reads the SAM template with goformation.
func ParseTemplate(yaml []byte) (*Template, error) {
	clean, iamAuth, err := dropUnknownToGoformation(yaml)
	if err != nil {
		return nil, err
	}
	cf, err := goformation.ParseYAML(clean)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	t := &Template{Functions: map[string]Function{}, CF: cf, IAMAuthorizer: iamAuth}
	fns := cf.GetAllServerlessFunctionResources()
	ids := make([]string, 0, len(fns))
	for id := range fns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fn := fns[id]
		dir, err := FunctionDir(id)
		if err != nil {
			return nil, err
		}
		f := Function{LogicalID: id, Dir: dir, Timeout: 10, Env: map[string]string{}, HasPolicies: fn.Policies != nil}
		if fn.Timeout != nil {
			f.Timeout = *fn.Timeout
		}
		if fn.Environment != nil {
			for k, v := range fn.Environment.Variables {
				f.Env[k] = fmt.Sprint(v)
			}
		}
		if bm, ok := fn.AWSCloudFormationMetadata["BuildMethod"].(string); ok {
			f.BuildMethod = bm
		}
		t.Functions[id] = f
		for name, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			if ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
				return nil, fmt.Errorf("%s event %s: HttpApi event without readable properties", id, name)
			}
			h := ev.Properties.HttpApiEvent
			r := Route{Function: id, Method: "ANY", Path: DefaultRoute}
			if h.Method != nil {
				r.Method = strings.ToUpper(*h.Method)
			}
			if h.Path != nil {
				r.Path = *h.Path
			}
			if h.Auth != nil && h.Auth.Authorizer != nil && *h.Auth.Authorizer == "AWS_IAM" {
				r.IAM = true
			}
			t.Routes = append(t.Routes, r)
		}
	}
	sort.Slice(t.Routes, func(i, j int) bool { return t.Routes[i].Key() < t.Routes[j].Key() })
	return t, nil
}

// FunctionDir maps a function's logical id to its directory: "PortalUsersFunction" →
// "functions/portal-users".
func FunctionDir(logicalID string) (string, error) {
	base, ok := strings.CutSuffix(logicalID, "Function")
	if !ok || base == "" {
		return "", fmt.Errorf("function %s: logical ids end in Function (HealthFunction → functions/health)", logicalID)
	}
	var b strings.Builder
	for i, c := range base {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return "functions/" + b.String(), nil
}

// RoutesOf lists the route patterns of one function, sorted, as its router registers them.
func (t *Template) RoutesOf(logicalID string) []string {
	var out []string
	for _, r := range t.Routes {
		if r.Function == logicalID && r.Path != DefaultRoute {
			out = append(out, r.Pattern())
		}
	}
	sort.Strings(out)
	return out
}

// Serverless exposes the parsed function resource (for checks the tests make).
func (t *Template) Serverless(logicalID string) (*serverless.Function, error) {
	return t.CF.GetServerlessFunctionWithName(logicalID)
}

// dropUnknownToGoformation removes the SAM properties newer than goformation v7.14.9's schema
// (which refuses unknown fields): HttpApi Auth.EnableIamAuthorizer, whose value it reports,
// HttpApi AccessLogSettings (goformation spells it AccessLogSetting) and Function LoggingConfig
// (the local server logs to stdout; TestOperable checks them on the transformed template); and
// what only the HSM's network needs, whose list parameters goformation resolves to their empty
// string defaults: AWS::EC2:: resources and Function VpcConfig (TestHsmFunctionsReachTheir-
// Services checks them on the transformed template).
// It edits the YAML node tree, so CloudFormation tags (!Ref, !Sub, ...) survive re-encoding.
func dropUnknownToGoformation(src []byte) ([]byte, bool, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, false, fmt.Errorf("parse template: %w", err)
	}
	enabled := false
	resources := mapValue(docRoot(&doc), "Resources")
	for i := 0; resources != nil && i+1 < len(resources.Content); i += 2 {
		res := resources.Content[i+1]
		// The HSM's network (security groups, VPC endpoints) has list parameters that
		// goformation resolves to their empty string defaults, and nothing of it runs locally.
		if t := mapValue(res, "Type"); t != nil && strings.HasPrefix(t.Value, "AWS::EC2::") {
			resources.Content = append(resources.Content[:i], resources.Content[i+2:]...)
			i -= 2
			continue
		}
		if t := mapValue(res, "Type"); t != nil && t.Value == "AWS::Serverless::Function" {
			dropKey(mapValue(res, "Properties"), "LoggingConfig")
			dropKey(mapValue(res, "Properties"), "VpcConfig")
			continue
		}
		if t := mapValue(res, "Type"); t == nil || t.Value != "AWS::Serverless::HttpApi" {
			continue
		}
		dropKey(mapValue(res, "Properties"), "AccessLogSettings")
		auth := mapValue(mapValue(res, "Properties"), "Auth")
		if auth == nil {
			continue
		}
		for j := 0; j+1 < len(auth.Content); j += 2 {
			if auth.Content[j].Value == "EnableIamAuthorizer" {
				enabled = auth.Content[j+1].Value == "true"
				auth.Content = append(auth.Content[:j], auth.Content[j+2:]...)
				break
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, false, fmt.Errorf("re-encode template: %w", err)
	}
	return out, enabled, nil
}

// dropKey removes key from mapping node m.
func dropKey(m *yaml.Node, key string) {
	for j := 0; m != nil && m.Kind == yaml.MappingNode && j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			m.Content = append(m.Content[:j], m.Content[j+2:]...)
			return
		}
	}
}

func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

// mapValue returns the value node of key in mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Grants are the actions a function's IAM policy allows, as "<action>@table",
// "<action>@index" (GSI1) and "<action>@index/<name>" (another GSI) for DynamoDB, and
// "<action>" for other services.
// Statements under a condition (Fn::If) are left out: they name optional resources.
func (t *Template) Grants(logicalID string) (map[string]bool, error) {
	sf, err := t.Serverless(logicalID)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	if sf.Policies == nil || sf.Policies.IAMPolicyDocumentArray == nil {
		return out, nil
	}
	for _, doc := range *sf.Policies.IAMPolicyDocumentArray {
		for _, st := range doc.Statement {
			s, ok := st.(map[string]any)
			if !ok || s["Effect"] != "Allow" {
				continue
			}
			// goformation resolves !GetAtt Table.Arn to nil and !Sub "${Table.Arn}/index/GSI1"
			// to "/index/GSI1": enough to tell the table from its indexes.
			var onTable bool
			var indexes []string
			resources := []any{s["Resource"]}
			if list, ok := s["Resource"].([]any); ok {
				resources = list
			}
			for _, r := range resources {
				str, _ := r.(string)
				if _, name, ok := strings.Cut(str, "/index/"); ok {
					indexes = append(indexes, IndexGrant(name))
				} else {
					onTable = true
				}
			}
			var actions []string
			switch a := s["Action"].(type) {
			case string:
				actions = []string{a}
			case []any:
				for _, e := range a {
					if str, ok := e.(string); ok {
						actions = append(actions, str)
					}
				}
			}
			for _, a := range actions {
				if !strings.HasPrefix(a, "dynamodb:") {
					out[a] = true
					continue
				}
				if onTable {
					out[a+"@table"] = true
				}
				for _, ix := range indexes {
					out[a+ix] = true
				}
			}
		}
	}
	return out, nil
}

// IndexGrant is how Grants and the local server's record of calls name a DynamoDB action's
// GSI: "@index" for GSI1 (the one most functions read), "@index/<name>" for the others.
func IndexGrant(name string) string {
	if name == "GSI1" {
		return "@index"
	}
	return "@index/" + name
}
