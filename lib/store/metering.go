package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// ErrMeterHourTaken is an hour whose metering record exists already: it was begun, by this
// run or an earlier one, and is finished from that record, never computed again.
var ErrMeterHourTaken = fmt.Errorf("store: metering hour recorded already: %w", fault.ErrConflict)

// meterItem is one subscription-hour of metering: PK=METER#<subscription id>,
// SK=HOUR#<hour>. records and results are JSON (they are written whole and only shown).
type meterItem struct {
	PK             string `dynamodbav:"PK"`
	SK             string `dynamodbav:"SK"`
	Type           string `dynamodbav:"type"`
	SubscriptionID string `dynamodbav:"subscriptionId"`
	DeploymentID   string `dynamodbav:"deploymentId,omitempty"`
	Marketplace    string `dynamodbav:"marketplace"`
	Hour           string `dynamodbav:"hour"`
	Status         string `dynamodbav:"status"`
	Records        string `dynamodbav:"records"`
	Results        string `dynamodbav:"results,omitempty"`
	Attempts       int    `dynamodbav:"attempts"`
	Final          bool   `dynamodbav:"final,omitempty"`
	CreatedAt      string `dynamodbav:"createdAt"`
	SentAt         string `dynamodbav:"sentAt,omitempty"`
}

func toMeterItem(r marketplace.MeterRecord) meterItem {
	recs, _ := json.Marshal(r.Records)
	it := meterItem{PK: meterPK(r.SubscriptionID), SK: meterSK(r.Hour), Type: "meterRecord", SubscriptionID: r.SubscriptionID,
		DeploymentID: r.DeploymentID, Marketplace: string(r.Marketplace), Hour: formatTime(r.Hour), Status: r.Status,
		Records: string(recs), Attempts: r.Attempts, Final: r.Final, CreatedAt: formatTime(r.CreatedAt), SentAt: formatTime(r.SentAt)}
	if r.Results != nil {
		res, _ := json.Marshal(r.Results)
		it.Results = string(res)
	}
	return it
}

func decodeMeterRecord(av map[string]types.AttributeValue) (marketplace.MeterRecord, error) {
	var it meterItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return marketplace.MeterRecord{}, fmt.Errorf("decode meter record: %w", err)
	}
	r := marketplace.MeterRecord{SubscriptionID: it.SubscriptionID, DeploymentID: it.DeploymentID,
		Marketplace: marketplace.Marketplace(it.Marketplace), Hour: parseTime(it.Hour), Status: it.Status,
		Attempts: it.Attempts, Final: it.Final, CreatedAt: parseTime(it.CreatedAt), SentAt: parseTime(it.SentAt)}
	if err := json.Unmarshal([]byte(it.Records), &r.Records); err != nil {
		return r, fmt.Errorf("decode meter record %s %s: %w", it.SubscriptionID, it.Hour, err)
	}
	if it.Results != "" {
		if err := json.Unmarshal([]byte(it.Results), &r.Results); err != nil {
			return r, fmt.Errorf("decode meter record %s %s: %w", it.SubscriptionID, it.Hour, err)
		}
	}
	return r, nil
}

// BeginMeterHour records the usage of an hour (rec, status pending) and moves the
// subscription's metering cursor (next, over the version read as current) in one
// transaction: the usage of an hour is computed once, and the cursor never moves past an
// hour without its record. ErrMeterHourTaken when the hour has its record already,
// ErrStale when the subscription changed since it was read. terms, when set, updates the
// deployment's terms along (its signing cap).
func (s *Store) BeginMeterHour(ctx context.Context, current, next marketplace.Subscription, rec marketplace.MeterRecord, terms *DeploymentTerms) (marketplace.Subscription, error) {
	now := s.now()
	next.Version, next.CreatedAt, next.UpdatedAt = current.Version+1, current.CreatedAt, now
	rec.CreatedAt = now
	items := []types.TransactWriteItem{s.putNew(toMeterItem(rec)), s.putVersioned(toSubscriptionItem(next), current.Version)}
	failed := map[int]error{0: ErrMeterHourTaken, 1: fault.Newf(ErrStale, "Subscription %s changed since it was read.", next.ID)}
	if terms != nil && next.DeploymentID != "" {
		items = append(items, s.termsUpdate(next.DeploymentID, *terms, now))
	}
	if err := s.conditional(ctx, "begin meter hour", items, failed); err != nil {
		return marketplace.Subscription{}, err
	}
	return next, nil
}

