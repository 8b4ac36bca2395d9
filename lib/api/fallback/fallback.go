// Package fallback is the handler of the fallback function (API Gateway's $default route).
package fallback

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/apigw/routes"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
)

// New answers requests that no route of rs matched (API Gateway's $default route):
// a problem saying 405 with Allow when the path exists with other methods, else 404. It
// registers every route so that the router can tell the two apart; those registrations are
// never reached, because API Gateway sends matching requests to their own functions.
func New(env function.Env, rs []routes.Route) *access.Mux {
	rt := access.NewMux(env.Log, &access.Guard{})
	for _, r := range rs {
		if r.Path == routes.DefaultRoute {
			continue
		}
		route := r
		rt.Handle(r.Pattern(), access.Public(), func(w http.ResponseWriter, req *http.Request, _ *access.Request) error {
			if req.Method != route.Method && route.Method != "ANY" {
				// ServeMux lets GET patterns match HEAD; API Gateway does not route HEAD to
				// a GET route, so a HEAD lands here: say which methods the path has.
				edge.MethodNotAllowed(w, req, routes.Methods(rs, route.Path))
				return nil
			}
			return fmt.Errorf("route of %s reached the fallback function: the gateway's routes differ from template.yaml", route.Function)
		})
	}
	return rt
}

// Build is the fallback function's handler, on template.yaml's routes as compiled in
// (routes.Table): parsing the template at start, even with a YAML parser alone, was most of
// the function's cold start, and the whole template model doubled its size (#18).
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	return New(env, routes.Table), nil
}
