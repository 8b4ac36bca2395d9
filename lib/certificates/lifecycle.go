package certificates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/tenant"
)

// Store is what the lifecycle needs of the table (store.Store): the certificate records with
// their usage and their count, the users an owner may be, and the deployment whose plan
// limits them.
type Store interface {
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
	CountCertificates(ctx context.Context, dep string, upTo int) (int, error)
	CreateCertificate(ctx context.Context, c Certificate, log tenant.LogEntry) (Certificate, error)
	GetCertificate(ctx context.Context, dep, id string) (Certificate, error)
	UpdateCertificate(ctx context.Context, current, next Certificate, log tenant.LogEntry) (Certificate, error)
	WithUsage(ctx context.Context, dep string, cs []Certificate) error
	GetCertificateGroup(ctx context.Context, dep, id string) (Group, error)
	GetConsoleUser(ctx context.Context, dep, id string) (identity.ConsoleUser, error)
	GetPortalUser(ctx context.Context, dep, id string) (identity.PortalUser, error)
}

// Keys is what the lifecycle needs of key custody (keys.Registry): a backend to generate in,
// a key to check a chain against, and the deletion of keys no certificate uses any more.
type Keys interface {
	Backend(scheme string) (keys.Backend, error)
	Open(ctx context.Context, uri string) (keys.Key, error)
	ScheduleDeletion(ctx context.Context, uri string) error
}

// Lifecycle is a certificate's life: create (a new key and its CSR), import the issued chain,
// update (name, enabled, owner, groups), renew (a new key and CSR while the current key keeps
// signing) and delete (the key scheduled for deletion, the record kept for audit). Every change
// is written with its system-log entry. It knows nothing of HTTP; it is safe for concurrent use.
type Lifecycle struct {
	store          Store
	keys           Keys
	defaultBackend string
	now            func() time.Time
	log            func(ctx context.Context) *slog.Logger
}

// NewLifecycle returns the lifecycle on st and the key backends of ks. defaultBackend is the
// scheme of the backend a create that names none uses; now is the clock (chain validity, renewal
// times) and log gives the request's logger (failures that do not change the answer go there).
func NewLifecycle(st Store, ks Keys, defaultBackend string, now func() time.Time, log func(ctx context.Context) *slog.Logger) *Lifecycle {
	return &Lifecycle{store: st, keys: ks, defaultBackend: defaultBackend, now: now, log: log}
}

// Draft is a certificate to create, as asked for. Problems are reported by the names of its
// fields in the console API (name, backend, algorithm, subject's, owner, groups).
type Draft struct {
	// Name defaults to the subject's common name.
	Name string
	// Backend is a key backend's scheme; the lifecycle's default when empty.
	Backend   string
	Algorithm string
	Subject   Subject
	SANs      []string
	Owner     string
	Groups    []string
}

// Create is CreateFor deployment dep, read from the store.
func (l *Lifecycle) Create(ctx context.Context, dep, actor string, d Draft) (Certificate, error) {
	deployment, err := l.store.GetDeployment(ctx, dep)
	if err != nil {
		return Certificate{}, err
	}
	return l.CreateFor(ctx, deployment, actor, d)
}

