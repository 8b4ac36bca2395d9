package store

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
)

// EventKey is the key of the event at seq in a lane of dep, for tests that tamper with the
// event log behind the store's back (the key layout stays in keys.go).
func EventKey(dep string, lane int, seq int64) map[string]types.AttributeValue {
	return key(eventLanePK(dep, lane), eventSK(seq))
}

// IdempotencyKey is the key of the record of a request key, for tests that read its TTL.
func IdempotencyKey(dep, scope, k string) map[string]types.AttributeValue {
	return key(idempotencyPK(dep, scope, k), idempotencySK)
}

// EventHeadKey is the key of a lane's checkpoint item (tests move it by hand).
func EventHeadKey(dep string, lane int) map[string]types.AttributeValue {
	return key(deploymentPK(dep), eventHeadSK(lane))
}

// EventItem is the item of the sealed event e as AppendEvent writes it, for tests and
// benchmarks that write a log in batches.
func EventItem(e audit.Event) map[string]types.AttributeValue {
	body, _ := jsonString(e)
	return marshal(eventRecord(e, body))
}

// LegacyEventItem is the item of e as it was written before the filter indexes: in GSI1's
// one partition of the deployment, with no filter attributes.
func LegacyEventItem(e audit.Event) map[string]types.AttributeValue {
	body, _ := jsonString(e)
	it := eventRecord(e, body)
	it.GSI1PK, it.UserID, it.CertificateID, it.Decision, it.Filters = eventsByTimePK(e.DeploymentID), "", "", "", 0
	it.GSI2PK, it.GSI3PK, it.GSI4PK = "", "", ""
	return marshal(it)
}

// EventHeadItem is the checkpoint item of e's lane at e, with seal, as CheckpointEvents writes
// it, for tests that put an old one back.
func EventHeadItem(dep string, e audit.Event, seal audit.Seal) map[string]types.AttributeValue {
	raw, _ := jsonString(seal)
	return marshal(eventHeadItem{PK: deploymentPK(dep), SK: eventHeadSK(e.Lane), Type: "eventHead", Seq: e.Seq, Hash: e.Hash, Seal: raw})
}

// VerifiedItem is the item that keeps seal as where lane was found intact, for tests that
// forge one.
func VerifiedItem(dep string, lane int, seal audit.Seal) map[string]types.AttributeValue {
	raw, _ := jsonString(seal)
	p := seal.Statement.Events[0]
	return marshal(eventVerifiedItem{PK: deploymentPK(dep), SK: eventVerifiedSK(lane), Type: "eventVerified", Seq: p.Seq, Hash: p.Hash, Seal: raw})
}
