package edge

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/opensignum/signum/lib/fault"
)

// Gateway returns the API Gateway v2 request context of r. It reads the context the Lambda
// adapter put on the Go context, never the X-GoLambdaProxy-ApiGw-Context header: that header
// arrives from the client and anyone can forge it. ok is false when r did not come through
// API Gateway (or the local stand-in), and then no identity may be assumed.
func Gateway(r *http.Request) (events.APIGatewayV2HTTPRequestContext, bool) {
	return core.GetAPIGatewayV2ContextFromContext(r.Context())
}

// SourceIP is the address API Gateway saw the request come from.
func SourceIP(r *http.Request) (netip.Addr, error) {
	gw, ok := Gateway(r)
	if !ok {
		return netip.Addr{}, fault.Newf(fault.ErrUnauthenticated, "The request did not arrive through the API gateway.")
	}
	a, err := netip.ParseAddr(gw.HTTP.SourceIP)
	if err != nil {
		return netip.Addr{}, fault.Wrap(fault.ErrForbidden, err, "The source address of the request is unknown.")
	}
	return a.Unmap(), nil
}

// ClientCertificatePEM is the mTLS client certificate API Gateway verified, or "" when the
// request came without one.
func ClientCertificatePEM(r *http.Request) string {
	gw, ok := Gateway(r)
	if !ok {
		return ""
	}
	return gw.Authentication.ClientCert.ClientCertPem
}

// IAMCaller is the IAM principal API Gateway authenticated with SigV4, or nil when the route
// is not IAM-authorized.
func IAMCaller(r *http.Request) *events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription {
	gw, ok := Gateway(r)
	if !ok || gw.Authorizer == nil {
		return nil
	}
	return gw.Authorizer.IAM
}

type ctxKey int

const loggerKey ctxKey = iota

// RequestID is the Lambda request id, else API Gateway's request id, else "".
func RequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(ctx); ok {
		return gw.RequestID
	}
	return ""
}

// Logger is the request's logger (with its request ids), or slog.Default outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l for Logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}