// CreateFor makes a pending certificate of deployment dep for actor: a new key in d's backend
// and its CSR, stored with a system-log entry. Every problem of d is reported at once, then a
// deployment that has all the certificates its plan allows is refused (withinPlan), all
// before any key is made; nothing is left half-made: the key of a certificate that was not
// stored goes.
func (l *Lifecycle) CreateFor(ctx context.Context, dep tenant.Deployment, actor string, d Draft) (Certificate, error) {
	var bad fault.Fields
	name := strings.TrimSpace(d.Name)
	if name == "" {
		name = d.Subject.CommonName
	}
	identity.RequiredName(name, "name", &bad)
	if d.Backend == "" {
		d.Backend = l.defaultBackend
	}
	backend, err := l.keys.Backend(d.Backend)
	if err != nil {
		bad.Add("backend", "%q is not available; use awskms or pkcs11 where configured", fault.Clip(d.Backend, 20))
	}
	alg := keys.Algorithm(d.Algorithm)
	if !alg.Valid() {
		bad.Add("algorithm", "must be one of RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384")
	}
	bad = append(bad, d.Subject.Validate()...)
	groups := validGroups(d.Groups, &bad)
	if err := l.checkOwner(ctx, dep.ID, d.Owner, &bad); err != nil {
		return Certificate{}, err
	}
	if err := l.checkGroups(ctx, dep.ID, groups, nil, &bad); err != nil {
		return Certificate{}, err
	}
	if err := bad.Err(); err != nil {
		return Certificate{}, err
	}
	if err := l.withinPlan(ctx, dep); err != nil {
		return Certificate{}, err
	}
	id := tenant.NewID("crt_")
	key, csr, err := newKey(ctx, backend, alg, dep.ID, id, id, d.Subject, d.SANs)
	if err != nil {
		return Certificate{}, err
	}
	c, err := l.store.CreateCertificate(ctx, Certificate{
		ID: id, DeploymentID: dep.ID, Name: name, Status: StatusPending, Backend: backend.Scheme(),
		Algorithm: alg, KeyURI: key.URI(), Subject: d.Subject, SANs: d.SANs, CSRPEM: csr, Owner: d.Owner, Groups: groups,
	}, tenant.LogEntry{Actor: actor, Action: "certificate.created", Detail: fmt.Sprintf("%s (%s, %s in %s)", id, name, alg, backend.Scheme())})
	if err != nil {
		// Nothing half-made: the key of a certificate that was not stored goes.
		_ = backend.ScheduleDeletion(context.WithoutCancel(ctx), key.URI())
		return Certificate{}, groupGone(err)
	}
	return c, nil
}

// withinPlan refuses one more certificate of deployment d when d has as many that are not
// deleted as its plan allows (tenant.Limits.Certificates; a plan-limit problem saying so); a
// plan without a limit costs no call. The count and the create are two calls, so two creates
// at the same moment may land one over the limit (store.CountCertificates says why that is
// accepted); the next one is refused.
func (l *Lifecycle) withinPlan(ctx context.Context, d tenant.Deployment) error {
	limit := d.Limits().Certificates
	if limit <= 0 {
		return nil
	}
	n, err := l.store.CountCertificates(ctx, d.ID, limit)
	if err != nil {
		return err
	}
	if n >= limit {
		return tenant.PlanLimitError(d.Plan, "certificates", limit, n)
	}
	return nil
}

// newKey generates a key labelled label for certificate certID, and its CSR; if the CSR
// cannot be made the key is deleted again.
func newKey(ctx context.Context, b keys.Backend, alg keys.Algorithm, dep, certID, label string, subject Subject, sans []string) (keys.Key, string, error) {
	key, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: alg, Label: label, Tags: map[string]string{"signum:deployment": dep, "signum:certificate": certID}})
	if err != nil {
		return nil, "", err
	}
	csr, err := NewCSR(key, subject, sans)
	if err != nil {
		_ = b.ScheduleDeletion(context.WithoutCancel(ctx), key.URI())
		return nil, "", err
	}
	return key, csr, nil
}

// checkOwner reports an owner that is not a console or portal user of dep as a problem of the
// field owner; "" (no owner) is fine. Other failures of the store are returned.
func (l *Lifecycle) checkOwner(ctx context.Context, dep, owner string, bad *fault.Fields) error {
	if owner == "" {
		return nil
	}
	var err error
	switch identity.KindOf(owner) {
	case identity.KindConsole:
		_, err = l.store.GetConsoleUser(ctx, dep, owner)
	case identity.KindPortal:
		_, err = l.store.GetPortalUser(ctx, dep, owner)
	default:
		err = fault.ErrNotFound
	}
	if errors.Is(err, fault.ErrNotFound) {
		bad.Add("owner", "is not a user of this deployment")
		return nil
	}
	return err
}

