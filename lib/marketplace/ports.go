package marketplace

import (
	"context"
	"errors"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// ErrTokenRejected is a registration token the marketplace does not resolve: expired,
// already used, or made up (AWS InvalidTokenException, an Azure resolve that answers 400 or
// 404).
var ErrTokenRejected = errors.New("marketplace: the registration token was not accepted")

// ErrUnavailable is a marketplace API that failed or throttled; retry later.
var ErrUnavailable = fault.ErrUnavailable

// AWSCustomer is what ResolveCustomer answers for a registration token.
type AWSCustomer struct {
	AWSAccountID       string
	LicenseARN         string
	CustomerIdentifier string
	ProductCode        string
}

// Entitlement is one AWS entitlement (GetEntitlements): a dimension of a contract, bought in
// Value units, valid until ExpiresAt (zero: no end).
type Entitlement struct {
	Dimension string
	Value     int
	ExpiresAt time.Time
}

// UsageRecord is one hour's usage of one dimension for one customer.
type UsageRecord struct {
	// Customer is the AWS customer (account and license; the customer identifier only for a
	// legacy one) or, for Azure, the SaaS subscription id in AzureSubscriptionID.
	Customer            AWSCustomer
	AzureSubscriptionID string
	// Plan is the Azure plan id the usage is billed under.
	Plan      string
	Dimension string
	Quantity  int64
	// Hour is the start of the hour the usage was in (AWS: the record's Timestamp; Azure:
	// effectiveStartTime).
	Hour time.Time
}

// UsageResult is the marketplace's answer for one record.
type UsageResult struct {
	Record UsageRecord
	// Status is the marketplace's word: AWS "Success", "CustomerNotSubscribed",
	// "DuplicateRecord"; Azure "Accepted", "Duplicate", "Expired", ...
	Status string
	// ID is the marketplace's id for the record (AWS MeteringRecordId, Azure usageEventId).
	ID string
	// Accepted is true when the usage counts as sent (accepted now or before).
	Accepted bool
}

// AWSMetering is AWS Marketplace Metering as this package uses it.
type AWSMetering interface {
	// ResolveCustomer exchanges a registration token (x-amzn-marketplace-token) for the
	// customer; ErrTokenRejected when it is expired or invalid.
	ResolveCustomer(ctx context.Context, token string) (AWSCustomer, error)
	// BatchMeterUsage sends at most 25 records of productCode; the same record sent twice
	// is answered DuplicateRecord (and counts once).
	BatchMeterUsage(ctx context.Context, productCode string, records []UsageRecord) ([]UsageResult, error)
}

// AWSEntitlements is AWS Marketplace Entitlement Service as this package uses it.
type AWSEntitlements interface {
	// GetEntitlements lists the customer's entitlements to productCode (every page).
	GetEntitlements(ctx context.Context, productCode string, c AWSCustomer) ([]Entitlement, error)
}

// AzureSubscription is the SaaS fulfilment API's subscription (resolve, get).
type AzureSubscription struct {
	ID, Name, OfferID, PlanID string
	Quantity                  int
	// Status is the subscription's saasSubscriptionStatus: PendingFulfillmentStart,
	// Subscribed, Suspended, Unsubscribed.
	Status                          string
	PurchaserEmail, PurchaserTenant string
	BeneficiaryEmail                string
}

// AzureOperation is an operation of the SaaS fulfilment API (the webhook names one; GET it
// before acting on it).
type AzureOperation struct {
	ID, SubscriptionID string
	// Action is ChangePlan, ChangeQuantity, Renew, Suspend, Reinstate, Unsubscribe.
	Action   string
	PlanID   string
	Quantity int
	// Status is NotStarted, InProgress, Succeeded, Failed, Conflict.
	Status    string
	TimeStamp time.Time
}

// AzureAPI is the SaaS fulfilment API v2 as this package uses it.
type AzureAPI interface {
	// Resolve exchanges a landing page token for its subscription (ErrTokenRejected when
	// it is expired or invalid).
	Resolve(ctx context.Context, token string) (AzureSubscription, error)
	GetSubscription(ctx context.Context, id string) (AzureSubscription, error)
	// Activate starts billing; only after the deployment exists.
	Activate(ctx context.Context, subscriptionID, planID string, quantity int) error
	GetOperation(ctx context.Context, subscriptionID, operationID string) (AzureOperation, error)
	// UpdateOperation accepts (success) or rejects a ChangePlan or ChangeQuantity.
	UpdateOperation(ctx context.Context, subscriptionID, operationID, planID string, quantity int, success bool) error
	// PostUsage sends one usage event (metered billing); a duplicate counts as sent.
	PostUsage(ctx context.Context, r UsageRecord) (UsageResult, error)
}

// WebhookVerifier checks the bearer token of an Azure webhook call: signed by the publisher
// tenant's keys, in its lifetime, for our app, from the marketplace's app. Any failure is
// fault.ErrUnauthenticated.
type WebhookVerifier interface {
	Verify(ctx context.Context, bearer string) error
}
