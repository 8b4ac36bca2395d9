// Package routes reads the HTTP API's routes from template.yaml with nothing but a YAML
// parser: the fallback function needs only them, and linking the whole template model
// (lib/apigw, goformation) made it the largest and slowest-starting function (#18).
package routes

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultRoute is the route key of API Gateway's catch-all route.
const DefaultRoute = "$default"

// Route is one route of the HTTP API.
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

// Pattern is the route as a net/http ServeMux pattern: greedy {name+} becomes {name...};
// ANY becomes no method.
func (r Route) Pattern() string {
	p := strings.ReplaceAll(r.Path, "+}", "...}")
	if r.Method == "ANY" {
		return p
	}
	return r.Method + " " + p
}

// Parse reads the HttpApi events of the template's serverless functions, sorted by key.
func Parse(template []byte) ([]Route, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	var out []Route
	each(value(root, "Resources"), func(id string, res *yaml.Node) {
		if t := value(res, "Type"); t == nil || t.Value != "AWS::Serverless::Function" {
			return
		}
		each(value(value(res, "Properties"), "Events"), func(_ string, ev *yaml.Node) {
			if t := value(ev, "Type"); t == nil || t.Value != "HttpApi" {
				return
			}
			p := value(ev, "Properties")
			r := Route{Function: id, Method: "ANY", Path: DefaultRoute}
			if m := value(p, "Method"); m != nil {
				r.Method = strings.ToUpper(m.Value)
			}
			if path := value(p, "Path"); path != nil {
				r.Path = path.Value
			}
			if a := value(value(p, "Auth"), "Authorizer"); a != nil && a.Value == "AWS_IAM" {
				r.IAM = true
			}
			out = append(out, r)
		})
	})
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Key(), b.Key()) })
	return out, nil
}

// Methods lists, sorted, the methods of rs on path.
func Methods(rs []Route, path string) []string {
	var m []string
	for _, r := range rs {
		if r.Path == path {
			m = append(m, r.Method)
		}
	}
	slices.Sort(m)
	return m
}

// value is the value of key in mapping n (nil when n is not a mapping or has no key).
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// each calls f with each key and value of mapping n.
func each(n *yaml.Node, f func(key string, v *yaml.Node)) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		f(n.Content[i].Value, n.Content[i+1])
	}
}
