package devstack_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/devstack"
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
}
