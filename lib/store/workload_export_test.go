package store

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

// WorkloadTokenKey is the key of the record of an exchanged workload token, for tests that
// read its TTL.
func WorkloadTokenKey(dep, issuer, tokenID string) map[string]types.AttributeValue {
	return key(deploymentPK(dep), workloadTokenSK(issuer, tokenID))
}
