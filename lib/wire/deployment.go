package wire

import (
	"fmt"
	"time"

	"github.com/opensignum/signum/lib/tenant"
)

// Deployment is the JSON form of a deployment (operator and portal APIs).
type Deployment struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	Plan            string `json:"plan"`
	Quantity        int    `json:"quantity,omitempty"`
	Region          string `json:"region,omitempty"`
	Limits          Limits `json:"limits"`
	SubscriptionID  string `json:"subscriptionId,omitempty"`
	SigningCapped   bool   `json:"signingCapped,omitempty"`
	SoftwareVersion string `json:"softwareVersion"`
	DomainName      string `json:"domainName,omitempty"`
	// SignerEndpoint is where certificate users' agents reach the deployment over mutual TLS
	// (WithSigner); absent without a domain name or a mutual-TLS domain.
	SignerEndpoint string    `json:"signerEndpoint,omitempty"`
	IPAllowlist    []string  `json:"ipAllowlist"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// DeploymentJSON converts a deployment to its JSON form.
func DeploymentJSON(d tenant.Deployment) Deployment {
	return Deployment{
		ID: d.ID, Name: d.Name, Status: string(d.Status), Plan: d.Plan, SoftwareVersion: d.SoftwareVersion,
		Quantity: d.Quantity, Region: d.Region, Limits: LimitsJSON(d.Limits()), SubscriptionID: d.SubscriptionID,
		SigningCapped: d.SigningCapped,
		DomainName:    d.DomainName, IPAllowlist: tenant.FormatAllowlist(d.IPAllowlist), Version: d.Version,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// WithSigner sets the deployment's mutual-TLS endpoint from endpoint (access.Guard's
// SignerEndpoint).
func (d Deployment) WithSigner(endpoint func(domain string) string) Deployment {
	d.SignerEndpoint = endpoint(d.DomainName)
	return d
}

// DeploymentETag is the entity tag of a deployment: its version.
func DeploymentETag(d tenant.Deployment) string { return fmt.Sprintf(`"%d"`, d.Version) }

// Limits is the JSON form of a plan's limits (0: none).
type Limits struct {
	Certificates       int `json:"certificates"`
	Users              int `json:"users"`
	SignaturesPerMonth int `json:"signaturesPerMonth"`
}

// LimitsJSON converts limits to their JSON form.
func LimitsJSON(l tenant.Limits) Limits {
	return Limits{Certificates: l.Certificates, Users: l.Users, SignaturesPerMonth: l.SignaturesPerMonth}
}
