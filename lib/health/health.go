// Package health tells a deployment's people what works and what needs them: the table and
// the key service as this deployment sees them, every certificate's key, certificates and
// client certificates that expire, the mutual-TLS truststore, the signing error and denial
// rates, the subscription and the plan's limits, and (when wired) its software update.
//
// Check reads counters and indexed items only: the deployment's item, its certificates and
// client credentials page by page (a deployment has few; the reads stop at fixed bounds), a
// key state per certificate, the activity counters of the last day and of the month, and the
// subscription. It never reads the event log.
//
// Each Component says what it is about, how it stands, why in a sentence, and what to do
// (and where, as a web path); the Report's status is the worst of its components'.
package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/truststore"
)

// Status is how a component, or the whole deployment, stands.
type Status string

// Statuses, from best to worst. Unknown is a component that could not be checked (its source
// is not configured or failed); it does not change the Report's status, which is ok, warning
// or critical, but it is listed so that nobody takes silence for health.
const (
	StatusOK       Status = "ok"
	StatusUnknown  Status = "unknown"
	StatusWarning  Status = "warning"
	StatusCritical Status = "critical"
)

// rank orders statuses for the Report's overall status.
func (s Status) rank() int {
	switch s {
	case StatusWarning:
		return 2
	case StatusCritical:
		return 3
	}
	return 0
}

// Categories group components for the page.
const (
	CategoryService            = "service"
	CategoryKeys               = "keys"
	CategoryCertificates       = "certificates"
	CategoryClientCertificates = "client-certificates"
	CategoryTruststore         = "truststore"
	CategorySigning            = "signing"
	CategorySubscription       = "subscription"
	CategoryUpdates            = "updates"
)

// Component is one thing checked.
type Component struct {
	// ID is stable across checks: "table", "key-service", "certificate-key:<certificate id>",
	// "certificate-disabled:<id>", "certificate-expiry:<id>", "client-certificate-expiry:<credential
	// id>", "truststore", "signing-errors", "signing-denials", "subscription", "plan-usage",
	// "updates".
	ID       string
	Category string
	// Subject is what the component is about, for a person: a certificate's name, a client
	// certificate's name and its user, "" for the deployment as a whole.
	Subject string
	// SubjectID is the id of the certificate or credential it is about ("" otherwise).
	SubjectID string
	Status    Status
	// State is the state behind the status where there is one: a key's (keys.Status), the
	// subscription's (marketplace.State, or the deployment's status without one), the
	// update's (the Updates source's state).
	State string
	// Reason says in a sentence how it stands and why.
	Reason string
	// Action says what to do; "" when nothing needs doing.
	Action string
	// Link is the web app's path where the action is taken ("" when there is none).
	Link string
	// At is the date the component is about, when there is one: a certificate's expiry, a
	// key's deletion date.
	At time.Time
	// Latency is how long the call the component measures took (table, key service).
	Latency time.Duration
	// Counts are the figures behind the status (signing: "signed", "failed", "denied"; plan
	// usage: "certificates", "certificatesLimit", ...).
	Counts map[string]int
}

// Report is a deployment's health at CheckedAt.
type Report struct {
	DeploymentID string
	// Status is the worst status of the components (unknown ones aside): ok, warning or
	// critical.
	Status     Status
	CheckedAt  time.Time
	Components []Component
}

// Component returns the component with id, if the report has it.
func (r Report) Component(id string) (Component, bool) {
	i := slices.IndexFunc(r.Components, func(c Component) bool { return c.ID == id })
	if i < 0 {
		return Component{}, false
	}
	return r.Components[i], true
}

// Thresholds. The signing rates count a request with several digests once per digest (the
// hourly counters count signatures, not requests), so with batches the error rate is a lower
// bound; below MinRequestsForRate requests in a window a rate says nothing and is not judged.
const (
	ErrorRateWarning   = 0.05
	ErrorRateCritical  = 0.25
	DenialRateWarning  = 0.50
	MinRequestsForRate = 20
	// ExpiryCritical, ExpiryWarning and ExpiryNotice are the windows certificates and client
	// certificates are reported in: within 30 days is a warning (renewing a code-signing
	// certificate takes the CA's validation), within 60 and 90 days a notice, expired critical.
	ExpiryWarning = 30 * 24 * time.Hour
	ExpiryNotice  = 90 * 24 * time.Hour
	// PlanWarning is the share of a plan limit from which its usage is a warning.
	PlanWarning = 0.90
	// SlowTable and SlowKeyService are latencies that are reported as a warning.
	SlowTable      = time.Second
	SlowKeyService = 2 * time.Second
)

