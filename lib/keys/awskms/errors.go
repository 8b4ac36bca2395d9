package awskms

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/fault/awsfault"
	"github.com/opensignum/signum/lib/keys"
)

// Details the caller sees. They are constant: the cause (key ids, ARNs, KMS messages and
// request ids) goes to the log only.
const (
	detailNotFound    = "The key does not exist or has been deleted."
	detailDisabled    = "The key is disabled or pending deletion."
	detailUnsupported = "The key does not support this operation."
	detailUnavailable = "The key service is unavailable; retry later."
)

// mapError classifies an error of the KMS call op into the keys errors:
//
//   - NotFoundException: keys.ErrNotFound;
//   - DisabledException, KMSInvalidStateException (pending deletion, pending import, ...),
//     KeyUnavailableException: keys.ErrDisabled;
//   - InvalidKeyUsageException, UnsupportedOperationException: keys.ErrUnsupported;
//   - throttling, KMS-side failures, timeouts, network errors and HTTP 5xx without a known
//     code (a proxy or load balancer answering for KMS): keys.ErrUnavailable, marked
//     fault.RetryLater so that the caller gets a 503 with Retry-After (awsfault.KMSRetry, which
//     the token issuer shares: shortly for ThrottlingException and LimitExceededException,
//     later for the rest). KMS's
//     quotas are the account's, shared by every deployment, so its throttling is the
//     service being busy (503), not the caller going over its own share (429);
//   - anything else (access denied, validation errors, the caller's cancelled context)
//     stays a plain error: a fault of the service, not of the moment or the caller (500).
func mapError(op string, err error) error {
	cause := fmt.Errorf("%s: %w", op, err)
	if errors.Is(err, context.Canceled) {
		return cause
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFoundException":
			return fault.Wrap(keys.ErrNotFound, cause, detailNotFound)
		case "DisabledException", "KMSInvalidStateException", "KeyUnavailableException":
			return fault.Wrap(keys.ErrDisabled, cause, detailDisabled)
		case "InvalidKeyUsageException", "UnsupportedOperationException":
			return fault.Wrap(keys.ErrUnsupported, cause, detailUnsupported)
		}
	}
	if d, ok := awsfault.KMSRetry(err); ok {
		return fault.RetryLater(fault.Wrap(keys.ErrUnavailable, cause, detailUnavailable), d)
	}
	return cause
}
