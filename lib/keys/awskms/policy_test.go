package awskms_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

const (
	testRoot    = "arn:aws:iam::123456789012:root"
	testSigner  = "arn:aws:iam::123456789012:role/signum-SignerFunctionRole-AbC123"
	testManager = "arn:aws:iam::123456789012:role/signum-ConsoleCertificatesFunctionRole-XyZ789"
	testAdmin   = "arn:aws:iam::123456789012:role/key-admins/KeyAdmin"
	// Roles in the stand-in's account, for the key made in it.
	localSigner  = "arn:aws:iam::" + devstack.AccountID + ":role/signer"
	localManager = "arn:aws:iam::" + devstack.AccountID + ":role/certificates"
)

// policyCase is one configuration of NewKeyPolicy and who its policy must name.
type policyCase struct {
	name                     string
	users                    []string
	manager, admin           string
	root                     string   // the account root the policy must derive
	signers, admins          []string // aws:PrincipalArn that may sign, and tag or grant
	wantErr                  string   // part of the error, for fail/ cases
	wantManagerDeletesTheKey bool
}

var policyCases = []policyCase{
	{name: "ok/signer-and-manager", users: []string{testSigner, testManager}, manager: testManager,
		root: testRoot, signers: []string{testSigner, testManager}, admins: []string{testRoot}, wantManagerDeletesTheKey: true},
	{name: "ok/manager-implied-user", users: []string{testSigner}, manager: testManager, admin: testAdmin,
		root: testRoot, signers: []string{testSigner, testManager}, admins: []string{testRoot, testAdmin}, wantManagerDeletesTheKey: true},
	{name: "ok/users-only", users: []string{testSigner}, root: testRoot, signers: []string{testSigner}, admins: []string{testRoot}},
	{name: "ok/admin-is-root", users: []string{testSigner}, manager: testManager, admin: testRoot,
		root: testRoot, signers: []string{testSigner, testManager}, admins: []string{testRoot}, wantManagerDeletesTheKey: true},
	{name: "ok/admin-user", users: []string{testSigner}, admin: "arn:aws:iam::123456789012:user/alice",
		root: testRoot, signers: []string{testSigner}, admins: []string{testRoot, "arn:aws:iam::123456789012:user/alice"}},
	{name: "ok/china", users: []string{"arn:aws-cn:iam::123456789012:role/s"}, manager: "arn:aws-cn:iam::123456789012:role/path/to/c",
		root: "arn:aws-cn:iam::123456789012:root", signers: []string{"arn:aws-cn:iam::123456789012:role/s", "arn:aws-cn:iam::123456789012:role/path/to/c"},
		admins: []string{"arn:aws-cn:iam::123456789012:root"}, wantManagerDeletesTheKey: true},
	{name: "ok/local", users: []string{localSigner, localManager}, manager: localManager,
		root: "arn:aws:iam::" + devstack.AccountID + ":root", signers: []string{localSigner, localManager},
		admins: []string{"arn:aws:iam::" + devstack.AccountID + ":root"}, wantManagerDeletesTheKey: true},

	{name: "fail/none", wantErr: "no role"},
	{name: "fail/empty-user", users: []string{""}, wantErr: `"" is not an IAM role ARN`},
	{name: "fail/not-an-arn", users: []string{"SignerFunctionRole"}, wantErr: "is not an IAM role ARN"},
	{name: "fail/user-not-role", users: []string{"arn:aws:iam::123456789012:user/alice"}, wantErr: "is not an IAM role ARN"},
	{name: "fail/assumed-role", users: []string{"arn:aws:sts::123456789012:assumed-role/r/session"}, wantErr: "is not an IAM role ARN"},
	{name: "fail/root-as-role", users: []string{testRoot}, wantErr: "is not an IAM role ARN"},
	{name: "fail/short-account", users: []string{"arn:aws:iam::12345:role/r"}, wantErr: "is not an IAM role ARN"},
	{name: "fail/wildcard", users: []string{"arn:aws:iam::123456789012:role/*"}, wantErr: "is not an IAM role ARN"},
	{name: "fail/other-account", users: []string{testSigner}, manager: "arn:aws:iam::210987654321:role/c", wantErr: "not in partition aws and account 123456789012"},
	{name: "fail/other-partition", users: []string{testSigner, "arn:aws-us-gov:iam::123456789012:role/c"}, wantErr: "not in partition aws"},
	{name: "fail/bad-manager", users: []string{testSigner}, manager: "ConsoleCertificatesFunctionRole", wantErr: "is not an IAM role ARN"},
	{name: "fail/bad-admin", users: []string{testSigner}, admin: "admin", wantErr: "key administrator"},
	{name: "fail/admin-other-account", users: []string{testSigner}, admin: "arn:aws:iam::210987654321:role/admin", wantErr: "key administrator"},
	{name: "fail/admin-session", users: []string{testSigner}, admin: "arn:aws:sts::123456789012:assumed-role/admin/me", wantErr: "key administrator"},
}