// Bounds of the reads: a plan allows at most 1000 certificates; console users are read in
// pages up to MaxUsers for their client certificates. KeyStateWorkers key states are asked
// at once.
const (
	MaxCertificates = 2000
	MaxUsers        = 5000
	pageSize        = 100
	KeyStateWorkers = 8
)

// Deployments reads a deployment (the store).
type Deployments interface {
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
}

// Certificates lists a deployment's certificates (the store).
type Certificates interface {
	ListCertificates(ctx context.Context, deploymentID string, pr store.PageRequest) (store.Page[certificates.Certificate], error)
}

// KeyStates tells a key's state (keys.Registry).
type KeyStates interface {
	State(ctx context.Context, uri string) (keys.State, error)
}

// ClientCredentials lists a deployment's console users and each one's client certificates and
// CAs (the store).
type ClientCredentials interface {
	ListConsoleUsers(ctx context.Context, deploymentID string, pr store.PageRequest) (store.Page[identity.ConsoleUser], error)
	ListClientCredentials(ctx context.Context, deploymentID, userID string, pr store.PageRequest) (store.Page[clientauth.Credential], error)
}

// Truststore compares the deployed mutual-TLS truststore with the registrations
// (*truststore.Publisher).
type Truststore interface {
	Check(ctx context.Context) (truststore.Status, error)
}

// Activity reads a deployment's activity counters on the UTC days from from's to to's
// ((*store.Store).Activity).
type Activity interface {
	Activity(ctx context.Context, dep string, from, to time.Time) ([]activity.Day, error)
}

// Subscriptions reads the subscription that pays for a deployment and what it uses of its plan
// (the store).
type Subscriptions interface {
	SubscriptionOfDeployment(ctx context.Context, d tenant.Deployment) (marketplace.Subscription, error)
	UsageCounts(ctx context.Context, deploymentID string) (certificates, users int, err error)
}

// Updates tells a deployment's software update state: state is one of UpdateIdle,
// UpdateAvailable, UpdateScheduled, UpdateRunning, UpdatePaused, UpdateFailed (another is
// reported as it is, ok), reason a sentence for a person.
type Updates interface {
	UpdateState(ctx context.Context, dep string) (state, reason string, err error)
}

// Update states the Updates source reports.
const (
	UpdateIdle      = "idle"
	UpdateAvailable = "available"
	UpdateScheduled = "scheduled"
	UpdateRunning   = "running"
	UpdatePaused    = "paused"
	UpdateFailed    = "failed"
)

// Sources are what Check reads. Truststore and Updates may be nil: the truststore is then
// reported unknown (not configured), and updates are left out.
type Sources struct {
	Deployments       Deployments
	Certificates      Certificates
	Keys              KeyStates
	ClientCredentials ClientCredentials
	Truststore        Truststore
	Activity          Activity
	Subscriptions     Subscriptions
	Updates           Updates
}

// Web paths of the app where the actions are taken.
func portalPath(dep, page string) string { return "/app/portal/deployments/" + dep + page }
func certificatePath(id string) string   { return "/app/console/certificates/" + id }
func userPath(id string) string          { return "/app/console/users/" + id }

// Check computes deployment dep's health at now. A deployment that does not exist is its
// store's not-found error; a table that cannot be read is a Report with the table critical
// and nothing else (nothing else can be told without the deployment). Every other source's
// failure is its component unknown, with the cause in the reason's place kept generic (the
// error is returned joined, for the log, alongside the Report).
func Check(ctx context.Context, src Sources, dep string, now time.Time) (Report, error) {
	r := Report{DeploymentID: dep, CheckedAt: now}
	start := time.Now()
	d, err := src.Deployments.GetDeployment(ctx, dep)
	took := time.Since(start)
	if errors.Is(err, fault.ErrNotFound) {
		return Report{}, err
	}
	if err != nil {
		r.add(Component{ID: "table", Category: CategoryService, Status: StatusCritical, Latency: took,
			Reason: "The service's table cannot be read for this deployment; signing and the console fail until it can.",
			Action: "Retry in a few minutes; if it persists, tell the operator (the service's status page and logs say more)."})
		return r.finish(), fmt.Errorf("health: read deployment %s: %w", dep, err)
	}
	r.add(tableComponent(took))
	c := checker{src: src, dep: d, now: now, r: &r}
	certs, cerr := c.certificates(ctx)
	c.keys(ctx, certs, cerr)
	c.expiries(certs)
	creds, ccerr := c.clientCredentials(ctx)
	c.truststore(ctx, creds, ccerr)
	c.signing(ctx)
	c.subscription(ctx)
	c.updates(ctx)
	return r.finish(), errors.Join(c.errs...)
}

