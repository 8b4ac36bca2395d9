package store

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