// TestNewKeyPolicy: the policy names the roles, their account's root and the administrator
// as the statements above WithKeyPolicy say; ARNs that are not what they should be are
// refused, with the ARN in the error, so that a function with a mistyped role stops at start.
func TestNewKeyPolicy(t *testing.T) {
	for _, tt := range policyCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := awskms.NewKeyPolicy(tt.users, tt.manager, tt.admin)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkKeyPolicy(p.String(), tt) {
				t.Error(problem)
			}
		})
	}
}

// TestKeyPolicyGrammar: every policy is a key policy document in the IAM policy grammar, as
// far as it can be checked here (KMS checks the rest at CreateKey): version 2012-10-17, and
// every statement with a unique Sid, an Effect, a Principal, kms: actions and Resource "*",
// and no field IAM does not know.
func TestKeyPolicyGrammar(t *testing.T) {
	for _, tt := range policyCases {
		if tt.wantErr != "" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			p, err := awskms.NewKeyPolicy(tt.users, tt.manager, tt.admin)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkGrammar(p.String()) {
				t.Error(problem)
			}
		})
	}
	// The checker itself: documents that break the grammar fail it.
	for name, doc := range map[string]string{
		"no-version":       `{"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"],"Resource":"*"}]}`,
		"old-version":      `{"Version":"2008-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"],"Resource":"*"}]}`,
		"no-effect":        `{"Version":"2012-10-17","Statement":[{"Sid":"A","Principal":"*","Action":["kms:Sign"],"Resource":"*"}]}`,
		"no-principal":     `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":["kms:Sign"],"Resource":"*"}]}`,
		"no-action":        `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Resource":"*"}]}`,
		"no-resource":      `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"]}]}`,
		"unknown-field":    `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"],"Resource":"*","Actions":[]}]}`,
		"duplicate-sid":    `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"],"Resource":"*"},{"Sid":"A","Effect":"Allow","Principal":"*","Action":["kms:Sign"],"Resource":"*"}]}`,
		"empty-principals": `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":[]},"Action":["kms:Sign"],"Resource":"*"}]}`,
	} {
		if len(checkGrammar(doc)) == 0 {
			t.Errorf("the grammar check passes a document with %s", name)
		}
	}
}

// TestKeyPolicyKeepsAccountAdministration is why WithKeyPolicy may bypass KMS's lockout
// safety check: in every policy, the account root is allowed to administer the key, key policy
// included, and no Deny takes any of that from it.
func TestKeyPolicyKeepsAccountAdministration(t *testing.T) {
	for _, tt := range policyCases {
		if tt.wantErr != "" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			p, err := awskms.NewKeyPolicy(tt.users, tt.manager, tt.admin)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkAdministration(p.String(), tt.root) {
				t.Error(problem)
			}
		})
	}
	// The check fails a policy that lets nobody administer the key, and one that denies the
	// root what it needs.
	noAdmin := `{"Version":"2012-10-17","Statement":[{"Sid":"FunctionsUseTheKey","Effect":"Allow","Principal":{"AWS":["` + testSigner + `"]},"Action":["kms:Sign"],"Resource":"*"}]}`
	denied := `{"Version":"2012-10-17","Statement":[{"Sid":"AccountAdministers","Effect":"Allow","Principal":{"AWS":["` + testRoot + `"]},"Action":["kms:*"],"Resource":"*"},` +
		`{"Sid":"NoPolicyChange","Effect":"Deny","Principal":"*","Action":["kms:Put*"],"Resource":"*"}]}`
	for name, doc := range map[string]string{"no-admin": noAdmin, "denied": denied} {
		if len(checkAdministration(doc, testRoot)) == 0 {
			t.Errorf("the administration check passes %s", name)
		}
	}
}

