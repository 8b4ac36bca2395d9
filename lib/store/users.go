package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/tenant"
)

// credentialsItem is the password state shared by portal and console user items.
type credentialsItem struct {
	PasswordHash  string `dynamodbav:"passwordHash"`
	PasswordSetAt string `dynamodbav:"passwordSetAt"`
	Failures      int    `dynamodbav:"failures"`
	FailedAt      string `dynamodbav:"failedAt,omitempty"`
	LockedUntil   string `dynamodbav:"lockedUntil,omitempty"`
	LockedForever bool   `dynamodbav:"lockedForever,omitempty"`
}

func toCredentials(c identity.Credentials) credentialsItem {
	return credentialsItem{PasswordHash: c.PasswordHash, PasswordSetAt: formatTime(c.PasswordSetAt),
		Failures: c.Failures, FailedAt: orderedTime(c.FailedAt), LockedUntil: formatTime(c.LockedUntil), LockedForever: c.LockedForever}
}

func (c credentialsItem) decode() identity.Credentials {
	return identity.Credentials{PasswordHash: c.PasswordHash, PasswordSetAt: parseTime(c.PasswordSetAt),
		Failures: c.Failures, FailedAt: parseTime(c.FailedAt), LockedUntil: parseTime(c.LockedUntil), LockedForever: c.LockedForever}
}

// orderedTime is t in UTC with all nine fractional digits, so that two such strings compare
// as the times do: a condition expression compares them ("failedAt <= :expired"). ""
// for the zero time. parseTime reads it back.
func orderedTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// portalUserItem: PK=DEP#<dep>, SK=PUSER#<id>.
type portalUserItem struct {
	PK, SK       string
	Type         string `dynamodbav:"type"`
	ID           string `dynamodbav:"id"`
	DeploymentID string `dynamodbav:"deploymentId"`
	Email        string `dynamodbav:"email"`
	Name         string `dynamodbav:"name"`
	Role         string `dynamodbav:"role"`
	Status       string `dynamodbav:"status"`
	SignumAdmin  bool   `dynamodbav:"signumAdmin"`
	credentialsItem
	TokenGeneration int64  `dynamodbav:"tokenGeneration,omitempty"`
	Version         int64  `dynamodbav:"version"`
	CreatedAt       string `dynamodbav:"createdAt"`
}

// emailItem makes portal e-mail addresses unique across deployments and finds the user at
// login: PK=PEMAIL#<email>, SK=PEMAIL.
type emailItem struct {
	PK, SK       string
	Type         string `dynamodbav:"type"`
	DeploymentID string `dynamodbav:"deploymentId"`
	UserID       string `dynamodbav:"userId"`
}

// inviteItem: PK=INVITE#<sha256 of token>, SK=INVITE; expires by TTL a day after ExpiresAt
// (the expiry itself is checked on use: TTL deletion is lazy).
type inviteItem struct {
	PK, SK       string
	Type         string `dynamodbav:"type"`
	DeploymentID string `dynamodbav:"deploymentId"`
	Email        string `dynamodbav:"email,omitempty"`
	Role         string `dynamodbav:"role"`
	SignumAdmin  bool   `dynamodbav:"signumAdmin"`
	ExpiresAt    string `dynamodbav:"inviteExpiresAt"`
	TTL          int64  `dynamodbav:"expiresAt"`
	CreatedBy    string `dynamodbav:"createdBy"`
	CreatedAt    string `dynamodbav:"createdAt"`
	UsedAt       string `dynamodbav:"usedAt,omitempty"`
}

// countersItem holds per-deployment counts that invariants need atomically:
// PK=DEP#<dep>, SK=COUNTERS. adminCount is the number of portal Admins, so that the last
// Admin cannot be removed or demoted (a condition on it inside the same transaction).
type countersItem struct {
	PK, SK     string
	Type       string `dynamodbav:"type"`
	AdminCount int    `dynamodbav:"adminCount"`
}

func toPortalUserItem(u identity.PortalUser) portalUserItem {
	return portalUserItem{
		PK: deploymentPK(u.DeploymentID), SK: portalUserSK(u.ID), Type: "portalUser", ID: u.ID,
		DeploymentID: u.DeploymentID, Email: u.Email, Name: u.Name, Role: string(u.Role), Status: string(u.Status),
		SignumAdmin: u.SignumAdmin, credentialsItem: toCredentials(u.Credentials), TokenGeneration: u.TokenGeneration,
		Version: u.Version, CreatedAt: formatTime(u.CreatedAt),
	}
}

