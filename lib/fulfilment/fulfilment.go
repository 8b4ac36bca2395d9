// Package fulfilment turns marketplace subscriptions into deployments and keeps each
// deployment following its subscription: it registers buyers who arrive from AWS
// Marketplace's fulfilment URL or Azure's landing page, applies the marketplaces'
// notifications through the life cycle of lib/marketplace (idempotently, by event id, and in
// the order they happened, whatever order they arrive in), and meters usage hourly, exactly
// once per subscription-hour. The protocols are lib/marketplace's ports; the state is the
// store's.
package fulfilment

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Store is what fulfilment needs of the store.
type Store interface {
	provisioning.Store
	SaveSubscription(ctx context.Context, c store.SubscriptionChange) (marketplace.Subscription, error)
	GetSubscription(ctx context.Context, id string) (marketplace.Subscription, error)
	SubscriptionByLookup(ctx context.Context, lookups []string) (marketplace.Subscription, error)
	EventApplied(ctx context.Context, id string) (bool, error)
	MarkEventApplied(ctx context.Context, id, subscriptionID string) error
	KeepPendingEvent(ctx context.Context, ev marketplace.Event) error
	PendingEvents(ctx context.Context, lookups []string) ([]marketplace.Event, error)
	DropPendingEvent(ctx context.Context, ev marketplace.Event) error
	PutRegistrationTicket(ctx context.Context, ticket, subscriptionID string, expires time.Time) error
	RegistrationTicket(ctx context.Context, ticket string) (string, error)
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
	ListSubscriptions(ctx context.Context, pr store.PageRequest) (store.Page[marketplace.Subscription], error)
	BeginMeterHour(ctx context.Context, current, next marketplace.Subscription, rec marketplace.MeterRecord, terms *store.DeploymentTerms) (marketplace.Subscription, error)
	FinishMeterHour(ctx context.Context, rec marketplace.MeterRecord) error
	ListMeterRecords(ctx context.Context, subscriptionID string, pr store.PageRequest) (store.Page[marketplace.MeterRecord], error)
	SignatureTotal(ctx context.Context, deploymentID string) (int64, error)
	UsageCounts(ctx context.Context, deploymentID string) (certificates, users int, err error)
	AppendLog(ctx context.Context, deploymentID string, e tenant.LogEntry) error
	ExpireDeployment(ctx context.Context, deploymentID string, expiresAt time.Time, cursor string, budget int) (next string, written int, err error)
}

// Service is the fulfilment of both marketplaces. A nil port means that marketplace is not
// configured: its entry points answer that it is not.
type Service struct {
	Store        Store
	AWS          marketplace.AWSMetering
	Entitlements marketplace.AWSEntitlements
	Azure        marketplace.AzureAPI
	Provisioning *provisioning.Service
	Now          func() time.Time
	Log          *slog.Logger
	// AWSDefaultPlan is the plan of an AWS subscription whose customer has no entitlement
	// naming a plan (a pay-as-you-go SaaS subscription): "standard" when empty.
	AWSDefaultPlan string
	// TicketTTL is how long a registration link works (an hour when zero).
	TicketTTL time.Duration
	// Retention is how long a cancelled subscription's deployment keeps its data
	// (DefaultRetention when zero).
	Retention time.Duration
}

// ErrNotConfigured is a marketplace whose credentials this stack does not have.
var ErrNotConfigured = fault.Newf(fault.ErrNotFound, "This marketplace is not configured on this service.")

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Service) defaultPlan() string {
	if s.AWSDefaultPlan == "" {
		return "standard"
	}
	return s.AWSDefaultPlan
}

// maxAttempts bounds the retries of a write that lost a race with another delivery.
const maxAttempts = 4

// HandleEvent applies a marketplace event: once (a redelivered id changes nothing), in order
// (an event older than the state changes nothing), to the subscription it names, or kept
// until that subscription exists when none does yet. A subscribe event for an unknown
// customer creates the (pending) subscription. An error means the event was not applied and
// should be delivered again.
func (s *Service) HandleEvent(ctx context.Context, ev marketplace.Event) error {
	if ev.ID == "" {
		return fault.Newf(fault.ErrInvalid, "The event has no id.")
	}
	if done, err := s.Store.EventApplied(ctx, ev.ID); err != nil || done {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.handleOnce(ctx, ev)
		if errors.Is(err, store.ErrEventApplied) {
			return nil
		}
		if !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrConflict) || attempt == maxAttempts-1 {
			return err
		}
	}
}

