package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// The retention of a cancelled deployment (#16): its data is kept for a retention period and
// then deleted by DynamoDB's TTL. ExpireDeployment marks every item of the deployment with the
// time (the TTL attribute), a budget of writes per call, so that a scheduled job can work
// through a deployment of any size and continue where it stopped.
//
// The walk goes in phases, each a Query or a GetItem of items the deployment's own items name
// (no Scan): first the items outside the deployment's partition that point to it, while the
// items that name them are certainly still there (TTL deletes each item at some time after
// its expiry, in no order); then the event lanes, while their checkpoints (EVHEAD#<n>), which
// name them, are unmarked; then the deployment's partition, except its META item; the META item
// last, so that the deployment stays visible, and its job finds it, until everything else is
// marked.
const (
	expireEmails    = "emails"    // PEMAIL#<email> of each portal user (PUSER# items)
	expireDomain    = "domain"    // DOMAIN#<name> of the META item's domain name
	expireProvision = "provision" // PROVISION#<request key> of the META item's subscription
	expireLanes     = "lanes"     // every item of DEP#<id>#LANE#<n>, lane by lane
	expireItems     = "items"     // every item of DEP#<id> but META
	expireMeta      = "meta"      // DEP#<id>, META
)

// Names of the cursor's parts: the phase, the lane (in the lanes phase), and the key of the last
// item done in the phase's query (PK and SK, absent at the phase's start).
const (
	expirePhaseAttr = "p"
	expireLaneAttr  = "l"
)

// MarketplaceRequestKey is the provisioning request key of a deployment registered for the
// marketplace subscription subscriptionID (lib/fulfilment provisions under it). The deployment
// keeps its subscription id, not its request key, so this is how ExpireDeployment finds the
// request's item.
func MarketplaceRequestKey(subscriptionID string) string { return "marketplace:" + subscriptionID }

// ExpireDeployment sets the TTL attribute (expiresAt, epoch seconds of expiresAt) on every item
// of the deployment: its partition (the META item last), its signing-event lanes (those named
// by its lane checkpoints, and the audit.Lanes lanes every deployment may have, so that a lane
// whose checkpoint was never written is found too), and the items outside them that point to
// it and can be found from its items: the domain name item of its domain name, the e-mail
// item of each portal user, and the provisioning request of its marketplace subscription
// (MarketplaceRequestKey). Other items that name it are not found and keep their own expiry
// (see ACCESS_PATTERNS.md, pattern 53).
//
// It makes at most budget UpdateItem calls and returns the cursor to continue from ("" when
// every item is marked) and the calls made. Each write is conditional: the item must exist (a
// missing item is skipped, never created), its expiry must be later or absent (an item that
// expires sooner anyway keeps its time), and an item outside the partition must still name the
// deployment (deploymentId); a failed condition counts as done. Items read with an expiry at or
// before expiresAt are skipped without a write. A call may be repeated, or the whole walk run
// again, without harm; an item written after the walk passed its place (a deployment should
// take no writes once it expires) is marked by running it again from "".
//
// The cursor is sealed (as listing cursors are) and bound to the deployment; one that does not
// open is ErrInvalidCursor (fault.ErrInvalid). The rest of a walk continued with another
// expiresAt is marked with that time. After an error, call again with the same cursor.
func (s *Store) ExpireDeployment(ctx context.Context, deploymentID string, expiresAt time.Time, cursor string, budget int) (next string, written int, err error) {
	if budget < 1 {
		return "", 0, fault.Newf(fault.ErrInvalid, "The write budget must be at least 1, not %d.", budget)
	}
	if !tenant.ValidID("dep_", deploymentID) {
		return "", 0, fault.Newf(ErrNotFound, "No deployment has the id %q.", fault.Clip(deploymentID, 40))
	}
	x := &expiry{s: s, dep: deploymentID, at: strconv.FormatInt(expiresAt.Unix(), 10), budget: budget}
	pos := expirePos{phase: expireEmails}
	scope := "expire:" + deploymentID
	if cursor != "" {
		codec, err := s.codec(ctx)
		if err != nil {
			return "", 0, err
		}
		state, err := codec.open(scope, cursor)
		if err == nil {
			pos, err = decodeExpirePos(state)
		}
		if err != nil {
			return "", 0, fault.Newf(ErrInvalidCursor, "The cursor is not valid for this deployment's expiry; start again without one.")
		}
	}
	for pos.phase != "" {
		done, err := x.run(ctx, &pos)
		if err != nil {
			return "", x.written, err
		}
		if !done {
			codec, err := s.codec(ctx)
			if err != nil {
				return "", x.written, err
			}
			next, err := codec.seal(scope, pos.encode())
			if err != nil {
				return "", x.written, err
			}
			return next, x.written, nil
		}
		pos = expirePos{phase: nextExpirePhase(pos.phase)}
	}
	return "", x.written, nil
}