func decodePortalUser(av map[string]types.AttributeValue) (identity.PortalUser, error) {
	var it portalUserItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return identity.PortalUser{}, fmt.Errorf("decode portal user: %w", err)
	}
	return identity.PortalUser{
		ID: it.ID, DeploymentID: it.DeploymentID, Email: it.Email, Name: it.Name, Role: identity.PortalRole(it.Role),
		Status: identity.Status(it.Status), SignumAdmin: it.SignumAdmin, Credentials: it.credentialsItem.decode(),
		TokenGeneration: it.TokenGeneration, Version: it.Version, CreatedAt: parseTime(it.CreatedAt),
	}, nil
}

// adminDelta changes the Admin count by delta inside a transaction. A decrement carries the
// condition that at least one Admin remains.
func (s *Store) adminDelta(deploymentID string, delta int) types.TransactWriteItem {
	u := &types.Update{
		TableName:                &s.table,
		Key:                      key(deploymentPK(deploymentID), countersSK),
		UpdateExpression:         aws.String("SET adminCount = if_not_exists(adminCount, :zero) + :d, #t = :type"),
		ExpressionAttributeNames: map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":zero": &types.AttributeValueMemberN{Value: "0"},
			":d":    &types.AttributeValueMemberN{Value: strconv.Itoa(delta)},
			":type": &types.AttributeValueMemberS{Value: "counters"},
		},
	}
	if delta < 0 {
		u.ConditionExpression = aws.String("adminCount > :min")
		u.ExpressionAttributeValues[":min"] = &types.AttributeValueMemberN{Value: strconv.Itoa(-delta)}
	}
	return types.TransactWriteItem{Update: u}
}

func toInviteItem(tokenHash string, inv identity.Invite) inviteItem {
	return inviteItem{PK: invitePK(tokenHash), SK: inviteSK, Type: "invite", DeploymentID: inv.DeploymentID,
		Email: inv.Email, Role: string(inv.Role), SignumAdmin: inv.SignumAdmin, ExpiresAt: formatTime(inv.ExpiresAt),
		TTL: inv.ExpiresAt.Add(24 * time.Hour).Unix(), CreatedBy: inv.CreatedBy, CreatedAt: formatTime(inv.CreatedAt)}
}

// CreateInvite stores an invite under the hash of its token, and notes it (without the
// token) in the deployment's system log.
func (s *Store) CreateInvite(ctx context.Context, tokenHash string, inv identity.Invite) error {
	who := "anyone"
	if inv.Email != "" {
		who = inv.Email
	}
	detail := fmt.Sprintf("role %s for %s, expires %s", inv.Role, who, inv.ExpiresAt.UTC().Format(time.RFC3339))
	if inv.SignumAdmin {
		detail += ", Signum Administrator"
	}
	actor := inv.CreatedBy
	if actor == "" {
		actor = "system"
	}
	return s.create(ctx, "create invite", toInviteItem(tokenHash, inv), fmt.Errorf("invite token collision: %w", ErrConflict),
		s.putLog(inv.DeploymentID, tenant.LogEntry{Actor: actor, Action: "deploymentLink.created", Detail: detail}))
}

// ErrInviteUnusable means an invite token is unknown, used or expired. The three are one
// answer, so that a token cannot be probed.
var ErrInviteUnusable = fmt.Errorf("store: invite: %w", fault.ErrGone)

// errUnusableInvite is the one answer for an unknown, used or expired invite.
var errUnusableInvite = fault.Newf(ErrInviteUnusable, "This deployment link is not valid: it is unknown, already used or expired. Ask an Admin for a new one.")

// GetInvite reads the invite of a token hash, refusing used and expired ones.
func (s *Store) GetInvite(ctx context.Context, tokenHash string) (identity.Invite, error) {
	it, err := get(ctx, s, invitePK(tokenHash), inviteSK, "get invite", decodeAs[inviteItem]("invite"),
		func() error { return errUnusableInvite })
	if err != nil {
		return identity.Invite{}, err
	}
	inv := identity.Invite{DeploymentID: it.DeploymentID, Email: it.Email, Role: identity.PortalRole(it.Role),
		SignumAdmin: it.SignumAdmin, ExpiresAt: parseTime(it.ExpiresAt), CreatedBy: it.CreatedBy,
		CreatedAt: parseTime(it.CreatedAt), UsedAt: parseTime(it.UsedAt)}
	if !inv.UsedAt.IsZero() || !s.now().Before(inv.ExpiresAt) {
		return identity.Invite{}, errUnusableInvite
	}
	return inv, nil
}

