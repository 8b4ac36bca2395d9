package tenant

import (
	"slices"
	"strings"

	"github.com/opensignum/signum/lib/fault"
)

// Limits are what a plan allows a deployment; 0 means no limit.
type Limits struct {
	// Certificates counts the certificates that are not deleted.
	Certificates int
	// Users counts console users; a per-seat plan sets it from the subscription's quantity.
	Users int
	// SignaturesPerMonth is how many signatures a calendar month (UTC) includes. Over it, a
	// plan with an overage dimension bills the rest; one without refuses (HardSignatureCap).
	SignaturesPerMonth int
}

// Dimension is a usage dimension a plan reports to its marketplace's metering, each hour.
type Dimension string

// Usage dimensions. Their names are the dimension keys registered with the marketplaces.
const (
	// DimensionSignatures counts the signatures made in the hour.
	DimensionSignatures Dimension = "signatures"
	// DimensionSignaturesOverage counts the signatures of the hour beyond the month's included
	// ones (Azure's metered billing for overage).
	DimensionSignaturesOverage Dimension = "signatures_overage"
	// DimensionCertificates is the number of certificates at the hour's end.
	DimensionCertificates Dimension = "certificates"
	// DimensionUsers is the number of console users at the hour's end.
	DimensionUsers Dimension = "users"
)

// Plan is what a subscription buys: limits, what is metered, and the AWS region its
// deployment's keys and data live in. Marketplace plan ids are these ids.
type Plan struct {
	ID   string
	Name string
	// Tier is the plan's family (trial, standard, enterprise); the signing rate limits are
	// per tier.
	Tier   string
	Region string
	Limits Limits
	// PerSeat plans take Users from the subscription's quantity.
	PerSeat bool
	// HardSignatureCap refuses signatures over SignaturesPerMonth; otherwise they are billed
	// through the overage dimension (or are unlimited).
	HardSignatureCap bool
	// Dimensions are metered each hour, in this order.
	Dimensions []Dimension
}

// DefaultRegion is the region of plans that do not name one.
const DefaultRegion = "us-east-1"

// Plans is the catalogue. The marketplace listings' plan (AWS dimension/offer, Azure plan id)
// ids are these ids; a regional plan's id ends in its region. Trial plans cap signatures;
// standard plans meter signatures (AWS pay-as-you-go) and bill Azure overage; enterprise
// plans are per seat.
var Plans = []Plan{
	{ID: "trial", Name: "Trial", Tier: "trial", Region: DefaultRegion, HardSignatureCap: true,
		Limits: Limits{Certificates: 5, Users: 10, SignaturesPerMonth: 1000}},
	{ID: "standard", Name: "Standard", Tier: "standard", Region: DefaultRegion,
		Limits:     Limits{Certificates: 50, Users: 100, SignaturesPerMonth: 100_000},
		Dimensions: []Dimension{DimensionSignatures, DimensionSignaturesOverage, DimensionCertificates}},
	{ID: "standard-eu", Name: "Standard (EU)", Tier: "standard", Region: "eu-central-1",
		Limits:     Limits{Certificates: 50, Users: 100, SignaturesPerMonth: 100_000},
		Dimensions: []Dimension{DimensionSignatures, DimensionSignaturesOverage, DimensionCertificates}},
	{ID: "enterprise", Name: "Enterprise", Tier: "enterprise", Region: DefaultRegion, PerSeat: true,
		Limits:     Limits{Certificates: 1000},
		Dimensions: []Dimension{DimensionSignatures, DimensionUsers}},
	{ID: "enterprise-eu", Name: "Enterprise (EU)", Tier: "enterprise", Region: "eu-central-1", PerSeat: true,
		Limits:     Limits{Certificates: 1000},
		Dimensions: []Dimension{DimensionSignatures, DimensionUsers}},
}

// PlanByID returns the plan with id (case and surrounding space ignored: marketplaces pad
// and vary them).
func PlanByID(id string) (Plan, bool) {
	id = strings.ToLower(strings.TrimSpace(id))
	i := slices.IndexFunc(Plans, func(p Plan) bool { return p.ID == id })
	if i < 0 {
		return Plan{}, false
	}
	return Plans[i], true
}

// PlanIDs lists the catalogue's ids, for messages.
func PlanIDs() []string {
	ids := make([]string, len(Plans))
	for i, p := range Plans {
		ids[i] = p.ID
	}
	return ids
}

// LimitsFor is what plan allows with quantity (seats of a per-seat plan; ignored otherwise,
// and 0 means the plan's own limit).
func LimitsFor(planID string, quantity int) Limits {
	p, ok := PlanByID(planID)
	if !ok {
		return Limits{}
	}
	l := p.Limits
	if p.PerSeat && quantity > 0 {
		l.Users = quantity
	}
	return l
}

// PlanLimitError is the problem for a deployment on plan that would go over its limit n of
// what ("certificates", "console users"), holding have.
func PlanLimitError(plan, what string, n, have int) error {
	return fault.Newf(fault.ErrPlanLimit, "The %s plan allows %d %s; this deployment has %d. A portal Admin can change the plan or its quantity in the marketplace.", plan, n, what, have)
}
