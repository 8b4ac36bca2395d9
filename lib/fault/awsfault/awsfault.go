// Package awsfault classifies the errors of AWS SDK for Go v2 calls, so that every package
// that calls AWS (the store on DynamoDB, the KMS key backend) agrees on which failures are the
// service's or the network's momentary trouble rather than the request's.
package awsfault

import (
	"context"
	"errors"
	"net"
	"slices"

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
