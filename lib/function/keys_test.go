package function_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestCertificateKeysNameStackAndDeployment: a certificate created through the key registry
// the certificates function builds has its KMS key tagged with the stack (SIGNUM_STACK), the
// deployment and the certificate — the tags template.yaml requires on CreateKey and of every
// key the certificates function and the signer may use.
func TestCertificateKeysNameStackAndDeployment(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	cfg := tg.Stack.Env(tg.Table)
	cfg.Stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/signum/1c2fa620-982a-11e3-aff7-50e2416294e0"
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: discard, Now: time.Now}
	reg, err := function.KeyRegistry(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "tags", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1", DomainName: "tags.test.example"}
	if _, _, err := st.Provision(ctx, store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"}, LocalDomain: identity.DefaultLocalDomain(d.ID)}); err != nil {
		t.Fatal(err)
	}
	life := certificates.NewLifecycle(st, reg, "awskms", time.Now, func(context.Context) *slog.Logger { return discard })
	c, err := life.Create(ctx, d.ID, "test", certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Tags Test"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tg.Clients.KMS.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(c.KeyURI[len("awskms:///"):])})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tag := range out.Tags {
		got[*tag.TagKey] = *tag.TagValue
	}
	for k, want := range map[string]string{function.StackTag: cfg.Stack, "signum:deployment": d.ID, "signum:certificate": c.ID} {
		if got[k] != want {
			t.Errorf("tag %s is %q, want %q (tags %v)", k, got[k], want, got)
		}
	}
}

// TestStackFromEnv: the stack comes from SIGNUM_STACK, which template.yaml sets.
func TestStackFromEnv(t *testing.T) {
	setRequired(t)
	t.Setenv("SIGNUM_STACK", "arn:aws:cloudformation:eu-west-1:123456789012:stack/signum/x")
	c, err := function.FromEnv()
	if err != nil || c.Stack != "arn:aws:cloudformation:eu-west-1:123456789012:stack/signum/x" {
		t.Fatalf("stack %q, %v", c.Stack, err)
	}
}
