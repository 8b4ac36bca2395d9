package awskms_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// secret stands for what KMS messages carry and callers must not see: ARNs, account ids.
const secret = "arn:aws:kms:us-east-1:111122223333:key/" + fakeKeyID

func TestMapError(t *testing.T) {
	msg := ptr(secret)
	tests := []struct {
		name string
		err  error
		want error // nil: a plain error, none of keys.Err*
	}{
		{"not-found", &kmstypes.NotFoundException{Message: msg}, keys.ErrNotFound},
		{"disabled", &kmstypes.DisabledException{Message: msg}, keys.ErrDisabled},
		{"invalid-state", &kmstypes.KMSInvalidStateException{Message: ptr(secret + " is pending deletion.")}, keys.ErrDisabled},
		{"key-unavailable", &kmstypes.KeyUnavailableException{Message: msg}, keys.ErrDisabled},
		{"invalid-key-usage", &kmstypes.InvalidKeyUsageException{Message: msg}, keys.ErrUnsupported},
		{"unsupported-operation", &kmstypes.UnsupportedOperationException{Message: msg}, keys.ErrUnsupported},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded " + secret}, keys.ErrUnavailable},
		{"kms-internal", &kmstypes.KMSInternalException{Message: msg}, keys.ErrUnavailable},
		{"dependency-timeout", &kmstypes.DependencyTimeoutException{Message: msg}, keys.ErrUnavailable},
		{"limit-exceeded", &kmstypes.LimitExceededException{Message: msg}, keys.ErrUnavailable},
		{"request-send", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused " + secret)}}, keys.ErrUnavailable},
		{"net-timeout", fmt.Errorf("read: %w", timeoutError{}), keys.ErrUnavailable},
		{"deadline", fmt.Errorf("operation error KMS: Sign, %w", context.DeadlineExceeded), keys.ErrUnavailable},
		{"http-503-unknown-code", httpError(503, &smithy.GenericAPIError{Code: "UnknownError", Message: secret}), keys.ErrUnavailable},
		{"retries-exhausted", fmt.Errorf("exceeded maximum number of attempts, 3, %w", &smithyhttp.RequestSendError{Err: timeoutError{}}), keys.ErrUnavailable},
		{"access-denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized " + secret}, nil},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException", Message: secret}, nil},
		{"http-400-unknown-code", httpError(400, &smithy.GenericAPIError{Code: "UnknownError", Message: secret}), nil},
		{"cancelled", fmt.Errorf("operation error KMS: Sign, %w", context.Canceled), nil},
		{"other", errBoom, nil},
	}
	kinds := []error{keys.ErrNotFound, keys.ErrDisabled, keys.ErrUnsupported, keys.ErrUnavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := map[string]func(b *awskms.Backend, f *fakeKMS) error{
				"open": func(b *awskms.Backend, f *fakeKMS) error {
					_, err := b.Open(context.Background(), "awskms:///"+fakeKeyID)
					return err
				},
				"sign": func(b *awskms.Backend, f *fakeKMS) error {
					k, err := b.Open(context.Background(), "awskms:///"+fakeKeyID)
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					f.err = tt.err
					_, err = k.SignContext(context.Background(), make([]byte, 32), crypto.SHA256)
					return err
				},
				"generate": func(b *awskms.Backend, f *fakeKMS) error {
					f.err = tt.err
					_, err := b.Generate(context.Background(), keys.GenerateRequest{Algorithm: keys.ECP256, Label: "c1"})
					return err
				},
				"schedule-deletion": func(b *awskms.Backend, f *fakeKMS) error {
					f.err = tt.err
					return b.ScheduleDeletion(context.Background(), "awskms:///"+fakeKeyID)
				},
			}
			for op, call := range calls {
				f := newFake(t, kmstypes.KeySpecEccNistP256)
				if op == "open" {
					f.err = tt.err
				}
				err := call(awskms.New(f), f)
				if err == nil {
					t.Fatalf("%s: no error", op)
				}
				for _, k := range kinds {
					if got := errors.Is(err, k); got != (k == tt.want) {
						t.Errorf("%s: errors.Is(%v, %v) = %v", op, err, k, got)
					}
				}
				// The log gets the cause; the caller's detail never carries KMS's message.
				if !errors.Is(err, tt.err) {
					t.Errorf("%s: cause lost: %v", op, err)
				}
				if d, ok := fault.DetailOf(err); tt.want != nil && (!ok || strings.Contains(d, fakeKeyID) || strings.Contains(d, "111122223333")) {
					t.Errorf("%s: detail %q (%v)", op, d, ok)
				}
				// What is unavailable for the moment says when to retry (the edge's
				// Retry-After); nothing else does.
				if _, ok := fault.RetryAfter(err); ok != (tt.want == keys.ErrUnavailable) {
					t.Errorf("%s: retry advice %v on %v", op, ok, err)
				}
				if tt.want == nil {
					if _, ok := fault.DetailOf(err); ok {
						t.Errorf("%s: a plain error has a caller detail: %v", op, err)
					}
				}
			}
		})
	}
}

// ptr returns a pointer to s, as the SDK's message fields are.
func ptr(s string) *string { return &s }

// httpError wraps err as the SDK does for an answer with the given HTTP status.
func httpError(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      err,
	}}
}

// ScheduleDeletion of a key KMS says is in an invalid state succeeds when the key is pending
// deletion (idempotent) and is keys.ErrDisabled otherwise (e.g. pending import).
func TestScheduleDeletionInvalidState(t *testing.T) {
	for _, tt := range []struct {
		state kmstypes.KeyState
		want  error
	}{
		{kmstypes.KeyStatePendingDeletion, nil},
		{kmstypes.KeyStatePendingReplicaDeletion, nil},
		{kmstypes.KeyStatePendingImport, keys.ErrDisabled},
		{kmstypes.KeyStateUnavailable, keys.ErrDisabled},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			f := newFake(t, kmstypes.KeySpecEccNistP256)
			f.err = &kmstypes.KMSInvalidStateException{Message: ptr(secret + " is pending deletion.")}
			f.keyState = tt.state
			err := awskms.New(f).ScheduleDeletion(context.Background(), "awskms:///"+fakeKeyID)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
