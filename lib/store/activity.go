package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/activity"
)

// A deployment's activity (lib/activity) is one counter item per event lane and UTC day,
// PK=DEP#<dep>, SK=ACTIVITY#<yyyy-mm-dd>#<lane>, moved by an update in the transaction that
// appends a request's last event with its lane's checkpoint (AppendEventCounting), so that
// counting a request adds no call to the signer's. Its attributes are counters:
//
//	sig, req, fail, deny       signatures, signing requests, failed and denied requests
//	c:<certificate id>         signatures by certificate
//	u:<user id>, a:<agent>     signatures by user, by agent
//	r:<reason>                 denied requests by reason
//	h:<hh>:s|f|d               signatures, failures and denials in the hour hh
//
// One item per lane keeps concurrent signers off one hot item; a day's read sums the lanes'
// items (at most audit.Lanes a day: 720 items for 90 days, a page or two of Query).
//
// Limits: an item holds at most 400 KB. Its names are the deployment's certificates and users
// (bounded by the plan) and at most MaxActivityAgents agent names (reported by clients, so
// bounded here). Past 400 KB (about 10,000 users signing in one lane in one day) the counting
// write fails and the count is lost (logged), never the checkpoint or the signature. A write
// costs by the item's size: a deployment with thousands of signers a day pays a few write
// units a signature for its counts.

// activityKeep is how long an activity item is kept after its day.
const activityKeep = 400 * 24 * time.Hour

// maxActivityName bounds a client-reported name (an agent id) used in an attribute name.
const maxActivityName = 64

// MaxActivityAgents bounds the distinct agent names one activity item counts. An agent id is
// what the client reports, so without a bound one signer could grow the item towards
// DynamoDB's 400 KB with made-up names: every counting write would then cost up to 400 write
// units, and once full every count of the lane and day would fail. Past the bound, the
// signatures of new names count under OtherAgents.
const MaxActivityAgents = 100

// OtherAgents is the agent name past MaxActivityAgents.
const OtherAgents = "(other agents)"

// activityUpdate is the update that counts t, but for its agent, in the activity item of
// dep's lane and t's day; add adds a counter to it.
func (s *Store) activityUpdate(dep string, lane int, t activity.Tally) (in *dynamodb.UpdateItemInput, add func(attr string, n int)) {
	day := t.At.UTC().Format(activity.DateLayout)
	hour := fmt.Sprintf("h:%02d:", t.At.UTC().Hour())
	in = &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(deploymentPK(dep), activitySK(day, lane)),
		ExpressionAttributeNames: map[string]string{"#t": "type", "#x": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: "activity"},
			":x": &types.AttributeValueMemberN{Value: strconv.FormatInt(t.At.Add(activityKeep).Unix(), 10)},
		},
	}
	var adds []string
	add = func(attr string, n int) {
		k := "#a" + strconv.Itoa(len(adds))
		in.ExpressionAttributeNames[k] = attr
		v := ":n" + strconv.Itoa(n)
		in.ExpressionAttributeValues[v] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
		adds = append(adds, k+" "+v)
		in.UpdateExpression = aws.String("SET #t = :t, #x = if_not_exists(#x, :x) ADD " + strings.Join(adds, ", "))
	}
	switch {
	case t.Denied:
		add("deny", 1)
		add(hour+"d", 1)
		add("r:"+clipName(t.Reason), 1)
	case t.Failed:
		add("fail", 1)
		add(hour+"f", 1)
	case t.Signed > 0:
		add("req", 1)
		add("sig", t.Signed)
		add(hour+"s", t.Signed)
		add("c:"+t.CertificateID, t.Signed)
		if t.UserID != "" {
			add("u:"+t.UserID, t.Signed)
		}
	}
	return in, add
}

// counts reports whether t counts anything.
func counts(t *activity.Tally) bool { return t != nil && (t.Denied || t.Failed || t.Signed > 0) }

// clipName is s as an attribute name's part: valid UTF-8, at most maxActivityName bytes cut at
// a character's boundary.
func clipName(s string) string {
	if s == "" {
		return "unknown"
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	for len(s) > maxActivityName {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// Activity reads deployment dep's activity on the UTC days from from's to to's (both
// included), one Day per date that has any, in date order, each the sum of its lanes' items.
func (s *Store) Activity(ctx context.Context, dep string, from, to time.Time) ([]activity.Day, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: deploymentPK(dep)},
			":a":  &types.AttributeValueMemberS{Value: activityPrefix + from.UTC().Format(activity.DateLayout) + "#"},
			":b":  &types.AttributeValueMemberS{Value: activityPrefix + to.UTC().Format(activity.DateLayout) + "#~"},
		},
	}
	var days []activity.Day
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("read activity", err)
		}
		for _, it := range out.Items {
			d := decodeActivity(it)
			if n := len(days); n > 0 && days[n-1].Date == d.Date {
				days[n-1].Add(d)
			} else {
				days = append(days, d)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return days, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// decodeActivity reads one lane's activity item; attributes it does not know are skipped.
func decodeActivity(it map[string]types.AttributeValue) activity.Day {
	var d activity.Day
	if sk, ok := it[attrSK].(*types.AttributeValueMemberS); ok {
		d.Date, _, _ = strings.Cut(strings.TrimPrefix(sk.Value, activityPrefix), "#")
	}
	put := func(m *map[string]int, k string, n int) {
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[k] += n
	}
	for name, av := range it {
		num, ok := av.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num.Value)
		if err != nil {
			continue
		}
		kind, rest, _ := strings.Cut(name, ":")
		switch kind {
		case "sig":
			d.Signed += n
		case "req":
			d.Requests += n
		case "fail":
			d.Failed += n
		case "deny":
			d.Denied += n
		case "c":
			put(&d.ByCertificate, rest, n)
		case "u":
			put(&d.ByUser, rest, n)
		case "a":
			put(&d.ByAgent, rest, n)
		case "r":
			put(&d.DeniedBy, rest, n)
		case "h":
			hh, what, _ := strings.Cut(rest, ":")
			h, err := strconv.Atoi(hh)
			if err != nil || h < 0 || h > 23 {
				continue
			}
			switch what {
			case "s":
				d.Hours[h].Signed += n
			case "f":
				d.Hours[h].Failed += n
			case "d":
				d.Hours[h].Denied += n
			}
		}
	}
	return d
}
