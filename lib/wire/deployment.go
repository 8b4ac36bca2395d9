package wire

import (
	"fmt"
	"time"

	"github.com/opensignum/signum/lib/tenant"
)

// Deployment is the JSON form of a deployment (operator and portal APIs).
type Deployment struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Status          string    `json:"status"`
	Plan            string    `json:"plan"`
	SoftwareVersion string    `json:"softwareVersion"`
	DomainName      string    `json:"domainName,omitempty"`
	IPAllowlist     []string  `json:"ipAllowlist"`
	Version         int64     `json:"version"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// DeploymentJSON converts a deployment to its JSON form.
func DeploymentJSON(d tenant.Deployment) Deployment {
	return Deployment{
		ID: d.ID, Name: d.Name, Status: string(d.Status), Plan: d.Plan, SoftwareVersion: d.SoftwareVersion,
		DomainName: d.DomainName, IPAllowlist: tenant.FormatAllowlist(d.IPAllowlist), Version: d.Version,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// DeploymentETag is the entity tag of a deployment: its version.
func DeploymentETag(d tenant.Deployment) string { return fmt.Sprintf(`"%d"`, d.Version) }
