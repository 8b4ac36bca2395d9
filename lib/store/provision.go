package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
)

// provisionItem remembers which deployment a provisioning request created:
// PK=PROVISION#<request key>, SK=PROVISION. Marketplace events arrive at least once; the
// request key (e.g. the marketplace's customer and product ids) makes a replay return the
// deployment the first delivery created instead of a second one.
type provisionItem struct {
	PK           string `dynamodbav:"PK"`
	SK           string `dynamodbav:"SK"`
	Type         string `dynamodbav:"type"`
	DeploymentID string `dynamodbav:"deploymentId"`
	// Fingerprint identifies the request's content, so that a key reused for another
	// request is refused instead of answered with the first request's deployment.
	Fingerprint string `dynamodbav:"fingerprint,omitempty"`
	CreatedAt   string `dynamodbav:"createdAt"`
}

// Provisioning is everything a new deployment starts with, written in one transaction.
type Provisioning struct {
	Deployment tenant.Deployment
	// RequestKey identifies the provisioning request; "" means not idempotent.
	RequestKey string
	// Fingerprint identifies the request's content (see provisionItem).
	Fingerprint string
	// Log is the deployment's first system log entry.
	Log tenant.LogEntry
	// LocalDomain is the default Local users domain of the console.
	LocalDomain identity.LocalDomain
	// DefaultPolicy, when set, is the deployment's first signing policy.
	DefaultPolicy *policy.Policy
	// FirstGroup, when set, is the deployment's first certificate group, so that its first
	// certificate has a group to go in. A deployment provisioned with it has no free-text
	// labels to migrate, so it is also marked migrated.
	FirstGroup *certificates.Group
	// FirstInvite, when set, is the deployment link of the first portal Admin, stored
	// under FirstInviteHash.
	FirstInvite     *identity.Invite
	FirstInviteHash string
	// Subscription, when set, is the marketplace subscription the deployment is registered
	// for, as read (Current) and bound to it (Next): written over the version read, so that
	// one subscription registers one deployment.
	Subscription *SubscriptionBinding
}

// SubscriptionBinding is a subscription before and after registration bound it to its
// deployment.
type SubscriptionBinding struct {
	Current, Next marketplace.Subscription
}

// Provision writes a new deployment with its default records in one transaction: all of them
// or none. It returns created=false and the existing deployment when RequestKey was already
// used for the same request (ErrRequestMismatch for another one), ErrConflict when the domain
// name is taken.
func (s *Store) Provision(ctx context.Context, p Provisioning) (d tenant.Deployment, created bool, err error) {
	d = p.Deployment
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	d.UpdatedAt, d.Version = d.CreatedAt, 1
	var items []types.TransactWriteItem
	requestAt, domainAt := -1, -1
	if p.RequestKey != "" {
		requestAt = len(items)
		items = append(items, s.putNew(provisionItem{PK: provisionPK(p.RequestKey), SK: provisionSK, Type: "provisionRequest",
			DeploymentID: d.ID, Fingerprint: p.Fingerprint, CreatedAt: d.CreatedAt.UTC().Format(time.RFC3339Nano)}))
	}
	items = append(items, s.putNew(toDeploymentItem(d)))
	if d.DomainName != "" {
		domainAt = len(items)
		items = append(items, s.putDomain(d.DomainName, d.ID))
	}
	ld := p.LocalDomain
	ld.DeploymentID = d.ID
	items = append(items, s.putLog(d.ID, p.Log), s.putLocalDomain(ld, d.CreatedAt),
		s.putNew(countersItem{PK: deploymentPK(d.ID), SK: countersSK, Type: "counters"}),
		// Every event of a new deployment is written into the listings' indexes.
		s.putNew(migrationItem{PK: deploymentPK(d.ID), SK: eventsIndexedSK, Type: "migration", At: formatTime(d.CreatedAt)}))
	if dp := p.DefaultPolicy; dp != nil {
		dp.Version = 1
		items = append(items, s.putNew(toPolicyItem(d.ID, *dp)))
	}
	if g := p.FirstGroup; g != nil {
		g.DeploymentID, g.CreatedAt = d.ID, d.CreatedAt
		items = append(items, s.newGroup(*g)...)
		items = append(items, s.putNew(migrationItem{PK: deploymentPK(d.ID), SK: groupsMigratedSK, Type: "migration", At: formatTime(d.CreatedAt)}))
	}
	if inv := p.FirstInvite; inv != nil {
		items = append(items, s.putNew(toInviteItem(p.FirstInviteHash, *inv)))
	}
	subAt := -1
	if b := p.Subscription; b != nil {
		next := b.Next
		next.Version, next.CreatedAt, next.UpdatedAt = b.Current.Version+1, b.Current.CreatedAt, d.CreatedAt
		subAt = len(items)
		items = append(items, s.putVersioned(toSubscriptionItem(next), b.Current.Version))
	}

	err = s.transact(ctx, "provision deployment", items)
	if err == nil {
		return d, true, nil
	}
	codes := cancellationCodes(err)
	if codes == nil {
		return tenant.Deployment{}, false, err // classified by transact
	}
	failed := func(i int) bool { return i >= 0 && i < len(codes) && codes[i] == conditionFailed }
	switch {
	case failed(requestAt):
		return s.provisionedBy(ctx, p.RequestKey, p.Fingerprint)
	case failed(domainAt):
		return tenant.Deployment{}, false, fault.Newf(ErrConflict, "The domain name %q is already used by another deployment.", d.DomainName)
	case failed(subAt):
		return tenant.Deployment{}, false, fault.Newf(ErrStale, "The subscription changed while it was being registered; try again.")
	case failed(requestAt + 1):
		return tenant.Deployment{}, false, fault.Newf(ErrConflict, "A deployment with the id %s exists.", d.ID)
	}
	return tenant.Deployment{}, false, cancelled("provision deployment", err, codes)
}

// provisionedBy returns the deployment a provisioning request key created, if the request
// it created it for had the same fingerprint.
func (s *Store) provisionedBy(ctx context.Context, requestKey, fingerprint string) (tenant.Deployment, bool, error) {
	it, err := get(ctx, s, provisionPK(requestKey), provisionSK, "get provision request", decodeAs[provisionItem]("provision request"),
		func() error { return fmt.Errorf("provision request %q vanished: %w", requestKey, ErrNotFound) })
	if err != nil {
		return tenant.Deployment{}, false, err
	}
	if it.Fingerprint != fingerprint {
		return tenant.Deployment{}, false, fault.Newf(ErrRequestMismatch, "This request key was used for a different request (it created deployment %s); use a new key.", it.DeploymentID)
	}
	d, err := s.GetDeployment(ctx, it.DeploymentID)
	return d, false, err
}