// MaxGroupsPerCertificate bounds the groups of one certificate, so that a change of all of
// them (leaving as many as it joins) fits in one transaction with the certificate.
const MaxGroupsPerCertificate = 40

// validGroups returns gs trimmed and without repeats. A certificate names its groups by id
// (GET /console/certificate-groups) and belongs to at least one; anything else, or more than
// MaxGroupsPerCertificate, is a problem of the field groups.
func validGroups(gs []string, bad *fault.Fields) []string {
	var out, wrong []string
	for _, g := range gs {
		g = strings.TrimSpace(g)
		if !IsGroupID(g) {
			wrong = append(wrong, fmt.Sprintf("%q", fault.Clip(g, 40)))
			continue
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	switch {
	case len(wrong) > 0:
		bad.Add("groups", "%s: not a certificate group id (grp_...); use the ids of GET /console/certificate-groups", strings.Join(wrong, ", "))
	case len(out) == 0:
		bad.Add("groups", "a certificate belongs to at least one certificate group; send its id")
	case len(out) > MaxGroupsPerCertificate:
		bad.Add("groups", "at most %d groups", MaxGroupsPerCertificate)
	}
	return out
}

// checkGroups reports the groups of gs that do not exist in dep, except those in had (a
// certificate's current groups, which cannot have gone while it is in them), as one problem
// of the field groups naming them. Other failures of the store are returned.
func (l *Lifecycle) checkGroups(ctx context.Context, dep string, gs, had []string, bad *fault.Fields) error {
	var missing []string
	for _, g := range gs {
		if slices.Contains(had, g) {
			continue
		}
		_, err := l.store.GetCertificateGroup(ctx, dep, g)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			missing = append(missing, g)
		case err != nil:
			return err
		}
	}
	if len(missing) > 0 {
		bad.Add("groups", "no certificate group has the id %s", strings.Join(missing, ", "))
	}
	return nil
}

// groupGone is err, except that a group found missing by the write itself (deleted between
// the check and the write) is the caller's problem of the field groups, as if the check had
// found it.
func groupGone(err error) error {
	if errors.Is(err, fault.ErrNotFound) {
		d, _ := fault.DetailOf(err)
		return fault.Fields{{Name: "groups", Reason: d}}
	}
	return err
}

// Get returns certificate id of deployment dep with its usage.
func (l *Lifecycle) Get(ctx context.Context, dep, id string) (Certificate, error) {
	c, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return Certificate{}, err
	}
	one := []Certificate{c}
	if err := l.store.WithUsage(ctx, dep, one); err != nil {
		return Certificate{}, err
	}
	return one[0], nil
}

// Chain returns certificate id of deployment dep when it has a chain (in its ChainPEM); one
// without is not found.
func (l *Lifecycle) Chain(ctx context.Context, dep, id string) (Certificate, error) {
	c, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return Certificate{}, err
	}
	if c.ChainPEM == "" {
		return Certificate{}, fault.Newf(fault.ErrNotFound, "Certificate %s has no chain yet: import the issued chain first.", c.ID)
	}
	return c, nil
}

// Changes are the changes Update makes; a nil field is left as it is.
type Changes struct {
	Name    *string
	Enabled *bool
	Owner   *string
	Groups  *[]string
}

