package store

import (
	"strings"
	"time"
)

// Key attribute names of the table and its indexes.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	// attrTTL holds an epoch-seconds expiry; DynamoDB's TTL deletes the item after it.
	attrTTL = "expiresAt"
	// gsi1 is the overloaded secondary index (see ACCESS_PATTERNS.md).
	gsi1 = "GSI1"
)

// Every key string of the table is built below and nowhere else.

const (
	deploymentPrefix = "DEP#"
	metaSK           = "META"
	domainPrefix     = "DOMAIN#"
	domainSK         = "DOMAIN"
	provisionPrefix  = "PROVISION#"
	provisionSK      = "PROVISION"
	logPrefix        = "LOG#"
	allDeployments   = "DEPLOYMENTS"
)

func deploymentPK(id string) string { return deploymentPrefix + id }

func domainPK(domain string) string { return domainPrefix + strings.ToLower(domain) }

func provisionPK(requestKey string) string { return provisionPrefix + requestKey }

// logSK sorts system log entries by time; the id breaks ties between entries of the same
// nanosecond.
func logSK(at time.Time, id string) string {
	return logPrefix + at.UTC().Format(sortableTime) + "#" + id
}

// deploymentsGSI1SK sorts deployments by creation time in the listing.
func deploymentsGSI1SK(created time.Time, id string) string {
	return created.UTC().Format(sortableTime) + "#" + id
}

// sortableTime is RFC 3339 with fixed-width nanoseconds, so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

const (
	portalUserPrefix  = "PUSER#"
	consoleUserPrefix = "CUSER#"
	usernamePrefix    = "CUNAME#"
	emailPrefix       = "PEMAIL#"
	emailSK           = "PEMAIL"
	invitePrefix      = "INVITE#"
	inviteSK          = "INVITE"
	countersSK        = "COUNTERS"
	localDomainSK     = "SETTINGS#local-domain"
)

func portalUserSK(id string) string    { return portalUserPrefix + id }
func consoleUserSK(id string) string   { return consoleUserPrefix + id }
func usernameSK(name string) string    { return usernamePrefix + strings.ToLower(name) }
func emailPK(email string) string      { return emailPrefix + strings.ToLower(email) }
func invitePK(tokenHash string) string { return invitePrefix + tokenHash }