func tableComponent(took time.Duration) Component {
	c := Component{ID: "table", Category: CategoryService, Status: StatusOK, Latency: took,
		Reason: fmt.Sprintf("The deployment's data was read in %d ms.", took.Milliseconds())}
	if took > SlowTable {
		c.Status = StatusWarning
		c.Reason = fmt.Sprintf("Reading the deployment's data took %d ms; signing and the console are slow.", took.Milliseconds())
		c.Action = "Nothing to do if it passes; if it persists, tell the operator."
	}
	return c
}

func (r *Report) add(c Component) { r.Components = append(r.Components, c) }

// finish sets the overall status.
func (r *Report) finish() Report {
	r.Status = StatusOK
	for _, c := range r.Components {
		if c.Status.rank() > r.Status.rank() {
			r.Status = c.Status
		}
	}
	return *r
}

type checker struct {
	src  Sources
	dep  tenant.Deployment
	now  time.Time
	r    *Report
	errs []error
}

// unknown adds a component that could not be checked because of err (kept for the log).
func (c *checker) unknown(id, category, what string, err error) {
	c.errs = append(c.errs, fmt.Errorf("health: %s: %w", id, err))
	c.r.add(Component{ID: id, Category: category, Status: StatusUnknown,
		Reason: "The " + what + " could not be checked just now.", Action: "Check again in a few minutes."})
}

// certificates reads the deployment's certificates, page by page, at most MaxCertificates.
func (c *checker) certificates(ctx context.Context) ([]certificates.Certificate, error) {
	var out []certificates.Certificate
	pr := store.PageRequest{Limit: pageSize}
	for {
		p, err := c.src.Certificates.ListCertificates(ctx, c.dep.ID, pr)
		if err != nil {
			return out, err
		}
		out = append(out, p.Items...)
		if p.Next == "" || len(out) >= MaxCertificates {
			return out, nil
		}
		pr.Cursor = p.Next
	}
}

// keys adds the key service's component (the first key's state, timed) and one per
// certificate's key, and one per disabled certificate. Deleted certificates are left out:
// their keys are deleted on purpose.
func (c *checker) keys(ctx context.Context, certs []certificates.Certificate, listErr error) {
	if listErr != nil {
		c.unknown("certificates", CategoryKeys, "certificates and their keys", listErr)
		return
	}
	var live []certificates.Certificate
	for _, crt := range certs {
		if crt.Status != certificates.StatusDeleted && crt.KeyURI != "" {
			live = append(live, crt)
		}
	}
	if len(live) == 0 {
		c.r.add(Component{ID: "key-service", Category: CategoryService, Status: StatusOK,
			Reason: "The deployment has no certificate yet, so its signing depends on no key."})
		return
	}
	states := make([]keys.State, len(live))
	errs := make([]error, len(live))
	took := make([]time.Duration, len(live))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(KeyStateWorkers, len(live)) {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				states[i], errs[i] = c.src.Keys.State(ctx, live[i].KeyURI)
				took[i] = time.Since(start)
			}
		})
	}
	for i := range live {
		next <- i
	}
	close(next)
	wg.Wait()

	c.r.add(keyServiceComponent(states[0], errs[0], took[0]))
	for i, crt := range live {
		if errs[i] != nil {
			c.errs = append(c.errs, fmt.Errorf("health: key state of certificate %s: %w", crt.ID, errs[i]))
		}
		c.r.add(keyComponent(crt, states[i], errs[i]))
		if crt.Status == certificates.StatusDisabled {
			c.r.add(Component{ID: "certificate-disabled:" + crt.ID, Category: CategoryCertificates, Subject: crt.Name, SubjectID: crt.ID,
				Status: StatusWarning, Link: certificatePath(crt.ID),
				Reason: fmt.Sprintf("The certificate %q is disabled: it never signs, whatever the policies say.", crt.Name),
				Action: "Enable it in the console if it should sign again; otherwise delete it, so that nobody counts on it."})
		}
	}
}

