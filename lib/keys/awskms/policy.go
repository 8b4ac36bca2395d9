package awskms

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// KeyPolicy is the key policy of every key a backend creates (WithKeyPolicy). Without one,
// KMS gives a key its default policy, which lets the account's IAM policies grant anything on
// it: any principal of the account with kms:Sign on "*" could sign with a customer's
// certificate key. With one, as with the stack's own keys in template.yaml:
//
//   - AccountAdministers: the account root administers the key through IAM (describe, enable,
//     disable, tag, schedule deletion, put a new key policy, ...) but no statement lets an IAM
//     policy grant a cryptographic operation on it;
//   - FunctionsUseTheKey: the users and the manager (roles) sign with the key, read its public
//     half and describe it;
//   - ManagerDeletesTheKey: the manager also schedules its deletion;
//   - OnlyFunctionsSign: every other principal is denied kms:Sign, whatever its IAM policies
//     or a grant say;
//   - OnlyAdministratorsTagOrGrant: a tag or a grant decides who may use a key (ABAC), so only
//     the account root and the key administrator may tag, untag or create grants.
//
// A KeyPolicy is made by NewKeyPolicy, which checks the ARNs; its zero value is no policy.
type KeyPolicy struct {
	doc string
}

// Actions of the account's administration of a key: everything but a cryptographic operation
// (the same list as the stack's keys in template.yaml). kms:Get* holds kms:GetPublicKey, which
// reads only the public half.
var adminActions = []string{
	"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
	"kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
	"kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
}

// Actions of the functions on a key: the signer signs with it; the certificates function signs
// CSRs with it and reads its public half when it creates it. Neither enables or disables keys.
var (
	useActions    = []string{"kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"}
	manageActions = []string{"kms:ScheduleKeyDeletion"}
)

// roleARN is an IAM role's ARN: the value of aws:PrincipalArn for the role's sessions (a
// Lambda function's), path included.
var roleARN = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]{1,576}$`)

// principalARN is an IAM role's, user's or the account root's ARN (the key administrator).
var principalARN = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::(\d{12}):(root|(role|user)/[\w+=,.@/-]{1,576})$`)

// NewKeyPolicy returns the key policy of keys that the roles users sign with and manager (the
// role that creates them: the certificates function's) also deletes. The account root, which
// administers the keys, is the root of the roles' account; administrator, when not empty, is
// an IAM role or user of that account who may tag, untag and create grants beside it. Every
// ARN must be of one partition and account; manager may be empty, users not both.
func NewKeyPolicy(users []string, manager, administrator string) (KeyPolicy, error) {
	roles := slices.Clone(users)
	if manager != "" {
		roles = append(roles, manager)
	}
	if len(roles) == 0 {
		return KeyPolicy{}, errors.New("key policy: no role may use the keys")
	}
	var partition, account string
	var errs []error
	for _, r := range roles {
		m := roleARN.FindStringSubmatch(r)
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", r))
		case partition == "":
			partition, account = m[1], m[2]
		case m[1] != partition || m[2] != account:
			errs = append(errs, fmt.Errorf("role %q is not in partition %s and account %s, the first role's", r, partition, account))
		}
	}
	if administrator != "" {
		m := principalARN.FindStringSubmatch(administrator)
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("key administrator %q is not an IAM role, user or account root ARN", administrator))
		case partition != "" && (m[1] != partition || m[2] != account):
			// Only the account's principals can be allowed anything through its IAM policies.
			errs = append(errs, fmt.Errorf("key administrator %q is not in partition %s and account %s, the roles'", administrator, partition, account))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return KeyPolicy{}, fmt.Errorf("key policy: %w", err)
	}
	root := "arn:" + partition + ":iam::" + account + ":root"
	doc, err := json.Marshal(keyPolicyDoc(root, dedupe(users, manager), manager, administrator))
	if err != nil {
		return KeyPolicy{}, fmt.Errorf("key policy: %w", err)
	}
	return KeyPolicy{doc: string(doc)}, nil
}

// String is the policy document, JSON, as CreateKey is given it.
func (p KeyPolicy) String() string { return p.doc }

// WithKeyPolicy creates every key with the key policy p instead of KMS's default one, and
// with BypassPolicyLockoutSafetyCheck.
//
// Why bypass: KMS's policy lockout safety check refuses a key policy that would not let the
// principal who sends CreateKey change that policy later (kms:PutKeyPolicy). That principal is
// the certificates function, and it must not be able to: with PutKeyPolicy it could let any
// principal sign with a customer's key. So the policy does not let it, and the check must be
// bypassed. What the check protects against is a key that nobody can administer; that cannot
// happen here, because every policy NewKeyPolicy builds lets the account root administer the
// key, kms:Put* (PutKeyPolicy) included, and denies the root nothing but kms:Sign, tagging and
// grants (TestKeyPolicyKeepsAccountAdministration proves both for every policy it builds).
//
// A zero p panics: it is the wiring of main, and a mistake there should stop the function at
// start rather than create keys with a policy other than the one meant.
func WithKeyPolicy(p KeyPolicy) Option {
	if p.doc == "" {
		panic("awskms: WithKeyPolicy with a zero KeyPolicy; make it with NewKeyPolicy")
	}
	return func(b *Backend) { b.policy = p.doc }
}

// statement is one statement of a key policy, in the IAM policy grammar.
type statement struct {
	Sid       string
	Effect    string
	Principal any
	Action    []string
	Resource  string
	Condition map[string]map[string][]string `json:",omitempty"`
}

func keyPolicyDoc(root string, roles []string, manager, administrator string) any {
	admins := []string{root}
	if administrator != "" && administrator != root {
		admins = append(admins, administrator)
	}
	st := []statement{
		{Sid: "AccountAdministers", Effect: "Allow", Principal: awsPrincipal(root), Action: adminActions, Resource: "*"},
		{Sid: "FunctionsUseTheKey", Effect: "Allow", Principal: awsPrincipal(roles...), Action: useActions, Resource: "*"},
	}
	if manager != "" {
		st = append(st, statement{Sid: "ManagerDeletesTheKey", Effect: "Allow", Principal: awsPrincipal(manager), Action: manageActions, Resource: "*"})
	}
	st = append(st,
		statement{Sid: "OnlyFunctionsSign", Effect: "Deny", Principal: "*", Action: []string{"kms:Sign"}, Resource: "*",
			Condition: map[string]map[string][]string{"ArnNotEquals": {"aws:PrincipalArn": roles}}},
		statement{Sid: "OnlyAdministratorsTagOrGrant", Effect: "Deny", Principal: "*",
			Action: []string{"kms:TagResource", "kms:UntagResource", "kms:CreateGrant"}, Resource: "*",
			Condition: map[string]map[string][]string{"ArnNotEquals": {"aws:PrincipalArn": admins}}},
	)
	return struct {
		Version   string
		Statement []statement
	}{"2012-10-17", st}
}

// awsPrincipal is an AWS principal element naming arns.
func awsPrincipal(arns ...string) map[string][]string { return map[string][]string{"AWS": arns} }

// dedupe is users and manager, each role once, in order.
func dedupe(users []string, manager string) []string {
	var out []string
	for _, r := range append(slices.Clone(users), manager) {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