// Register turns an invite into a portal user, in one transaction: the invite is marked used
// (only if still unused and unexpired), the e-mail address is claimed (unique across
// deployments), the user is created, the Admin count moves, and the system log records it.
func (s *Store) Register(ctx context.Context, tokenHash string, u identity.PortalUser) (identity.PortalUser, error) {
	now := s.now()
	u.Version, u.CreatedAt = 1, now
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:           &s.table,
			Key:                 key(invitePK(tokenHash), inviteSK),
			UpdateExpression:    aws.String("SET usedAt = :now"),
			ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(usedAt) AND inviteExpiresAt > :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": &types.AttributeValueMemberS{Value: formatTime(now)},
			},
		}},
		s.putNew(emailItem{PK: emailPK(u.Email), SK: emailSK, Type: "portalEmail", DeploymentID: u.DeploymentID, UserID: u.ID}),
		s.putNew(toPortalUserItem(u)),
		s.putLog(u.DeploymentID, tenant.LogEntry{At: now, Actor: "portal:" + u.ID, Action: "portalUser.registered",
			Detail: fmt.Sprintf("%s as %s", u.Email, u.Role)}),
	}
	if u.Role == identity.RoleAdmin {
		items = append(items, s.adminDelta(u.DeploymentID, 1))
	}
	if err := s.conditional(ctx, "register", items, map[int]error{
		0: errUnusableInvite,
		1: fault.Newf(ErrConflict, "The e-mail address %s is already registered.", u.Email),
	}); err != nil {
		return identity.PortalUser{}, err
	}
	return u, nil
}

// PortalUserByEmail finds a portal user by e-mail address (login).
func (s *Store) PortalUserByEmail(ctx context.Context, email string) (identity.PortalUser, error) {
	it, err := get(ctx, s, emailPK(email), emailSK, "get e-mail", decodeAs[emailItem]("e-mail item"),
		func() error { return fmt.Errorf("no portal user %s: %w", email, ErrNotFound) })
	if err != nil {
		return identity.PortalUser{}, err
	}
	return s.GetPortalUser(ctx, it.DeploymentID, it.UserID)
}

// GetPortalUser reads a portal user of a deployment.
func (s *Store) GetPortalUser(ctx context.Context, deploymentID, id string) (identity.PortalUser, error) {
	return getCached(ctx, s, deploymentPK(deploymentID), portalUserSK(id), "get portal user", decodePortalUser,
		notFound("No portal user has the id %q.", fault.Clip(id, 40)))
}

// ListPortalUsers lists a deployment's portal users.
func (s *Store) ListPortalUsers(ctx context.Context, deploymentID string, pr PageRequest) (Page[identity.PortalUser], error) {
	return listPrefix(ctx, s, deploymentID, portalUserPrefix, pr, decodePortalUser)
}

// UpdatePortalUser writes next over current (as read; optimistic). Role changes keep the
// Admin count right, and the last Admin cannot stop being one.
func (s *Store) UpdatePortalUser(ctx context.Context, current, next identity.PortalUser, log tenant.LogEntry) (identity.PortalUser, error) {
	next.Version = current.Version + 1
	items := []types.TransactWriteItem{s.putVersioned(toPortalUserItem(next), current.Version)}
	counterAt := -1
	wasAdmin := current.Role == identity.RoleAdmin && current.Status == identity.StatusActive
	isAdmin := next.Role == identity.RoleAdmin && next.Status == identity.StatusActive
	if wasAdmin != isAdmin {
		counterAt = len(items)
		d := 1
		if wasAdmin {
			d = -1
		}
		items = append(items, s.adminDelta(current.DeploymentID, d))
	}
	items = append(items, s.putLog(current.DeploymentID, log))
	if err := s.transact(ctx, "update portal user", items); err != nil {
		return identity.PortalUser{}, s.userWriteError(err, counterAt, "portal user", current.ID)
	}
	return next, nil
}

// DeletePortalUser removes a portal user and frees the e-mail address.
func (s *Store) DeletePortalUser(ctx context.Context, u identity.PortalUser, log tenant.LogEntry) error {
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(deploymentPK(u.DeploymentID), portalUserSK(u.ID)),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.Version, 10)}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(emailPK(u.Email), emailSK)}},
	}
	counterAt := -1
	if u.Role == identity.RoleAdmin && u.Status == identity.StatusActive {
		counterAt = len(items)
		items = append(items, s.adminDelta(u.DeploymentID, -1))
	}
	items = append(items, s.putLog(u.DeploymentID, log))
	if err := s.transact(ctx, "delete portal user", items); err != nil {
		return s.userWriteError(err, counterAt, "portal user", u.ID)
	}
	return nil
}

// errLastAdmin is the refusal to leave a deployment without an active Admin.
var errLastAdmin = fault.Newf(ErrConflict, "This is the deployment's last Admin: make another user Admin first.")

