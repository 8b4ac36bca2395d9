package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// deploymentItem is a deployment as stored: PK=DEP#<id>, SK=META, listed on GSI1 under
// DEPLOYMENTS by creation time.
type deploymentItem struct {
	PK              string   `dynamodbav:"PK"`
	SK              string   `dynamodbav:"SK"`
	GSI1PK          string   `dynamodbav:"GSI1PK"`
	GSI1SK          string   `dynamodbav:"GSI1SK"`
	Type            string   `dynamodbav:"type"`
	ID              string   `dynamodbav:"id"`
	Name            string   `dynamodbav:"name"`
	Status          string   `dynamodbav:"status"`
	Plan            string   `dynamodbav:"plan"`
	Quantity        int      `dynamodbav:"quantity,omitempty"`
	Region          string   `dynamodbav:"region,omitempty"`
	SubscriptionID  string   `dynamodbav:"subscriptionId,omitempty"`
	SigningCapped   bool     `dynamodbav:"signingCapped,omitempty"`
	SoftwareVersion string   `dynamodbav:"softwareVersion"`
	DataVersion     int      `dynamodbav:"dataVersion,omitempty"`
	DomainName      string   `dynamodbav:"domainName,omitempty"`
	IPAllowlist     []string `dynamodbav:"ipAllowlist,omitempty"`
	Version         int64    `dynamodbav:"version"`
	CreatedAt       string   `dynamodbav:"createdAt"`
	UpdatedAt       string   `dynamodbav:"updatedAt"`
}

// domainItem maps a domain name to its deployment: PK=DOMAIN#<name>, SK=DOMAIN. Its key is
// the name, so a conditional put makes names unique across deployments.
type domainItem struct {
	PK           string `dynamodbav:"PK"`
	SK           string `dynamodbav:"SK"`
	Type         string `dynamodbav:"type"`
	DeploymentID string `dynamodbav:"deploymentId"`
}

func toDeploymentItem(d tenant.Deployment) deploymentItem {
	var allow []string
	if len(d.IPAllowlist) > 0 {
		allow = tenant.FormatAllowlist(d.IPAllowlist)
	}
	return deploymentItem{
		PK: deploymentPK(d.ID), SK: metaSK,
		GSI1PK: allDeployments, GSI1SK: deploymentsGSI1SK(d.CreatedAt, d.ID),
		Type: "deployment", ID: d.ID, Name: d.Name, Status: string(d.Status), Plan: d.Plan,
		Quantity: d.Quantity, Region: d.Region, SubscriptionID: d.SubscriptionID, SigningCapped: d.SigningCapped,
		SoftwareVersion: d.SoftwareVersion, DataVersion: d.DataVersion, DomainName: d.DomainName, IPAllowlist: allow,
		Version: d.Version, CreatedAt: d.CreatedAt.UTC().Format(time.RFC3339Nano),
		UpdatedAt: d.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
}

func decodeDeployment(av map[string]types.AttributeValue) (tenant.Deployment, error) {
	var it deploymentItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return tenant.Deployment{}, fmt.Errorf("decode deployment: %w", err)
	}
	d := tenant.Deployment{
		ID: it.ID, Name: it.Name, Status: tenant.Status(it.Status), Plan: it.Plan,
		Quantity: it.Quantity, Region: it.Region, SubscriptionID: it.SubscriptionID, SigningCapped: it.SigningCapped,
		SoftwareVersion: it.SoftwareVersion, DataVersion: it.DataVersion, DomainName: it.DomainName, Version: it.Version,
	}
	for _, s := range it.IPAllowlist {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return tenant.Deployment{}, fmt.Errorf("decode deployment %s allowlist: %w", it.ID, err)
		}
		d.IPAllowlist = append(d.IPAllowlist, p)
	}
	var err error
	if d.CreatedAt, err = time.Parse(time.RFC3339Nano, it.CreatedAt); err != nil {
		return tenant.Deployment{}, fmt.Errorf("decode deployment %s: %w", it.ID, err)
	}
	if d.UpdatedAt, err = time.Parse(time.RFC3339Nano, it.UpdatedAt); err != nil {
		return tenant.Deployment{}, fmt.Errorf("decode deployment %s: %w", it.ID, err)
	}
	return d, nil
}

// GetDeployment reads a deployment (strongly consistent: it is read before updates). An id
// that is not of the deployment id form is not found without asking DynamoDB (whose key size
// limit would otherwise turn a long id into a validation error).
func (s *Store) GetDeployment(ctx context.Context, id string) (tenant.Deployment, error) {
	if !tenant.ValidID("dep_", id) {
		return tenant.Deployment{}, fault.Newf(ErrNotFound, "No deployment has the id %q.", fault.Clip(id, 40))
	}
	return getCached(ctx, s, deploymentPK(id), metaSK, "get deployment", decodeDeployment, notFound("No deployment has the id %q.", id))
}