// keyServiceComponent is the key service as the deployment's signing sees it: the first
// certificate's key state call, timed.
func keyServiceComponent(s keys.State, err error, took time.Duration) Component {
	c := Component{ID: "key-service", Category: CategoryService, Status: StatusOK, Latency: took,
		Reason: fmt.Sprintf("The key service answered in %d ms.", took.Milliseconds())}
	switch {
	case err != nil:
		c.Status, c.Reason, c.Action = StatusUnknown, "The key service's answer could not be understood.", "Check again in a few minutes; if it persists, tell the operator."
	case s.Status == keys.StatusUnreachable:
		c.Status = StatusCritical
		c.Reason = "The key service (AWS KMS or the HSM) cannot be reached: " + s.Detail
		c.Action = "Signing fails until it is back. Retry in a few minutes; if it persists, tell the operator."
	case took > SlowKeyService:
		c.Status = StatusWarning
		c.Reason = fmt.Sprintf("The key service took %d ms to answer; signing is slow.", took.Milliseconds())
		c.Action = "Nothing to do if it passes; if it persists, tell the operator."
	}
	return c
}

// keyComponent is a certificate's key. A key problem is critical on a certificate that
// signs (active), a warning on one that does not (pending or disabled).
func keyComponent(crt certificates.Certificate, s keys.State, err error) Component {
	c := Component{ID: "certificate-key:" + crt.ID, Category: CategoryKeys, Subject: crt.Name, SubjectID: crt.ID,
		Status: StatusOK, Link: certificatePath(crt.ID)}
	bad := StatusWarning
	if crt.Status == certificates.StatusActive {
		bad = StatusCritical
	}
	name := fmt.Sprintf("The key of the certificate %q", crt.Name)
	if err != nil {
		c.Status, c.Reason, c.Action = StatusUnknown, name+" could not be checked.", "Check again in a few minutes; if it persists, tell the operator."
		return c
	}
	c.State = string(s.Status)
	switch s.Status {
	case keys.StatusEnabled:
		c.Reason = name + " is enabled."
		c.Link = ""
	case keys.StatusDisabled:
		c.Status = bad
		c.Reason = name + " is disabled in its key store: signing with the certificate fails."
		c.Action = "Enable the key in AWS KMS (its key id is on the certificate's page); if it was disabled on purpose, disable the certificate in the console too, so that policies stop offering it."
	case keys.StatusPendingDeletion:
		c.Status, c.At = bad, s.DeletionDate
		when := "soon"
		if !s.DeletionDate.IsZero() {
			when = "on " + s.DeletionDate.UTC().Format(time.DateOnly)
		}
		c.Reason = name + " is scheduled for deletion " + when + ": signing with the certificate fails, and after that date the key is gone for good."
		c.Action = "If the certificate is still needed, cancel the key's deletion in AWS KMS before then and enable the key; otherwise delete the certificate in the console."
	case keys.StatusMissing:
		c.Status = bad
		c.Reason = name + " no longer exists in its key store: the certificate can never sign again."
		c.Action = "Delete the certificate in the console and create a new one (a new key and CSR) for the CA to issue."
	case keys.StatusUnreachable:
		c.Status = bad
		c.Reason = name + " cannot be reached: " + s.Detail
		c.Action = "Check the HSM (CloudHSM cluster, its network and the PIN's secret) or tell the operator; signing with this certificate fails until it is back."
	default:
		c.Status, c.Reason = StatusUnknown, name+" is in a state this service does not know ("+string(s.Status)+")."
	}
	return c
}

// expiries adds a component per active certificate that expires within ExpiryNotice or has
// expired.
func (c *checker) expiries(certs []certificates.Certificate) {
	for _, crt := range certs {
		if crt.Status != certificates.StatusActive || crt.NotAfter.IsZero() {
			continue
		}
		comp, ok := expiryComponent(c.now, crt.NotAfter, fmt.Sprintf("The certificate %q", crt.Name),
			"Renew it: create a renewal on the certificate's page (a new key and CSR), have the CA issue it and import the chain; the certificate keeps signing until then.")
		if !ok {
			continue
		}
		if crt.Renewal != nil && comp.Status != StatusCritical {
			comp.Reason += " A renewal is waiting for its chain."
			comp.Action = "Import the renewal's chain on the certificate's page once the CA has issued it."
		}
		comp.ID, comp.Category, comp.Subject, comp.SubjectID, comp.Link = "certificate-expiry:"+crt.ID, CategoryCertificates, crt.Name, crt.ID, certificatePath(crt.ID)
		c.r.add(comp)
	}
}

