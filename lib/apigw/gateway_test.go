package apigw_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
)

const testTemplate = `
Transform: AWS::Serverless-2016-10-31
Resources:
  ThingsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Timeout: 3
      Events:
        Get:
          Type: HttpApi
          Properties: {Method: GET, Path: "/things/{id}"}
        Put:
          Type: HttpApi
          Properties: {Method: PUT, Path: "/things/{id}"}
        Files:
          Type: HttpApi
          Properties: {Method: POST, Path: "/files/{path+}"}
        Admin:
          Type: HttpApi
          Properties:
            Method: POST
            Path: /admin
            Auth: {Authorizer: AWS_IAM}
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Events:
        Boom:
          Type: HttpApi
          Properties: {Method: GET, Path: /boom}
  DefaultFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Events:
        Default:
          Type: HttpApi
          Properties: {Method: ANY, Path: $default}
`

type recorder struct {
	events []events.APIGatewayV2HTTPRequest
	ctxs   []context.Context
}

func (rc *recorder) handler(name string) edge.LambdaHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		rc.events = append(rc.events, ev)
		rc.ctxs = append(rc.ctxs, ctx)
		return events.APIGatewayV2HTTPResponse{
			StatusCode:        201,
			Headers:           map[string]string{"X-Function": name},
			MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
			Cookies:           []string{"s=1; HttpOnly"},
			Body:              base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}),
			IsBase64Encoded:   true,
		}, nil
	}
}

func newGateway(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	tpl, err := apigw.ParseTemplate([]byte(testTemplate))
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{}
	gw, err := apigw.NewGateway(tpl, map[string]edge.LambdaHandler{
		"ThingsFunction":  rc.handler("things"),
		"DefaultFunction": rc.handler("default"),
		"BrokenFunction": func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, errors.New("crash")
		},
	}, apigw.Options{
		Region: "us-east-1", AccountID: "111122223333",
		IAM: func(ak string) (string, string, bool) { return "s3cret", "111122223333", ak == "AKID" },
		Log: function.NewLogger(io.Discard, "error"),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, rc
}

func TestGatewayBuildsPayloadV2Events(t *testing.T) {
	srv, rc := newGateway(t)
	req, _ := http.NewRequest("PUT", srv.URL+"/things/a%20b?x=1&x=2&y=z", strings.NewReader(`{"k":"v"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Add("Cookie", "c1=v1; c2=v2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !bytes.Equal(body, []byte{0xff, 0x00, 0x01}) || resp.Header.Get("X-Function") != "things" ||
		strings.Join(resp.Header.Values("X-Multi"), ",") != "a,b" || resp.Header.Get("Set-Cookie") != "s=1; HttpOnly" {
		t.Fatalf("response: %d %x %v", resp.StatusCode, body, resp.Header)
	}
	ev := rc.events[0]
	checks := map[string][2]string{
		"version":     {ev.Version, "2.0"},
		"routeKey":    {ev.RouteKey, "PUT /things/{id}"},
		"ctxRouteKey": {ev.RequestContext.RouteKey, "PUT /things/{id}"},
		"rawPath":     {ev.RawPath, "/things/a%20b"},
		"path":        {ev.RequestContext.HTTP.Path, "/things/a b"},
		"id":          {ev.PathParameters["id"], "a b"},
		"rawQuery":    {ev.RawQueryString, "x=1&x=2&y=z"},
		"queryX":      {ev.QueryStringParameters["x"], "1,2"},
		"contentType": {ev.Headers["content-type"], "application/json"},
		"cookies":     {strings.Join(ev.Cookies, "|"), "c1=v1|c2=v2"},
		"cookieHdr":   {ev.Headers["cookie"], ""},
		"sourceIp":    {ev.RequestContext.HTTP.SourceIP, "127.0.0.1"},
		"method":      {ev.RequestContext.HTTP.Method, "PUT"},
		"body":        {ev.Body, `{"k":"v"}`},
		"stage":       {ev.RequestContext.Stage, "$default"},
		"account":     {ev.RequestContext.AccountID, "111122223333"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if ev.IsBase64Encoded || ev.RequestContext.RequestID == "" || ev.RequestContext.Authorizer != nil {
		t.Errorf("event: %+v", ev.RequestContext)
	}
	lc, ok := lambdacontext.FromContext(rc.ctxs[0])
	if !ok || lc.AwsRequestID == "" || !strings.HasSuffix(lc.InvokedFunctionArn, ":function:ThingsFunction") {
		t.Errorf("lambda context: %+v", lc)
	}
	if dl, ok := rc.ctxs[0].Deadline(); !ok || time.Until(dl) > 3*time.Second {
		t.Errorf("function timeout not applied: %v", dl)
	}
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGatewayRouting(t *testing.T) {
	srv, rc := newGateway(t)
	cases := []struct {
		name, method, path string
		route              string
	}{
		{"ok/exact", "GET", "/things/1", "GET /things/{id}"},
		{"ok/greedy", "POST", "/files/a/b/c.txt", "POST /files/{path+}"},
		{"ok/unknown-path-goes-to-default", "GET", "/nothing", "$default"},
		{"ok/other-method-goes-to-default", "DELETE", "/things/1", "$default"},
		{"ok/head-is-not-get", "HEAD", "/things/1", "$default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(rc.events)
			do(t, c.method, srv.URL+c.path, nil)
			if len(rc.events) != n+1 || rc.events[n].RouteKey != c.route {
				t.Fatalf("routed to %+v", rc.events[n:])
			}
		})
	}
	if ev := rc.events[1]; ev.PathParameters["path"] != "a/b/c.txt" {
		t.Errorf("greedy parameter %q", ev.PathParameters["path"])
	}
	t.Run("ok/binary-body-is-base64", func(t *testing.T) {
		n := len(rc.events)
		do(t, "PUT", srv.URL+"/things/1", []byte{0xff, 0xfe})
		ev := rc.events[n]
		if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}) {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("fail/too-large", func(t *testing.T) {
		code, body := do(t, "PUT", srv.URL+"/things/1", make([]byte, apigw.MaxPayload+1))
		if code != 413 || !strings.Contains(body, "Request Entity Too Large") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("fail/function-error", func(t *testing.T) {
		code, body := do(t, "GET", srv.URL+"/boom", nil)
		if code != 500 || strings.Contains(body, "crash") {
			t.Fatalf("%d %s", code, body)
		}
	})
}

func TestGatewayIAMRoutes(t *testing.T) {
	srv, rc := newGateway(t)
	sign := func(secret string, body string) *http.Request {
		req, _ := http.NewRequest("POST", srv.URL+"/admin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256([]byte(body))
		_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
		return req
	}
	resp, err := http.DefaultClient.Do(sign("s3cret", `{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("signed: %d", resp.StatusCode)
	}
	iam := rc.events[len(rc.events)-1].RequestContext.Authorizer.IAM
	if iam == nil || iam.AccountID != "111122223333" || iam.AccessKey != "AKID" || iam.UserARN == "" {
		t.Fatalf("authorizer: %+v", iam)
	}
	n := len(rc.events)
	for name, req := range map[string]*http.Request{
		"fail/unsigned":     func() *http.Request { r, _ := http.NewRequest("POST", srv.URL+"/admin", nil); return r }(),
		"fail/wrong-secret": sign("guess", `{"a":1}`),
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), `"Forbidden"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, b)
		}
	}
	if len(rc.events) != n {
		t.Fatal("a refused IAM request reached the function")
	}
}
