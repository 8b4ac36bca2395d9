package devstack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
)

// TestLocalStackHookMatchesBootstrap: LocalStack's init hook creates every key the embedded
// stand-ins are bootstrapped with, with the same spec and usage, and the anchor bucket, so that
// the functions run against LocalStack as against make run.
func TestLocalStackHookMatchesBootstrap(t *testing.T) {
	hook, err := os.ReadFile("../../localstack/init/ready.d/10-signum.sh")
	if err != nil {
		t.Fatal(err)
	}
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	aliases, err := tg.Clients.KMS.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range aliases.Aliases {
		if a.TargetKeyId == nil || !strings.HasPrefix(*a.AliasName, "alias/signum-") {
			continue
		}
		k, err := tg.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: a.TargetKeyId})
		if err != nil {
			t.Fatal(err)
		}
		n++
		want := "ensure_key " + *a.AliasName + " " + string(k.KeyMetadata.KeySpec) + " " + string(k.KeyMetadata.KeyUsage) + " "
		if !strings.Contains(string(hook), want) {
			t.Errorf("the LocalStack hook does not create %s (want a line %q)", *a.AliasName, want)
		}
	}
	if n < 3 {
		t.Fatalf("Bootstrap made %d signum keys", n)
	}
	if !strings.Contains(string(hook), "bucket="+devstack.AnchorBucket+"\n") {
		t.Errorf("the LocalStack hook does not create the anchor bucket %s", devstack.AnchorBucket)
	}
	if !strings.Contains(string(hook), "truststore="+devstack.TruststoreBucket+"\n") || !strings.Contains(string(hook), `put-bucket-versioning --bucket "$truststore" --versioning-configuration Status=Enabled`) {
		t.Errorf("the LocalStack hook does not create the versioned truststore bucket %s", devstack.TruststoreBucket)
	}
}

// TestAWSModeOnStandins runs contract tests as make test-aws does (SIGNUM_TEST_TARGET=aws, in
// a go test of their own), against stand-ins started here and named to it only through
// AWS_ENDPOINT_URL_DYNAMODB, _KMS and _S3, one port each. LocalStack needs Docker, which CI
// may not have; this keeps NewTarget's outside path (the endpoints from the environment, the
// table and the Object Lock bucket it creates and deletes) from rotting unseen. Counting
// proxies in front of the stand-ins show that the tests went there, and cleaned up.
func TestAWSModeOnStandins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the store's tests in a go test of their own")
	}
	goBin, err := exec.LookPath(filepath.Join(runtime.GOROOT(), "bin", "go"))
	if err != nil {
		t.Skipf("no go command to run the tests with: %v", err)
	}
	st, err := devstack.Start(devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	ctx := context.Background()
	seen := &calls{}
	env := []string{"SIGNUM_TEST_TARGET=aws", "AWS_REGION=" + devstack.Region, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_ENDPOINT_URL_DYNAMODB=" + seen.proxy(t, "dynamodb", st.DynamoDB.URL()),
		"AWS_ENDPOINT_URL_KMS=" + seen.proxy(t, "kms", st.KMS.URL()),
		"AWS_ENDPOINT_URL_S3=" + seen.proxy(t, "s3", st.S3.URL())}
	// Nothing of the environment's own AWS configuration reaches the tests: no account, no
	// profile, no AWS_ENDPOINT_URL that would win over nothing.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, devstack.TargetEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true")
	tests := []string{"TestS3AnchorsAreWrittenOnce", "TestAppendEvent"}
	cmd := exec.Command(goBin, "test", "-count=1", "-v", "-run", "^("+strings.Join(tests, "|")+")$", "./lib/store/")
	cmd.Dir, cmd.Env = filepath.Join("..", ".."), env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("SIGNUM_TEST_TARGET=aws go test ./lib/store/: %v\n%s", err, out)
	}
	for _, name := range tests {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass:\n%s", name, out)
		}
	}
	for _, want := range []string{"dynamodb DynamoDB_20120810.CreateTable", "dynamodb DynamoDB_20120810.DeleteTable",
		"s3 PUT bucket", "s3 PUT bucket?versioning", "s3 PUT bucket?object-lock", "s3 PUT object", "s3 DELETE object?versionId", "s3 DELETE bucket"} {
		if !seen.has(want) {
			t.Errorf("the tests did not call %q through the environment's endpoints; they called %v", want, seen.list())
		}
	}
	// The test's bucket is gone; the stand-in's own (anchors, truststore) are left.
	c, err := function.NewClients(ctx, st.Env("unused"))
	if err != nil {
		t.Fatal(err)
	}
	buckets, err := c.S3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets.Buckets {
		names = append(names, *b.Name)
	}
	slices.Sort(names)
	if want := []string{devstack.AnchorBucket, devstack.TruststoreBucket}; !slices.Equal(names, want) {
		t.Fatalf("buckets after the tests: %v, want %v", names, want)
	}
}

// calls are the kinds of request the proxies passed on: "<service> <operation>", where an S3
// operation is its method, whether it names a bucket or an object, and its query's keys
// (those that say which operation, as "versioning" or "versionId").
type calls struct {
	mu   sync.Mutex
	seen map[string]bool
}

// proxy starts a proxy to the stand-in at target that notes each call, and returns its URL.
func (c *calls) proxy(t *testing.T, service, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		if service == "s3" {
			op = r.Method + " bucket"
			if strings.Contains(strings.TrimPrefix(r.URL.Path, "/"), "/") {
				op = r.Method + " object"
			}
			if keys := slices.Sorted(func(yield func(string) bool) {
				for k := range r.URL.Query() {
					if k != "x-id" && !yield(k) { // x-id is the SDK's name of the operation
						return
					}
				}
			}); len(keys) > 0 {
				op += "?" + strings.Join(keys, "&")
			}
		}
		c.mu.Lock()
		if c.seen == nil {
			c.seen = map[string]bool{}
		}
		c.seen[service+" "+op] = true
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (c *calls) has(call string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[call]
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(func(yield func(string) bool) {
		for k := range c.seen {
			if !yield(k) {
				return
			}
		}
	})
}