// expiryComponent judges an expiry date: expired critical, within 30 days a warning, within 60
// or 90 days ok with the date (ok is false beyond).
func expiryComponent(now, notAfter time.Time, name, renew string) (Component, bool) {
	left := notAfter.Sub(now)
	days := int(left.Hours() / 24)
	comp := Component{At: notAfter, Counts: map[string]int{"daysLeft": days}}
	date := notAfter.UTC().Format(time.DateOnly)
	switch {
	case left <= 0:
		comp.Status, comp.Reason, comp.Action = StatusCritical, name+" expired on "+date+".", renew
		comp.Counts["daysLeft"] = 0
	case left <= ExpiryWarning:
		comp.Status, comp.Reason, comp.Action = StatusWarning, fmt.Sprintf("%s expires on %s, in %d days (within 30 days).", name, date, days), renew
	case left <= 2*ExpiryWarning:
		comp.Status, comp.Reason, comp.Action = StatusOK, fmt.Sprintf("%s expires on %s, in %d days (within 60 days).", name, date, days), "Plan its renewal."
	case left <= ExpiryNotice:
		comp.Status, comp.Reason, comp.Action = StatusOK, fmt.Sprintf("%s expires on %s, in %d days (within 90 days).", name, date, days), "Plan its renewal."
	default:
		return Component{}, false
	}
	return comp, true
}

// clientCredentials reads the client certificates and CAs of every console user, page by
// page, at most MaxUsers users.
func (c *checker) clientCredentials(ctx context.Context) ([]clientauth.Credential, error) {
	var out []clientauth.Credential
	upr := store.PageRequest{Limit: pageSize}
	for users := 0; ; {
		up, err := c.src.ClientCredentials.ListConsoleUsers(ctx, c.dep.ID, upr)
		if err != nil {
			return nil, err
		}
		for _, u := range up.Items {
			pr := store.PageRequest{Limit: pageSize}
			for {
				p, err := c.src.ClientCredentials.ListClientCredentials(ctx, c.dep.ID, u.ID, pr)
				if err != nil {
					return nil, err
				}
				out = append(out, p.Items...)
				if p.Next == "" {
					break
				}
				pr.Cursor = p.Next
			}
		}
		users += len(up.Items)
		if up.Next == "" || users >= MaxUsers {
			return out, nil
		}
		upr.Cursor = up.Next
	}
}

// truststore adds a component per client certificate or CA that expires, and the
// truststore's.
func (c *checker) truststore(ctx context.Context, creds []clientauth.Credential, listErr error) {
	if listErr != nil {
		c.unknown("client-certificates", CategoryClientCertificates, "client certificates", listErr)
		c.r.add(Component{ID: "truststore", Category: CategoryTruststore, Status: StatusUnknown,
			Reason: "The truststore could not be compared with this deployment's client certificates, which could not be read.", Action: "Check again in a few minutes."})
		return
	}
	live := 0
	var newest time.Time
	for _, cr := range creds {
		cert, err := cr.Certificate()
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("health: client credential %s does not parse: %w", cr.ID, err))
			continue
		}
		if !c.now.After(cert.NotAfter) {
			live++
			if cr.CreatedAt.After(newest) {
				newest = cr.CreatedAt
			}
		}
		what, renew := "The client certificate", "Register the user's new certificate under the user in the console before then, and remove this one; the CI jobs that use it need the new .p12."
		if cr.Kind == clientauth.Authority {
			what, renew = "The client CA", "Register the CA's new certificate under the user in the console before then, and remove this one; certificates it issued stop authenticating when it expires."
		}
		comp, ok := expiryComponent(c.now, cert.NotAfter, fmt.Sprintf("%s %q", what, cr.Name), renew)
		if !ok {
			continue
		}
		comp.ID, comp.Category, comp.Subject, comp.SubjectID, comp.Link = "client-certificate-expiry:"+cr.ID, CategoryClientCertificates, cr.Name, cr.ID, userPath(cr.UserID)
		c.r.add(comp)
	}
	comp := Component{ID: "truststore", Category: CategoryTruststore, Counts: map[string]int{"registered": live}}
	switch {
	case live == 0:
		comp.Status = StatusOK
		comp.Reason = "No client certificate or CA of this deployment is registered (or all have expired): the truststore has nothing of it to hold."
	case c.src.Truststore == nil:
		comp.Status = StatusUnknown
		comp.Reason = "The mutual-TLS truststore is not configured where health is checked, so whether it holds this deployment's client certificates is not known."
		comp.Action = "Tell the operator if certificate users cannot authenticate."
	default:
		st, err := c.src.Truststore.Check(ctx)
		switch {
		case err != nil:
			c.errs = append(c.errs, fmt.Errorf("health: truststore: %w", err))
			comp.Status, comp.Reason, comp.Action = StatusUnknown, "The deployed truststore could not be compared with the registrations just now.", "Check again in a few minutes."
		case st.Current:
			comp.Status = StatusOK
			comp.Reason = fmt.Sprintf("The deployed truststore holds every registered client certificate and CA, this deployment's %d included.", live)
		case heldSince(st, newest):
			comp.Status = StatusOK
			comp.Reason = fmt.Sprintf("The deployed truststore holds this deployment's %d client certificates and CAs: it was published after the last of them was registered. It is behind registrations made since (%s), which the next publish adds.", live, strings.Join(portalReasons(st), "; "))
		default:
			comp.Status = StatusWarning
			comp.Reason = "The deployed truststore is behind the registrations (" + strings.Join(portalReasons(st), "; ") + "): a client certificate or CA registered recently may not authenticate yet."
			comp.Action = "The truststore is published within a quarter of an hour of a change; if certificate users still cannot authenticate after that, tell the operator."
		}
	}
	c.r.add(comp)
}

