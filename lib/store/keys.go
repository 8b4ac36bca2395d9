package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
	// The signing events' filter indexes, sparse: a deployment's events of one user, one
	// certificate, or one user with one certificate, each with one decision, in time order.
	// Their sort key is GSI1SK (the event's time and id, which every event item has), so that
	// an event's entries in them cost no attribute of their own.
	attrGSI2PK = "GSI2PK"
	attrGSI3PK = "GSI3PK"
	attrGSI4PK = "GSI4PK"
	gsi2       = "GSI2"
	gsi3       = "GSI3"
	gsi4       = "GSI4"
)

// Every key string of the table is built below and nowhere else: the partition and sort keys
// of each entity, the GSI1 keys, and the prefixes and bounds that queries match them with.
// ACCESS_PATTERNS.md shows the same layout as a table.

// key is the primary key of the item at pk, sk.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// sortableTime is RFC 3339 with fixed-width nanoseconds, so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

// Deployments, their domain names and provisioning requests.
const (
	deploymentPrefix = "DEP#"
	metaSK           = "META"
	domainPrefix     = "DOMAIN#"
	domainSK         = "DOMAIN"
	provisionPrefix  = "PROVISION#"
	provisionSK      = "PROVISION"
	// allDeployments is the GSI1 partition that lists every deployment.
	allDeployments = "DEPLOYMENTS"
)

// deploymentPK is the partition of a deployment's items (its META item and everything that
// belongs to the tenant, except the event lanes).
func deploymentPK(id string) string { return deploymentPrefix + id }

func domainPK(domain string) string { return domainPrefix + strings.ToLower(domain) }

func provisionPK(requestKey string) string { return provisionPrefix + requestKey }

// deploymentsGSI1SK sorts deployments by creation time in the listing.
func deploymentsGSI1SK(created time.Time, id string) string {
	return created.UTC().Format(sortableTime) + "#" + id
}

// The system log of a deployment.
const logPrefix = "LOG#"

// logSK sorts system log entries by time; the id breaks ties between entries of the same
// nanosecond.
func logSK(at time.Time, id string) string {
	return logPrefix + at.UTC().Format(sortableTime) + "#" + id
}

// Users, invites and their per-deployment records.
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

// userSK is the sort key of a portal user (portal) or a console user.
func userSK(portal bool, id string) string {
	if portal {
		return portalUserSK(id)
	}
	return consoleUserSK(id)
}

// Certificates.
const certificatePrefix = "CERT#"

func certificateSK(id string) string { return certificatePrefix + id }

// Certificate groups, and the items that make their names unique per deployment.
const (
	groupPrefix     = "CGROUP#"
	groupNamePrefix = "CGNAME#"
)

// groupsMigratedSK marks a deployment whose free-text certificate labels were turned into
// groups (certificates.MigrateGroups).
const groupsMigratedSK = "MIGRATED#certificate-groups"

func groupSK(id string) string       { return groupPrefix + id }
func groupNameSK(name string) string { return groupNamePrefix + strings.ToLower(name) }

// Custom console roles, and the items that make their names unique per deployment.
const (
	rolePrefix     = "ROLE#"
	roleNamePrefix = "RNAME#"
)

func roleSK(id string) string       { return rolePrefix + id }
func roleNameSK(name string) string { return roleNamePrefix + strings.ToLower(name) }

// Policies, and the counter moved by every policy change.
const (
	policyPrefix      = "POLICY#"
	policiesVersionSK = "POLICIES#VERSION"
)

func policySK(id string) string { return policyPrefix + id }

// Client-certificate credentials: each is stored under its user, and once more where
// authentication finds it from the presented certificate (pinned: by thumbprint; CA: under
// the CA's subject); revocations are under the issuer's name.
//
//	CCRED#<userId>#<credId>       the credential, listed per user
//	CCPIN#<thumbprint>            a pinned certificate (also makes it unique)
//	CCCA#<issuerKey>#<credId>     a CA credential, under the CA's subject
//	CCREV#<issuerKey>#<serial>    a revoked serial of that issuer
const (
	clientCredPrefix = "CCRED#"
	clientPinPrefix  = "CCPIN#"
	clientCAPrefix   = "CCCA#"
	clientRevPrefix  = "CCREV#"
	// trustAnchorsPK is the GSI1 partition that lists, across deployments, every registered
	// client certificate and CA (on the lookup items): what API Gateway's mutual-TLS
	// truststore must hold.
	trustAnchorsPK = "CLIENTTRUST"
)

