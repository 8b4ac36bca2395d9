package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opensignum/signum/lib/api/operator"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
)

// BenchmarkGetDeployment measures, side by side in one run, what each layer adds to reading a
// deployment: the store alone (one GetItem through the SDK to the stand-in), the operator
// function's Lambda handler (adapter, router, JSON), and the whole local HTTP path (gateway
// event building and SigV4 verification). Compare with benchstat (make bench).
func BenchmarkGetDeployment(b *testing.B) {
	srv := startLocalLogging(b, io.Discard, "error")
	ctx := context.Background()
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	id := srv.Demo.ID

	b.Run("layer=store", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := st.GetDeployment(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})

	h, err := operator.Build(ctx, envFor(srv))
	if err != nil {
		b.Fatal(err)
	}
	lambda := edge.Lambda(h)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /operator/deployments/{id}", RawPath: "/operator/deployments/" + id,
		Headers: map[string]string{"host": "api.example.com"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/operator/deployments/" + id, SourceIP: "127.0.0.1"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{AccountID: devstack.AccountID},
			},
		},
	}
	b.Run("layer=lambda-handler", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			resp, err := lambda(ctx, ev)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%d %v", resp.StatusCode, err)
			}
		}
	})

	client := &http.Client{}
	creds := aws.Credentials{AccessKeyID: "LOCALOPERATOR", SecretAccessKey: srv.OperatorSecret}
	empty := sha256.Sum256(nil)
	signer := v4.NewSigner()
	b.Run("layer=http-gateway", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequest("GET", srv.URL+"/operator/deployments/"+id, nil)
			_ = signer.SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "execute-api", devstack.Region, time.Now())
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