// portalReasons says why the truststore is not current in fixed sentences, for any tenant's
// people. The Status's own Reasons and Warnings are the operator's (GET
// /operator/truststore/status): the last publish's error is the raw SDK message (bucket,
// account id, role ARN, request ids), and API Gateway's warnings are about the bundle every
// tenant shares (other tenants' CAs). Neither is copied here.
func portalReasons(st truststore.Status) []string {
	var out []string
	if st.UploadedSHA256 != st.WantedSHA256 {
		out = append(out, "the uploaded bundle does not hold exactly the registered certificates")
	}
	if st.DomainName != "" && (st.DomainVersion == "" || st.DomainVersion != st.UploadedVersion) {
		out = append(out, "the mutual-TLS domain does not use the newest bundle yet")
	}
	if st.LastPublish != nil && st.LastPublish.Error != "" {
		out = append(out, "the last publish failed; the operator is told")
	}
	if len(st.Warnings) > 0 {
		out = append(out, "API Gateway reported problems with the shared bundle")
	}
	if len(out) == 0 {
		out = append(out, "it differs from the registrations")
	}
	return out
}

// publishLag is how long before a publish a registration must have been made for the
// publish to have listed it (the listing is an eventually consistent index).
const publishLag = time.Minute

// heldSince reports whether a truststore that is not current still holds registrations made
// up to newest: its last publish succeeded after them, and the domain uses what it uploaded
// (no reason other than newer registrations).
func heldSince(st truststore.Status, newest time.Time) bool {
	if st.LastPublish == nil || st.LastPublish.Error != "" || newest.IsZero() || !newest.Before(st.LastPublish.At.Add(-publishLag)) {
		return false
	}
	return st.DomainName == "" || st.DomainVersion == st.UploadedVersion
}

// signing adds the signing error rate and the denials over the last hour and the last day.
func (c *checker) signing(ctx context.Context) {
	days, err := c.src.Activity.Activity(ctx, c.dep.ID, c.now.Add(-24*time.Hour), c.now)
	if err != nil {
		c.unknown("signing-errors", CategorySigning, "signing error rate", err)
		return
	}
	hour := activity.Window(days, c.now.Add(-time.Hour), c.now)
	day := activity.Window(days, c.now.Add(-24*time.Hour), c.now)
	counts := map[string]int{
		"signedLastHour": hour.Signed, "failedLastHour": hour.Failed, "deniedLastHour": hour.Denied,
		"signedLastDay": day.Signed, "failedLastDay": day.Failed, "deniedLastDay": day.Denied,
	}
	errs := Component{ID: "signing-errors", Category: CategorySigning, Status: StatusOK, Counts: counts, Link: "/app/console/events"}
	errs.Status, errs.Reason = judgeRate("failed", hour.Failed, hour.Signed+hour.Failed, day.Failed, day.Signed+day.Failed, ErrorRateWarning, ErrorRateCritical)
	if errs.Status != StatusOK {
		errs.Action = "Look at the failed signing events in the console's events (filter by decision); failures are the service's or the key's, not the caller's: the key components above and the operator's status say more."
	}
	c.r.add(errs)

	den := Component{ID: "signing-denials", Category: CategorySigning, Status: StatusOK, Counts: counts, Link: "/app/console/events"}
	den.Status, den.Reason = judgeRate("denied", hour.Denied, hour.Signed+hour.Failed+hour.Denied, day.Denied, day.Signed+day.Failed+day.Denied, DenialRateWarning, 2)
	if top := activity.Top(days, func(d activity.Day) map[string]int { return d.DeniedBy }, 1); len(top) > 0 && day.Denied > 0 {
		den.Reason += fmt.Sprintf(" The most frequent denial reason is %q (%d).", top[0].Name, top[0].N)
	}
	if den.Status != StatusOK {
		den.Action = "Look at the denied events in the console: a policy may miss a user, a certificate or an application its builds need, or someone is trying what they may not."
	}
	c.r.add(den)
}

