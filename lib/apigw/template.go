package apigw

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
)

// DefaultRoute is the path of HTTP API's catch-all route.
const DefaultRoute = "$default"

// Route is one HttpApi event of a function in the SAM template.
type Route struct {
	// Method is upper case; "ANY" matches every method.
	Method string
	// Path is the API Gateway path ("/operator/deployments/{id}") or "$default".
	Path string
	// Function is the function's logical id ("OperatorFunction").
	Function string
	// IAM is true when the route is AWS_IAM-authorized.
	IAM bool
}

// Key is the route key API Gateway puts in events: "GET /health", or "$default".
func (r Route) Key() string {
	if r.Path == DefaultRoute {
		return DefaultRoute
	}
	return r.Method + " " + r.Path
}

// Pattern is the route as a Go 1.22 ServeMux pattern; greedy {proxy+} becomes {proxy...}.
func (r Route) Pattern() string {
	p := strings.ReplaceAll(r.Path, "+}", "...}")
	if r.Method == "ANY" {
		return p
	}
	return r.Method + " " + p
}

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
}

// ParseTemplate reads the SAM template with goformation.
func ParseTemplate(yaml []byte) (*Template, error) {
	cf, err := goformation.ParseYAML(yaml)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	t := &Template{Functions: map[string]Function{}, CF: cf}
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