// clientCredsPrefix begins the sort keys of a user's credentials.
func clientCredsPrefix(userID string) string      { return clientCredPrefix + userID + "#" }
func clientCredSK(userID, id string) string       { return clientCredsPrefix(userID) + id }
func clientPinSK(thumbprint string) string        { return clientPinPrefix + thumbprint }
func clientCAsPrefix(issuerKey string) string     { return clientCAPrefix + issuerKey + "#" }
func clientCASK(issuerKey, id string) string      { return clientCAsPrefix(issuerKey) + id }
func clientRevsPrefix(issuerKey string) string    { return clientRevPrefix + issuerKey + "#" }
func clientRevSK(issuerKey, serial string) string { return clientRevsPrefix(issuerKey) + serial }

// trustAnchorGSI1SK orders the truststore listing by deployment.
func trustAnchorGSI1SK(deploymentID, credentialID string) string {
	return deploymentID + "#" + credentialID
}

// Signing events live in lanes: PK=DEP#<dep>#LANE#<n>, SK=EVT#<seq, 20 digits>; GSI1 lists a
// deployment's events by time, one partition per decision: GSI1PK=EVENTS#<dep>#<decision>,
// GSI1SK=<time>#<id> (events indexed before the partitions were split, until the index
// migration moves them: GSI1PK=EVENTS#<dep>). GSI2, GSI3 and GSI4 list them by user, by
// certificate, and by both, with the decision too, on the same sort key. Each lane's
// checkpoint is PK=DEP#<dep>, SK=EVHEAD#<n>; the position up to which a lane was last found
// intact, PK=DEP#<dep>, SK=EVVERIFIED#<n>; the full check of the log in the background,
// PK=DEP#<dep>, SK=EVCHECK.
const (
	eventSKPrefix          = "EVT#"
	eventHeadPrefix        = "EVHEAD#"
	eventsByTimePKPrefix   = "EVENTS#"
	eventsByUserPrefix     = "EVUSER#"
	eventsByCertPrefix     = "EVCERT#"
	eventsByUserCertPrefix = "EVUSERCERT#"
	eventVerifiedPrefix    = "EVVERIFIED#"
	eventCheckSK           = "EVCHECK"
	// noDecision stands for the decision of an event that has none (a completion) in keys.
	noDecision = "-"
	// eventsIndexedSK marks a deployment whose every event is in the partitions and indexes
	// above (new deployments, and old ones once the index migration went over their lanes).
	eventsIndexedSK = "MIGRATED#event-index"
)

func eventLanePK(dep string, lane int) string {
	return deploymentPK(dep) + "#LANE#" + strconv.Itoa(lane)
}

// eventSK is the place of an event in its lane: the sequence number, fixed width, so that
// string order is chain order.
func eventSK(seq int64) string { return fmt.Sprintf("%s%020d", eventSKPrefix, seq) }

// eventHeadSK is a lane's checkpoint (and its certificate usage counts), under the deployment.
func eventHeadSK(lane int) string { return eventHeadPrefix + strconv.Itoa(lane) }

// eventsByTimePK is the GSI1 partition of the events indexed before the split by decision.
func eventsByTimePK(dep string) string { return eventsByTimePKPrefix + dep }

// eventsByDecisionPK is the GSI1 partition of a deployment's events with decision ("" for
// none).
func eventsByDecisionPK(dep, decision string) string {
	return eventsByTimePKPrefix + dep + "#" + keyPart(orNoDecision(decision))
}

// eventsByUserPK, eventsByCertPK and eventsByUserCertPK are the partitions of GSI2, GSI3 and
// GSI4: a deployment's events of one user, certificate, or both, with one decision. The ids
// are the clients' strings (a denied request names any certificate id), so each is made safe
// to join by keyPart.
func eventsByUserPK(dep, decision, user string) string {
	return eventsByUserPrefix + dep + "#" + keyPart(orNoDecision(decision)) + "#" + keyPart(user)
}

