package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// Client-certificate credentials (the Certificate users domain). Each credential is stored
// twice in one transaction, under the deployment: once under its user, for the console, and
// once where authentication finds it from the presented certificate alone (a pinned
// certificate by its thumbprint, a CA under its subject); revoked serials are kept under
// their issuer's name. keys.go has the layout.

type clientCredItem struct {
	PK, SK string
	// GSI1PK/GSI1SK are set on lookup items only: the operator's truststore listing.
	GSI1PK       string            `dynamodbav:",omitempty"`
	GSI1SK       string            `dynamodbav:",omitempty"`
	Type         string            `dynamodbav:"type"`
	ID           string            `dynamodbav:"id"`
	DeploymentID string            `dynamodbav:"deploymentId"`
	UserID       string            `dynamodbav:"userId"`
	Kind         string            `dynamodbav:"kind"`
	Name         string            `dynamodbav:"name,omitempty"`
	Certificate  []byte            `dynamodbav:"certificate"`
	Rules        []clientauth.Rule `dynamodbav:"rules,omitempty"`
	CreatedAt    string            `dynamodbav:"createdAt"`
	CreatedBy    string            `dynamodbav:"createdBy,omitempty"`
}

func toClientCredItem(c clientauth.Credential, sk string) clientCredItem {
	return clientCredItem{PK: deploymentPK(c.DeploymentID), SK: sk, Type: "clientCredential", ID: c.ID, DeploymentID: c.DeploymentID,
		UserID: c.UserID, Kind: string(c.Kind), Name: c.Name, Certificate: c.CertificateDER, Rules: c.Rules,
		CreatedAt: formatTime(c.CreatedAt), CreatedBy: c.CreatedBy}
}

func decodeClientCred(av map[string]types.AttributeValue) (clientauth.Credential, error) {
	var it clientCredItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return clientauth.Credential{}, fmt.Errorf("decode client credential: %w", err)
	}
	return clientauth.Credential{ID: it.ID, DeploymentID: it.DeploymentID, UserID: it.UserID, Kind: clientauth.Kind(it.Kind),
		Name: it.Name, CertificateDER: it.Certificate, Rules: it.Rules, CreatedAt: parseTime(it.CreatedAt), CreatedBy: it.CreatedBy}, nil
}

// lookupItem is the copy of c where authentication finds it; it is also listed on GSI1 for
// the operator's truststore.
func lookupItem(c clientauth.Credential, sk string) clientCredItem {
	it := toClientCredItem(c, sk)
	it.GSI1PK, it.GSI1SK = trustAnchorsPK, trustAnchorGSI1SK(c.DeploymentID, c.ID)
	return it
}

// ListTrustAnchors lists every deployment's registered client certificates and CAs (one
// page; GSI1, eventually consistent in AWS).
func (s *Store) ListTrustAnchors(ctx context.Context, pr PageRequest) (Page[clientauth.Credential], error) {
	return listGSI1(ctx, s, trustAnchorsPK, pr, decodeClientCred)
}

// TrustAnchorKey is the table key of c's lookup item, the item listed for the truststore:
// what the truststore function's stream records name when c is registered or removed, so
// that it can wait until the (eventually consistent) listing shows the change.
func TrustAnchorKey(c clientauth.Credential) (string, error) {
	sk, err := lookupSK(c)
	if err != nil {
		return "", err
	}
	return ItemKey(deploymentPK(c.DeploymentID), sk), nil
}

// ItemKey is an item's table key (PK, SK) as one string, as TrustAnchorKey gives it: PK
// holds no space.
func ItemKey(pk, sk string) string { return pk + " " + sk }

// lookupSK is where authentication finds c.
func lookupSK(c clientauth.Credential) (string, error) {
	cert, err := c.Certificate()
	if err != nil {
		return "", fmt.Errorf("client credential %s: %w", c.ID, err)
	}
	if c.Kind == clientauth.Pinned {
		return clientPinSK(clientauth.ThumbprintOf(cert)), nil
	}
	return clientCASK(c.IssuerKey(), c.ID), nil
}

