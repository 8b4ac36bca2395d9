package certificates

import (
	"time"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
)

// Status is a certificate's life-cycle state as stored.
type Status string

// Certificate states. Expired is not stored: an active certificate past its NotAfter is
// reported expired (see Certificate.State).
const (
	StatusPending  Status = "pending"  // key and CSR made, chain not imported yet
	StatusActive   Status = "active"   // chain imported, may sign (as policies allow)
	StatusDisabled Status = "disabled" // never signs, whatever the policy
	StatusDeleted  Status = "deleted"  // key scheduled for deletion; record kept for audit
	StatusExpired  Status = "expired"  // reported only
)

// Renewal is a new key and CSR waiting for their chain, while the certificate keeps signing
// with its current key.
type Renewal struct {
	KeyURI      string
	Algorithm   keys.Algorithm
	CSRPEM      string
	RequestedAt time.Time
}

// Certificate is a code-signing certificate of a deployment and where its key lives.
type Certificate struct {
	ID           string
	DeploymentID string
	Name         string
	Status       Status
	Backend      string
	Algorithm    keys.Algorithm
	KeyURI       string
	Subject      Subject
	SANs         []string
	CSRPEM       string
	// Set once a chain is imported.
	ChainPEM   string
	Serial     string
	Issuer     string
	Thumbprint string
	NotBefore  time.Time
	NotAfter   time.Time
	// Owner (a console or portal user id) may sign with the certificate when no policy matches
	// and it holds the signer role (policy.SigningRole): the owner exception.
	Owner      string
	Groups     []string
	UsageCount int64
	LastUsedAt time.Time
	Renewal    *Renewal
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// State is the status as reported at now: an active certificate past NotAfter is expired.
func (c Certificate) State(now time.Time) Status {
	if c.Status == StatusActive && !c.NotAfter.IsZero() && now.After(c.NotAfter) {
		return StatusExpired
	}
	return c.Status
}

// ForPolicy is what the policy engine needs of c at a time: only an active, unexpired
// certificate is enabled.
func (c Certificate) ForPolicy(at time.Time) policy.Certificate {
	return policy.Certificate{ID: c.ID, Owner: c.Owner, Groups: c.Groups, Enabled: c.State(at) == StatusActive}
}
