// Package marketplace is how customers arrive and how their deployments follow their cloud
// marketplace subscriptions: AWS Marketplace (SaaS: the fulfilment URL with ResolveCustomer,
// EventBridge agreement and license events, the legacy SNS topics through SQS, hourly
// BatchMeterUsage) and Azure Marketplace (SaaS fulfilment API v2: landing page, webhook,
// metered billing). Both feed one subscription life cycle (Apply), which sets the
// deployment's status. The marketplaces' protocols are behind narrow interfaces (ports.go),
// so the same code runs against AWS and Azure and against the local stand-ins.
package marketplace

import (
	"strings"
	"time"
)

// Marketplace names where a subscription was bought.
type Marketplace string

// The marketplaces.
const (
	AWS   Marketplace = "aws"
	Azure Marketplace = "azure"
)

// State is a subscription's place in its life cycle.
type State string

// Subscription states. A deployment exists from registration on; its status follows the
// subscription's state (DeploymentStatus).
const (
	// StatePending is subscribed in the marketplace, not registered with us yet.
	StatePending State = "pending"
	// StateActive is registered and paid for.
	StateActive State = "active"
	// StateSuspended is not paid for (Azure Suspend, an expired AWS entitlement): signing is
	// refused, the console read-only, the data kept.
	StateSuspended State = "suspended"
	// StateUnsubscribePending is being cancelled at the marketplace; the service still works
	// until it is cancelled.
	StateUnsubscribePending State = "unsubscribe-pending"
	// StateCancelled is the end: signing and the console are refused; the data is kept for
	// the retention period, then deleted.
	StateCancelled State = "cancelled"
)

// Terminal reports whether s is the end of the life cycle.
func (s State) Terminal() bool { return s == StateCancelled }

// Subscription is a marketplace subscription and the deployment it pays for.
type Subscription struct {
	// ID is "sub_" + 26 characters (tenant.NewID).
	ID          string
	Marketplace Marketplace
	// AWS: the customer is (AWSAccountID, LicenseARN); CustomerIdentifier is the legacy id
	// (integrations from before 2025 have it, new ones may not). ProductCode is the listing.
	AWSAccountID       string
	LicenseARN         string
	CustomerIdentifier string
	ProductCode        string
	// AgreementID is the AWS agreement ("agmt-…"), learned from the events that carry it
	// with the license; agreement events carry nothing else.
	AgreementID string
	// OfferID is the marketplace offer (AWS "offer-…", Azure offer id).
	OfferID string
	// FreeTrial is set when the AWS offer has a free-trial term.
	FreeTrial bool
	// AzureSubscriptionID is the SaaS subscription's id at Azure (a GUID).
	AzureSubscriptionID string
	// PurchaserEmail and PurchaserTenant are who bought it (Azure; shown on registration).
	PurchaserEmail, PurchaserTenant string
	// Name is the subscription's name at the marketplace (Azure), a default for the
	// deployment's name.
	Name string
	// Plan is a tenant.Plans id; Quantity the seats of a per-seat plan (0: none).
	Plan     string
	Quantity int
	State    State
	// StateAt is when the marketplace says the event that set State happened; an event from
	// before it does not change State (events arrive out of order). PlanAt is the same for
	// Plan and Quantity.
	StateAt, PlanAt time.Time
	// DeploymentID is the deployment registration created ("" while pending).
	DeploymentID string
	// ActivatedAt is when the marketplace was told the subscription is fulfilled (Azure's
	// activate; zero until then: the metering function retries it).
	ActivatedAt time.Time
	// EndedAt is when it was cancelled (zero before): the metering function sends the final
	// usage within the hour after it.
	EndedAt time.Time
	// Metered is the metering cursor: up to where usage has been reported.
	Metered MeterCursor
	// Retention is where the deletion of a cancelled deployment's data stands: Cursor is
	// where marking its items for TTL deletion resumes, ExpiresAt when they are deleted
	// (zero until every item is marked).
	Retention Retention
	Version   int64
	// CreatedAt and UpdatedAt are the item's own times.
	CreatedAt, UpdatedAt time.Time
}

// Retention is how far the deletion of a cancelled subscription's deployment has come.
type Retention struct {
	Cursor    string
	ExpiresAt time.Time
}

// MeterCursor is where a subscription's metering stands.
type MeterCursor struct {
	// Hour is the last hour (its start) whose usage was recorded; zero before the first.
	Hour time.Time
	// Signatures is the deployment's signature total (all certificates, all time) at the end
	// of Hour: the next hour's usage is the total then minus this.
	Signatures int64
	// Month is the start of the month MonthSignatures counts in; MonthSignatures the
	// signatures of that month up to the end of Hour (for included amounts and caps).
	Month           time.Time
	MonthSignatures int64
	// Final is set once the usage after cancellation was sent: nothing more is metered.
	Final bool
}

// Key is the subscription's identity at its marketplace, unique across subscriptions:
// "aws:<account>:<license id>" (the l-… id of the license ARN), "aws-legacy:<customer
// identifier>:<product code>" for a legacy AWS customer without account and license, or
// "azure:<subscription id>".
func (s Subscription) Key() string {
	switch s.Marketplace {
	case Azure:
		return AzureKey(s.AzureSubscriptionID)
	default:
		if s.AWSAccountID != "" && s.LicenseARN != "" {
			return AWSKey(s.AWSAccountID, s.LicenseARN)
		}
		return AWSLegacyKey(s.CustomerIdentifier, s.ProductCode)
	}
}