// CreateClientCredential registers c for its user, if the user still exists. A certificate
// can be pinned for one user only.
//
// userVersion is the version of the user as read when its credentials were counted: the
// write is conditional on it (and moves it), so two registrations cannot both pass the count,
// and a removal of the user that read its credentials before this one fails as stale instead
// of orphaning it.
func (s *Store) CreateClientCredential(ctx context.Context, c clientauth.Credential, userVersion int64, log tenant.LogEntry) (clientauth.Credential, error) {
	lk, err := lookupSK(c)
	if err != nil {
		return clientauth.Credential{}, err
	}
	pk := deploymentPK(c.DeploymentID)
	items := []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key(pk, consoleUserSK(c.UserID)), ConditionExpression: aws.String("attribute_exists(PK) AND version = :v"),
			UpdateExpression: aws.String("ADD version :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"},
				":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(userVersion, 10)}}}},
		s.putNew(toClientCredItem(c, clientCredSK(c.UserID, c.ID))),
		s.putNew(lookupItem(c, lk)),
		s.putLog(c.DeploymentID, log),
	}
	if err := s.conditional(ctx, "create client credential", items, map[int]error{
		0: fault.Newf(ErrStale, "The user %s was changed or removed while the certificate was registered; read it again and retry.", fault.Clip(c.UserID, 40)),
		2: fault.Newf(ErrConflict, "This certificate is already registered for a user of this deployment."),
	}); err != nil {
		return clientauth.Credential{}, err
	}
	return c, nil
}

// GetClientCredential reads one credential of a user.
func (s *Store) GetClientCredential(ctx context.Context, deploymentID, userID, id string) (clientauth.Credential, error) {
	return get(ctx, s, deploymentPK(deploymentID), clientCredSK(userID, id), "get client credential", decodeClientCred,
		notFound("The user %q has no client certificate credential %q.", fault.Clip(userID, 40), fault.Clip(id, 40)))
}

// ListClientCredentials lists a user's credentials.
func (s *Store) ListClientCredentials(ctx context.Context, deploymentID, userID string, pr PageRequest) (Page[clientauth.Credential], error) {
	return listPrefix(ctx, s, deploymentID, clientCredsPrefix(userID), pr, decodeClientCred)
}

// allClientCredentials reads every credential of a user (at most clientauth.MaxPerUser are
// created, so one or two pages).
func (s *Store) allClientCredentials(ctx context.Context, deploymentID, userID string) ([]clientauth.Credential, error) {
	return All(ctx, func(ctx context.Context, pr PageRequest) (Page[clientauth.Credential], error) {
		return s.ListClientCredentials(ctx, deploymentID, userID, pr)
	})
}

// CountClientCredentials counts a user's credentials.
func (s *Store) CountClientCredentials(ctx context.Context, deploymentID, userID string) (int, error) {
	all, err := s.allClientCredentials(ctx, deploymentID, userID)
	return len(all), err
}

// deleteClientCredItems are the deletes that remove c.
func (s *Store) deleteClientCredItems(c clientauth.Credential) ([]types.TransactWriteItem, error) {
	lk, err := lookupSK(c)
	if err != nil {
		return nil, err
	}
	pk := deploymentPK(c.DeploymentID)
	return []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, clientCredSK(c.UserID, c.ID)), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, lk)}},
	}, nil
}

// DeleteClientCredential removes a credential: the certificate stops authenticating at once.
func (s *Store) DeleteClientCredential(ctx context.Context, c clientauth.Credential, log tenant.LogEntry) error {
	items, err := s.deleteClientCredItems(c)
	if err != nil {
		return err
	}
	items = append(items, s.putLog(c.DeploymentID, log))
	return s.conditional(ctx, "delete client credential", items, map[int]error{
		0: fault.Newf(ErrNotFound, "The client certificate credential %q was removed by someone else.", c.ID),
	})
}

// Revocation is a revoked client certificate serial of one issuer.
type Revocation struct {
	Serial       string    `json:"serial" dynamodbav:"serial"`
	Issuer       string    `json:"issuer" dynamodbav:"issuer"`
	CredentialID string    `json:"credentialId" dynamodbav:"credentialId"`
	Reason       string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	RevokedAt    time.Time `json:"revokedAt" dynamodbav:"-"`
	RevokedBy    string    `json:"revokedBy" dynamodbav:"revokedBy"`
}

type revocationItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	Revocation
	RevokedAt string `dynamodbav:"revokedAt"`
}

