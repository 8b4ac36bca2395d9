// Package apigw is the local stand-in for API Gateway (HTTP API, payload format 2.0). It
// reads the routes from template.yaml, turns each HTTP request into the event API Gateway
// would send, enforces AWS_IAM routes with SigV4 as API Gateway does, invokes the function's
// Lambda handler (the same one lambda.Start runs in AWS) and writes its response back.
package apigw

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
)

// MaxPayload is API Gateway's request payload limit.
const MaxPayload = 10 << 20

// Options configure a Gateway.
type Options struct {
	Region, AccountID string
	// IAM looks up SigV4 credentials for AWS_IAM routes.
	IAM IAMCredentials
	Log *slog.Logger
	Now func() time.Time
}

// Gateway serves HTTP by invoking Lambda handlers as API Gateway would.
type Gateway struct {
	tpl      *Template
	mux      *http.ServeMux
	handlers map[string]edge.LambdaHandler
	opts     Options
}

// matchKey carries a *matched through the route mux.
type matchKey struct{}

type matched struct {
	route  Route
	params map[string]string
	ok     bool
}

// NewGateway routes tpl's routes to handlers (by function logical id). Every function with a
// route needs a handler.
func NewGateway(tpl *Template, handlers map[string]edge.LambdaHandler, opts Options) (*Gateway, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	g := &Gateway{tpl: tpl, mux: http.NewServeMux(), handlers: handlers, opts: opts}
	for _, r := range tpl.Routes {
		if _, ok := handlers[r.Function]; !ok {
			return nil, fmt.Errorf("route %s: no handler for function %s", r.Key(), r.Function)
		}
		if r.Path == DefaultRoute {
			continue
		}
		route := r
		g.mux.HandleFunc(r.Pattern(), func(_ http.ResponseWriter, req *http.Request) {
			m := req.Context().Value(matchKey{}).(*matched)
			m.route, m.ok, m.params = route, true, map[string]string{}
			for _, name := range pathParams(route.Path) {
				m.params[name] = req.PathValue(name)
			}
		})
	}
	return g, nil
}

// match finds the route API Gateway would pick: the route of the method and path, else
// $default. The mux runs on a copy of the request with a writer that drops its 404/405.
func (g *Gateway) match(r *http.Request) (Route, map[string]string, bool) {
	m := &matched{}
	g.mux.ServeHTTP(&discard{}, r.Clone(context.WithValue(r.Context(), matchKey{}, m)))
	// ServeMux lets a GET pattern serve HEAD; API Gateway matches methods exactly.
	if m.ok && (m.route.Method == r.Method || m.route.Method == "ANY") {
		return m.route, m.params, true
	}
	for _, rt := range g.tpl.Routes {
		if rt.Path == DefaultRoute {
			return rt, nil, true
		}
	}
	return Route{}, nil, false
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func pathParams(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(strings.Trim(seg, "{}"), "+"))
		}
	}
	return names
}