// Update applies ch to certificate id of deployment dep for actor, and returns the certificate
// as it is afterwards. A deleted certificate is gone; a pending one is enabled only by
// importing its chain. Every problem of ch is reported at once; no change writes nothing.
func (l *Lifecycle) Update(ctx context.Context, dep, actor, id string, ch Changes) (Certificate, error) {
	cur, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return Certificate{}, err
	}
	if cur.Status == StatusDeleted {
		return Certificate{}, fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	}
	next := cur
	var bad fault.Fields
	var changes []string
	if ch.Name != nil {
		if n, ok := identity.RequiredName(*ch.Name, "name", &bad); ok {
			next.Name = n
			changes = append(changes, fmt.Sprintf("name %q", n))
		}
	}
	if ch.Enabled != nil {
		switch {
		case cur.Status == StatusPending:
			bad.Add("enabled", "a pending certificate is enabled by importing its chain")
		case *ch.Enabled:
			next.Status = StatusActive
			changes = append(changes, "enabled")
		default:
			next.Status = StatusDisabled
			changes = append(changes, "disabled")
		}
	}
	if ch.Owner != nil {
		if err := l.checkOwner(ctx, dep, *ch.Owner, &bad); err != nil {
			return Certificate{}, err
		}
		next.Owner = *ch.Owner
		changes = append(changes, fmt.Sprintf("owner %q", *ch.Owner))
	}
	if ch.Groups != nil {
		next.Groups = validGroups(*ch.Groups, &bad)
		if err := l.checkGroups(ctx, dep, next.Groups, cur.Groups, &bad); err != nil {
			return Certificate{}, err
		}
		changes = append(changes, fmt.Sprintf("groups %v", next.Groups))
	}
	if err := bad.Err(); err != nil {
		return Certificate{}, err
	}
	if len(changes) > 0 {
		if cur, err = l.store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{
			Actor: actor, Action: "certificate.updated", Detail: cur.ID + ": " + strings.Join(changes, "; "),
		}); err != nil {
			return Certificate{}, groupGone(err)
		}
	}
	return cur, nil
}

// ImportChain attaches the issued chain in bundle (PEM certificates, or a PKCS#7 bundle in PEM
// or DER) to certificate id of deployment dep for actor. A pending certificate becomes active;
// one being renewed swaps to its new key and the old key is scheduled for deletion (a failure
// there leaves an unused key, not a broken certificate, and is logged). An active or disabled
// certificate not being renewed already has its chain (conflict); a deleted one is gone.
func (l *Lifecycle) ImportChain(ctx context.Context, dep, actor, id string, bundle []byte, o ImportOptions) (Certificate, error) {
	cur, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return Certificate{}, err
	}
	keyURI, alg := cur.KeyURI, cur.Algorithm
	renewing := cur.Renewal != nil
	switch {
	case cur.Status == StatusDeleted:
		return Certificate{}, fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	case renewing:
		keyURI, alg = cur.Renewal.KeyURI, cur.Renewal.Algorithm
	case cur.Status != StatusPending:
		return Certificate{}, fault.Newf(fault.ErrConflict, "Certificate %s already has its chain; renew it to import a new one.", cur.ID)
	}
	list, err := ParseBundle(bundle)
	if err != nil {
		return Certificate{}, err
	}
	key, err := l.keys.Open(ctx, keyURI)
	if err != nil {
		return Certificate{}, err
	}
	chain, err := Verify(list, key.Public(), l.now(), o)
	if err != nil {
		return Certificate{}, err
	}
	next := cur
	next.ChainPEM, next.Serial, next.Issuer, next.Thumbprint = chain.PEM(), Serial(chain.Leaf), chain.Leaf.Issuer.String(), Thumbprint(chain.Leaf)
	next.NotBefore, next.NotAfter = chain.Leaf.NotBefore, chain.Leaf.NotAfter
	oldKey := ""
	if renewing {
		oldKey = cur.KeyURI
		next.KeyURI, next.Algorithm, next.CSRPEM, next.Renewal = keyURI, alg, cur.Renewal.CSRPEM, nil
	} else {
		next.Status = StatusActive
	}
	updated, err := l.store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{
		Actor: actor, Action: "certificate.chainImported",
		Detail: fmt.Sprintf("%s: serial %s, issuer %s, valid until %s", cur.ID, next.Serial, next.Issuer, next.NotAfter.UTC().Format(time.RFC3339)),
	})
	if err != nil {
		return Certificate{}, err
	}
	if oldKey != "" {
		// The certificate now signs with the new key; the old one goes. A failure here
		// leaves an unused key, not a broken certificate: log it for the operator.
		if err := l.keys.ScheduleDeletion(context.WithoutCancel(ctx), oldKey); err != nil {
			l.log(ctx).Error("old key not scheduled for deletion", "certificate", cur.ID, "error", err.Error())
		}
	}
	return updated, nil
}

