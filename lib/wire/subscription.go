package wire

import (
	"time"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/tenant"
)

// Subscription is the JSON form of a marketplace subscription. Customer-facing answers
// (registration, portal) leave out the operator's bookkeeping (Operator fields).
type Subscription struct {
	ID          string `json:"id"`
	Marketplace string `json:"marketplace"`
	State       string `json:"state"`
	Plan        string `json:"plan"`
	PlanName    string `json:"planName"`
	Quantity    int    `json:"quantity,omitempty"`
	Region      string `json:"region"`
	Limits      Limits `json:"limits"`
	// Name and PurchaserEmail are what Azure says of the subscription; AWSAccountID the
	// buyer's account.
	Name           string    `json:"name,omitempty"`
	PurchaserEmail string    `json:"purchaserEmail,omitempty"`
	AWSAccountID   string    `json:"awsAccountId,omitempty"`
	OfferID        string    `json:"offerId,omitempty"`
	FreeTrial      bool      `json:"freeTrial,omitempty"`
	DeploymentID   string    `json:"deploymentId,omitempty"`
	StateAt        time.Time `json:"stateAt"`
	CreatedAt      time.Time `json:"createdAt"`
	*SubscriptionOperatorView
}

// SubscriptionOperatorView is what only the operator sees of a subscription: its identities
// at the marketplace and its metering cursor.
type SubscriptionOperatorView struct {
	LicenseARN          string     `json:"licenseArn,omitempty"`
	CustomerIdentifier  string     `json:"customerIdentifier,omitempty"`
	ProductCode         string     `json:"productCode,omitempty"`
	AgreementID         string     `json:"agreementId,omitempty"`
	AzureSubscriptionID string     `json:"azureSubscriptionId,omitempty"`
	ActivatedAt         *time.Time `json:"activatedAt,omitempty"`
	EndedAt             *time.Time `json:"endedAt,omitempty"`
	MeteredHour         *time.Time `json:"meteredHour,omitempty"`
	MeteredFinal        bool       `json:"meteredFinal,omitempty"`
	DataExpiresAt       *time.Time `json:"dataExpiresAt,omitempty"`
	Version             int64      `json:"version"`
}

// SubscriptionJSON converts a subscription for its customer.
func SubscriptionJSON(s marketplace.Subscription) Subscription {
	p, _ := tenant.PlanByID(s.Plan)
	// A subscription no event has set the state of yet has been in it since it was made.
	stateAt := s.StateAt
	if stateAt.IsZero() {
		stateAt = s.CreatedAt
	}
	return Subscription{
		ID: s.ID, Marketplace: string(s.Marketplace), State: string(s.State), Plan: s.Plan, PlanName: p.Name,
		Quantity: s.Quantity, Region: p.Region, Limits: LimitsJSON(tenant.LimitsFor(s.Plan, s.Quantity)),
		Name: s.Name, PurchaserEmail: s.PurchaserEmail, AWSAccountID: s.AWSAccountID, OfferID: s.OfferID,
		FreeTrial: s.FreeTrial, DeploymentID: s.DeploymentID, StateAt: stateAt, CreatedAt: s.CreatedAt,
	}
}

// SubscriptionOperatorJSON converts a subscription for the operator.
func SubscriptionOperatorJSON(s marketplace.Subscription) Subscription {
	out := SubscriptionJSON(s)
	out.SubscriptionOperatorView = &SubscriptionOperatorView{
		LicenseARN: s.LicenseARN, CustomerIdentifier: s.CustomerIdentifier, ProductCode: s.ProductCode,
		AgreementID: s.AgreementID, AzureSubscriptionID: s.AzureSubscriptionID,
		ActivatedAt: timePtr(s.ActivatedAt), EndedAt: timePtr(s.EndedAt), MeteredHour: timePtr(s.Metered.Hour),
		MeteredFinal: s.Metered.Final, DataExpiresAt: timePtr(s.Retention.ExpiresAt), Version: s.Version,
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MeterRecord is the JSON form of a subscription-hour's metering record (operator).
type MeterRecord struct {
	SubscriptionID string        `json:"subscriptionId"`
	DeploymentID   string        `json:"deploymentId,omitempty"`
	Marketplace    string        `json:"marketplace"`
	Hour           time.Time     `json:"hour"`
	Status         string        `json:"status"`
	Final          bool          `json:"final,omitempty"`
	Attempts       int           `json:"attempts"`
	Usage          []MeterUsage  `json:"usage"`
	Results        []MeterResult `json:"results,omitempty"`
	CreatedAt      time.Time     `json:"createdAt"`
	SentAt         *time.Time    `json:"sentAt,omitempty"`
}

// MeterUsage is one dimension's quantity in a metering record.
type MeterUsage struct {
	Dimension string `json:"dimension"`
	Quantity  int64  `json:"quantity"`
}

// MeterResult is the marketplace's answer for one dimension.
type MeterResult struct {
	Dimension string `json:"dimension"`
	Status    string `json:"status"`
	ID        string `json:"id,omitempty"`
	Accepted  bool   `json:"accepted"`
}

// MeterRecordJSON converts a metering record.
func MeterRecordJSON(r marketplace.MeterRecord) MeterRecord {
	out := MeterRecord{SubscriptionID: r.SubscriptionID, DeploymentID: r.DeploymentID, Marketplace: string(r.Marketplace),
		Hour: r.Hour, Status: r.Status, Final: r.Final, Attempts: r.Attempts, CreatedAt: r.CreatedAt, SentAt: timePtr(r.SentAt),
		Usage: []MeterUsage{}}
	for _, u := range r.Records {
		out.Usage = append(out.Usage, MeterUsage{Dimension: u.Dimension, Quantity: u.Quantity})
	}
	for _, res := range r.Results {
		out.Results = append(out.Results, MeterResult{Dimension: res.Record.Dimension, Status: res.Status, ID: res.ID, Accepted: res.Accepted})
	}
	return out
}
