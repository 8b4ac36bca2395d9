package function_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	d, c := createCertificate(t, tg, cfg)
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

// createCertificate provisions a deployment and creates a certificate in it through the key
// registry that the certificates function builds from cfg.
func createCertificate(t *testing.T, tg *devstack.Target, cfg function.Config) (tenant.Deployment, certificates.Certificate) {
	t.Helper()
	ctx := context.Background()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: discard, Now: time.Now}
	reg, err := function.KeyRegistry(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "tags", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1", DomainName: tenant.NewID("d") + ".test.example"}
	group := certificates.Group{ID: certificates.NewGroupID(), Name: "Default"}
	if _, _, err := st.Provision(ctx, store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"}, LocalDomain: identity.DefaultLocalDomain(d.ID),
		FirstGroup: &group}); err != nil {
		t.Fatal(err)
	}
	life := certificates.NewLifecycle(st, reg, "awskms", time.Now, func(context.Context) *slog.Logger { return discard })
	c, err := life.Create(ctx, d.ID, "test", certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Tags Test"}, Groups: []string{group.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// TestCertificateKeysHaveKeyPolicy: a certificate's KMS key, created through the key registry
// the certificates function builds, has the explicit key policy of SIGNUM_KEY_USERS and
// SIGNUM_KEY_MANAGER (the local roles, as make run sets them): only those roles may sign, and
// the account root administers the key. Without them, the key has KMS's default policy, which
// lets the root's IAM policies grant kms:Sign to anyone.
func TestCertificateKeysHaveKeyPolicy(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	root := "arn:aws:iam::" + devstack.AccountID + ":root"
	roles := []string{devstack.SignerRoleARN, devstack.CertificatesRoleARN}
	for _, tt := range []struct {
		name       string
		users      []string
		manager    string
		wantPolicy bool
	}{
		{"ok/local-roles", roles, devstack.CertificatesRoleARN, true},
		{"ok/no-roles-default-policy", nil, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tg.Stack.Env(tg.Table)
			cfg.KeyUsers, cfg.KeyManager = tt.users, tt.manager
			_, c := createCertificate(t, tg, cfg)
			out, err := tg.Clients.KMS.GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(c.KeyURI[len("awskms:///"):]), PolicyName: aws.String("default")})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Statement []struct {
					Sid, Effect string
					Principal   json.RawMessage
					Action      json.RawMessage
					Condition   map[string]map[string][]string
				}
			}
			if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
				t.Fatalf("policy %s: %v", aws.ToString(out.Policy), err)
			}
			got := map[string]string{}
			for _, s := range doc.Statement {
				got[s.Sid] = fmt.Sprintf("%s %s %s %v", s.Effect, s.Principal, s.Action, s.Condition)
			}
			quoted := func(arns ...string) string { b, _ := json.Marshal(arns); return string(b) }
			want := map[string]string{
				"AccountAdministers": fmt.Sprintf(`Allow {"AWS":%s} %s map[]`, quoted(root), quoted("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
					"kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion")),
				"FunctionsUseTheKey":           fmt.Sprintf(`Allow {"AWS":%s} ["kms:Sign","kms:GetPublicKey","kms:DescribeKey"] map[]`, quoted(roles...)),
				"ManagerDeletesTheKey":         fmt.Sprintf(`Allow {"AWS":%s} ["kms:ScheduleKeyDeletion"] map[]`, quoted(devstack.CertificatesRoleARN)),
				"OnlyFunctionsSign":            fmt.Sprintf(`Deny "*" ["kms:Sign"] map[ArnNotEquals:map[aws:PrincipalArn:%v]]`, roles),
				"OnlyAdministratorsTagOrGrant": fmt.Sprintf(`Deny "*" ["kms:TagResource","kms:UntagResource","kms:CreateGrant"] map[ArnNotEquals:map[aws:PrincipalArn:[%s]]]`, root),
			}
			if !tt.wantPolicy {
				if len(got) != 1 || !strings.Contains(aws.ToString(out.Policy), `"kms:*"`) {
					t.Fatalf("policy without key users: %s", aws.ToString(out.Policy))
				}
				return
			}
			if len(got) != len(want) {
				t.Errorf("statements %v", got)
			}
			for sid, w := range want {
				if got[sid] != w {
					t.Errorf("%s:\n got %s\nwant %s", sid, got[sid], w)
				}
			}
		})
	}
}
