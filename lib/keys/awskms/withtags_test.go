package awskms_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// TestWithTags: a backend's own tags are on every key it creates, in KMS, beside the
// request's; a request cannot set or override them, and they count against KMS's 50 tags.
func TestWithTags(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	const stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/signum/1c2fa620-982a-11e3-aff7-50e2416294e0"
	b := awskms.New(tg.Clients.KMS, awskms.WithTags(map[string]string{"signum:stack": stack}))

	k, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "crt_1", Tags: map[string]string{"signum:deployment": "dep_1", "signum:certificate": "crt_1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.ScheduleDeletion(context.Background(), k.URI()) })
	want := map[string]string{"signum:stack": stack, "signum:deployment": "dep_1", "signum:certificate": "crt_1", awskms.LabelTag: "crt_1"}
	if got := tagsOf(t, tg, k.URI()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tags %v, want %v", got, want)
	}

	before := keyCount(t, tg)
	many := map[string]string{}
	for i := range 49 {
		many[fmt.Sprintf("t%02d", i)] = "v"
	}
	for name, tags := range map[string]map[string]string{
		"fail/overrides-own-tag": {"signum:stack": "arn:aws:cloudformation:eu-west-1:123456789012:stack/other/x"},
		"fail/sets-own-tag":      {"signum:stack": stack},
		"fail/49-tags":           many, // 49 + the stack + the label is 51
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "c", Tags: tags})
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("got %v, want a problem", err)
			}
		})
	}
	if n := keyCount(t, tg); n != before {
		t.Fatalf("refused requests created %d keys", n-before)
	}
}

func tagsOf(t *testing.T, tg *devstack.Target, uri string) map[string]string {
	t.Helper()
	out, err := tg.Clients.KMS.ListResourceTags(context.Background(), &kms.ListResourceTagsInput{KeyId: aws.String(uri[len("awskms:///"):])})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tag := range out.Tags {
		got[*tag.TagKey] = *tag.TagValue
	}
	return got
}

func keyCount(t *testing.T, tg *devstack.Target) int {
	t.Helper()
	n := 0
	p := kms.NewListKeysPaginator(tg.Clients.KMS, &kms.ListKeysInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Keys)
	}
	return n
}