func eventsByCertPK(dep, decision, cert string) string {
	return eventsByCertPrefix + dep + "#" + keyPart(orNoDecision(decision)) + "#" + keyPart(cert)
}

func eventsByUserCertPK(dep, decision, user, cert string) string {
	return eventsByUserCertPrefix + dep + "#" + keyPart(orNoDecision(decision)) + "#" + keyPart(user) + "#" + keyPart(cert)
}

func orNoDecision(d string) string {
	if d == "" {
		return noDecision
	}
	return d
}

// maxKeyPart is the longest client string put into a key as it is; a longer one is put in
// as its hash, so that no key grows past DynamoDB's limit (2048 bytes for a partition key),
// which would make the event's write fail.
const maxKeyPart = 256

var keyPartEscaper = strings.NewReplacer("%", "%25", "#", "%23", "~", "%7E")

// keyPart is s as one part of a '#'-joined key: '#' (and '%', '~') escaped, so that no two
// tuples of parts give the same key, and a string over maxKeyPart bytes replaced by "~" and
// its SHA-256 (which no escaped string begins with).
func keyPart(s string) string {
	if len(s) > maxKeyPart {
		return "~" + hashHex(s)
	}
	return keyPartEscaper.Replace(s)
}

// eventVerifiedSK is the position up to which a lane was last found intact.
func eventVerifiedSK(lane int) string { return eventVerifiedPrefix + strconv.Itoa(lane) }

func eventsByTimeSK(at time.Time, id string) string {
	return at.UTC().Format(sortableTime) + "#" + id
}

// eventsFrom and eventsTo bound a listing of events by time, both inclusive; a zero time is
// open-ended.
func eventsFrom(t time.Time) string {
	if t.IsZero() {
		return "0" // before every time
	}
	return t.UTC().Format(sortableTime)
}

func eventsTo(t time.Time) string {
	if t.IsZero() {
		return "9" // after every time
	}
	// The sort key goes on with "#<id>", and "~" sorts after every id.
	return t.UTC().Format(sortableTime) + "#~"
}

// Idempotency records of requests made with an Idempotency-Key.
const (
	idempotencyPrefix = "IDEMP#"
	idempotencySK     = "IDEMP"
)

func idempotencyPK(dep, scope, k string) string {
	return idempotencyPrefix + dep + "#" + scope + "#" + k
}

// Rate-limit counters: one item per limited key and fixed window.
const (
	ratePrefix   = "RATE#"
	rateSKPrefix = "W#"
)

func ratePK(k string) string { return ratePrefix + k }

// rateSK is the window's start in Unix seconds.
func rateSK(start time.Time) string { return rateSKPrefix + strconv.FormatInt(start.Unix(), 10) }

// Login domains the Signum Administrator makes (lib/domains; not the deployments' DNS names
// above), and the items that make their aliases unique per deployment and find a domain by
// the alias its users log in with.
const (
	authDomainPrefix = "AUTHDOMAIN#"
	authAliasPrefix  = "AUTHALIAS#"
)

func authDomainSK(id string) string   { return authDomainPrefix + id }
func authAliasSK(alias string) string { return authAliasPrefix + alias }

// Logins at an OIDC or SAML domain's identity provider in progress (under the state or relay
// state that comes back with the browser, hashed), and the SAML assertions already used, per
// domain (the assertion ID hashed: it is the IdP's string).
const (
	ssoLoginPrefix      = "SSOLOGIN#"
	samlAssertionPrefix = "SAMLASSERTION#"
)

func ssoLoginSK(key string) string { return ssoLoginPrefix + hashHex(key) }

func samlAssertionSK(domainID, assertionID string) string {
	return samlAssertionPrefix + domainID + "#" + hashHex(assertionID)
}

// CI workload tokens already exchanged for sessions, per deployment, under their issuer and id
// (hashed: both are the issuer's strings).
const workloadTokenPrefix = "WLTOKEN#"

func workloadTokenSK(issuer, tokenID string) string {
	return workloadTokenPrefix + hashHex(issuer+"\x00"+tokenID)
}