// Renew starts the renewal of certificate id of deployment dep for actor: a new key (of
// algorithm, the current one when "") in the certificate's backend and its CSR, kept as the
// certificate's Renewal while the current key keeps signing, until ImportChain swaps them. Only
// a certificate with a chain and no renewal under way is renewed; the new key of a renewal that
// was not stored goes.
func (l *Lifecycle) Renew(ctx context.Context, dep, actor, id, algorithm string) (Certificate, error) {
	cur, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return Certificate{}, err
	}
	switch {
	case cur.Status == StatusDeleted:
		return Certificate{}, fault.Newf(fault.ErrGone, "Certificate %s was deleted.", cur.ID)
	case cur.Status == StatusPending:
		return Certificate{}, fault.Newf(fault.ErrConflict, "Certificate %s has no chain yet: import it before renewing.", cur.ID)
	case cur.Renewal != nil:
		return Certificate{}, fault.Newf(fault.ErrConflict, "Certificate %s is already being renewed: import the new chain first.", cur.ID)
	}
	alg := cur.Algorithm
	if algorithm != "" {
		if alg = keys.Algorithm(algorithm); !alg.Valid() {
			return Certificate{}, fault.Fields{{Name: "algorithm", Reason: "must be one of RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384"}}
		}
	}
	backend, err := l.keys.Backend(cur.Backend)
	if err != nil {
		return Certificate{}, err
	}
	key, csr, err := newKey(ctx, backend, alg, cur.DeploymentID, cur.ID, fmt.Sprintf("%s-renewal-%d", cur.ID, cur.Version), cur.Subject, cur.SANs)
	if err != nil {
		return Certificate{}, err
	}
	next := cur
	next.Renewal = &Renewal{KeyURI: key.URI(), Algorithm: alg, CSRPEM: csr, RequestedAt: l.now()}
	updated, err := l.store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{
		Actor: actor, Action: "certificate.renewalRequested", Detail: fmt.Sprintf("%s: new %s key", cur.ID, alg),
	})
	if err != nil {
		_ = backend.ScheduleDeletion(context.WithoutCancel(ctx), key.URI())
		return Certificate{}, err
	}
	return updated, nil
}

// Delete marks certificate id of deployment dep deleted for actor, then schedules its key (and
// a renewal's) for deletion. The record goes first: from then on the certificate never signs,
// whatever happens to the keys. It is idempotent: deleting a deleted certificate retries the
// key deletion, and a key already gone is fine.
func (l *Lifecycle) Delete(ctx context.Context, dep, actor, id string) error {
	cur, err := l.store.GetCertificate(ctx, dep, id)
	if err != nil {
		return err
	}
	if cur.Status != StatusDeleted {
		next := cur
		next.Status = StatusDeleted
		if cur, err = l.store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{
			Actor: actor, Action: "certificate.deleted", Detail: cur.ID + ": key scheduled for deletion",
		}); err != nil {
			return err
		}
	}
	for _, uri := range []string{cur.KeyURI, renewalKey(cur)} {
		if uri == "" {
			continue
		}
		if err := l.keys.ScheduleDeletion(ctx, uri); err != nil && !errors.Is(err, keys.ErrNotFound) {
			return err
		}
	}
	return nil
}

func renewalKey(c Certificate) string {
	if c.Renewal == nil {
		return ""
	}
	return c.Renewal.KeyURI
}