// TestWithKeyPolicyZero: a zero KeyPolicy is a wiring mistake and panics.
func TestWithKeyPolicyZero(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("WithKeyPolicy(KeyPolicy{}) did not panic")
		}
	}()
	awskms.WithKeyPolicy(awskms.KeyPolicy{})
}

// TestGenerateSendsKeyPolicy: CreateKey gets the policy and bypasses the lockout safety check
// with WithKeyPolicy, and neither without it.
func TestGenerateSendsKeyPolicy(t *testing.T) {
	p, err := awskms.NewKeyPolicy([]string{testSigner}, testManager, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		opts   []awskms.Option
		policy string
	}{
		{"ok/with-policy", []awskms.Option{awskms.WithKeyPolicy(p)}, p.String()},
		{"ok/default-policy", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, kmstypes.KeySpecEccNistP256)
			if _, err := awskms.New(f, tt.opts...).Generate(context.Background(), keys.GenerateRequest{Algorithm: keys.ECP256, Label: "c"}); err != nil {
				t.Fatal(err)
			}
			in := f.creates[0]
			if aws.ToString(in.Policy) != tt.policy || in.BypassPolicyLockoutSafetyCheck != (tt.policy != "") {
				t.Fatalf("CreateKey with policy %q, bypass %v", aws.ToString(in.Policy), in.BypassPolicyLockoutSafetyCheck)
			}
		})
	}
}

// TestGenerateWithKeyPolicy: a key made with WithKeyPolicy has that policy in KMS (the
// stand-in stores and returns key policies; it does not enforce them, so who may do what is
// checked on the document). A key made without it has KMS's default policy, which the same
// check fails: the account root may do anything with it, sign included.
func TestGenerateWithKeyPolicy(t *testing.T) {
	// Embedded only: in an AWS account, KMS refuses a policy naming roles that do not exist.
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	tt := policyCases[slices.IndexFunc(policyCases, func(c policyCase) bool { return c.name == "ok/local" })]
	tt.admin, tt.admins = "arn:aws:iam::"+devstack.AccountID+":role/KeyAdmin", append(tt.admins, "arn:aws:iam::"+devstack.AccountID+":role/KeyAdmin")
	p, err := awskms.NewKeyPolicy(tt.users, tt.manager, tt.admin)
	if err != nil {
		t.Fatal(err)
	}
	req := keys.GenerateRequest{Algorithm: keys.ECP256, Label: "policy-" + rand.Text()[:8], Tags: map[string]string{"signum:deployment": "dep_1"}}

	b := awskms.New(tg.Clients.KMS, awskms.WithKeyPolicy(p))
	k, err := b.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.ScheduleDeletion(context.Background(), k.URI()) })
	doc := keyPolicyOf(t, tg, k.URI())
	for _, problem := range append(append(checkKeyPolicy(doc, tt), checkGrammar(doc)...), checkAdministration(doc, tt.root)...) {
		t.Error(problem)
	}
	// The key is still tagged, described and usable as without a policy (the stand-in does
	// not enforce the policy, so this shows only that it did not break the request).
	if got := tagsOf(t, tg, k.URI()); got["signum:deployment"] != "dep_1" || got[awskms.LabelTag] != req.Label {
		t.Errorf("tags %v", got)
	}

	plain := awskms.New(tg.Clients.KMS)
	def, err := plain.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.ScheduleDeletion(context.Background(), def.URI()) })
	if problems := checkKeyPolicy(keyPolicyOf(t, tg, def.URI()), tt); len(problems) == 0 {
		t.Fatal("a key with KMS's default policy passes the check")
	} else {
		t.Logf("without WithKeyPolicy, as expected: %s", strings.Join(problems, "; "))
	}
}