// expirePos is where a walk is: the phase, the lane of the lanes phase, and the key of the last
// item done in the phase's current query (nil: none yet).
type expirePos struct {
	phase string
	lane  int
	last  map[string]types.AttributeValue
}

func (p expirePos) encode() map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{
		expirePhaseAttr: &types.AttributeValueMemberS{Value: p.phase},
		expireLaneAttr:  &types.AttributeValueMemberS{Value: strconv.Itoa(p.lane)},
	}
	for k, v := range p.last {
		out[k] = v
	}
	return out
}

func decodeExpirePos(state map[string]types.AttributeValue) (expirePos, error) {
	str := func(name string) (string, bool) {
		v, ok := state[name].(*types.AttributeValueMemberS)
		if !ok {
			return "", false
		}
		return v.Value, true
	}
	phase, _ := str(expirePhaseAttr)
	if !slices.Contains(expirePhases, phase) {
		return expirePos{}, errCursor
	}
	laneText, _ := str(expireLaneAttr)
	lane, err := strconv.Atoi(laneText)
	if err != nil || lane < 0 {
		return expirePos{}, errCursor
	}
	pos := expirePos{phase: phase, lane: lane}
	pk, hasPK := str(attrPK)
	sk, hasSK := str(attrSK)
	switch {
	case hasPK && hasSK:
		pos.last = key(pk, sk)
	case hasPK || hasSK:
		return expirePos{}, errCursor
	}
	return pos, nil
}

// expirePhases are the phases in the order they run.
var expirePhases = []string{expireEmails, expireDomain, expireProvision, expireLanes, expireItems, expireMeta}

// nextExpirePhase is the phase after phase ("" after the last).
func nextExpirePhase(phase string) string {
	i := slices.Index(expirePhases, phase)
	if i < 0 || i+1 == len(expirePhases) {
		return ""
	}
	return expirePhases[i+1]
}

// expiry is one call of ExpireDeployment: what it marks, with which time, and the writes it
// has made of its budget.
type expiry struct {
	s       *Store
	dep     string
	at      string // epoch seconds
	budget  int
	written int
	// meta is the deployment's META item as the call read it (nil before), for the phases
	// that follow the items it names.
	meta map[string]types.AttributeValue
}

// run works through the phase pos names from where pos says. It reports whether the phase is
// done; when the budget ran out first, pos says where to go on.
func (x *expiry) run(ctx context.Context, pos *expirePos) (done bool, err error) {
	pk := deploymentPK(x.dep)
	switch pos.phase {
	case expireEmails:
		in := listPrefixInput(pk, portalUserPrefix)
		return x.walk(ctx, in, pos, func(item map[string]types.AttributeValue) *dynamodb.UpdateItemInput {
			email := stringAttr(item, "email")
			if email == "" {
				return nil
			}
			return x.update(key(emailPK(email), emailSK), true)
		})
	case expireDomain, expireProvision:
		if x.meta == nil {
			item, err := x.s.getItem(ctx, pk, metaSK, "expire deployment: get deployment")
			if err != nil {
				return false, err
			}
			x.meta = item
			if item == nil {
				x.meta = map[string]types.AttributeValue{} // gone already: it names nothing
			}
		}
		var k map[string]types.AttributeValue
		if name := stringAttr(x.meta, "domainName"); pos.phase == expireDomain && name != "" {
			k = key(domainPK(name), domainSK)
		}
		if sub := stringAttr(x.meta, "subscriptionId"); pos.phase == expireProvision && sub != "" {
			k = key(provisionPK(MarketplaceRequestKey(sub)), provisionSK)
		}
		if k == nil {
			return true, nil
		}
		return x.write(ctx, x.update(k, true))
	case expireLanes:
		lanes, err := x.lanes(ctx)
		if err != nil {
			return false, err
		}
		for _, lane := range lanes {
			if lane < pos.lane {
				continue
			}
			if lane > pos.lane {
				pos.lane, pos.last = lane, nil
			}
			in := &dynamodb.QueryInput{
				KeyConditionExpression:    aws.String("PK = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: eventLanePK(x.dep, lane)}},
			}
			if done, err := x.walk(ctx, in, pos, x.self); !done || err != nil {
				return false, err
			}
		}
		return true, nil
	case expireItems:
		in := &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		}
		return x.walk(ctx, in, pos, func(item map[string]types.AttributeValue) *dynamodb.UpdateItemInput {
			if stringAttr(item, attrSK) == metaSK {
				return nil // last, in its own phase
			}
			return x.self(item)
		})
	case expireMeta:
		return x.write(ctx, x.update(key(pk, metaSK), false))
	}
	return false, fmt.Errorf("expire deployment: unknown phase %q", pos.phase)
}

