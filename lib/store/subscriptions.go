package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/tenant"
)

// ErrEventApplied is a marketplace event whose id was applied before (a redelivery).
var ErrEventApplied = fmt.Errorf("store: marketplace event applied already: %w", fault.ErrConflict)

// MarketEventTTL is how long an applied event's id and an unmatched event are kept: longer
// than any marketplace retries (Azure 8 hours, SQS 14 days at most) and than a buyer takes
// to register.
const MarketEventTTL = 30 * 24 * time.Hour

// subscriptionItem is a marketplace subscription: PK=SUB#<id>, SK=META, listed on GSI1 under
// SUBSCRIPTIONS by creation time.
type subscriptionItem struct {
	PK                  string `dynamodbav:"PK"`
	SK                  string `dynamodbav:"SK"`
	GSI1PK              string `dynamodbav:"GSI1PK"`
	GSI1SK              string `dynamodbav:"GSI1SK"`
	Type                string `dynamodbav:"type"`
	ID                  string `dynamodbav:"id"`
	Marketplace         string `dynamodbav:"marketplace"`
	Key                 string `dynamodbav:"key"`
	AWSAccountID        string `dynamodbav:"awsAccountId,omitempty"`
	LicenseARN          string `dynamodbav:"licenseArn,omitempty"`
	CustomerIdentifier  string `dynamodbav:"customerIdentifier,omitempty"`
	ProductCode         string `dynamodbav:"productCode,omitempty"`
	AgreementID         string `dynamodbav:"agreementId,omitempty"`
	OfferID             string `dynamodbav:"offerId,omitempty"`
	FreeTrial           bool   `dynamodbav:"freeTrial,omitempty"`
	AzureSubscriptionID string `dynamodbav:"azureSubscriptionId,omitempty"`
	PurchaserEmail      string `dynamodbav:"purchaserEmail,omitempty"`
	PurchaserTenant     string `dynamodbav:"purchaserTenant,omitempty"`
	Name                string `dynamodbav:"name,omitempty"`
	Plan                string `dynamodbav:"plan"`
	Quantity            int    `dynamodbav:"quantity,omitempty"`
	State               string `dynamodbav:"state"`
	StateAt             string `dynamodbav:"stateAt,omitempty"`
	PlanAt              string `dynamodbav:"planAt,omitempty"`
	DeploymentID        string `dynamodbav:"deploymentId,omitempty"`
	EndedAt             string `dynamodbav:"endedAt,omitempty"`
	ActivatedAt         string `dynamodbav:"activatedAt,omitempty"`
	MeteredHour         string `dynamodbav:"meteredHour,omitempty"`
	MeteredSignatures   int64  `dynamodbav:"meteredSignatures,omitempty"`
	MeteredMonth        string `dynamodbav:"meteredMonth,omitempty"`
	MonthSignatures     int64  `dynamodbav:"monthSignatures,omitempty"`
	MeteredFinal        bool   `dynamodbav:"meteredFinal,omitempty"`
	RetentionCursor     string `dynamodbav:"retentionCursor,omitempty"`
	DataExpiresAt       string `dynamodbav:"dataExpiresAt,omitempty"`
	Version             int64  `dynamodbav:"version"`
	CreatedAt           string `dynamodbav:"createdAt"`
	UpdatedAt           string `dynamodbav:"updatedAt"`
}