// DeploymentByDomain resolves a request's host name to its deployment: two GetItems, no
// index, so it costs the same whatever the number of deployments. Both reads are strongly
// consistent and the deployment must still name the domain: right after a domain moves, a
// stale read must not route a request to the tenant that had it before.
func (s *Store) DeploymentByDomain(ctx context.Context, domain string) (tenant.Deployment, error) {
	// Which deployment a domain belongs to is remembered; the deployment itself is read on
	// every request, and a remembered mapping whose deployment no longer has the domain is
	// forgotten and read again, so a moved domain is never served by its old deployment.
	lower := strings.ToLower(domain)
	if v, ok := s.domains.Load(lower); ok {
		d, err := s.GetDeployment(ctx, v.(string))
		if err == nil && strings.EqualFold(d.DomainName, domain) {
			return d, nil
		}
		s.domains.Delete(lower)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return tenant.Deployment{}, err
		}
	}
	it, err := get(ctx, s, domainPK(domain), domainSK, "get domain", decodeAs[domainItem]("domain "+domain),
		notFound("No deployment answers on %q.", domain))
	if err != nil {
		return tenant.Deployment{}, err
	}
	d, err := s.GetDeployment(ctx, it.DeploymentID)
	if err != nil {
		return tenant.Deployment{}, err
	}
	if !strings.EqualFold(d.DomainName, domain) {
		return tenant.Deployment{}, fault.Newf(ErrNotFound, "No deployment answers on %q.", domain)
	}
	s.domains.Store(lower, d.ID)
	return d, nil
}

// ListDeployments lists deployments, oldest first (operator view).
func (s *Store) ListDeployments(ctx context.Context, pr PageRequest) (Page[tenant.Deployment], error) {
	return listGSI1(ctx, s, allDeployments, pr, decodeDeployment)
}

// UpdateDeployment writes next over current, where current is the deployment as the caller
// read it. The write succeeds only if the stored version still equals current.Version
// (ErrStale otherwise). A changed domain name moves the domain mapping in the same
// transaction: the new name must be free (ErrConflict otherwise), and nothing is written when
// any part fails. log, when not empty, is appended to the system log in the same transaction.
func (s *Store) UpdateDeployment(ctx context.Context, current, next tenant.Deployment, log *tenant.LogEntry) (tenant.Deployment, error) {
	if current.ID != next.ID {
		return tenant.Deployment{}, fmt.Errorf("update deployment: id changed from %s to %s", current.ID, next.ID)
	}
	now := s.now()
	next.Version = current.Version + 1
	next.CreatedAt = current.CreatedAt
	next.UpdatedAt = now
	items := []types.TransactWriteItem{s.putVersioned(toDeploymentItem(next), current.Version)}
	newDomainAt := -1
	if current.DomainName != next.DomainName {
		if current.DomainName != "" {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName:           &s.table,
				Key:                 key(domainPK(current.DomainName), domainSK),
				ConditionExpression: aws.String("deploymentId = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":id": &types.AttributeValueMemberS{Value: current.ID},
				},
			}})
		}
		if next.DomainName != "" {
			newDomainAt = len(items)
			items = append(items, s.putDomain(next.DomainName, next.ID))
		}
	}
	if log != nil {
		items = append(items, s.putLog(next.ID, *log))
	}
	err := s.transact(ctx, "update deployment", items)
	if err == nil {
		return next, nil
	}
	codes := cancellationCodes(err)
	if codes == nil {
		return tenant.Deployment{}, err // classified by transact
	}
	if !slices.Contains(codes, conditionFailed) {
		return tenant.Deployment{}, cancelled("update deployment", err, codes)
	}
	if newDomainAt >= 0 && newDomainAt < len(codes) && codes[newDomainAt] == conditionFailed {
		return tenant.Deployment{}, fault.Newf(ErrConflict, "The domain name %q is already used by another deployment.", next.DomainName)
	}
	// Either the deployment is gone or its version moved on; tell which.
	stored, gerr := s.GetDeployment(ctx, current.ID)
	if gerr != nil {
		return tenant.Deployment{}, gerr
	}
	if stored.Version != current.Version {
		return tenant.Deployment{}, fault.Newf(ErrStale, "Deployment %s was changed by someone else (version %d, you sent %d); read it again and retry.", current.ID, stored.Version, current.Version)
	}
	return tenant.Deployment{}, fault.Wrap(ErrConflict, err, "The domain name changed concurrently; read the deployment again and retry.")
}

func (s *Store) putDomain(domain, deploymentID string) types.TransactWriteItem {
	return s.putNew(domainItem{PK: domainPK(domain), SK: domainSK, Type: "domain", DeploymentID: deploymentID})
}
