package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/tenant"
)

// certificateItem: PK=DEP#<dep>, SK=CERT#<id>. The chain (a few KB) is kept on the item.
type certificateItem struct {
	PK, SK       string
	Type         string               `dynamodbav:"type"`
	ID           string               `dynamodbav:"id"`
	DeploymentID string               `dynamodbav:"deploymentId"`
	Name         string               `dynamodbav:"name"`
	Status       string               `dynamodbav:"status"`
	Backend      string               `dynamodbav:"backend"`
	Algorithm    string               `dynamodbav:"algorithm"`
	KeyURI       string               `dynamodbav:"keyUri"`
	Subject      certificates.Subject `dynamodbav:"subject"`
	SANs         []string             `dynamodbav:"sans,omitempty"`
	CSRPEM       string               `dynamodbav:"csrPem"`
	ChainPEM     string               `dynamodbav:"chainPem,omitempty"`
	Serial       string               `dynamodbav:"serial,omitempty"`
	Issuer       string               `dynamodbav:"issuer,omitempty"`
	Thumbprint   string               `dynamodbav:"thumbprint,omitempty"`
	NotBefore    string               `dynamodbav:"notBefore,omitempty"`
	NotAfter     string               `dynamodbav:"notAfter,omitempty"`
	Owner        string               `dynamodbav:"owner,omitempty"`
	Groups       []string             `dynamodbav:"groups,omitempty"`
	Renewal      *renewalItem         `dynamodbav:"renewal,omitempty"`
	Version      int64                `dynamodbav:"version"`
	CreatedAt    string               `dynamodbav:"createdAt"`
	UpdatedAt    string               `dynamodbav:"updatedAt"`
}

type renewalItem struct {
	KeyURI      string `dynamodbav:"keyUri"`
	Algorithm   string `dynamodbav:"algorithm"`
	CSRPEM      string `dynamodbav:"csrPem"`
	RequestedAt string `dynamodbav:"requestedAt"`
}

func toCertificateItem(c certificates.Certificate) certificateItem {
	it := certificateItem{
		PK: deploymentPK(c.DeploymentID), SK: certificateSK(c.ID), Type: "certificate", ID: c.ID, DeploymentID: c.DeploymentID,
		Name: c.Name, Status: string(c.Status), Backend: c.Backend, Algorithm: string(c.Algorithm), KeyURI: c.KeyURI,
		Subject: c.Subject, SANs: c.SANs, CSRPEM: c.CSRPEM, ChainPEM: c.ChainPEM, Serial: c.Serial, Issuer: c.Issuer,
		Thumbprint: c.Thumbprint, NotBefore: formatTime(c.NotBefore), NotAfter: formatTime(c.NotAfter), Owner: c.Owner,
		Groups: c.Groups, Version: c.Version,
		CreatedAt: formatTime(c.CreatedAt), UpdatedAt: formatTime(c.UpdatedAt),
	}
	if r := c.Renewal; r != nil {
		it.Renewal = &renewalItem{KeyURI: r.KeyURI, Algorithm: string(r.Algorithm), CSRPEM: r.CSRPEM, RequestedAt: formatTime(r.RequestedAt)}
	}
	return it
}

func decodeCertificate(av map[string]types.AttributeValue) (certificates.Certificate, error) {
	var it certificateItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return certificates.Certificate{}, fmt.Errorf("decode certificate: %w", err)
	}
	c := certificates.Certificate{
		ID: it.ID, DeploymentID: it.DeploymentID, Name: it.Name, Status: certificates.Status(it.Status), Backend: it.Backend,
		Algorithm: keys.Algorithm(it.Algorithm), KeyURI: it.KeyURI, Subject: it.Subject, SANs: it.SANs, CSRPEM: it.CSRPEM,
		ChainPEM: it.ChainPEM, Serial: it.Serial, Issuer: it.Issuer, Thumbprint: it.Thumbprint, NotBefore: parseTime(it.NotBefore),
		NotAfter: parseTime(it.NotAfter), Owner: it.Owner, Groups: it.Groups,
		Version: it.Version, CreatedAt: parseTime(it.CreatedAt), UpdatedAt: parseTime(it.UpdatedAt),
	}
	if r := it.Renewal; r != nil {
		c.Renewal = &certificates.Renewal{KeyURI: r.KeyURI, Algorithm: keys.Algorithm(r.Algorithm), CSRPEM: r.CSRPEM, RequestedAt: parseTime(r.RequestedAt)}
	}
	return c, nil
}

