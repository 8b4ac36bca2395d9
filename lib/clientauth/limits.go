package clientauth

import (
	"context"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
)

// LimitStore counts what a new credential would add to (store.Store).
type LimitStore interface {
	GetConsoleUser(ctx context.Context, deploymentID, id string) (identity.ConsoleUser, error)
	CountClientCredentials(ctx context.Context, deploymentID, userID string) (int, error)
	CountCACredentials(ctx context.Context, deploymentID, issuerKey string) (int, error)
}

// CheckLimits reads the console user c is for and refuses c (fault.ErrConflict) when the user
// has MaxPerUser credentials already, or, for a CA, when the CA serves maxCAsPerIssuer users
// already (store.MaxCAsPerIssuer: the most one lookup item holds). It returns the user as read:
// the credential is created against its version.
func CheckLimits(ctx context.Context, st LimitStore, c Credential, maxCAsPerIssuer int) (identity.ConsoleUser, error) {
	u, err := st.GetConsoleUser(ctx, c.DeploymentID, c.UserID)
	if err != nil {
		return identity.ConsoleUser{}, err
	}
	if n, err := st.CountClientCredentials(ctx, c.DeploymentID, u.ID); err != nil {
		return identity.ConsoleUser{}, err
	} else if n >= MaxPerUser {
		return identity.ConsoleUser{}, fault.Newf(fault.ErrConflict, "The user %s has %d client certificates, the most a user may have; remove one first.", u.Username, n)
	}
	if c.Kind == Authority {
		if n, err := st.CountCACredentials(ctx, c.DeploymentID, c.IssuerKey()); err != nil {
			return identity.ConsoleUser{}, err
		} else if n >= maxCAsPerIssuer {
			return identity.ConsoleUser{}, fault.Newf(fault.ErrConflict, "This CA is registered for %d users already, the most one CA may serve; pin the users' certificates instead.", n)
		}
	}
	return u, nil
}

// Revocation is what revoking one certificate a credential covers records.
type Revocation struct {
	// Serial is the revoked certificate's serial (SerialOf form).
	Serial string
	// Issuer names the revoked certificate's issuer (RFC 2253, DN): a pinned certificate's
	// issuer, or the CA.
	Issuer string
	Reason string
}

// Revoke checks a revocation of the certificate with serial (hex, in any form NormalizeSerial
// takes) covered by c: a CA's credential needs the serial of a certificate it issued; a pinned
// one's may be left out, and is otherwise its own. reason is a short free text.
func Revoke(c Credential, serial, reason string) (Revocation, error) {
	cert, err := c.Certificate()
	if err != nil {
		return Revocation{}, err
	}
	var bad fault.Fields
	var rv Revocation
	switch {
	case serial == "" && c.Kind == Pinned:
		rv.Serial = SerialOf(cert)
	case serial == "":
		bad.Add("serial", "is required: the serial number (hex) of a certificate this CA issued")
	default:
		var ok bool
		if rv.Serial, ok = NormalizeSerial(serial); !ok {
			bad.Add("serial", "is a certificate serial number in hex, e.g. \"01:a3:ff\"")
		} else if c.Kind == Pinned && rv.Serial != SerialOf(cert) {
			bad.Add("serial", "is not the serial of this pinned certificate (%s)", SerialOf(cert))
		}
	}
	rv.Reason, _ = identity.OptionalName(reason, "reason", &bad)
	if err := bad.Err(); err != nil {
		return Revocation{}, err
	}
	rv.Issuer = ShowDN(cert.RawIssuer)
	if c.Kind == Authority {
		rv.Issuer = ShowDN(cert.RawSubject)
	}
	return rv, nil
}