// gatewayError answers the way API Gateway itself does (it cannot send problem+json).
func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"message\":%q}\n", msg)
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, err := requestHost(r.Host)
	if err != nil {
		edge.WriteProblem(w, r.WithContext(edge.WithLogger(r.Context(), g.opts.Log)), err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxPayload {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	route, params, ok := g.match(r)
	if !ok {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	now := g.opts.Now()
	ev := g.event(r, host, body, route, params, now)
	if route.IAM {
		caller, err := VerifySigV4(r, body, g.opts.IAM, g.opts.Region, "execute-api", now)
		if err != nil {
			g.opts.Log.Info("gateway refused", slog.String("route", route.Key()), slog.String("reason", err.Error()))
			gatewayError(w, http.StatusForbidden, "Forbidden")
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
				AccessKey: caller.AccessKeyID, AccountID: caller.AccountID, CallerID: caller.AccessKeyID,
				UserARN: fmt.Sprintf("arn:aws:iam::%s:user/%s", caller.AccountID, caller.AccessKeyID),
				UserID:  caller.AccessKeyID,
			},
		}
	}
	fn := g.tpl.Functions[route.Function]
	timeout := time.Duration(fn.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newID(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", g.opts.Region, g.opts.AccountID, route.Function),
	})
	resp, err := g.handlers[route.Function](ctx, ev)
	if err != nil {
		g.opts.Log.Error("function failed", slog.String("function", route.Function), slog.String("error", err.Error()))
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeResponse(w, resp)
}

// requestHost is the host of a Host header in the form deployment domain names are kept in
// (tenant.NormalizeDomainName): lower case, without the port and without a trailing dot
// ("demo.localhost." is the same DNS name as "demo.localhost"), an IPv6 address without its
// brackets. A header that is not a host name or an IP address, with an optional port, is a
// field error: a host name is letters, digits and '-' in dot-separated labels of 1 to 63
// characters. Without this, a Host with percent escapes reached the Lambda adapter, which
// could not make a URL of it (500).
func requestHost(hostport string) (string, error) {
	bad := fault.Fields{{Name: "Host", Reason: "must be a host name or an IP address, with an optional port"}}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", bad
		}
	}
	if strings.HasPrefix(hostport, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return "", bad
		}
		return strings.ToLower(host), nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > 253 {
		return "", bad
	}
	for _, l := range strings.Split(host, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.IndexFunc(l, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') }) >= 0 {
			return "", bad
		}
	}
	return host, nil
}

// event builds the payload-2.0 event API Gateway sends for r, sent to host (requestHost).
func (g *Gateway) event(r *http.Request, host string, body []byte, route Route, params map[string]string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for name, vals := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range vals {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(vals, ",")
	}
	headers["host"] = r.Host
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	sourceIP := r.RemoteAddr
	if h, _, err := net.SplitHostPort(sourceIP); err == nil {
		sourceIP = h
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       route.Key(),
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Cookies:        cookies,
		Headers:        headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key(),
			AccountID:    g.opts.AccountID,
			Stage:        "$default",
			RequestID:    newID(),
			APIID:        "local",
			DomainName:   host,
			DomainPrefix: strings.SplitN(host, ".", 2)[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP, UserAgent: r.UserAgent(),
			},
		},
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		ev.RequestContext.Authentication.ClientCert = ClientCert(r.TLS.PeerCertificates[0])
	}
	if len(query) > 0 {
		ev.QueryStringParameters = query
	}
	if len(params) > 0 {
		ev.PathParameters = params
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		w.Header().Del(k)
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// Methods lists, sorted, the methods of the template's routes on a path (for tests).
func (t *Template) Methods(path string) []string {
	var m []string
	for _, r := range t.Routes {
		if r.Path == path {
			m = append(m, r.Method)
		}
	}
	sort.Strings(m)
	return m
}

// ClientCert is what API Gateway puts in requestContext.authentication.clientCert for a
// client certificate of a mutual-TLS handshake (the formats of its documented example).
// AWS documents no form for subjectDN and issuerDN (its example shows "www.example.com" and
// "Example issuer"), so the service never reads them: it parses clientCertPem and matches
// the certificate itself. The stand-in writes them in the RFC 2253 form the service shows
// and matches (clientauth.DN, as openssl -nameopt RFC2253 prints names).
func ClientCert(c *x509.Certificate) events.APIGatewayV2HTTPRequestContextAuthenticationClientCert {
	serial := fmt.Sprintf("%x", c.SerialNumber.Bytes())
	var colons []string
	for i := 0; i+2 <= len(serial); i += 2 {
		colons = append(colons, serial[i:i+2])
	}
	const openssl = "Jan _2 15:04:05 2006 GMT"
	return events.APIGatewayV2HTTPRequestContextAuthenticationClientCert{
		ClientCertPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
		SubjectDN:     clientauth.ShowDN(c.RawSubject), IssuerDN: clientauth.ShowDN(c.RawIssuer), SerialNumber: strings.Join(colons, ":"),
		Validity: events.APIGatewayV2HTTPRequestContextAuthenticationClientCertValidity{
			NotBefore: c.NotBefore.UTC().Format(openssl), NotAfter: c.NotAfter.UTC().Format(openssl),
		},
	}
}