func (s *Service) handleOnce(ctx context.Context, ev marketplace.Event) error {
	lookups := ev.Ref.Lookups()
	if len(lookups) == 0 {
		return fault.Newf(fault.ErrInvalid, "The event %s names no customer or subscription.", ev.ID)
	}
	sub, err := s.Store.SubscriptionByLookup(ctx, lookups)
	switch {
	case errors.Is(err, store.ErrNotFound) && ev.Kind == marketplace.KindSubscribe && canCreate(ev.Ref):
		return s.createFromEvent(ctx, ev)
	case errors.Is(err, store.ErrNotFound):
		s.log().InfoContext(ctx, "marketplace event kept until its subscription registers",
			slog.String("event", ev.ID), slog.String("kind", string(ev.Kind)))
		return s.Store.KeepPendingEvent(ctx, ev)
	case err != nil:
		return err
	}
	return s.applyTo(ctx, sub, ev)
}

// canCreate reports whether ref identifies a customer well enough to create a subscription
// from an event: an account and license, or a legacy customer and product.
func canCreate(r marketplace.Ref) bool {
	return r.AWSAccountID != "" && r.LicenseARN != "" || r.CustomerIdentifier != "" && r.ProductCode != ""
}

// createFromEvent creates the pending subscription a subscribe event announces.
func (s *Service) createFromEvent(ctx context.Context, ev marketplace.Event) error {
	sub := marketplace.Subscription{
		ID: tenant.NewID("sub_"), Marketplace: marketplace.AWS, AWSAccountID: strings.TrimSpace(ev.Ref.AWSAccountID),
		LicenseARN: strings.TrimSpace(ev.Ref.LicenseARN), CustomerIdentifier: strings.TrimSpace(ev.Ref.CustomerIdentifier),
		ProductCode: strings.TrimSpace(ev.Ref.ProductCode), AgreementID: strings.TrimSpace(ev.Ref.AgreementID),
		Plan: s.defaultPlan(), State: marketplace.StatePending, StateAt: ev.At, PlanAt: ev.At,
	}
	if ev.Ref.AzureSubscriptionID != "" {
		return fault.Newf(fault.ErrInvalid, "An Azure subscription starts at the landing page, not with an event.")
	}
	sub, _ = marketplace.Apply(sub, ev)
	_, err := s.Store.SaveSubscription(ctx, store.SubscriptionChange{Next: sub, EventID: ev.ID, Lookups: lookupsOf(sub)})
	if err == nil {
		s.log().InfoContext(ctx, "marketplace subscription created from an event", slog.String("subscription", sub.ID), slog.String("event", ev.ID))
	}
	return err
}

// lookupsOf are every identity sub is found by.
func lookupsOf(sub marketplace.Subscription) []string {
	return marketplace.Ref{AWSAccountID: sub.AWSAccountID, LicenseARN: sub.LicenseARN, CustomerIdentifier: sub.CustomerIdentifier,
		ProductCode: sub.ProductCode, AgreementID: sub.AgreementID, AzureSubscriptionID: sub.AzureSubscriptionID}.Lookups()
}

