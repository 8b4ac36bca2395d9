package awsfault_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/opensignum/signum/lib/fault/awsfault"
)

type timeout struct{}

func (timeout) Error() string   { return "i/o timeout" }
func (timeout) Timeout() bool   { return true }
func (timeout) Temporary() bool { return true }

func httpError(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestTransient(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	dynamo := []string{"ThrottlingException", "ProvisionedThroughputExceededException"}
	tests := []struct {
		name  string
		err   error
		codes []string
		want  bool
	}{
		{"ok/deadline", fmt.Errorf("operation error: %w", context.DeadlineExceeded), nil, true},
		{"ok/request-send", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, nil, true},
		{"ok/net-error", fmt.Errorf("read: %w", timeout{}), nil, true},
		{"ok/http-500", httpError(500, &smithy.GenericAPIError{Code: "UnknownError"}), nil, true},
		{"ok/http-503", httpError(503, errors.New("bad gateway")), nil, true},
		{"ok/listed-code", fmt.Errorf("put: %w", throttled), dynamo, true},
		{"fail/unlisted-code", throttled, nil, false},
		{"fail/other-code", &smithy.GenericAPIError{Code: "ValidationException"}, dynamo, false},
		{"fail/http-400", httpError(400, &smithy.GenericAPIError{Code: "UnknownError"}), dynamo, false},
		{"fail/access-denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, dynamo, false},
		{"fail/cancelled", fmt.Errorf("operation error: %w", context.Canceled), dynamo, false},
		{"fail/plain", errors.New("boom"), dynamo, false},
		{"fail/nil", nil, dynamo, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awsfault.Transient(tt.err, tt.codes...); got != tt.want {
				t.Fatalf("Transient(%v, %v) = %v, want %v", tt.err, tt.codes, got, tt.want)
			}
		})
	}
}

// KMSRetry: throttling is retried shortly, KMS's own trouble and the network later, and a
// fault of the request (access denied, a disabled key) not at all.
func TestKMSRetry(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want time.Duration
		ok   bool
	}{
		"ok/throttled":        {&smithy.GenericAPIError{Code: "ThrottlingException"}, awsfault.KMSThrottledRetry, true},
		"ok/limit":            {fmt.Errorf("sign: %w", &smithy.GenericAPIError{Code: "LimitExceededException"}), awsfault.KMSThrottledRetry, true},
		"ok/internal":         {&smithy.GenericAPIError{Code: "KMSInternalException"}, awsfault.KMSUnavailableRetry, true},
		"ok/deadline":         {context.DeadlineExceeded, awsfault.KMSUnavailableRetry, true},
		"fail/access-denied":  {&smithy.GenericAPIError{Code: "AccessDeniedException"}, 0, false},
		"fail/disabled-key":   {&smithy.GenericAPIError{Code: "DisabledException"}, 0, false},
		"fail/not-aws-at-all": {errors.New("boom"), 0, false},
	} {
		if d, ok := awsfault.KMSRetry(c.err); d != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", name, d, ok, c.want, c.ok)
		}
	}
}