// RevokeClientCertificate revokes serial of the issuer named by issuerKey in a deployment:
// from then on no credential authenticates a certificate of that issuer with that serial.
// Revoking a revoked serial again is a conflict.
func (s *Store) RevokeClientCertificate(ctx context.Context, deploymentID, issuerKey string, r Revocation, log tenant.LogEntry) (Revocation, error) {
	r.RevokedAt = s.now()
	it := revocationItem{PK: deploymentPK(deploymentID), SK: clientRevSK(issuerKey, r.Serial), Type: "clientRevocation", Revocation: r, RevokedAt: formatTime(r.RevokedAt)}
	if err := s.create(ctx, "revoke client certificate", it, fault.Newf(ErrConflict, "The serial %s of this issuer is already revoked.", r.Serial),
		s.putLog(deploymentID, log)); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

func decodeRevocation(av map[string]types.AttributeValue) (Revocation, error) {
	var it revocationItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return Revocation{}, fmt.Errorf("decode revocation: %w", err)
	}
	r := it.Revocation
	r.RevokedAt = parseTime(it.RevokedAt)
	return r, nil
}

// ListRevocations lists the revoked serials of an issuer in a deployment.
func (s *Store) ListRevocations(ctx context.Context, deploymentID, issuerKey string, pr PageRequest) (Page[Revocation], error) {
	return listPrefix(ctx, s, deploymentID, clientRevsPrefix(issuerKey), pr, decodeRevocation)
}

// ClientCandidates reads what authenticating a presented certificate needs, in parallel:
// the credential pinning its thumbprint, the CA credentials registered under its issuer's
// name, and whether its serial is revoked for that issuer. The CA credentials under one
// name are few (one per user the CA serves), so one page is read; more would be refused
// rather than half-read.
func (s *Store) ClientCandidates(ctx context.Context, deploymentID, issuerKey, thumbprint, serial string) (clientauth.Candidates, error) {
	pk := deploymentPK(deploymentID)
	// A signing request may have these answered from the cache (readcache): a certificate
	// that is not pinned and not revoked is the common case, so absence is cached too.
	var (
		wg              sync.WaitGroup
		pin, rev        map[string]types.AttributeValue
		cas             []map[string]types.AttributeValue
		more            bool
		pinE, revE, caE error
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		pin, pinE = s.cachedGet(ctx, pk, clientPinSK(thumbprint), "get pinned client certificate", true)
	}()
	go func() {
		defer wg.Done()
		rev, revE = s.cachedGet(ctx, pk, clientRevSK(issuerKey, serial), "get client revocation", true)
	}()
	go func() {
		defer wg.Done()
		prefix := clientCAsPrefix(issuerKey)
		in := listPrefixInput(pk, prefix)
		in.TableName, in.ConsistentRead, in.Limit = &s.table, aws.Bool(true), aws.Int32(maxCAsPerIssuer+1)
		cas, more, caE = s.cachedQuery(ctx, pk, prefix, in, "query client CA credentials")
	}()
	wg.Wait()
	if err := errors.Join(pinE, revE, caE); err != nil {
		return clientauth.Candidates{}, err
	}
	var c clientauth.Candidates
	c.Revoked = rev != nil
	if pin != nil {
		cred, err := decodeClientCred(pin)
		if err != nil {
			return clientauth.Candidates{}, err
		}
		c.Credentials = append(c.Credentials, cred)
	}
	// More than the most a name may have, or more than one page holds: refuse rather than
	// decide on part of them (a second user's match could be on the unread part).
	if len(cas) > maxCAsPerIssuer || more {
		return clientauth.Candidates{}, fault.Newf(fault.ErrUnauthenticated, "More than %d users are registered under your certificate's issuer; a console admin must pin certificates instead.", maxCAsPerIssuer)
	}
	for _, item := range cas {
		cred, err := decodeClientCred(item)
		if err != nil {
			return clientauth.Candidates{}, err
		}
		c.Credentials = append(c.Credentials, cred)
	}
	return c, nil
}

// maxCAsPerIssuer bounds the CA credentials one issuer name may have in a deployment.
const maxCAsPerIssuer = 100

// CountCACredentials counts the CA credentials registered under an issuer name, so that
// registering one more than ClientCandidates reads can be refused.
func (s *Store) CountCACredentials(ctx context.Context, deploymentID, issuerKey string) (int, error) {
	in := listPrefixInput(deploymentPK(deploymentID), clientCAsPrefix(issuerKey))
	in.TableName, in.Select, in.ConsistentRead = &s.table, types.SelectCount, aws.Bool(true)
	n := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("count client CA credentials", err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 || n > maxCAsPerIssuer {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// MaxCAsPerIssuer is how many CA credentials one issuer name may have in a deployment.
func MaxCAsPerIssuer() int { return maxCAsPerIssuer }
