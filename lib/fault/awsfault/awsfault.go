// Package awsfault classifies the errors of AWS SDK for Go v2 calls, so that every package
// that calls AWS (the store on DynamoDB, the KMS key backend) agrees on which failures are the
// service's or the network's momentary trouble rather than the request's.
package awsfault

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Transient reports whether err, the error of an AWS SDK call, means that the service was
// unavailable for the moment and the call is worth a retry later: the deadline passed, the
// request could not be sent or its answer not received (RequestSendError, net.Error), the
// service answered with an HTTP 5xx, or it answered with an API error whose code is one of
// codes (a service's own codes for throttling and passing failures, such as DynamoDB's
// ThrottlingException; no code counts unless given).
//
// Everything else — validation errors, access denied, a missing resource, HTTP 4xx — is
// false: a fault of the request or of the configuration, which a retry would not mend. A
// cancelled context can surface as a failed send; callers that must not call the caller's own
// cancellation transient test for context.Canceled first.
func Transient(err error, codes ...string) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &send) || errors.As(err, &netErr) {
		return true
	}
	var api smithy.APIError
	if len(codes) > 0 && errors.As(err, &api) && slices.Contains(codes, api.ErrorCode()) {
		return true
	}
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() >= 500
}

// How long a caller refused because KMS is busy should wait (Retry-After). KMS's request
// quotas are per second and the SDK has already retried for about that long, so a throttled
// request may be tried again shortly; a failure of KMS itself (internal error, dependency
// timeout, no answer) is given longer to pass.
const (
	KMSThrottledRetry   = 2 * time.Second
	KMSUnavailableRetry = 5 * time.Second
)

// KMSRetry says whether err, the error of a KMS call, is KMS's momentary trouble, and when to
// try again: throttling (ThrottlingException, LimitExceededException) after
// KMSThrottledRetry; KMS's internal failures and timeouts, and whatever Transient counts,
// after KMSUnavailableRetry. Every package that calls KMS (the key backend, the token issuer
// and verifier) answers the same.
func KMSRetry(err error) (time.Duration, bool) {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "LimitExceededException":
			return KMSThrottledRetry, true
		case "KMSInternalException", "DependencyTimeoutException":
			return KMSUnavailableRetry, true
		}
	}
	if Transient(err) {
		return KMSUnavailableRetry, true
	}
	return 0, false
}
