// Package provisioning creates deployments. The operator API calls it now; the marketplace
// handlers call it when a subscription starts. A deployment and every record it starts with
// are written in one transaction, so a failure leaves nothing behind, and a request key makes
// a repeated request (an event delivered twice) return the first result.
package provisioning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// SoftwareVersion is the release a new deployment starts on.
const SoftwareVersion = "0.1.0"

// Store is what provisioning needs of the store.
type Store interface {
	Provision(ctx context.Context, p store.Provisioning) (tenant.Deployment, bool, error)
}

// Service provisions deployments.
type Service struct {
	store Store
	now   func() time.Time
	// DomainSuffix is what deployment domain names must end in ("" = anything).
	DomainSuffix string
}

// New returns a service writing to s; now is the clock (time.Now in production).
func New(s Store, now func() time.Time) *Service {
	return &Service{store: s, now: now}
}

// Request asks for a new deployment.
type Request struct {
	Name string
	Plan string
	// Quantity is the seats of a per-seat plan (0: none).
	Quantity    int
	DomainName  string
	IPAllowlist []string
	// RequestKey makes the request idempotent (e.g. "aws-marketplace:<customer>:<product>").
	RequestKey string
	// SubscriptionID is the marketplace subscription the deployment is for ("" for none);
	// Subscription binds it in the same transaction, to the deployment DeploymentID (which
	// must then be set: the binding names it), with Status (active when empty).
	SubscriptionID string
	Subscription   *store.SubscriptionBinding
	DeploymentID   string
	Status         tenant.Status
	// Actor is who asked, for the system log (an IAM principal, "marketplace", ...).
	Actor string
	// FirstAdminEmail, when set, is the only address the first Admin's deployment link
	// registers.
	FirstAdminEmail string
}

// Result is a provisioned deployment.
type Result struct {
	Deployment tenant.Deployment
	// Created is false when the request key had already provisioned Deployment.
	Created bool
	// FirstAdminLink is the token of the deployment link for the first portal Admin (who
	// becomes the Signum Administrator); only on creation: it is stored hashed.
	FirstAdminLink string
	// FirstAdminLinkExpires is when the link stops working.
	FirstAdminLinkExpires time.Time
}

// Provision validates req and creates the deployment with its default records: the Local
// users domain, the counters, and the deployment link of its first Admin, who will be the
// Signum Administrator. A request whose RequestKey already provisioned a deployment returns
// that one (Created false, no link).
func (s *Service) Provision(ctx context.Context, req Request) (Result, error) {
	d, err := s.validate(req)
	if err != nil {
		return Result{}, err
	}
	email := ""
	if req.FirstAdminEmail != "" {
		if email, err = identity.NormalizeEmail(req.FirstAdminEmail); err != nil {
			return Result{}, fault.Fields{{Name: "firstAdminEmail", Reason: "is not an e-mail address"}}
		}
	}
	link, hash := identity.NewInviteToken()
	inv := identity.Invite{DeploymentID: d.ID, Email: email, Role: identity.RoleAdmin, SignumAdmin: true,
		ExpiresAt: d.CreatedAt.Add(identity.InviteTTL), CreatedBy: req.Actor, CreatedAt: d.CreatedAt}
	d, created, err := s.store.Provision(ctx, store.Provisioning{
		Deployment:  d,
		RequestKey:  req.RequestKey,
		Fingerprint: fingerprint(d, email),
		Log: tenant.LogEntry{
			At: d.CreatedAt, Actor: req.Actor, Action: "deployment.provisioned",
			Detail: fmt.Sprintf("plan %s, software %s", d.Plan, d.SoftwareVersion),
		},
		LocalDomain:     identity.DefaultLocalDomain(d.ID),
		DefaultPolicy:   DefaultPolicy(),
		FirstGroup:      &certificates.Group{ID: certificates.NewGroupID(), Name: DefaultGroupName},
		FirstInvite:     &inv,
		FirstInviteHash: hash,
		Subscription:    req.Subscription,
	})
	if err != nil {
		return Result{}, fmt.Errorf("provision %q: %w", req.Name, err)
	}
	res := Result{Deployment: d, Created: created}
	if created {
		res.FirstAdminLink, res.FirstAdminLinkExpires = link, inv.ExpiresAt
	}
	return res, nil
}

func (s *Service) validate(req Request) (tenant.Deployment, error) {
	var bad fault.Fields
	name := strings.TrimSpace(req.Name)
	switch {
	case name == "":
		bad.Add("name", "is required")
	case len([]rune(name)) > 100:
		bad.Add("name", "is longer than 100 characters")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		bad.Add("name", "contains control characters")
	}
	plan := req.Plan
	if plan == "" {
		plan = "standard"
	}
	p, ok := tenant.PlanByID(plan)
	if !ok {
		bad.Add("plan", "must be one of %s", strings.Join(tenant.PlanIDs(), ", "))
	}
	if req.Quantity < 0 || req.Quantity > 100_000 {
		bad.Add("quantity", "must be between 0 and 100000")
	}
	domain := tenant.DomainNameField(req.DomainName, s.DomainSuffix, &bad)
	allow := tenant.AllowlistField(req.IPAllowlist, &bad)
	if len(req.RequestKey) > 256 || strings.IndexFunc(req.RequestKey, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		bad.Add("requestKey", "must be at most 256 printable ASCII characters without spaces")
	}
	if err := bad.Err(); err != nil {
		return tenant.Deployment{}, err
	}
	id, status := req.DeploymentID, req.Status
	if id == "" {
		id = tenant.NewID("dep_")
	}
	if status == "" {
		status = tenant.StatusActive
	}
	return tenant.Deployment{
		ID: id, Name: name, Status: status, Plan: p.ID, Quantity: req.Quantity,
		Region: p.Region, SubscriptionID: req.SubscriptionID,
		SoftwareVersion: SoftwareVersion, DomainName: domain, IPAllowlist: allow,
		CreatedAt: s.now().UTC(),
	}, nil
}

// fingerprint identifies what a request asks for (after normalisation), so that a request key
// reused for a different deployment is told apart from a retry.
func fingerprint(d tenant.Deployment, firstAdmin string) string {
	allow := tenant.FormatAllowlist(d.IPAllowlist)
	slices.Sort(allow) // the allowlist is a set: order does not make another request
	h := sha256.New()
	for _, part := range append([]string{d.Name, d.Plan, d.DomainName, firstAdmin}, allow...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultGroupName is the name of the certificate group every deployment starts with, so
// that its first certificate has a group to go in before the Signum Administrator makes others.
const DefaultGroupName = "Default"

// DefaultPolicyID is the id of the signing policy every deployment starts with.
const DefaultPolicyID = "pol_default"

// DefaultPolicy lets the portal product roles Admin and User sign with every certificate of
// the deployment, so that those users can sign at once; admins edit or replace it.
func DefaultPolicy() *policy.Policy {
	return &policy.Policy{
		ID: DefaultPolicyID, Name: "Default signing policy", Enabled: true, Priority: 0, Action: policy.Allow,
		What: policy.What{Groups: []string{policy.AllCertificates}},
		Who:  policy.Who{Roles: []string{policy.PortalRole(identity.RoleAdmin), policy.PortalRole(identity.RoleUser)}},
	}
}