func keyPolicyOf(t *testing.T, tg *devstack.Target, uri string) string {
	t.Helper()
	out, err := tg.Clients.KMS.GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(uri[len("awskms:///"):]), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Policy)
}

// policyDoc is a key policy as IAM reads it; Action and AWS principals may be a string or a
// list.
type policyDoc struct {
	Id        string
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
	Resource  json.RawMessage
	Condition map[string]map[string]json.RawMessage
}

func parsePolicy(doc string) (policyDoc, error) {
	var p policyDoc
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	return p, err
}

// strs reads a JSON string or list of strings.
func strs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// principals is the AWS principals of s, or ["*"] for everyone.
func principals(s policyStatement) []string {
	var star string
	if json.Unmarshal(s.Principal, &star) == nil {
		return []string{star}
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(s.Principal, &p) != nil {
		return nil
	}
	return strs(p["AWS"])
}

func (p policyDoc) statement(sid string) (policyStatement, bool) {
	for _, s := range p.Statement {
		if s.Sid == sid {
			return s, true
		}
	}
	return policyStatement{}, false
}

// covers reports whether the policy action pattern a (kms:Get*, kms:*) covers the action op.
func covers(a, op string) bool {
	ok, _ := path.Match(strings.ToLower(a), strings.ToLower(op))
	return ok
}

func coversAny(actions []string, op string) bool {
	return slices.ContainsFunc(actions, func(a string) bool { return covers(a, op) })
}

// cryptoOps are KMS's cryptographic operations: the account's administration may grant none.
var cryptoOps = []string{"kms:Sign", "kms:Verify", "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
	"kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateMac", "kms:VerifyMac", "kms:DeriveSharedSecret"}

// checkKeyPolicy says how doc differs from the certificate-key policy of tt.
func checkKeyPolicy(doc string, tt policyCase) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p, err := parsePolicy(doc)
	if err != nil {
		return []string{fmt.Sprintf("policy %s: %v", doc, err)}
	}
	if s, ok := p.statement("AccountAdministers"); !ok {
		bad("no AccountAdministers statement")
	} else {
		if s.Effect != "Allow" || !slices.Equal(principals(s), []string{tt.root}) {
			bad("AccountAdministers: %s to %v, want Allow to %s", s.Effect, principals(s), tt.root)
		}
		for _, op := range cryptoOps {
			if coversAny(strs(s.Action), op) {
				bad("AccountAdministers allows %s", op)
			}
		}
	}
	if s, ok := p.statement("FunctionsUseTheKey"); !ok {
		bad("no FunctionsUseTheKey statement")
	} else {
		if s.Effect != "Allow" || !slices.Equal(principals(s), tt.signers) {
			bad("FunctionsUseTheKey: %s to %v, want Allow to %v", s.Effect, principals(s), tt.signers)
		}
		if got := strs(s.Action); !slices.Equal(got, []string{"kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"}) {
			bad("FunctionsUseTheKey allows %v", got)
		}
	}
	s, ok := p.statement("ManagerDeletesTheKey")
	switch {
	case ok != tt.wantManagerDeletesTheKey:
		bad("ManagerDeletesTheKey statement: %v, want %v", ok, tt.wantManagerDeletesTheKey)
	case ok && (s.Effect != "Allow" || !slices.Equal(principals(s), []string{tt.manager}) || !slices.Equal(strs(s.Action), []string{"kms:ScheduleKeyDeletion"})):
		bad("ManagerDeletesTheKey: %s %v to %v", s.Effect, strs(s.Action), principals(s))
	}
	// Sign is allowed to the roles only, by name: no statement allows it to anyone else.
	for _, s := range p.Statement {
		if s.Effect == "Allow" && coversAny(strs(s.Action), "kms:Sign") {
			for _, who := range principals(s) {
				if !slices.Contains(tt.signers, who) {
					bad("statement %q lets %s sign", s.Sid, who)
				}
			}
		}
	}
	checkDeny := func(sid string, actions, except []string) {
		s, ok := p.statement(sid)
		if !ok {
			bad("no %s statement", sid)
			return
		}
		if s.Effect != "Deny" || !slices.Equal(principals(s), []string{"*"}) || !slices.Equal(strs(s.Action), actions) {
			bad("%s: %s %v to %v, want Deny %v to *", sid, s.Effect, strs(s.Action), principals(s), actions)
		}
		if len(s.Condition) != 1 || len(s.Condition["ArnNotEquals"]) != 1 || !slices.Equal(strs(s.Condition["ArnNotEquals"]["aws:PrincipalArn"]), except) {
			cond, _ := json.Marshal(s.Condition)
			bad("%s: condition %s, want ArnNotEquals aws:PrincipalArn %v", sid, cond, except)
		}
	}
	checkDeny("OnlyFunctionsSign", []string{"kms:Sign"}, tt.signers)
	checkDeny("OnlyAdministratorsTagOrGrant", []string{"kms:TagResource", "kms:UntagResource", "kms:CreateGrant"}, tt.admins)
	return problems
}

