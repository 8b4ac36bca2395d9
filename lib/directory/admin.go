package directory

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/samlsso"
	"github.com/opensignum/signum/lib/tenant"
)

// Store is what the domains' administration reads and writes (store.Store).
type Store interface {
	CreateDomain(ctx context.Context, d domains.Domain, log tenant.LogEntry) (domains.Domain, error)
	GetDomain(ctx context.Context, dep, id string) (domains.Domain, error)
	UpdateDomain(ctx context.Context, current, next domains.Domain, log tenant.LogEntry) (domains.Domain, error)
	DeleteDomain(ctx context.Context, d domains.Domain, log tenant.LogEntry) error
	GetRole(ctx context.Context, dep, id string) (roles.Role, error)
}

// KeySource gives the 32-byte key that seals domains' secrets (derived from the service key
// in KMS, so that a copy of the table alone does not reveal them).
type KeySource func(ctx context.Context) ([]byte, error)

// Admin creates, changes and deletes domains, and opens their secrets for logins.
type Admin struct {
	st  Store
	key KeySource
	now func() time.Time
}

// NewAdmin returns the administration of st's domains.
func NewAdmin(st Store, key KeySource, now func() time.Time) *Admin {
	return &Admin{st: st, key: key, now: now}
}

// ErrStale: the domain changed since the caller read it (If-Match).
var ErrStale = fault.ErrPrecondition

func (a *Admin) roleExists(ctx context.Context, dep string) func(string) bool {
	return func(name string) bool {
		return domains.RoleExists(name, func(id string) bool {
			_, err := a.st.GetRole(ctx, dep, id)
			return err == nil
		})
	}
}

// Create validates d and stores it as a new domain of dep on behalf of actor. A SAML domain
// gets its own service-provider key pair; secrets are sealed before they are stored.
func (a *Admin) Create(ctx context.Context, dep, actor string, d domains.Domain) (domains.Domain, error) {
	d.DeploymentID = dep
	d, err := Validate(d, a.roleExists(ctx, dep))
	if err != nil {
		return domains.Domain{}, err
	}
	d.ID = domains.NewID()
	if d.SAML != nil {
		keyPEM, certPEM, err := samlsso.NewSPKeyPair("Signum "+d.Alias, a.now())
		if err != nil {
			return domains.Domain{}, err
		}
		d.SAML.SPKeyPEM, d.SAML.SPCertPEM = keyPEM, certPEM
	}
	sealed, err := a.seal(ctx, d)
	if err != nil {
		return domains.Domain{}, err
	}
	stored, err := a.st.CreateDomain(ctx, sealed, tenant.LogEntry{Actor: actor, Action: "domain.created", Detail: fmt.Sprintf("%s domain %q, alias %s", d.Kind, d.Name, d.Alias)})
	if err != nil {
		return domains.Domain{}, err
	}
	return a.open(ctx, stored)
}

// Get reads a domain with its secrets opened, for logins and the administration.
func (a *Admin) Get(ctx context.Context, dep, id string) (domains.Domain, error) {
	d, err := a.st.GetDomain(ctx, dep, id)
	if err != nil {
		return domains.Domain{}, err
	}
	return a.open(ctx, d)
}

// Update replaces domain id's settings with next's (kind and id stay), if the caller read
// version read. A client secret left empty keeps the stored one; the SAML key pair stays.
func (a *Admin) Update(ctx context.Context, dep, id, actor string, read int64, next domains.Domain) (domains.Domain, error) {
	current, err := a.Get(ctx, dep, id)
	if err != nil {
		return domains.Domain{}, err
	}
	if read != current.Version {
		return domains.Domain{}, fault.Newf(ErrStale, "The domain %s is at version %d, not %d: read it again and retry.", id, current.Version, read)
	}
	// The id too: secrets are sealed bound to deployment and domain id, so that sealing next
	// without it would store secrets that never open again.
	next.ID, next.DeploymentID, next.Kind = current.ID, dep, current.Kind
	if next.OIDC != nil && current.OIDC != nil && next.OIDC.ClientSecret == "" && current.OIDC.ClientSecret != "" {
		// The stored secret is kept only for the issuer it was given for: it must not be sent
		// to another.
		if strings.TrimRight(next.OIDC.Issuer, "/") != strings.TrimRight(current.OIDC.Issuer, "/") {
			return domains.Domain{}, fault.Fields{{Name: "oidc.clientSecret", Reason: "give the client secret again when the issuer changes: the stored one is kept only for its issuer"}}
		}
		next.OIDC.ClientSecret = current.OIDC.ClientSecret
	}
	if next.SAML != nil && current.SAML != nil {
		next.SAML.SPKeyPEM, next.SAML.SPCertPEM = current.SAML.SPKeyPEM, current.SAML.SPCertPEM
	}
	if next, err = Validate(next, a.roleExists(ctx, dep)); err != nil {
		return domains.Domain{}, err
	}
	sealedCur, err := a.seal(ctx, current)
	if err != nil {
		return domains.Domain{}, err
	}
	sealedNext, err := a.seal(ctx, next)
	if err != nil {
		return domains.Domain{}, err
	}
	stored, err := a.st.UpdateDomain(ctx, sealedCur, sealedNext, tenant.LogEntry{Actor: actor, Action: "domain.changed", Detail: fmt.Sprintf("%s domain %q, alias %s", next.Kind, next.Name, next.Alias)})
	if err != nil {
		return domains.Domain{}, err
	}
	return a.open(ctx, stored)
}

