package local

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
)

// TestFaultsReachTheSDKAsAWSErrors: an injected fault is answered at the transport, so the
// SDK parses it into the service's typed error and its standard retryer treats it as it
// would AWS's: throttling of a single-item call and KMS's internal errors are retried (a
// call whose first attempt fails succeeds), a throttled transaction is not, and what is left
// after the attempts reaches the caller typed as from AWS.
func TestFaultsReachTheSDKAsAWSErrors(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	// The SDK's standard retryer (3 attempts, its classification of errors) without its
	// waits, so that the test takes no time.
	base := &function.Clients{
		DynamoDB: dynamodb.New(tg.Clients.DynamoDB.Options(), func(o *dynamodb.Options) { o.Retryer = noWaitRetryer() }),
		KMS:      kms.New(tg.Clients.KMS.Options(), func(o *kms.Options) { o.Retryer = noWaitRetryer() }),
		S3:       tg.Clients.S3, APIGateway: tg.Clients.APIGateway,
		Messaging: &messaging.Clients{EventBridge: eventbridge.New(eventbridge.Options{}), SQS: sqs.New(sqs.Options{})},
	}

	var mu sync.Mutex
	var attempts, failFirst int
	c := &Calls{faults: func(service, op string, input any) *Fault {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts > failFirst {
			return nil
		}
		if service == kms.ServiceID {
			return KMSInternalFault()
		}
		return DynamoDBThrottleFault(input)
	}}
	cl := c.recording("test", base)
	// run makes call with its first fail attempts failed, and returns its error and how many
	// attempts the SDK made.
	run := func(fail int, call func() error) (error, int) {
		mu.Lock()
		attempts, failFirst = 0, fail
		mu.Unlock()
		err := call()
		mu.Lock()
		defer mu.Unlock()
		return err, attempts
	}
	key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "soak"}, "SK": &types.AttributeValueMemberS{Value: "fault"}}
	get := func() error {
		_, err := cl.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tg.Table), Key: key})
		return err
	}
	put := func() error {
		_, err := cl.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(tg.Table), Item: key}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String(tg.Table), ConditionExpression: aws.String("attribute_not_exists(PK)"),
				Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "other"}, "SK": &types.AttributeValueMemberS{Value: "x"}}}},
		}})
		return err
	}
	list := func() error {
		_, err := cl.KMS.ListKeys(ctx, &kms.ListKeysInput{})
		return err
	}

	// ok: a throttled GetItem is retried and succeeds; a KMS internal error too.
	if err, n := run(1, get); err != nil || n != 2 {
		t.Errorf("GetItem throttled once: %v after %d attempts, want success after 2", err, n)
	}
	if err, n := run(1, list); err != nil || n != 2 {
		t.Errorf("KMS failing once: %v after %d attempts, want success after 2", err, n)
	}
	// fail: throttled on every attempt, the SDK gives up after 3 with DynamoDB's error.
	err, n := run(3, get)
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || n != 3 {
		t.Errorf("GetItem throttled throughout: %v after %d attempts, want ProvisionedThroughputExceededException after 3", err, n)
	}
	// fail: KMS failing throughout, the SDK gives up after 3 with KMS's error.
	err, n = run(3, list)
	var kie *kmstypes.KMSInternalException
	if !errors.As(err, &kie) || n != 3 {
		t.Errorf("KMS failing throughout: %v after %d attempts, want KMSInternalException after 3", err, n)
	}
	// fail: a throttled transaction is cancelled, one reason per item, and not retried; it
	// wrote nothing.
	err, n = run(1, put)
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || n != 1 {
		t.Fatalf("transaction throttled: %v after %d attempts, want TransactionCanceledException after 1", err, n)
	}
	if len(tce.CancellationReasons) != 2 || aws.ToString(tce.CancellationReasons[0].Code) != "ThrottlingError" || aws.ToString(tce.CancellationReasons[1].Code) != "None" {
		t.Errorf("cancellation reasons %+v, want ThrottlingError, None", tce.CancellationReasons)
	}
	out, err := tg.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tg.Table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item != nil {
		t.Errorf("after the throttled transaction: item %v, %v; want none", out.Item, err)
	}
	// ok: the same transaction without a fault goes through to the stand-in.
	if err, n := run(0, put); err != nil || n != 1 {
		t.Errorf("transaction without fault: %v after %d attempts", err, n)
	}
}

// noWaitRetryer is the SDK's standard retryer (3 attempts) without its backoff and quota.
func noWaitRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}
