package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
)

// SSOLogin is a login at an OIDC or SAML domain's identity provider in progress: what the
// start of the login keeps on the server until the browser comes back with Key (the OAuth
// state, or the SAML relay state), once.
type SSOLogin struct {
	// Key is the state or relay state; only its hash is stored.
	Key          string
	DeploymentID string
	DomainID     string
	// Pending is the OIDC login's pending state (oidclogin.Pending as JSON: its PKCE
	// verifier and nonce are secrets); empty for SAML.
	Pending []byte
	// RequestID is the SAML AuthnRequest's ID; empty for OIDC.
	RequestID string
	// Binding is the hash of the value of the cookie that binds the login to the browser that
	// started it.
	Binding string
	// Test marks a test login: it checks the domain's settings and logs nobody in.
	Test bool
	// Expires is when the login is abandoned; the item goes with the table's TTL after it.
	Expires time.Time
}

// ssoLoginItem: PK=DEP#<dep>, SK=SSOLOGIN#<sha256 of key>, TTL expiresAt.
type ssoLoginItem struct {
	PK, SK    string
	Type      string `dynamodbav:"type"`
	DomainID  string `dynamodbav:"domainId"`
	Pending   []byte `dynamodbav:"pending,omitempty"`
	RequestID string `dynamodbav:"requestId,omitempty"`
	Binding   string `dynamodbav:"binding"`
	Test      bool   `dynamodbav:"test,omitempty"`
	Expires   string `dynamodbav:"expires"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// PutSSOLogin keeps a login in progress until it is taken (TakeSSOLogin) or expires. Keys
// are random; one that is taken already is a conflict.
func (s *Store) PutSSOLogin(ctx context.Context, l SSOLogin) error {
	it := ssoLoginItem{PK: deploymentPK(l.DeploymentID), SK: ssoLoginSK(l.Key), Type: "ssoLogin", DomainID: l.DomainID, Pending: l.Pending,
		RequestID: l.RequestID, Binding: l.Binding, Test: l.Test, Expires: formatTime(l.Expires), ExpiresAt: l.Expires.Unix()}
	return s.create(ctx, "put sso login", it, fault.Newf(ErrConflict, "A login with this state is in progress already."))
}

// ErrNoSSOLogin answers a state or relay state that names no login in progress: unknown,
// used already, or expired.
var ErrNoSSOLogin = fault.Newf(ErrNotFound, "This login is unknown, was finished already or took too long; start the login again.")

// TakeSSOLogin removes and returns the login in progress under key: one conditional delete,
// so that of two callbacks with the same state exactly one gets the login. A login past its
// expiry (which the TTL has not removed yet) is removed and answered as ErrNoSSOLogin.
func (s *Store) TakeSSOLogin(ctx context.Context, dep, key string) (SSOLogin, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: ssoLoginKey(dep, key),
		ConditionExpression: aws.String("attribute_exists(PK)"), ReturnValues: types.ReturnValueAllOld})
	switch {
	case isConditionFailed(err):
		return SSOLogin{}, ErrNoSSOLogin
	case err != nil:
		return SSOLogin{}, unavailable("take sso login", err)
	}
	it, err := decodeAs[ssoLoginItem]("sso login")(out.Attributes)
	if err != nil {
		return SSOLogin{}, err
	}
	l := SSOLogin{Key: key, DeploymentID: dep, DomainID: it.DomainID, Pending: it.Pending, RequestID: it.RequestID, Binding: it.Binding,
		Test: it.Test, Expires: parseTime(it.Expires)}
	if !s.now().Before(l.Expires) {
		return SSOLogin{}, ErrNoSSOLogin
	}
	return l, nil
}

func ssoLoginKey(dep, k string) map[string]types.AttributeValue {
	return key(deploymentPK(dep), ssoLoginSK(k))
}

// samlAssertionItem: PK=DEP#<dep>, SK=SAMLASSERTION#<domainId>#<sha256 of assertion ID>, TTL
// expiresAt (when the assertion would be refused as expired anyway).
type samlAssertionItem struct {
	PK, SK    string
	Type      string `dynamodbav:"type"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// SAMLAssertions are the SAML assertions used for logins at one domain of a deployment: a
// samlsso.Replay on the table, so that every function instance refuses an assertion any of
// them accepted.
type SAMLAssertions struct {
	s           *Store
	dep, domain string
}

// SAMLAssertions returns the used assertions of domain id of deployment dep.
func (s *Store) SAMLAssertions(dep, id string) SAMLAssertions {
	return SAMLAssertions{s: s, dep: dep, domain: id}
}

// Seen records assertionID as used until until with one conditional put and reports whether
// it was recorded already (samlsso.Replay). The TTL removes the record lazily after until,
// when the assertion is refused as expired anyway.
func (a SAMLAssertions) Seen(ctx context.Context, assertionID string, until time.Time) (bool, error) {
	if a.domain == "" || assertionID == "" {
		return false, errors.New("store: an assertion is recorded under a domain and an id")
	}
	it := samlAssertionItem{PK: deploymentPK(a.dep), SK: samlAssertionSK(a.domain, assertionID), Type: "samlAssertion", ExpiresAt: until.Unix() + 1}
	_, err := a.s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &a.s.table, Item: marshal(it), ConditionExpression: aws.String(keyIsFree)})
	switch {
	case isConditionFailed(err):
		return true, nil
	case err != nil:
		return false, unavailable(fmt.Sprintf("record SAML assertion of domain %s", a.domain), err)
	}
	return false, nil
}