// Delete removes domain id, which must have no users.
func (a *Admin) Delete(ctx context.Context, dep, id, actor string) error {
	d, err := a.st.GetDomain(ctx, dep, id)
	if err != nil {
		return err
	}
	return a.st.DeleteDomain(ctx, d, tenant.LogEntry{Actor: actor, Action: "domain.deleted", Detail: fmt.Sprintf("%s domain %q, alias %s", d.Kind, d.Name, d.Alias)})
}

// Secrets are sealed with AES-256-GCM under the key KeySource gives, bound to the deployment
// and domain (additional data), so that a sealed value copied to another domain does not open.
const sealedPrefix = "sealed:v1:"

func (a *Admin) aead(ctx context.Context) (cipher.AEAD, error) {
	k, err := a.key(ctx)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("domain secrets key: %w", err)
	}
	return cipher.NewGCM(block)
}

func (a *Admin) sealValue(ctx context.Context, d domains.Domain, what string, plain []byte) (string, error) {
	if len(plain) == 0 {
		return "", nil
	}
	g, err := a.aead(ctx)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := g.Seal(nonce, nonce, plain, []byte(d.DeploymentID+"/"+d.ID+"/"+what))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func (a *Admin) openValue(ctx context.Context, d domains.Domain, what, sealed string) ([]byte, error) {
	if sealed == "" {
		return nil, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil || !strings.HasPrefix(sealed, sealedPrefix) {
		return nil, errors.New("domain secret: not a sealed value")
	}
	g, err := a.aead(ctx)
	if err != nil {
		return nil, err
	}
	if len(raw) < g.NonceSize() {
		return nil, errors.New("domain secret: too short")
	}
	plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(d.DeploymentID+"/"+d.ID+"/"+what))
	if err != nil {
		return nil, fmt.Errorf("domain secret of %s does not open: %w", d.ID, err)
	}
	return plain, nil
}

// seal returns d with its secrets sealed (copies: d is not changed).
func (a *Admin) seal(ctx context.Context, d domains.Domain) (domains.Domain, error) {
	if d.OIDC != nil {
		o := *d.OIDC
		s, err := a.sealValue(ctx, d, "oidc-client-secret", []byte(o.ClientSecret))
		if err != nil {
			return domains.Domain{}, err
		}
		o.ClientSecret = s
		d.OIDC = &o
	}
	if d.SAML != nil {
		sm := *d.SAML
		s, err := a.sealValue(ctx, d, "saml-sp-key", sm.SPKeyPEM)
		if err != nil {
			return domains.Domain{}, err
		}
		sm.SPKeyPEM = []byte(s)
		d.SAML = &sm
	}
	return d, nil
}

// open returns d with its secrets opened.
func (a *Admin) open(ctx context.Context, d domains.Domain) (domains.Domain, error) {
	if d.OIDC != nil {
		o := *d.OIDC
		p, err := a.openValue(ctx, d, "oidc-client-secret", o.ClientSecret)
		if err != nil {
			return domains.Domain{}, err
		}
		o.ClientSecret = string(p)
		d.OIDC = &o
	}
	if d.SAML != nil {
		sm := *d.SAML
		p, err := a.openValue(ctx, d, "saml-sp-key", string(sm.SPKeyPEM))
		if err != nil {
			return domains.Domain{}, err
		}
		sm.SPKeyPEM = p
		d.SAML = &sm
	}
	return d, nil
}