// FinishMeterHour writes what the marketplace answered for a record begun before
// (ErrNotFound when the hour has no record).
func (s *Store) FinishMeterHour(ctx context.Context, rec marketplace.MeterRecord) error {
	res, _ := json.Marshal(rec.Results)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(meterPK(rec.SubscriptionID), meterSK(rec.Hour)),
		UpdateExpression:         aws.String("SET #s = :s, results = :r, attempts = :a, sentAt = :t"),
		ConditionExpression:      aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: rec.Status}, ":r": &types.AttributeValueMemberS{Value: string(res)},
			":a": &types.AttributeValueMemberN{Value: strconv.Itoa(rec.Attempts)}, ":t": &types.AttributeValueMemberS{Value: formatTime(rec.SentAt)},
		},
	})
	switch {
	case isConditionFailed(err):
		// An hour is finished only after it was begun; without its record there is nothing to
		// finish, and the update must not make a record without the usage it was begun with.
		return fault.Newf(ErrNotFound, "No metering record for subscription %s at %s.", rec.SubscriptionID, rec.Hour.UTC().Format("2006-01-02T15:04Z"))
	case err != nil:
		return unavailable("finish meter hour", err)
	}
	return nil
}

// MeterRecordAt reads a subscription's record of an hour (ErrNotFound when none).
func (s *Store) MeterRecordAt(ctx context.Context, r marketplace.MeterRecord) (marketplace.MeterRecord, error) {
	return get(ctx, s, meterPK(r.SubscriptionID), meterSK(r.Hour), "get meter record", decodeMeterRecord,
		notFound("No metering record for subscription %s at %s.", r.SubscriptionID, r.Hour.UTC().Format("2006-01-02T15:04Z")))
}

// ListMeterRecords lists a subscription's metering records, newest first.
func (s *Store) ListMeterRecords(ctx context.Context, subscriptionID string, pr PageRequest) (Page[marketplace.MeterRecord], error) {
	in := listPrefixInput(meterPK(subscriptionID), meterHourPrefix)
	in.ScanIndexForward = aws.Bool(false)
	return query(ctx, s, "meter:"+subscriptionID, in, []string{attrPK, attrSK}, pr, decodeMeterRecord)
}

// SignatureTotal is the number of signatures a deployment has made, all certificates, all
// time: the sum of the use counts in its lanes' checkpoint items (the signer counts them in
// writes it makes anyway), so metering costs the signer nothing. One query of the lanes'
// items, as many as the deployment has lanes.
func (s *Store) SignatureTotal(ctx context.Context, deploymentID string) (int64, error) {
	in := listPrefixInput(deploymentPK(deploymentID), eventHeadPrefix)
	in.TableName = &s.table
	in.ConsistentRead = aws.Bool(true)
	var total int64
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("count signatures", err)
		}
		for _, item := range out.Items {
			for name, av := range item {
				n, ok := av.(*types.AttributeValueMemberN)
				if !ok || !strings.HasPrefix(name, "use_") {
					continue
				}
				v, err := strconv.ParseInt(n.Value, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("count signatures of %s: %s is %q", deploymentID, name, n.Value)
				}
				total += v
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return total, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// UsageCounts are a deployment's certificates (not deleted) and console users now, for the
// metered dimensions and the portal's usage: the plan-limit counts, without a bound.
func (s *Store) UsageCounts(ctx context.Context, deploymentID string) (certificates, users int, err error) {
	if certificates, err = s.CountCertificates(ctx, deploymentID, 0); err != nil {
		return 0, 0, err
	}
	users, err = s.CountConsoleUsers(ctx, deploymentID, 0)
	return certificates, users, err
}