// judgeRate judges n of total over the last hour and the last day against warn and crit.
func judgeRate(what string, hn, htotal, dn, dtotal int, warn, crit float64) (Status, string) {
	st := StatusOK
	judge := func(n, total int) {
		if total < MinRequestsForRate {
			return
		}
		r := float64(n) / float64(total)
		switch {
		case r > crit && StatusCritical.rank() > st.rank():
			st = StatusCritical
		case r > warn && StatusWarning.rank() > st.rank():
			st = StatusWarning
		}
	}
	judge(hn, htotal)
	judge(dn, dtotal)
	pct := func(n, total int) string {
		if total == 0 {
			return "no requests"
		}
		return fmt.Sprintf("%d of %d (%.1f %%)", n, total, 100*float64(n)/float64(total))
	}
	return st, fmt.Sprintf("Signing requests %s: last hour %s, last day %s.", what, pct(hn, htotal), pct(dn, dtotal))
}

// subscription adds the subscription's state and the plan's usage.
func (c *checker) subscription(ctx context.Context) {
	d := c.dep
	sub := Component{ID: "subscription", Category: CategorySubscription, Status: StatusOK, Link: portalPath(d.ID, "")}
	s, err := c.src.Subscriptions.SubscriptionOfDeployment(ctx, d)
	switch {
	case errors.Is(err, fault.ErrNotFound):
		sub.Reason = "This deployment has no marketplace subscription (the operator set it up), so no marketplace state applies to it."
		sub.Link, sub.State = "", string(d.Status)
		if d.Status != tenant.StatusActive {
			sub.Status = StatusCritical
			sub.Reason = "The deployment is " + string(d.Status) + " (it has no marketplace subscription): signing and the console are refused."
			sub.Action = "Ask the operator to reactivate it."
		}
	case err != nil:
		c.unknown("subscription", CategorySubscription, "subscription", err)
		sub = Component{}
	default:
		sub.Subject, sub.State = s.Plan, string(s.State)
		switch s.State {
		case marketplace.StateActive:
			sub.Reason = fmt.Sprintf("The %s subscription is active.", marketName(s.Marketplace))
		case marketplace.StatePending:
			sub.Status = StatusWarning
			sub.Reason = fmt.Sprintf("The %s subscription is not registered yet.", marketName(s.Marketplace))
			sub.Action = "Finish the registration from the marketplace's link."
		case marketplace.StateSuspended:
			sub.Status, sub.At = StatusCritical, s.StateAt
			sub.Reason = fmt.Sprintf("The %s subscription is suspended (unpaid): signing is refused and the console is read-only; the data is kept.", marketName(s.Marketplace))
			sub.Action = "Settle the payment in the marketplace; the deployment works again as soon as the marketplace reinstates it."
		case marketplace.StateUnsubscribePending:
			sub.Status, sub.At = StatusWarning, s.StateAt
			sub.Reason = fmt.Sprintf("The %s subscription is being cancelled; the service works until the cancellation completes.", marketName(s.Marketplace))
			sub.Action = "If that is not intended, keep the subscription in the marketplace."
		case marketplace.StateCancelled:
			sub.Status, sub.At = StatusCritical, s.EndedAt
			sub.Reason = fmt.Sprintf("The %s subscription is cancelled: signing and the console are refused; the data is kept for the retention period, then deleted.", marketName(s.Marketplace))
			sub.Action = "Subscribe again in the marketplace within the retention period to keep the data."
		default:
			sub.Status, sub.Reason = StatusUnknown, "The subscription is in a state this service does not know ("+string(s.State)+")."
		}
	}
	if sub.ID != "" {
		c.r.add(sub)
	}
	c.planUsage(ctx)
}