// CreateCertificate stores a new certificate (pending: key and CSR made), with a log entry;
// each group it names by id gains a member in the same transaction, which fails when a group
// does not exist or holds its limit.
func (s *Store) CreateCertificate(ctx context.Context, c certificates.Certificate, log tenant.LogEntry) (certificates.Certificate, error) {
	now := s.now()
	c.Version, c.CreatedAt, c.UpdatedAt = 1, now, now
	joins, groups, err := s.memberships(c.DeploymentID, nil, c.Members())
	if err != nil {
		return certificates.Certificate{}, err
	}
	items := append([]types.TransactWriteItem{s.putNew(toCertificateItem(c)), s.putLog(c.DeploymentID, log)}, joins...)
	if err := s.certificateWrite(ctx, "create certificate", c.DeploymentID, items, groups,
		fault.Newf(ErrConflict, "A certificate with the id %s exists.", c.ID)); err != nil {
		return certificates.Certificate{}, err
	}
	return c, nil
}

// certificateWrite runs a certificate's transaction: items[0] the certificate (refused:
// refused), items[1] its log entry, then the membership items of groups. A refused membership
// is told as the group's state (membershipRefusal).
func (s *Store) certificateWrite(ctx context.Context, op, dep string, items []types.TransactWriteItem, groups []string, refused error) error {
	err := s.transact(ctx, op, items)
	codes := cancellationCodes(err)
	if codes == nil {
		return err
	}
	if codes[0] == conditionFailed {
		return refused
	}
	for i, c := range codes[2:] {
		if c == conditionFailed && i < len(groups) {
			return s.membershipRefusal(ctx, dep, groups[i])
		}
	}
	return cancelled(op, err, codes)
}

// GetCertificate reads a certificate of a deployment.
func (s *Store) GetCertificate(ctx context.Context, deploymentID, id string) (certificates.Certificate, error) {
	return get(ctx, s, deploymentPK(deploymentID), certificateSK(id), "get certificate", decodeCertificate,
		notFound("No certificate has the id %q.", fault.Clip(id, 40)))
}

// CertificateForSigning reads a certificate and the deployment's policies version in one
// consistent BatchGetItem: what a signature needs besides the caller, in one call.
func (s *Store) CertificateForSigning(ctx context.Context, deploymentID, id string) (certificates.Certificate, int64, error) {
	pk := deploymentPK(deploymentID)
	if len(pk)+len(certificateSK(id)) > 1024 {
		return certificates.Certificate{}, 0, fault.Newf(ErrNotFound, "No certificate has the id %q.", fault.Clip(id, 40))
	}
	items, err := s.cachedBatchGet(ctx, "get certificate", []map[string]types.AttributeValue{key(pk, certificateSK(id)), key(pk, policiesVersionSK)})
	if err != nil {
		return certificates.Certificate{}, 0, err
	}
	var cert *certificates.Certificate
	var version int64
	for _, av := range items {
		sk, _ := av[attrSK].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == policiesVersionSK:
			v, err := decodePoliciesVersion(av)
			if err != nil {
				return certificates.Certificate{}, 0, err
			}
			version = v.Version
		default:
			c, err := decodeCertificate(av)
			if err != nil {
				return certificates.Certificate{}, 0, err
			}
			cert = &c
		}
	}
	if cert == nil {
		return certificates.Certificate{}, 0, fault.Newf(ErrNotFound, "No certificate has the id %q.", fault.Clip(id, 40))
	}
	return *cert, version, nil
}

// ListCertificates lists a deployment's certificates.
func (s *Store) ListCertificates(ctx context.Context, deploymentID string, pr PageRequest) (Page[certificates.Certificate], error) {
	return listPrefix(ctx, s, deploymentID, certificatePrefix, pr, decodeCertificate)
}