// The signing requests a user has in flight, for its login domain's per-user concurrency
// limit: one item per user, holding a map of slot number → lease (store.AgentSlot).
const agentSlotsPrefix = "AGENTS#"

func agentSlotsSK(userID string) string { return agentSlotsPrefix + userID }

// hashHex is the SHA-256 of s in hex: a fixed-size key part for a string that an outsider
// chooses or that must not be readable from the key.
func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Marketplace subscriptions (lib/marketplace): the subscription at SUB#<id>/META, listed on
// GSI1 under SUBSCRIPTIONS; each identity it is found by at SUBKEY#<lookup key>; applied
// events at MKTEVENT#<event id>; events that found no subscription yet under each of their
// lookup keys at MKTPENDING#<lookup key>/<at>#<event id>; hourly metering records at
// METER#<subscription id>/HOUR#<hour>; registration tickets at REGTICKET#<sha256>.
const (
	subscriptionPrefix  = "SUB#"
	subscriptionKeyPfx  = "SUBKEY#"
	subscriptionKeySK   = "SUBKEY"
	marketEventPrefix   = "MKTEVENT#"
	marketEventSK       = "MKTEVENT"
	marketPendingPrefix = "MKTPENDING#"
	meterPrefix         = "METER#"
	meterHourPrefix     = "HOUR#"
	regTicketPrefix     = "REGTICKET#"
	regTicketSK         = "REGTICKET"
	allSubscriptions    = "SUBSCRIPTIONS"
)

func subscriptionPK(id string) string        { return subscriptionPrefix + id }
func subscriptionKeyPK(lookup string) string { return subscriptionKeyPfx + lookup }
func marketEventPK(eventID string) string    { return marketEventPrefix + eventID }
func marketPendingPK(lookup string) string   { return marketPendingPrefix + lookup }
func marketPendingSK(at time.Time, id string) string {
	return at.UTC().Format(sortableTime) + "#" + id
}
func meterPK(subscriptionID string) string { return meterPrefix + subscriptionID }
func meterSK(hour time.Time) string        { return meterHourPrefix + hour.UTC().Format(sortableTime) }
func regTicketPK(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return regTicketPrefix + hex.EncodeToString(sum[:])
}

// Activity (lib/activity): one counter item per event lane and UTC day at
// DEP#<dep>/ACTIVITY#<yyyy-mm-dd>#<lane>, moved in the same write as the lane's checkpoint.
const activityPrefix = "ACTIVITY#"

func activitySK(date string, lane int) string {
	return activityPrefix + date + "#" + strconv.Itoa(lane)
}

// Notices (lib/notices): a deployment's current notices and its changes not yet published,
// one item at DEP#<dep>/NOTICES, written over its version.
const noticesSK = "NOTICES"

// Software updates (lib/updates): the operator's releases and rollouts, and each
// deployment's run (its current or last one) and maintenance window; the active runs are
// listed in one partition so that the updater's tick reads only them.
const (
	releasesPK      = "RELEASES"
	releasePrefix   = "RELEASE#"
	updateRunSK     = "UPDATE#RUN"
	updateWindowSK  = "UPDATE#WINDOW"
	activeRunsPK    = "UPDATES#ACTIVE"
	rolloutPrefix   = "ROLLOUT#"
	rolloutSK       = "ROLLOUT"
	migrationSample = "SAMPLE#"
)

func releaseSK(version string) string { return releasePrefix + version }
func rolloutPK(id string) string      { return rolloutPrefix + id }

// activeRunSK is a deployment's place among the active runs.
func activeRunSK(dep string) string { return deploymentPK(dep) }

// sampleSK is an item of the synthetic test migration's sample data.
func sampleSK(id string) string { return migrationSample + id }

// Time-stamping authorities (lib/timestamping): a deployment's settings, one item at
// DEP#<dep>/TIMESTAMPING, written over its version.
const timestampingSK = "TIMESTAMPING"

// Signing requests held for approval (lib/signing's approvals): one item each under the
// deployment, by the request's id (the id of its pending decision event).
const approvalPrefix = "APPROVAL#"

func approvalSK(id string) string { return approvalPrefix + id }
