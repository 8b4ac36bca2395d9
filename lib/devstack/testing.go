package devstack

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
)

// TargetEnv selects where integration tests run: unset means the embedded stand-ins;
// "aws" means the endpoints and credentials of the environment (AWS_ENDPOINT_URL for
// LocalStack, or AWS_ENDPOINT_URL_DYNAMODB, _KMS and _S3 for one service each, as the SDK
// and function.FromEnv read them; nothing for a real account), as `make test-aws` sets it.
const TargetEnv = "SIGNUM_TEST_TARGET"

// Target is where a test's table and anchor bucket live.
type Target struct {
	Clients *function.Clients
	Table   string
	// Bucket is an S3 bucket with Object Lock and versioning, as the template's AnchorBucket,
	// reached through Clients.S3: the stack's AnchorBucket on the embedded stand-ins, a fresh
	// bucket of the test's own on an outside endpoint.
	Bucket string
	// Stack is the embedded stack, nil when testing against an outside endpoint.
	Stack *Stack
}

// NewTarget gives the test a fresh, empty table and an anchor bucket: on the embedded
// stand-ins (started for this test and stopped after it), or, when SIGNUM_TEST_TARGET=aws, on
// the outside endpoints with a uniquely named table and bucket that are deleted after the test.
func NewTarget(t testing.TB) *Target {
	t.Helper()
	return newTarget(t, os.Getenv(TargetEnv) == "aws")
}

// NewEmbedded is NewTarget always on the embedded stand-ins: for tests that stop and start
// them, or that test handlers rather than the store's contract with DynamoDB.
func NewEmbedded(t testing.TB) *Target {
	t.Helper()
	return newTarget(t, false)
}

func newTarget(t testing.TB, outside bool) *Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := "signum-test-" + strings.ToLower(rand.Text()[:10])
	if outside {
		region := envOr("AWS_REGION", Region)
		cfg := function.Config{
			Region:           region,
			DynamoDBEndpoint: firstSet("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"),
			KMSEndpoint:      firstSet("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"),
			S3Endpoint:       firstSet("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		}
		c, err := function.NewClients(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateTable(ctx, c.DynamoDB, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = c.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		})
		if err := createAnchorBucket(ctx, c.S3, name, region); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := deleteBucket(context.Background(), c.S3, name); err != nil {
				t.Logf("test bucket %s is left behind: %v", name, err)
			}
		})
		return &Target{Clients: c, Table: name, Bucket: name}
	}
	st, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	c, err := function.NewClients(ctx, st.Env(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := Bootstrap(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	return &Target{Clients: c, Table: name, Bucket: AnchorBucket, Stack: st}
}

// createAnchorBucket creates a bucket as the template's AnchorBucket: Object Lock, versioning
// and a default retention, here in governance mode for a day, so that a write without a
// checksum fails as it would in the stack and the test can still delete what it wrote
// (deleteBucket).
func createAnchorBucket(ctx context.Context, c *s3.Client, bucket, region string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}
	if region != "us-east-1" { // where S3 refuses the location constraint
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		return err
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return err
	}
	_, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(bucket),
		ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
			Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{Mode: s3types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}})
	// gofakes3, the S3 stand-in, has no Object Lock: it takes PUT ?object-lock for a second
	// creation of the bucket and answers that the bucket exists, which S3 itself never answers
	// to this call. Against the stand-ins' S3 the bucket is then versioned without retention.
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "BucketAlreadyExists" {
		return nil
	}
	return err
}

// deleteBucket deletes every version of every object of the bucket, bypassing its governance
// retention, and then the bucket. LocalStack allows the bypass; in AWS it takes the
// s3:BypassGovernanceRetention permission, and without it the bucket stays (its objects until
// their retention ends a day later) and the test says so in its log.
func deleteBucket(ctx context.Context, c *s3.Client, bucket string) error {
	pages := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		var errs []error
		del := func(key, version *string) {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key, VersionId: version, BypassGovernanceRetention: aws.Bool(true)})
			errs = append(errs, err)
		}
		for _, v := range page.Versions {
			del(v.Key, v.VersionId)
		}
		for _, m := range page.DeleteMarkers {
			del(m.Key, m.VersionId)
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// firstSet is the value of the first of the variables that is set, as function.FromEnv
// chooses a service's endpoint.
func firstSet(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