// ListCertificatesIn lists the certificates of a deployment that are in at least one of
// groups (at most roles.MaxGroups), for a caller whose role sees only those groups: a
// filter on the query, so that pages stay full and the others are never read out of the
// store's answer; none of groups, no certificate.
func (s *Store) ListCertificatesIn(ctx context.Context, deploymentID string, groups []string, pr PageRequest) (Page[certificates.Certificate], error) {
	if len(groups) == 0 {
		return Page[certificates.Certificate]{}, nil
	}
	pk := deploymentPK(deploymentID)
	in := listPrefixInput(pk, certificatePrefix)
	or := make([]string, len(groups))
	for i, g := range groups {
		v := fmt.Sprintf(":g%d", i)
		or[i] = fmt.Sprintf("contains(#groups, %s)", v)
		in.ExpressionAttributeValues[v] = &types.AttributeValueMemberS{Value: g}
	}
	in.FilterExpression = aws.String(strings.Join(or, " OR "))
	in.ExpressionAttributeNames = map[string]string{"#groups": "groups"}
	// The cursor's scope names the filter, so that a cursor of one caller's listing does not
	// continue another's.
	sum := sha256.Sum256([]byte(strings.Join(groups, ",")))
	return query(ctx, s, certificatePrefix+pk+"#in:"+hex.EncodeToString(sum[:8]), in, []string{attrPK, attrSK}, pr, decodeCertificate)
}

// AllCertificates reads every certificate of a deployment, page by page (the labels
// migration needs them all; no request path lists them whole).
func (s *Store) AllCertificates(ctx context.Context, deploymentID string) ([]certificates.Certificate, error) {
	return All(ctx, func(ctx context.Context, pr PageRequest) (Page[certificates.Certificate], error) {
		return s.ListCertificates(ctx, deploymentID, pr)
	})
}

// UpdateCertificate writes next over current (as read; optimistic), with a log entry; the
// member counts of the groups it leaves and joins move in the same transaction (a deleted
// certificate leaves every group).
func (s *Store) UpdateCertificate(ctx context.Context, current, next certificates.Certificate, log tenant.LogEntry) (certificates.Certificate, error) {
	next.Version, next.UpdatedAt = current.Version+1, s.now()
	moves, groups, err := s.memberships(current.DeploymentID, current.Members(), next.Members())
	if err != nil {
		return certificates.Certificate{}, err
	}
	items := append([]types.TransactWriteItem{s.putVersioned(toCertificateItem(next), current.Version), s.putLog(current.DeploymentID, log)}, moves...)
	if err := s.certificateWrite(ctx, "update certificate", current.DeploymentID, items, groups,
		fault.Newf(ErrStale, "The certificate %s was changed or removed by someone else; read it again and retry.", current.ID)); err != nil {
		return certificates.Certificate{}, err
	}
	return next, nil
}

// WithUsage fills the usage of certificates (of one deployment) in place: the signatures
// counted for each in the event lanes' items (AppendEventCounting), summed, and the
// latest use — one read of the lanes' items, whatever the number of certificates.
func (s *Store) WithUsage(ctx context.Context, dep string, cs []certificates.Certificate) error {
	if len(cs) == 0 {
		return nil
	}
	ks := make([]map[string]types.AttributeValue, audit.Lanes)
	for lane := range ks {
		ks[lane] = key(deploymentPK(dep), eventHeadSK(lane))
	}
	items, err := s.batchGet(ctx, "read certificate usage", ks)
	if err != nil {
		return err
	}
	for i := range cs {
		count, last := useAttrs(cs[i].ID)
		cs[i].UsageCount, cs[i].LastUsedAt = 0, time.Time{}
		for _, it := range items {
			if v, ok := it[count].(*types.AttributeValueMemberN); ok {
				n, err := strconv.ParseInt(v.Value, 10, 64)
				if err != nil {
					return fmt.Errorf("decode certificate usage: %w", err)
				}
				cs[i].UsageCount += n
			}
			if v, ok := it[last].(*types.AttributeValueMemberS); ok {
				if at := parseTime(v.Value); at.After(cs[i].LastUsedAt) {
					cs[i].LastUsedAt = at
				}
			}
		}
	}
	return nil
}

// CertificatePage reads up to limit of a deployment's certificates after cursor ("" for the
// first), in id order; next is "" after the last. A migration keeps next as its cursor.
func (s *Store) CertificatePage(ctx context.Context, dep, cursor string, limit int) (items []certificates.Certificate, next string, err error) {
	page, err := s.ListCertificates(ctx, dep, PageRequest{Limit: limit, Cursor: cursor})
	return page.Items, page.Next, err
}