// checkGrammar says where doc breaks the IAM policy grammar of a key policy.
func checkGrammar(doc string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p, err := parsePolicy(doc)
	if err != nil {
		return []string{err.Error()}
	}
	if p.Version != "2012-10-17" {
		bad("version %q", p.Version)
	}
	if len(p.Statement) == 0 {
		bad("no statements")
	}
	sids := map[string]bool{}
	for i, s := range p.Statement {
		if s.Sid == "" || sids[s.Sid] {
			bad("statement %d: Sid %q missing or repeated", i, s.Sid)
		}
		sids[s.Sid] = true
		if s.Effect != "Allow" && s.Effect != "Deny" {
			bad("%s: Effect %q", s.Sid, s.Effect)
		}
		who := principals(s)
		if len(who) == 0 {
			bad("%s: no Principal", s.Sid)
		}
		for _, arn := range who {
			if arn != "*" && !strings.HasPrefix(arn, "arn:") {
				bad("%s: principal %q", s.Sid, arn)
			}
		}
		actions := strs(s.Action)
		if len(actions) == 0 {
			bad("%s: no Action", s.Sid)
		}
		for _, a := range actions {
			if !strings.HasPrefix(a, "kms:") || len(a) == len("kms:") {
				bad("%s: action %q", s.Sid, a)
			}
		}
		// In a key policy, "*" is the key itself.
		if r := strs(s.Resource); !slices.Equal(r, []string{"*"}) {
			bad("%s: Resource %v", s.Sid, r)
		}
		for op, keys := range s.Condition {
			for k, v := range keys {
				if len(strs(v)) == 0 {
					bad("%s: condition %s %s has no value", s.Sid, op, k)
				}
			}
		}
	}
	return problems
}

// adminOps are what the account root must keep to administer a key: among them, changing
// its key policy, which is what the lockout safety check is about.
var adminOps = []string{"kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey", "kms:EnableKey", "kms:DisableKey",
	"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource", "kms:CreateGrant", "kms:RevokeGrant"}

// checkAdministration says what of adminOps doc does not allow root, or denies it.
func checkAdministration(doc, root string) []string {
	var problems []string
	p, err := parsePolicy(doc)
	if err != nil {
		return []string{err.Error()}
	}
	for _, op := range adminOps {
		allowed := false
		for _, s := range p.Statement {
			names := slices.Contains(principals(s), root) || slices.Contains(principals(s), "*")
			if !names || !coversAny(strs(s.Action), op) {
				continue
			}
			switch {
			case s.Effect == "Allow" && len(s.Condition) == 0:
				allowed = true
			case s.Effect == "Deny" && !exempts(s, root):
				problems = append(problems, fmt.Sprintf("%s denies the root %s", s.Sid, op))
			}
		}
		if !allowed {
			problems = append(problems, "no statement allows the account root "+op)
		}
	}
	return problems
}

// exempts reports whether the Deny s is only for principals other than root.
func exempts(s policyStatement, root string) bool {
	if len(s.Condition) != 1 || len(s.Condition["ArnNotEquals"]) != 1 {
		return false
	}
	return slices.Contains(strs(s.Condition["ArnNotEquals"]["aws:PrincipalArn"]), root)
}