// AWSKey is the key of the AWS customer (account, license ARN or l-… id).
func AWSKey(account, license string) string {
	return "aws:" + strings.TrimSpace(account) + ":" + LicenseID(license)
}

// AWSLegacyKey is the key of a legacy AWS customer (customer identifier, product code).
func AWSLegacyKey(customer, product string) string {
	return "aws-legacy:" + strings.TrimSpace(customer) + ":" + strings.TrimSpace(product)
}

// AzureKey is the key of the Azure SaaS subscription id.
func AzureKey(id string) string { return "azure:" + strings.ToLower(strings.TrimSpace(id)) }

// LicenseID is the l-… id of a license ARN ("arn:aws:license-manager::…:license:l-…"), or
// s itself trimmed when it has no slash or colon before the id. License events name a
// license by ARN, ResolveCustomer by ARN too, but with partitions and account fields that
// may differ; the id is what identifies it.
func LicenseID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, ":/"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Kind is what a marketplace event means for a subscription.
type Kind string

// Event kinds.
const (
	// KindSubscribe: subscribed (AWS subscribe-success, agreement created; Azure resolve).
	KindSubscribe Kind = "subscribe"
	// KindSubscribeFail: the subscription failed (AWS subscribe-fail): it is cancelled.
	KindSubscribeFail Kind = "subscribe-fail"
	// KindEntitlementChanged: ask the marketplace what the customer is entitled to now (AWS
	// entitlement-updated, license updated, agreement amended); the answer is a KindPlan
	// event, or a suspension when nothing is entitled any more.
	KindEntitlementChanged Kind = "entitlement-changed"
	// KindPlan: plan and quantity are Plan and Quantity (Azure ChangePlan, ChangeQuantity
	// and Renew after the operation is confirmed; the answer to KindEntitlementChanged).
	KindPlan Kind = "plan"
	// KindSuspend and KindReinstate: payment stopped and resumed.
	KindSuspend   Kind = "suspend"
	KindReinstate Kind = "reinstate"
	// KindUnsubscribePending: cancellation requested (AWS unsubscribe-pending, agreement
	// ended); the service works until KindUnsubscribe.
	KindUnsubscribePending Kind = "unsubscribe-pending"
	// KindUnsubscribe: cancelled (AWS unsubscribe-success, license deprovisioned; Azure
	// Unsubscribe).
	KindUnsubscribe Kind = "unsubscribe"
)

// Ref is how an event names its subscription: whatever it carries of the keys.
type Ref struct {
	AWSAccountID, LicenseARN        string
	CustomerIdentifier, ProductCode string
	AgreementID                     string
	AzureSubscriptionID             string
}

// Lookups are the keys under which ref's subscription can be found, best first: the full
// key of each identity the event carries (see Subscription.Key), then the agreement's.
func (r Ref) Lookups() []string {
	var keys []string
	if r.AzureSubscriptionID != "" {
		keys = append(keys, AzureKey(r.AzureSubscriptionID))
	}
	if r.AWSAccountID != "" && r.LicenseARN != "" {
		keys = append(keys, AWSKey(r.AWSAccountID, r.LicenseARN))
	}
	if r.LicenseARN != "" {
		keys = append(keys, "aws-license:"+LicenseID(r.LicenseARN))
	}
	if r.CustomerIdentifier != "" && r.ProductCode != "" {
		keys = append(keys, AWSLegacyKey(r.CustomerIdentifier, r.ProductCode))
	}
	if r.AgreementID != "" {
		keys = append(keys, "aws-agreement:"+strings.TrimSpace(r.AgreementID))
	}
	return keys
}

// Event is a marketplace notification, decoded from its wire form.
type Event struct {
	// ID makes delivery idempotent: the SNS MessageId, the EventBridge event id, the Azure
	// operation id (prefixed by the source, so ids of two sources never collide).
	ID string
	// Source is where it came from ("aws-sns", "aws-eventbridge", "azure-webhook", ...), for
	// the system log.
	Source string
	Kind   Kind
	// At is when the marketplace says it happened: events are applied in this order.
	At  time.Time
	Ref Ref
	// Plan and Quantity for KindPlan (and a subscribe that names them).
	Plan     string
	Quantity int
	// OfferID and FreeTrial, when the event says (AWS subscribe-success).
	OfferID   string
	FreeTrial *bool
	// Current marks a plan read from the marketplace as it is now (an entitlement resolved
	// by GetEntitlements): it applies whatever the time of the notification that made us
	// look, since nothing older can be in it.
	Current bool
	// Detail is a short, caller-safe description for the system log ("License Updated -
	// Manufacturer", "ChangePlan to standard-eu").
	Detail string
}

// MeterRecord is one subscription-hour of metering: the usage computed for the hour (kept
// from the first attempt, so that a retry sends exactly the same records and the
// marketplace's duplicate detection makes it count once) and what the marketplace answered.
type MeterRecord struct {
	SubscriptionID string
	DeploymentID   string
	Marketplace    Marketplace
	// Hour is the start of the hour metered.
	Hour time.Time
	// Status is MeterPending until the marketplace has answered every record, then MeterSent
	// (all accepted) or MeterRejected (some were refused; see Results).
	Status  string
	Records []UsageRecord
	Results []UsageResult
	// Attempts counts the sends; Final marks the usage sent after cancellation.
	Attempts  int
	Final     bool
	CreatedAt time.Time
	SentAt    time.Time
}

// Meter record states.
const (
	MeterPending  = "pending"
	MeterSent     = "sent"
	MeterRejected = "rejected"
)