// lanes are the numbers of the deployment's event lanes: every lane a deployment may have
// (audit.Lanes), and any other its checkpoints name, in order.
func (x *expiry) lanes(ctx context.Context) ([]int, error) {
	lanes := make([]int, 0, audit.Lanes)
	for n := range audit.Lanes {
		lanes = append(lanes, n)
	}
	in := listPrefixInput(deploymentPK(x.dep), eventHeadPrefix)
	in.TableName, in.ConsistentRead = &x.s.table, aws.Bool(true)
	in.ProjectionExpression = aws.String("#sk")
	in.ExpressionAttributeNames = map[string]string{"#sk": attrSK}
	for {
		out, err := x.s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("expire deployment: query lane checkpoints", err)
		}
		for _, item := range out.Items {
			n, err := strconv.Atoi(strings.TrimPrefix(stringAttr(item, attrSK), eventHeadPrefix))
			if err == nil && n >= 0 && !slices.Contains(lanes, n) {
				lanes = append(lanes, n)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.Sort(lanes)
	return lanes, nil
}

// walk runs the query in (of one partition, in sort key order) from after pos.last, and makes
// the write that write asks for of each item (nil: none), until the partition's end (done) or
// until the budget is spent before an item that needs a write; pos.last follows the items done.
// A page asks for as many items as the budget has writes left: most items need one.
func (x *expiry) walk(ctx context.Context, in *dynamodb.QueryInput, pos *expirePos, write func(map[string]types.AttributeValue) *dynamodb.UpdateItemInput) (done bool, err error) {
	in.TableName, in.ConsistentRead = &x.s.table, aws.Bool(true)
	in.ProjectionExpression = aws.String("#pk, #sk, #ttl, #em")
	in.ExpressionAttributeNames = map[string]string{"#pk": attrPK, "#sk": attrSK, "#ttl": attrTTL, "#em": "email"}
	for {
		left := x.budget - x.written
		if left == 0 {
			return false, nil
		}
		in.ExclusiveStartKey, in.Limit = pos.last, aws.Int32(int32(min(left, 1000)))
		out, err := x.s.db.Query(ctx, in)
		if err != nil {
			return false, unavailable("expire deployment: query items", err)
		}
		for _, item := range out.Items {
			if w := write(item); w != nil {
				if x.written == x.budget {
					return false, nil
				}
				if _, err := x.write(ctx, w); err != nil {
					return false, err
				}
			}
			pos.last = key(stringAttr(item, attrPK), stringAttr(item, attrSK))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return true, nil
		}
		pos.last = out.LastEvaluatedKey
	}
}

// self is the write that marks item itself, or nil when it expires at or before the time
// anyway.
func (x *expiry) self(item map[string]types.AttributeValue) *dynamodb.UpdateItemInput {
	if n, ok := item[attrTTL].(*types.AttributeValueMemberN); ok {
		if have, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			if at, _ := strconv.ParseInt(x.at, 10, 64); have <= at {
				return nil
			}
		}
	}
	return x.update(key(stringAttr(item, attrPK), stringAttr(item, attrSK)), false)
}

// update is the write that marks the item at k: only if it exists, never later than the
// expiry it has, and, for an item outside the deployment's partition (pointer), only while it
// names the deployment.
func (x *expiry) update(k map[string]types.AttributeValue, pointer bool) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{
		TableName: &x.s.table, Key: k,
		UpdateExpression:          aws.String("SET #ttl = :e"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND (attribute_not_exists(#ttl) OR #ttl > :e)"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberN{Value: x.at}},
	}
	if pointer {
		in.ConditionExpression = aws.String(*in.ConditionExpression + " AND deploymentId = :dep")
		in.ExpressionAttributeValues[":dep"] = &types.AttributeValueMemberS{Value: x.dep}
	}
	return in
}

// write makes one write of the budget, which must have one left; a failed condition (the item
// is missing, expires sooner, or is another deployment's) is done as well. It reports whether
// the write is done, so that a phase of one write can return it.
func (x *expiry) write(ctx context.Context, in *dynamodb.UpdateItemInput) (bool, error) {
	if x.written == x.budget {
		return false, nil
	}
	x.written++
	if _, err := x.s.db.UpdateItem(ctx, in); err != nil && !isConditionFailed(err) {
		return false, unavailable("expire deployment: mark item", err)
	}
	return true, nil
}

// stringAttr is the string attribute name of item ("" when absent or not a string).
func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
