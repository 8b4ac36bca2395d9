// Package edge is where HTTP meets the service: it adapts an http.Handler to API Gateway
// (HTTP API, payload v2) Lambda events, routes, decodes bodies, reads the gateway's request
// context and turns errors into RFC 7807 problems. Every function uses it, so no endpoint
// repeats any of this.
package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/opensignum/signum/lib/tenant"
)

// HandlerFunc serves one route. It writes the success response itself and returns an error
// for everything else; the router turns the error into a problem response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Router is a Go 1.22 ServeMux whose 404, 405 and panics are problems, and which logs one line
// per request with its ids, route, status and duration.
type Router struct {
	mux      *http.ServeMux
	log      *slog.Logger
	patterns []string
}

// NewRouter returns an empty router logging to log.
func NewRouter(log *slog.Logger) *Router {
	return &Router{mux: http.NewServeMux(), log: log}
}

// Handle registers h for pattern ("METHOD /path/{param}"). The pattern must equal the route
// in template.yaml; a test compares them.
func (rt *Router) Handle(pattern string, h HandlerFunc) {
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteProblem(w, r, err)
		}
	})
}

// Patterns lists the registered patterns, sorted.
func (rt *Router) Patterns() []string {
	p := append([]string(nil), rt.patterns...)
	sort.Strings(p)
	return p
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	log := rt.log.With(slog.String("requestId", RequestID(r.Context())))
	ctx := r.Context()
	if gw, ok := Gateway(r); ok {
		log = log.With(slog.String("apiRequestId", gw.RequestID))
		// System log entries written for the request record where it came from (the
		// store reads it from the context, so that no call site passes it on).
		if a, err := netip.ParseAddr(gw.HTTP.SourceIP); err == nil {
			ctx = tenant.WithSourceIP(ctx, a.Unmap())
		}
	}
	r = r.WithContext(WithLogger(ctx, log))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h, pattern := rt.mux.Handler(r)
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if !sw.wrote {
				WriteProblem(sw, r, fmt.Errorf("panic: %v", v))
			}
		}
		log.Info("request", slog.String("method", r.Method), slog.String("route", pattern),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	}()
	if pattern == "" {
		rt.unrouted(sw, r, h)
		return
	}
	// ServeHTTP, not h.ServeHTTP: only the mux's own dispatch sets r.PathValue.
	rt.mux.ServeHTTP(sw, r)
	if !sw.wrote {
		// The Lambda adapter turns a response without a status into an error (a 502).
		WriteProblem(sw, r, fmt.Errorf("handler for %s wrote no response", pattern))
	}
}

// unrouted answers a request no pattern matched. ServeMux knows whether the path exists with
// other methods (405 with Allow) or not at all (404); run its answer on a recorder to learn
// which, then say it as a problem.
func (rt *Router) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code == http.StatusMethodNotAllowed {
		var allow []string
		for _, m := range strings.Split(rec.Header().Get("Allow"), ",") {
			m = strings.TrimSpace(m)
			// ServeMux lets a GET pattern serve HEAD; API Gateway routes by exact method and
			// never sends HEAD to a GET route, so HEAD is allowed only where declared.
			if m == http.MethodHead && !rt.declares(http.MethodHead) {
				continue
			}
			allow = append(allow, m)
		}
		MethodNotAllowed(w, r, allow)
		return
	}
	p := ProblemFor(ErrRouteNotFound)
	p.Detail = fmt.Sprintf("No route serves %s %s.", r.Method, r.URL.Path)
	p.Instance = RequestID(r.Context())
	writeProblem(w, p)
}

// MethodNotAllowed answers 405 with the Allow header and a problem naming the allowed methods.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	list := strings.Join(allow, ", ")
	w.Header().Set("Allow", list)
	p := ProblemFor(ErrMethodNotAllowed)
	p.Detail = fmt.Sprintf("%s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, list)
	p.Allow = allow
	p.Instance = RequestID(r.Context())
	writeProblem(w, p)
}

func (rt *Router) declares(method string) bool {
	for _, p := range rt.patterns {
		if strings.HasPrefix(p, method+" ") {
			return true
		}
	}
	return false
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// LambdaHandler is the signature of an API Gateway v2 Lambda handler; lambda.Start takes it,
// and the local server calls it directly.
type LambdaHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// DeadlineReserve is how long before the Lambda's own deadline the handler's context ends.
// When a dependency hangs, the handler's calls fail with the context while there is still time
// to answer 503; otherwise Lambda kills the invocation and API Gateway answers a bare 500.
const DeadlineReserve = time.Second

// Lambda adapts h to API Gateway v2 events with aws-lambda-go-api-proxy.
func Lambda(h http.Handler) LambdaHandler {
	proxy := httpadapter.NewV2(h).ProxyWithContext
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*DeadlineReserve {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-DeadlineReserve))
			defer cancel()
		}
		return proxy(ctx, ev)
	}
}
