package devstack

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
)

// TargetEnv selects where integration tests run: unset means the embedded stand-ins;
// "aws" means the endpoint and credentials of the environment (AWS_ENDPOINT_URL for
// LocalStack, nothing for a real account), as `make test-aws` sets it.
const TargetEnv = "SIGNUM_TEST_TARGET"

// Target is where a test's table lives.
type Target struct {
	Clients *function.Clients
	Table   string
	// Stack is the embedded stack, nil when testing against an outside endpoint.
	Stack *Stack
}

// NewTarget gives the test a fresh, empty table: on the embedded stand-ins (started for this
// test and stopped after it), or, when SIGNUM_TEST_TARGET=aws, on the outside endpoint with a
// uniquely named table that is deleted after the test.
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
	table := "signum-test-" + strings.ToLower(rand.Text()[:10])
	if outside {
		cfg := function.Config{
			Region:           envOr("AWS_REGION", Region),
			DynamoDBEndpoint: os.Getenv("AWS_ENDPOINT_URL"),
			KMSEndpoint:      os.Getenv("AWS_ENDPOINT_URL"),
		}
		c, err := function.NewClients(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateTable(ctx, c.DynamoDB, table); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = c.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return &Target{Clients: c, Table: table}
	}
	st, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	c, err := function.NewClients(ctx, st.Env(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := Bootstrap(ctx, c, table); err != nil {
		t.Fatal(err)
	}
	return &Target{Clients: c, Table: table, Stack: st}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