// applyTo applies ev to sub and saves the result with the deployment's terms and a system
// log entry.
func (s *Service) applyTo(ctx context.Context, sub marketplace.Subscription, ev marketplace.Event) error {
	before := sub
	// An event may teach an identity the subscription did not have (a license event naming
	// its agreement); later events that carry only that identity then find it.
	sub = learn(sub, ev.Ref)
	evs := []marketplace.Event{ev}
	if ev.Kind == marketplace.KindEntitlementChanged {
		resolved, err := s.resolveEntitlement(ctx, sub, ev)
		if err != nil {
			return err
		}
		evs = resolved
	}
	next, out := sub, marketplace.Outcome{}
	for _, e := range evs {
		var o marketplace.Outcome
		next, o = marketplace.Apply(next, e)
		out.Changed = out.Changed || o.Changed
		out.Why = strings.TrimPrefix(out.Why+"; "+o.Why, "; ")
	}
	if !out.Changed && next == before {
		s.log().InfoContext(ctx, "marketplace event changed nothing", slog.String("event", ev.ID), slog.String("subscription", sub.ID), slog.String("why", out.Why))
		return s.Store.MarkEventApplied(ctx, ev.ID, sub.ID)
	}
	change := store.SubscriptionChange{Current: before, Next: next, EventID: ev.ID, Lookups: lookupsOf(next)}
	if next.DeploymentID != "" {
		change.Deployment = termsOf(next)
		if next.Plan != before.Plan || next.Quantity != before.Quantity {
			// A new plan may include more signatures: the hourly run caps again if not.
			uncapped := false
			change.Deployment.SigningCapped = &uncapped
		}
		change.Log = &tenant.LogEntry{At: s.Now().UTC(), Actor: "marketplace:" + string(next.Marketplace),
			Action: "deployment.subscription." + string(ev.Kind), Object: next.ID,
			Detail: logDetail(ev, out)}
	}
	saved, err := s.Store.SaveSubscription(ctx, change)
	if err != nil {
		return err
	}
	s.log().InfoContext(ctx, "marketplace event applied", slog.String("event", ev.ID), slog.String("subscription", next.ID),
		slog.String("state", string(next.State)), slog.String("why", out.Why))
	if learnt(before, saved) {
		// Events kept because they named only the identity just learnt apply now.
		return s.applyPending(ctx, saved)
	}
	return nil
}

// learnt reports whether after is found by an identity before was not.
func learnt(before, after marketplace.Subscription) bool {
	old := lookupsOf(before)
	for _, l := range lookupsOf(after) {
		if !slices.Contains(old, l) {
			return true
		}
	}
	return false
}

func logDetail(ev marketplace.Event, out marketplace.Outcome) string {
	d := out.Why
	if ev.Detail != "" {
		d = ev.Detail + ": " + d
	}
	return fmt.Sprintf("%s (%s event %s)", d, ev.Source, ev.ID)
}

// termsOf are the deployment terms sub decides.
func termsOf(sub marketplace.Subscription) *store.DeploymentTerms {
	return &store.DeploymentTerms{Status: marketplace.DeploymentStatus(sub.State), Plan: sub.Plan, Quantity: sub.Quantity}
}

// learn adds the identities ref carries that sub lacks.
func learn(sub marketplace.Subscription, ref marketplace.Ref) marketplace.Subscription {
	if sub.Marketplace != marketplace.AWS {
		return sub
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = strings.TrimSpace(v)
		}
	}
	fill(&sub.AgreementID, ref.AgreementID)
	fill(&sub.CustomerIdentifier, ref.CustomerIdentifier)
	fill(&sub.ProductCode, ref.ProductCode)
	if sub.AWSAccountID == "" && sub.LicenseARN == "" && ref.AWSAccountID != "" && ref.LicenseARN != "" {
		sub.AWSAccountID, sub.LicenseARN = strings.TrimSpace(ref.AWSAccountID), strings.TrimSpace(ref.LicenseARN)
	}
	return sub
}

// resolveEntitlement asks AWS what the customer is entitled to now, as events of ev's time:
// the plan and quantity of a valid entitlement (after a reinstatement when the subscription
// was suspended), a suspension when every entitlement has expired. Without entitlements at
// all (a pay-as-you-go subscription) nothing changes.
func (s *Service) resolveEntitlement(ctx context.Context, sub marketplace.Subscription, ev marketplace.Event) ([]marketplace.Event, error) {
	if s.Entitlements == nil || sub.Marketplace != marketplace.AWS {
		return nil, ErrNotConfigured
	}
	ents, err := s.Entitlements.GetEntitlements(ctx, sub.ProductCode, customerOf(sub))
	if err != nil {
		return nil, fmt.Errorf("get entitlements of %s: %w", sub.ID, err)
	}
	plan, qty, valid, some := pickEntitlement(ents, s.Now())
	as := func(k marketplace.Kind) marketplace.Event {
		e := ev
		e.Kind, e.Plan, e.Quantity, e.Current = k, plan, qty, true
		return e
	}
	switch {
	case !some:
		return nil, nil
	case !valid:
		return []marketplace.Event{as(marketplace.KindSuspend)}, nil
	case sub.State == marketplace.StateSuspended:
		return []marketplace.Event{as(marketplace.KindReinstate), as(marketplace.KindPlan)}, nil
	}
	return []marketplace.Event{as(marketplace.KindPlan)}, nil
}

