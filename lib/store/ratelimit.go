package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/ratelimit"
)

// rateGrace keeps a window's counter a little after the window ends, so that TTL (which runs
// late anyway) never removes a counter that still counts.
const rateGrace = time.Minute

// TakeRate takes n units from limit l of key k for the window now falls in: one conditional
// UpdateItem that adds n to the window's counter unless that would pass l.N. A refusal adds
// nothing and says when the window ends. Counters expire by TTL after their window.
func (s *Store) TakeRate(ctx context.Context, k string, n int, l ratelimit.Limit, now time.Time) (ratelimit.Verdict, error) {
	start, end := l.Window(now)
	if n > l.N {
		// More than a whole window holds: never allowed, and no call.
		return ratelimit.Verdict{RetryAfter: end.Sub(now)}, nil
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(ratePK(k), rateSK(start)),
		UpdateExpression:         aws.String("SET #t = :t, #e = :e ADD #c :n"),
		ConditionExpression:      aws.String("attribute_not_exists(#c) OR #c <= :room"),
		ExpressionAttributeNames: map[string]string{"#t": "type", "#e": attrTTL, "#c": "count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t":    &types.AttributeValueMemberS{Value: "rate"},
			":e":    &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Add(rateGrace).Unix(), 10)},
			":n":    &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
			":room": &types.AttributeValueMemberN{Value: strconv.Itoa(l.N - n)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return ratelimit.Verdict{RetryAfter: end.Sub(now)}, nil
	}
	if err != nil {
		return ratelimit.Verdict{}, unavailable("take rate", err)
	}
	used := 0
	if c, ok := out.Attributes["count"].(*types.AttributeValueMemberN); ok {
		used, _ = strconv.Atoi(c.Value)
	}
	return ratelimit.Verdict{Allowed: true, Used: used}, nil
}
