package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/token"
)

// busyKMS answers every call with a KMS error code, as KMS does when it throttles.
type busyKMS struct{ code string }

func (b busyKMS) Sign(context.Context, *kms.SignInput, ...func(*kms.Options)) (*kms.SignOutput, error) {
	return nil, &smithy.GenericAPIError{Code: b.code, Message: "Rate exceeded"}
}

func (b busyKMS) GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	return nil, &smithy.GenericAPIError{Code: b.code, Message: "Rate exceeded"}
}

// TestBusyKMSSaysWhenToRetry: a login or a token check that fails because KMS throttles is a
// 503 with retry advice (Retry-After at the edge); a key that cannot be used has none, since
// waiting does not mend it.
func TestBusyKMSSaysWhenToRetry(t *testing.T) {
	e := newEnv(t)
	for code, wait := range map[string]time.Duration{"ThrottlingException": 2 * time.Second, "KMSInternalException": 5 * time.Second} {
		_, _, err := token.NewIssuer(busyKMS{code}, e.keyARN, ttl, nil).Issue(context.Background(), alice)
		if after, ok := fault.RetryAfter(err); !errors.Is(err, fault.ErrUnavailable) || !ok || after != wait {
			t.Errorf("fail/issue %s: %v (retry after %v, %v)", code, err, after, ok)
		}
		raw, _, err := token.NewIssuer(e.kms, e.keyARN, ttl, nil).Issue(context.Background(), alice)
		if err != nil {
			t.Fatal(err)
		}
		_, err = token.NewVerifier(busyKMS{code}, e.keyARN, nil).Verify(context.Background(), raw, alice.System)
		if _, ok := fault.RetryAfter(err); !errors.Is(err, fault.ErrUnavailable) || !ok {
			t.Errorf("fail/verify %s: %v", code, err)
		}
	}
	_, _, err := token.NewIssuer(e.kms, devstack.ServiceKeyAlias, ttl, nil).Issue(context.Background(), alice)
	if _, ok := fault.RetryAfter(err); !errors.Is(err, fault.ErrUnavailable) || ok {
		t.Errorf("fail/not a signing key: %v has retry advice %v", err, ok)
	}
}