func toSubscriptionItem(s marketplace.Subscription) subscriptionItem {
	return subscriptionItem{
		PK: subscriptionPK(s.ID), SK: metaSK, GSI1PK: allSubscriptions, GSI1SK: deploymentsGSI1SK(s.CreatedAt, s.ID),
		Type: "subscription", ID: s.ID, Marketplace: string(s.Marketplace), Key: s.Key(),
		AWSAccountID: s.AWSAccountID, LicenseARN: s.LicenseARN, CustomerIdentifier: s.CustomerIdentifier,
		ProductCode: s.ProductCode, AgreementID: s.AgreementID, OfferID: s.OfferID, FreeTrial: s.FreeTrial,
		AzureSubscriptionID: s.AzureSubscriptionID, PurchaserEmail: s.PurchaserEmail, PurchaserTenant: s.PurchaserTenant,
		Name: s.Name, Plan: s.Plan, Quantity: s.Quantity, State: string(s.State),
		StateAt: formatTime(s.StateAt), PlanAt: formatTime(s.PlanAt), DeploymentID: s.DeploymentID,
		EndedAt: formatTime(s.EndedAt), ActivatedAt: formatTime(s.ActivatedAt), MeteredHour: formatTime(s.Metered.Hour), MeteredSignatures: s.Metered.Signatures,
		MeteredMonth: formatTime(s.Metered.Month), MonthSignatures: s.Metered.MonthSignatures, MeteredFinal: s.Metered.Final,
		RetentionCursor: s.Retention.Cursor, DataExpiresAt: formatTime(s.Retention.ExpiresAt),
		Version: s.Version, CreatedAt: formatTime(s.CreatedAt), UpdatedAt: formatTime(s.UpdatedAt),
	}
}

func decodeSubscription(av map[string]types.AttributeValue) (marketplace.Subscription, error) {
	var it subscriptionItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return marketplace.Subscription{}, fmt.Errorf("decode subscription: %w", err)
	}
	return marketplace.Subscription{
		ID: it.ID, Marketplace: marketplace.Marketplace(it.Marketplace),
		AWSAccountID: it.AWSAccountID, LicenseARN: it.LicenseARN, CustomerIdentifier: it.CustomerIdentifier,
		ProductCode: it.ProductCode, AgreementID: it.AgreementID, OfferID: it.OfferID, FreeTrial: it.FreeTrial,
		AzureSubscriptionID: it.AzureSubscriptionID, PurchaserEmail: it.PurchaserEmail, PurchaserTenant: it.PurchaserTenant,
		Name: it.Name, Plan: it.Plan, Quantity: it.Quantity, State: marketplace.State(it.State),
		StateAt: parseTime(it.StateAt), PlanAt: parseTime(it.PlanAt), DeploymentID: it.DeploymentID,
		EndedAt: parseTime(it.EndedAt), ActivatedAt: parseTime(it.ActivatedAt),
		Metered: marketplace.MeterCursor{Hour: parseTime(it.MeteredHour), Signatures: it.MeteredSignatures,
			Month: parseTime(it.MeteredMonth), MonthSignatures: it.MonthSignatures, Final: it.MeteredFinal},
		Retention: marketplace.Retention{Cursor: it.RetentionCursor, ExpiresAt: parseTime(it.DataExpiresAt)},
		Version:   it.Version, CreatedAt: parseTime(it.CreatedAt), UpdatedAt: parseTime(it.UpdatedAt),
	}, nil
}

// subscriptionKeyItem finds a subscription by one of its identities: PK=SUBKEY#<lookup key>,
// SK=SUBKEY. Its key is the identity, so an identity names at most one subscription.
type subscriptionKeyItem struct {
	PK             string `dynamodbav:"PK"`
	SK             string `dynamodbav:"SK"`
	Type           string `dynamodbav:"type"`
	SubscriptionID string `dynamodbav:"subscriptionId"`
}

// marketEventItem records that a marketplace event was applied: PK=MKTEVENT#<event id>,
// SK=MKTEVENT, kept for MarketEventTTL.
type marketEventItem struct {
	PK             string `dynamodbav:"PK"`
	SK             string `dynamodbav:"SK"`
	Type           string `dynamodbav:"type"`
	SubscriptionID string `dynamodbav:"subscriptionId,omitempty"`
	AppliedAt      string `dynamodbav:"appliedAt"`
	ExpiresAt      int64  `dynamodbav:"expiresAt"`
}

