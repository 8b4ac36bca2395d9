// Package fallback is the handler of the fallback function (API Gateway's $default route).
package fallback

import (
	"context"
	"fmt"
	"net/http"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
)

// New answers requests that no route of tpl matched (API Gateway's $default route):
// a problem saying 405 with Allow when the path exists with other methods, else 404. It
// registers every route so that the router can tell the two apart; those registrations are
// never reached, because API Gateway sends matching requests to their own functions.
func New(env function.Env, tpl *apigw.Template) *access.Mux {
	rt := access.NewMux(env.Log, &access.Guard{})
	for _, r := range tpl.Routes {
		if r.Path == apigw.DefaultRoute {
			continue
		}
		route := r
		rt.Handle(r.Pattern(), access.Public(), func(w http.ResponseWriter, req *http.Request, _ *access.Request) error {
			if req.Method != route.Method && route.Method != "ANY" {
				// ServeMux lets GET patterns match HEAD; API Gateway does not route HEAD to
				// a GET route, so a HEAD lands here: say which methods the path has.
				edge.MethodNotAllowed(w, req, tpl.Methods(route.Path))
				return nil
			}
			return fmt.Errorf("route of %s reached the fallback function: the gateway's routes differ from template.yaml", route.Function)
		})
	}
	return rt
}

// Build is the fallback function's handler, on the template embedded at build time.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		return nil, err
	}
	return New(env, tpl), nil
}
