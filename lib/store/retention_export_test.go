package store

import "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

// DeploymentPartition and LanePartition are the partition keys of a deployment's items and of
// one of its event lanes; DomainKey, EmailKey and ProvisionKey are the keys of the items
// outside them that name the deployment. The retention tests read with them what
// ExpireDeployment marked (the key layout stays in keys.go).
func DeploymentPartition(dep string) string { return deploymentPK(dep) }

func LanePartition(dep string, lane int) string { return eventLanePK(dep, lane) }

func DomainKey(name string) map[string]types.AttributeValue { return key(domainPK(name), domainSK) }

func EmailKey(email string) map[string]types.AttributeValue { return key(emailPK(email), emailSK) }

func ProvisionKey(requestKey string) map[string]types.AttributeValue {
	return key(provisionPK(requestKey), provisionSK)
}
