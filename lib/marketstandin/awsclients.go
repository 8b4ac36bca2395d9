package marketstandin

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
)

// AWSRegion is the region the stand-in's clients sign for: the marketplace APIs' own.
const AWSRegion = "us-east-1"

// SDKConfig is what the SDK's clients of a stand-in are made with: region, static
// credentials and the SDK's standard retryer (3 attempts) without its waits, so that a test
// of retries takes no time (the EventBridge stand-in's clients too).
func SDKConfig(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTANDIN", "standin-secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// AWSClients are the AWS SDK's metering and entitlement clients pointed at endpoint (the URL
// of a server of an AWS stand-in), made with SDKConfig.
func AWSClients(endpoint string) (*marketplacemetering.Client, *marketplaceentitlementservice.Client) {
	cfg := SDKConfig(AWSRegion)
	m := marketplacemetering.NewFromConfig(cfg, func(o *marketplacemetering.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
	e := marketplaceentitlementservice.NewFromConfig(cfg, func(o *marketplaceentitlementservice.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
	return m, e
}

// StartAWS starts an AWS stand-in on a local test server that t's cleanup closes, and
// returns it with its URL.
func StartAWS(t testing.TB) (*AWS, string) {
	t.Helper()
	a := NewAWS()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL
}