// userWriteError explains a failed versioned transaction: the last-Admin condition, else a
// stale read (the item, or another item the write is conditional on, such as a user's client
// certificates, changed meanwhile).
func (s *Store) userWriteError(err error, counterAt int, what, id string) error {
	codes := cancellationCodes(err)
	if codes == nil {
		return err // already classified by transact
	}
	if counterAt >= 0 && counterAt < len(codes) && codes[counterAt] == conditionFailed {
		return errLastAdmin
	}
	if slices.Contains(codes, conditionFailed) {
		return fault.Newf(ErrStale, "The %s %s was changed or removed by someone else; read it again and retry.", what, id)
	}
	return cancelled("write "+what, err, codes)
}

// ReserveLogin counts a login attempt on a user as a failure before its password is checked:
// one conditional update, built from r (password.Reservation), which is refused when the
// user is gone or not active or permanently locked, or when the count is at the lockout's
// limit. Parallel guesses therefore cannot all pass a check of the count made before any of
// them was counted: the condition is checked by the table, on the item as it is when each
// write lands. A refused attempt is identity.ErrNoAttempt. It returns the count the attempt
// made and the user's version after it (every write bumps the version, so that an admin's
// edit based on an older read is refused instead of silently clearing a lock).
func (s *Store) ReserveLogin(ctx context.Context, deploymentID string, portal bool, userID string, r password.Reservation, now time.Time) (failures int, version int64, err error) {
	cond := "attribute_exists(PK) AND #st = :active AND (attribute_not_exists(lockedForever) OR lockedForever = :no)"
	update := "SET failedAt = :now ADD failures :one, version :one"
	values := map[string]types.AttributeValue{
		":active": &types.AttributeValueMemberS{Value: string(identity.StatusActive)},
		":no":     &types.AttributeValueMemberBOOL{Value: false},
		":now":    &types.AttributeValueMemberS{Value: orderedTime(now)},
		":one":    &types.AttributeValueMemberN{Value: "1"},
	}
	switch {
	case r.Restart:
		// A temporary lock that is over: the count starts again, once; attempts that read
		// the same lock as over and come later find the new count and are refused.
		cond += " AND failures >= :max AND (attribute_not_exists(failedAt) OR failedAt <= :expired)"
		update = "SET failures = :one, failedAt = :now ADD version :one"
		values[":max"] = &types.AttributeValueMemberN{Value: strconv.Itoa(r.Max)}
		values[":expired"] = &types.AttributeValueMemberS{Value: orderedTime(r.Expired)}
	case r.Max > 0:
		cond += " AND (attribute_not_exists(failures) OR failures < :max)"
		values[":max"] = &types.AttributeValueMemberN{Value: strconv.Itoa(r.Max)}
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(deploymentPK(deploymentID), userSK(portal, userID)),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#st": "status"}, ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return 0, 0, fmt.Errorf("reserve login attempt: user %s: %w", fault.Clip(userID, 40), identity.ErrNoAttempt)
	}
	if err != nil {
		return 0, 0, unavailable("reserve login attempt", err)
	}
	var counts struct {
		Failures int   `dynamodbav:"failures"`
		Version  int64 `dynamodbav:"version"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &counts); err != nil {
		return 0, 0, fmt.Errorf("decode failure count: %w", err)
	}
	return counts.Failures, counts.Version, nil
}

// LockForever sets the permanent lock flag of a user, which only an administrator clears
// (password.Lockout.Permanent says when).
func (s *Store) LockForever(ctx context.Context, deploymentID string, portal bool, userID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(deploymentPK(deploymentID), userSK(portal, userID)),
		UpdateExpression:    aws.String("SET lockedForever = :yes ADD version :one"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":yes": &types.AttributeValueMemberBOOL{Value: true}, ":one": &types.AttributeValueMemberN{Value: "1"},
		},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lock account: user %s: %w", fault.Clip(userID, 40), ErrNotFound)
	}
	if err != nil {
		return unavailable("lock account", err)
	}
	return nil
}

// ResetFailures clears the failure count (the successful attempt's own included) and a
// temporary lock after a successful login.
func (s *Store) ResetFailures(ctx context.Context, deploymentID string, portal bool, userID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(deploymentPK(deploymentID), userSK(portal, userID)),
		UpdateExpression:          aws.String("SET failures = :z, lockedUntil = :e ADD version :one"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":z": &types.AttributeValueMemberN{Value: "0"}, ":e": &types.AttributeValueMemberS{Value: ""}, ":one": &types.AttributeValueMemberN{Value: "1"}},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("reset failures: user %s: %w", userID, ErrNotFound)
	}
	if err != nil {
		return unavailable("reset failures", err)
	}
	return nil
}