// pickEntitlement is the plan and quantity of the entitlements: the first valid one whose
// dimension is a plan of the catalogue; valid reports whether any has not expired, some
// whether there are entitlements at all.
func pickEntitlement(ents []marketplace.Entitlement, now time.Time) (plan string, qty int, valid, some bool) {
	for _, e := range ents {
		p, ok := tenant.PlanByID(e.Dimension)
		if !ok {
			continue
		}
		some = true
		if !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt) {
			continue
		}
		if !valid {
			plan, qty, valid = p.ID, e.Value, true
			if !p.PerSeat {
				qty = 0
			}
		}
	}
	return plan, qty, valid, some
}

func customerOf(sub marketplace.Subscription) marketplace.AWSCustomer {
	return marketplace.AWSCustomer{AWSAccountID: sub.AWSAccountID, LicenseARN: sub.LicenseARN,
		CustomerIdentifier: sub.CustomerIdentifier, ProductCode: sub.ProductCode}
}

// applyPending applies the events kept for sub's identities, oldest first, and drops them.
func (s *Service) applyPending(ctx context.Context, sub marketplace.Subscription) error {
	evs, err := s.Store.PendingEvents(ctx, lookupsOf(sub))
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := s.HandleEvent(ctx, ev); err != nil {
			return fmt.Errorf("apply kept event %s: %w", ev.ID, err)
		}
		if err := s.Store.DropPendingEvent(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// newTicket is a registration link's secret: 256 random bits, URL-safe.
func newTicket() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "mkt_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Service) ticketTTL() time.Duration {
	if s.TicketTTL == 0 {
		return time.Hour
	}
	return s.TicketTTL
}

// issueTicket stores a registration ticket for sub and returns it.
func (s *Service) issueTicket(ctx context.Context, sub marketplace.Subscription) (string, error) {
	t := newTicket()
	return t, s.Store.PutRegistrationTicket(ctx, t, sub.ID, s.Now().Add(s.ticketTTL()))
}

// ResolveAWS is the fulfilment URL: it exchanges the buyer's registration token for the
// customer at once (the token is short-lived), finds or creates the customer's subscription,
// takes its plan from its entitlements (contracts), applies the events that arrived before
// the buyer, and returns a registration ticket for the registration page.
func (s *Service) ResolveAWS(ctx context.Context, token string) (string, marketplace.Subscription, error) {
	if s.AWS == nil {
		return "", marketplace.Subscription{}, ErrNotConfigured
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 4096 {
		return "", marketplace.Subscription{}, fault.Fields{{Name: "x-amzn-marketplace-token", Reason: "is required (at most 4096 characters)"}}
	}
	c, err := s.AWS.ResolveCustomer(ctx, token)
	if errors.Is(err, marketplace.ErrTokenRejected) {
		return "", marketplace.Subscription{}, fault.Wrap(fault.ErrGone, err, "The marketplace did not accept the registration token: it has expired or was already replaced. Open the product in AWS Marketplace again and choose “Set up your account”.")
	}
	if err != nil {
		return "", marketplace.Subscription{}, fmt.Errorf("resolve customer: %w", err)
	}
	ref := marketplace.Ref{AWSAccountID: c.AWSAccountID, LicenseARN: c.LicenseARN, CustomerIdentifier: c.CustomerIdentifier, ProductCode: c.ProductCode}
	// A subscription first heard of here is pending with no state time: no event set its
	// state, so any event kept for it (whenever it happened) applies.
	sub, err := s.findOrCreate(ctx, ref, func() marketplace.Subscription {
		return marketplace.Subscription{ID: tenant.NewID("sub_"), Marketplace: marketplace.AWS, AWSAccountID: c.AWSAccountID,
			LicenseARN: c.LicenseARN, CustomerIdentifier: c.CustomerIdentifier, ProductCode: c.ProductCode,
			Plan: s.defaultPlan(), State: marketplace.StatePending}
	})
	if err != nil {
		return "", marketplace.Subscription{}, err
	}
	if s.Entitlements != nil {
		ev := marketplace.Event{ID: "aws-fulfilment:" + sub.ID + ":" + s.Now().UTC().Format(time.RFC3339Nano), Source: "aws-fulfilment",
			Kind: marketplace.KindEntitlementChanged, At: s.Now().UTC(), Ref: ref, Detail: "registration"}
		if err := s.HandleEvent(ctx, ev); err != nil {
			return "", marketplace.Subscription{}, err
		}
	}
	if err := s.applyPending(ctx, sub); err != nil {
		return "", marketplace.Subscription{}, err
	}
	if sub, err = s.Store.GetSubscription(ctx, sub.ID); err != nil {
		return "", marketplace.Subscription{}, err
	}
	t, err := s.issueTicket(ctx, sub)
	return t, sub, err
}

// findOrCreate finds the subscription ref names, learning its new identities, or creates
// fresh() with them.
func (s *Service) findOrCreate(ctx context.Context, ref marketplace.Ref, fresh func() marketplace.Subscription) (marketplace.Subscription, error) {
	for attempt := 0; ; attempt++ {
		sub, err := s.Store.SubscriptionByLookup(ctx, ref.Lookups())
		var saved marketplace.Subscription
		switch {
		case errors.Is(err, store.ErrNotFound):
			saved, err = s.Store.SaveSubscription(ctx, store.SubscriptionChange{Next: fresh(), Lookups: ref.Lookups()})
		case err != nil:
			return marketplace.Subscription{}, err
		default:
			next := learn(sub, ref)
			if next == sub {
				return sub, nil
			}
			saved, err = s.Store.SaveSubscription(ctx, store.SubscriptionChange{Current: sub, Next: next, Lookups: lookupsOf(next)})
		}
		if err == nil || attempt == maxAttempts-1 || !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrConflict) {
			return saved, err
		}
	}
}

// ResolveAzure is the landing page: it exchanges the token of the landing page's URL for the
// SaaS subscription, records it (pending) and returns a registration ticket. Activation waits
// for the deployment (Register).
func (s *Service) ResolveAzure(ctx context.Context, token string) (string, marketplace.Subscription, error) {
	if s.Azure == nil {
		return "", marketplace.Subscription{}, ErrNotConfigured
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 8192 {
		return "", marketplace.Subscription{}, fault.Fields{{Name: "token", Reason: "is required (at most 8192 characters)"}}
	}
	az, err := s.Azure.Resolve(ctx, token)
	if errors.Is(err, marketplace.ErrTokenRejected) {
		return "", marketplace.Subscription{}, fault.Wrap(fault.ErrGone, err, "Azure did not accept the landing page token: it has expired (tokens last 24 hours) or is not valid. Open the subscription in the Azure portal and choose “Configure account now”.")
	}
	if err != nil {
		return "", marketplace.Subscription{}, fmt.Errorf("resolve azure token: %w", err)
	}
	if strings.EqualFold(az.Status, "Unsubscribed") {
		return "", marketplace.Subscription{}, fault.Newf(fault.ErrGone, "This Azure subscription is cancelled.")
	}
	plan, ok := tenant.PlanByID(az.PlanID)
	if !ok {
		return "", marketplace.Subscription{}, fault.Newf(fault.ErrUnprocessable, "The subscription's plan %q is not one this service offers.", fault.Clip(az.PlanID, 60))
	}
	ref := marketplace.Ref{AzureSubscriptionID: az.ID}
	sub, err := s.findOrCreate(ctx, ref, func() marketplace.Subscription {
		now := s.Now().UTC()
		return marketplace.Subscription{ID: tenant.NewID("sub_"), Marketplace: marketplace.Azure, AzureSubscriptionID: strings.ToLower(strings.TrimSpace(az.ID)),
			OfferID: az.OfferID, Name: az.Name, PurchaserEmail: az.PurchaserEmail, PurchaserTenant: az.PurchaserTenant,
			Plan: plan.ID, Quantity: az.Quantity, State: marketplace.StatePending, PlanAt: now}
	})
	if err != nil {
		return "", marketplace.Subscription{}, err
	}
	// A webhook that came before the buyer (a suspension, a plan change) was kept.
	if err := s.applyPending(ctx, sub); err != nil {
		return "", marketplace.Subscription{}, err
	}
	if sub, err = s.Store.GetSubscription(ctx, sub.ID); err != nil {
		return "", marketplace.Subscription{}, err
	}
	t, err := s.issueTicket(ctx, sub)
	return t, sub, err
}

// Registration is the subscription a registration ticket is for.
func (s *Service) Registration(ctx context.Context, ticket string) (marketplace.Subscription, error) {
	id, err := s.Store.RegistrationTicket(ctx, ticket)
	if err != nil {
		return marketplace.Subscription{}, err
	}
	return s.Store.GetSubscription(ctx, id)
}

// RegisterRequest is what the buyer fills in on the registration page.
type RegisterRequest struct {
	Name       string
	DomainName string
	AdminEmail string
}

// Register creates the deployment a subscription pays for and binds them, in one
// transaction, and answers the first Admin's deployment link. For Azure it then activates
// the subscription (billing starts only once the deployment exists); an activation that
// fails is retried by the metering function. A subscription registers one deployment: a
// second registration is a conflict naming it.
func (s *Service) Register(ctx context.Context, ticket string, req RegisterRequest) (provisioning.Result, marketplace.Subscription, error) {
	sub, err := s.Registration(ctx, ticket)
	if err != nil {
		return provisioning.Result{}, marketplace.Subscription{}, err
	}
	switch {
	case sub.DeploymentID != "":
		return provisioning.Result{}, sub, fault.Newf(fault.ErrConflict, "This subscription is registered already (deployment %s); its Admins sign in at the portal.", sub.DeploymentID)
	case sub.State == marketplace.StateCancelled:
		return provisioning.Result{}, sub, fault.Newf(fault.ErrGone, "This subscription is cancelled; subscribe again in the marketplace.")
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = defaultName(sub)
	}
	depID := tenant.NewID("dep_")
	bound := marketplace.Register(sub, depID)
	res, err := s.Provisioning.Provision(ctx, provisioning.Request{
		Name: name, Plan: sub.Plan, Quantity: sub.Quantity, DomainName: req.DomainName, FirstAdminEmail: req.AdminEmail,
		RequestKey: store.MarketplaceRequestKey(sub.ID), Actor: "marketplace:" + string(sub.Marketplace), SubscriptionID: sub.ID,
		DeploymentID: depID, Status: marketplace.DeploymentStatus(bound.State),
		Subscription: &store.SubscriptionBinding{Current: sub, Next: bound},
	})
	if err != nil {
		return provisioning.Result{}, sub, err
	}
	if !res.Created {
		return provisioning.Result{}, sub, fault.Newf(fault.ErrConflict, "This subscription is registered already (deployment %s); its Admins sign in at the portal.", res.Deployment.ID)
	}
	bound, err = s.Store.GetSubscription(ctx, sub.ID)
	if err != nil {
		return res, bound, err
	}
	if bound.Marketplace == marketplace.Azure {
		// The buyer waits, and must get the first Admin's link: a slow Azure leaves the
		// activation to the hourly run, which retries it.
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if activated, err := s.activate(actx, bound); err == nil {
			bound = activated
		} else {
			s.log().WarnContext(ctx, "azure activation failed; the metering function retries it", slog.String("subscription", sub.ID), slog.String("error", err.Error()))
		}
	}
	return res, bound, nil
}

// defaultName is a deployment name for a subscription whose buyer gave none.
func defaultName(sub marketplace.Subscription) string {
	n := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, sub.Name))
	if n != "" && len([]rune(n)) <= 100 {
		return n
	}
	if sub.Marketplace == marketplace.AWS {
		return "AWS " + sub.AWSAccountID
	}
	return "Azure subscription"
}

// activate tells Azure the subscription is fulfilled, once.
func (s *Service) activate(ctx context.Context, sub marketplace.Subscription) (marketplace.Subscription, error) {
	if !sub.ActivatedAt.IsZero() || s.Azure == nil {
		return sub, nil
	}
	if err := s.Azure.Activate(ctx, sub.AzureSubscriptionID, sub.Plan, sub.Quantity); err != nil {
		return sub, err
	}
	next := sub
	next.ActivatedAt = s.Now().UTC()
	return s.Store.SaveSubscription(ctx, store.SubscriptionChange{Current: sub, Next: next,
		Log: &tenant.LogEntry{At: next.ActivatedAt, Actor: "marketplace:azure", Action: "deployment.subscription.activated", Object: sub.ID,
			Detail: fmt.Sprintf("Azure subscription %s activated on plan %s", sub.AzureSubscriptionID, sub.Plan)}})
}