func marketName(m marketplace.Marketplace) string {
	switch m {
	case marketplace.AWS:
		return "AWS Marketplace"
	case marketplace.Azure:
		return "Azure Marketplace"
	}
	return "marketplace"
}

// planUsage adds what the deployment uses of its plan's limits: certificates, console users
// and this month's signatures (from the activity counters).
func (c *checker) planUsage(ctx context.Context) {
	d := c.dep
	p, ok := tenant.PlanByID(d.Plan)
	comp := Component{ID: "plan-usage", Category: CategorySubscription, Status: StatusOK, Link: portalPath(d.ID, "")}
	if !ok {
		comp.Reason = "The deployment has no plan from the catalogue, so no plan limits apply."
		c.r.add(comp)
		return
	}
	lim := d.Limits()
	certs, users, err := c.src.Subscriptions.UsageCounts(ctx, d.ID)
	if err != nil {
		c.unknown("plan-usage", CategorySubscription, "plan usage", err)
		return
	}
	monthStart := time.Date(c.now.Year(), c.now.Month(), 1, 0, 0, 0, 0, time.UTC)
	days, err := c.src.Activity.Activity(ctx, d.ID, monthStart, c.now)
	if err != nil {
		c.unknown("plan-usage", CategorySubscription, "plan usage", err)
		return
	}
	sigs := 0
	for _, day := range days {
		sigs += day.Signed
	}
	comp.Subject = p.Name
	comp.Counts = map[string]int{"certificates": certs, "certificatesLimit": lim.Certificates, "users": users, "usersLimit": lim.Users,
		"signaturesThisMonth": sigs, "signaturesPerMonth": lim.SignaturesPerMonth}
	var parts, over, near []string
	judge := func(what string, n, limit int, hard bool) {
		if limit == 0 {
			parts = append(parts, fmt.Sprintf("%d %s (no limit)", n, what))
			return
		}
		parts = append(parts, fmt.Sprintf("%d of %d %s", n, limit, what))
		switch {
		case n >= limit && hard:
			over = append(over, what)
		case float64(n) >= PlanWarning*float64(limit):
			near = append(near, what)
		}
	}
	judge("certificates", certs, lim.Certificates, true)
	judge("console users", users, lim.Users, true)
	judge("signatures this month", sigs, lim.SignaturesPerMonth, p.HardSignatureCap)
	comp.Reason = fmt.Sprintf("The %s plan: %s.", p.Name, strings.Join(parts, ", "))
	switch {
	case d.SigningCapped || slices.Contains(over, "signatures this month"):
		comp.Status = StatusCritical
		comp.Reason += " The month's signatures are used up: signing is refused until the month ends or the plan changes."
		comp.Action = "A portal Admin can change the plan in the marketplace."
	case len(over) > 0:
		comp.Status = StatusWarning
		comp.Reason += " The limit of " + strings.Join(over, " and ") + " is reached: no more can be added."
		comp.Action = "Remove what is no longer needed, or have a portal Admin change the plan or its quantity in the marketplace."
	case len(near) > 0:
		comp.Status = StatusWarning
		comp.Reason += " Close to the limit of " + strings.Join(near, " and ") + "."
		comp.Action = "Plan for it: remove what is no longer needed, or have a portal Admin change the plan or its quantity in the marketplace."
	}
	c.r.add(comp)
}

// updates adds the software update's state, when the source is wired.
func (c *checker) updates(ctx context.Context) {
	if c.src.Updates == nil {
		return
	}
	state, reason, err := c.src.Updates.UpdateState(ctx, c.dep.ID)
	if err != nil {
		c.unknown("updates", CategoryUpdates, "software update", err)
		return
	}
	comp := Component{ID: "updates", Category: CategoryUpdates, State: state, Status: StatusOK, Reason: reason, Link: portalPath(c.dep.ID, "/updates")}
	switch state {
	case UpdateFailed:
		comp.Status = StatusCritical
		comp.Action = "Open the updates page: retry the update, or tell the operator if it fails again. Signing keeps working meanwhile."
	case UpdatePaused:
		comp.Status = StatusWarning
		comp.Action = "Open the updates page to see why it paused and resume it."
	case UpdateAvailable:
		comp.Action = "Open the updates page to apply it now or schedule it."
	}
	if comp.Reason == "" {
		comp.Reason = "The software update is " + state + "."
	}
	c.r.add(comp)
}