// pendingEventItem is a marketplace event that found no subscription: kept under each of its
// lookup keys (PK=MKTPENDING#<lookup>, SK=<at>#<event id>) until a subscription with that
// identity appears, for MarketEventTTL.
type pendingEventItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	Event     string `dynamodbav:"event"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// SubscriptionChange is a subscription written with what goes with it, in one transaction.
type SubscriptionChange struct {
	// Current is the subscription as read (Version 0: a new one); Next what it becomes.
	Current, Next marketplace.Subscription
	// EventID, when set, is recorded as applied; a second change with it is ErrEventApplied.
	EventID string
	// Lookups are the identities Next is found by (new ones are added; an identity of
	// another subscription is ErrConflict).
	Lookups []string
	// Deployment, when set, is the deployment's new status and plan, written with a version
	// bump so that portal ETags move.
	Deployment *DeploymentTerms
	// Log, when set (and Next has a deployment), goes to its system log.
	Log *tenant.LogEntry
}

// DeploymentTerms are the parts of a deployment its subscription decides.
type DeploymentTerms struct {
	Status   tenant.Status
	Plan     string
	Quantity int
	// SigningCapped is set by metering; nil leaves it as it is.
	SigningCapped *bool
}

// SaveSubscription writes c: the subscription (new, or over the version read), the applied
// event's id, its lookup keys, the deployment's terms and a system log entry, all or nothing.
// ErrEventApplied when the event was applied already, ErrStale when the subscription changed
// since it was read, ErrConflict when a lookup key names another subscription.
func (s *Store) SaveSubscription(ctx context.Context, c SubscriptionChange) (marketplace.Subscription, error) {
	now := s.now()
	next := c.Next
	next.Version = c.Current.Version + 1
	next.UpdatedAt = now
	if c.Current.Version == 0 {
		next.CreatedAt = now
	} else {
		next.CreatedAt = c.Current.CreatedAt
	}
	var items []types.TransactWriteItem
	failed := map[int]error{}
	if c.Current.Version == 0 {
		failed[len(items)] = fault.Newf(ErrConflict, "A subscription with the id %s exists.", next.ID)
		items = append(items, s.putNew(toSubscriptionItem(next)))
	} else {
		failed[len(items)] = fault.Newf(ErrStale, "Subscription %s changed since it was read.", next.ID)
		items = append(items, s.putVersioned(toSubscriptionItem(next), c.Current.Version))
	}
	if c.EventID != "" {
		failed[len(items)] = ErrEventApplied
		items = append(items, s.putNew(marketEventItem{PK: marketEventPK(c.EventID), SK: marketEventSK, Type: "marketEvent",
			SubscriptionID: next.ID, AppliedAt: formatTime(now), ExpiresAt: now.Add(MarketEventTTL).Unix()}))
	}
	for _, l := range dedupe(c.Lookups) {
		failed[len(items)] = fault.Newf(ErrConflict, "Another subscription has the identity %s.", l)
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName:           &s.table,
			Item:                marshal(subscriptionKeyItem{PK: subscriptionKeyPK(l), SK: subscriptionKeySK, Type: "subscriptionKey", SubscriptionID: next.ID}),
			ConditionExpression: aws.String("attribute_not_exists(PK) OR subscriptionId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":id": &types.AttributeValueMemberS{Value: next.ID},
			},
		}})
	}
	if c.Deployment != nil && next.DeploymentID != "" {
		failed[len(items)] = fault.Newf(ErrNotFound, "Deployment %s of subscription %s does not exist.", next.DeploymentID, next.ID)
		items = append(items, s.termsUpdate(next.DeploymentID, *c.Deployment, now))
	}
	if c.Log != nil && next.DeploymentID != "" {
		items = append(items, s.putLog(next.DeploymentID, *c.Log))
	}
	if err := s.conditional(ctx, "save subscription", items, failed); err != nil {
		return marketplace.Subscription{}, err
	}
	return next, nil
}

// termsUpdate sets a deployment's subscription terms and moves its version.
func (s *Store) termsUpdate(deploymentID string, t DeploymentTerms, now time.Time) types.TransactWriteItem {
	set := "SET #s = :s, #p = :p, quantity = :q, version = version + :one, updatedAt = :u"
	vals := map[string]types.AttributeValue{
		":s": &types.AttributeValueMemberS{Value: string(t.Status)}, ":p": &types.AttributeValueMemberS{Value: t.Plan},
		":q":   &types.AttributeValueMemberN{Value: strconv.Itoa(t.Quantity)},
		":one": &types.AttributeValueMemberN{Value: "1"}, ":u": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
	}
	if t.SigningCapped != nil {
		set += ", signingCapped = :c"
		vals[":c"] = &types.AttributeValueMemberBOOL{Value: *t.SigningCapped}
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(deploymentPK(deploymentID), metaSK),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#s": "status", "#p": "plan"},
		ExpressionAttributeValues: vals,
	}}
}

func dedupe(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, x := range ss {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// GetSubscription reads a subscription by id.
func (s *Store) GetSubscription(ctx context.Context, id string) (marketplace.Subscription, error) {
	if !tenant.ValidID("sub_", id) {
		return marketplace.Subscription{}, fault.Newf(ErrNotFound, "No subscription has the id %q.", fault.Clip(id, 40))
	}
	return get(ctx, s, subscriptionPK(id), metaSK, "get subscription", decodeSubscription, notFound("No subscription has the id %q.", id))
}

// SubscriptionByLookup finds the subscription of the first of lookups that names one
// (ErrNotFound when none does).
func (s *Store) SubscriptionByLookup(ctx context.Context, lookups []string) (marketplace.Subscription, error) {
	for _, l := range dedupe(lookups) {
		it, err := get(ctx, s, subscriptionKeyPK(l), subscriptionKeySK, "get subscription key", decodeAs[subscriptionKeyItem]("subscription key"), nil)
		if err != nil {
			return marketplace.Subscription{}, err
		}
		if it.SubscriptionID != "" {
			return s.GetSubscription(ctx, it.SubscriptionID)
		}
	}
	return marketplace.Subscription{}, fault.Newf(ErrNotFound, "No subscription has these identities.")
}

// SubscriptionOfDeployment reads the subscription that pays for deployment d (ErrNotFound
// for a deployment without one).
func (s *Store) SubscriptionOfDeployment(ctx context.Context, d tenant.Deployment) (marketplace.Subscription, error) {
	if d.SubscriptionID == "" {
		return marketplace.Subscription{}, fault.Newf(ErrNotFound, "Deployment %s has no marketplace subscription.", d.ID)
	}
	return s.GetSubscription(ctx, d.SubscriptionID)
}

// ListSubscriptions lists subscriptions, oldest first (operator view).
func (s *Store) ListSubscriptions(ctx context.Context, pr PageRequest) (Page[marketplace.Subscription], error) {
	return listGSI1(ctx, s, allSubscriptions, pr, decodeSubscription)
}

// EventApplied reports whether the marketplace event with id was applied.
func (s *Store) EventApplied(ctx context.Context, id string) (bool, error) {
	item, err := s.getItem(ctx, marketEventPK(id), marketEventSK, "get marketplace event")
	return item != nil, err
}

// MarkEventApplied records an event that changed nothing (ignored, older than the state) as
// applied, so that its redeliveries are not looked at again.
func (s *Store) MarkEventApplied(ctx context.Context, id, subscriptionID string) error {
	now := s.now()
	err := s.create(ctx, "mark marketplace event", marketEventItem{PK: marketEventPK(id), SK: marketEventSK, Type: "marketEvent",
		SubscriptionID: subscriptionID, AppliedAt: formatTime(now), ExpiresAt: now.Add(MarketEventTTL).Unix()}, ErrEventApplied)
	if errors.Is(err, ErrEventApplied) {
		return nil
	}
	return err
}

// KeepPendingEvent keeps an event that found no subscription under each of its lookup keys,
// until a subscription with one of them appears (PendingEvents). Keeping it twice is
// harmless: the item's key is the event's.
func (s *Store) KeepPendingEvent(ctx context.Context, ev marketplace.Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode pending event: %w", err)
	}
	exp := s.now().Add(MarketEventTTL).Unix()
	var items []types.TransactWriteItem
	for _, l := range dedupe(ev.Ref.Lookups()) {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: marshal(pendingEventItem{
			PK: marketPendingPK(l), SK: marketPendingSK(ev.At, ev.ID), Type: "marketPendingEvent", Event: string(raw), ExpiresAt: exp,
		})}})
	}
	if len(items) == 0 {
		return fault.Newf(fault.ErrInvalid, "The event names no subscription.")
	}
	return s.transact(ctx, "keep pending marketplace event", items)
}

// PendingEvents are the kept events under any of lookups, oldest first, each once.
func (s *Store) PendingEvents(ctx context.Context, lookups []string) ([]marketplace.Event, error) {
	var out []marketplace.Event
	seen := map[string]bool{}
	for _, l := range dedupe(lookups) {
		// TTL deletes an expired item days later at worst: until then it is left out here.
		in := &dynamodb.QueryInput{
			TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
			FilterExpression: aws.String("expiresAt > :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":  &types.AttributeValueMemberS{Value: marketPendingPK(l)},
				":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Unix(), 10)},
			},
		}
		for {
			page, err := s.db.Query(ctx, in)
			if err != nil {
				return nil, unavailable("list pending marketplace events", err)
			}
			for _, av := range page.Items {
				var it pendingEventItem
				var ev marketplace.Event
				if err := attributevalue.UnmarshalMap(av, &it); err != nil {
					return nil, fmt.Errorf("decode pending event: %w", err)
				}
				if err := json.Unmarshal([]byte(it.Event), &ev); err != nil {
					return nil, fmt.Errorf("decode pending event: %w", err)
				}
				if !seen[ev.ID] {
					seen[ev.ID] = true
					out = append(out, ev)
				}
			}
			if len(page.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	slices.SortStableFunc(out, func(a, b marketplace.Event) int { return a.At.Compare(b.At) })
	return out, nil
}

// DropPendingEvent removes a kept event (once it has been applied) from under every key.
func (s *Store) DropPendingEvent(ctx context.Context, ev marketplace.Event) error {
	for _, l := range dedupe(ev.Ref.Lookups()) {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(marketPendingPK(l), marketPendingSK(ev.At, ev.ID))}); err != nil {
			return unavailable("drop pending marketplace event", err)
		}
	}
	return nil
}

// regTicketItem is a registration ticket: what the buyer's browser carries from the
// marketplace's redirect to our registration page. PK=REGTICKET#<sha256 of the ticket>.
type regTicketItem struct {
	PK             string `dynamodbav:"PK"`
	SK             string `dynamodbav:"SK"`
	Type           string `dynamodbav:"type"`
	SubscriptionID string `dynamodbav:"subscriptionId"`
	Expires        string `dynamodbav:"expires"`
	ExpiresAt      int64  `dynamodbav:"expiresAt"`
}

// PutRegistrationTicket stores ticket (its hash) for subscriptionID until expires.
func (s *Store) PutRegistrationTicket(ctx context.Context, ticket, subscriptionID string, expires time.Time) error {
	return s.create(ctx, "put registration ticket", regTicketItem{PK: regTicketPK(ticket), SK: regTicketSK, Type: "registrationTicket",
		SubscriptionID: subscriptionID, Expires: formatTime(expires), ExpiresAt: expires.Add(24 * time.Hour).Unix()},
		fault.Newf(ErrConflict, "The ticket exists."))
}

// RegistrationTicket is the subscription ticket was issued for: ErrNotFound for an unknown
// ticket, fault.ErrGone for an expired one.
func (s *Store) RegistrationTicket(ctx context.Context, ticket string) (string, error) {
	it, err := get(ctx, s, regTicketPK(ticket), regTicketSK, "get registration ticket", decodeAs[regTicketItem]("registration ticket"),
		notFound("The registration link is not valid; start again from the marketplace."))
	if err != nil {
		return "", err
	}
	if !s.now().Before(parseTime(it.Expires)) {
		return "", fault.Newf(fault.ErrGone, "The registration link has expired; start again from the marketplace.")
	}
	return it.SubscriptionID, nil
}
