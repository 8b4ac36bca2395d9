package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/tenant"
)

// consoleUserItem: PK=DEP#<dep>, SK=CUSER#<id>.
type consoleUserItem struct {
	PK, SK       string
	Type         string   `dynamodbav:"type"`
	ID           string   `dynamodbav:"id"`
	DeploymentID string   `dynamodbav:"deploymentId"`
	Username     string   `dynamodbav:"username"`
	Name         string   `dynamodbav:"name"`
	Email        string   `dynamodbav:"email,omitempty"`
	Roles        []string `dynamodbav:"roles"`
	// Role is the custom role the user holds (lib/roles), absent for none.
	Role string `dynamodbav:"role,omitempty"`
	// DomainID is the OIDC or SAML domain of the user, absent for the Local users domain;
	// RoleSource is absent for a direct role.
	DomainID   string `dynamodbav:"domainId,omitempty"`
	RoleSource string `dynamodbav:"roleSource,omitempty"`
	// IdPSubject is the identity at the domain's IdP the user is bound to (issuer|subject),
	// absent until its first login there (and for a user of the Local users domain).
	IdPSubject string `dynamodbav:"idpSubject,omitempty"`
	Status     string `dynamodbav:"status"`
	credentialsItem
	TokenGeneration int64  `dynamodbav:"tokenGeneration,omitempty"`
	Version         int64  `dynamodbav:"version"`
	CreatedAt       string `dynamodbav:"createdAt"`
}

// usernameItem makes user names unique in a deployment and finds the user at login:
// PK=DEP#<dep>, SK=CUNAME#<username>.
type usernameItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	UserID string `dynamodbav:"userId"`
}

// localDomainItem: PK=DEP#<dep>, SK=SETTINGS#local-domain.
type localDomainItem struct {
	PK, SK    string
	Type      string           `dynamodbav:"type"`
	Password  password.Policy  `dynamodbav:"passwordPolicy"`
	Lockout   password.Lockout `dynamodbav:"lockoutPolicy"`
	Version   int64            `dynamodbav:"version"`
	UpdatedAt string           `dynamodbav:"updatedAt"`
}

func toConsoleUserItem(u identity.ConsoleUser) consoleUserItem {
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = string(r)
	}
	return consoleUserItem{
		PK: deploymentPK(u.DeploymentID), SK: consoleUserSK(u.ID), Type: "consoleUser", ID: u.ID,
		DeploymentID: u.DeploymentID, Username: u.Username, Name: u.Name, Email: u.Email, Roles: roles, Role: u.Role,
		DomainID: u.DomainID, RoleSource: string(u.RoleSource), IdPSubject: u.IdPSubject, Status: string(u.Status), credentialsItem: toCredentials(u.Credentials), TokenGeneration: u.TokenGeneration,
		Version: u.Version, CreatedAt: formatTime(u.CreatedAt),
	}
}

func decodeConsoleUser(av map[string]types.AttributeValue) (identity.ConsoleUser, error) {
	var it consoleUserItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return identity.ConsoleUser{}, fmt.Errorf("decode console user: %w", err)
	}
	u := identity.ConsoleUser{
		ID: it.ID, DeploymentID: it.DeploymentID, Username: it.Username, Name: it.Name, Email: it.Email, Role: it.Role,
		DomainID: it.DomainID, RoleSource: identity.RoleSource(it.RoleSource), IdPSubject: it.IdPSubject, Status: identity.Status(it.Status), Credentials: it.credentialsItem.decode(), TokenGeneration: it.TokenGeneration,
		Version: it.Version, CreatedAt: parseTime(it.CreatedAt),
	}
	for _, r := range it.Roles {
		u.Roles = append(u.Roles, identity.ConsoleRole(r))
	}
	return u, nil
}

// CreateConsoleUser creates a console user; the user name must be free in the deployment, and
// its custom role, if any, must exist when the write lands (its member count moves with it).
// A user of an OIDC or SAML domain joins the domain's user count in the same write, on
// condition that the domain exists and is below its user limit then.
func (s *Store) CreateConsoleUser(ctx context.Context, u identity.ConsoleUser, log tenant.LogEntry) (identity.ConsoleUser, error) {
	u.Version, u.CreatedAt = 1, s.now()
	// The user name item comes first: it is what makes the name unique in the deployment.
	name := usernameItem{PK: deploymentPK(u.DeploymentID), SK: usernameSK(u.Username), Type: "consoleUsername", UserID: u.ID}
	items := []types.TransactWriteItem{s.putNew(name), s.putNew(toConsoleUserItem(u)), s.putLog(u.DeploymentID, log)}
	failed := map[int]error{0: fault.Newf(ErrConflict, "The user name %q is taken in this deployment.", u.Username)}
	moves, join := s.roleMoves(u.DeploymentID, "", u.Role)
	if join >= 0 {
		failed[len(items)+join] = roleMissing(u.Role)
	}
	items = append(items, moves...)
	domain := -1
	if u.DomainID != "" {
		domain = len(items)
		items = append(items, s.domainJoin(u.DeploymentID, u.DomainID))
	}
	err := s.conditional(ctx, "create console user", items, failed)
	if codes := cancellationCodes(err); domain >= 0 && domain < len(codes) && codes[domain] == conditionFailed {
		return identity.ConsoleUser{}, s.domainFull(ctx, u.DeploymentID, u.DomainID)
	}
	if err != nil {
		return identity.ConsoleUser{}, err
	}
	return u, nil
}

// GetConsoleUser reads a console user of a deployment.
func (s *Store) GetConsoleUser(ctx context.Context, deploymentID, id string) (identity.ConsoleUser, error) {
	return getCached(ctx, s, deploymentPK(deploymentID), consoleUserSK(id), "get console user", decodeConsoleUser,
		notFound("No console user has the id %q.", fault.Clip(id, 40)))
}

// ConsoleUserByUsername finds a console user by user name (login).
func (s *Store) ConsoleUserByUsername(ctx context.Context, deploymentID, username string) (identity.ConsoleUser, error) {
	it, err := get(ctx, s, deploymentPK(deploymentID), usernameSK(username), "get console user name", decodeAs[usernameItem]("user name item"),
		func() error { return fmt.Errorf("no console user %q: %w", username, ErrNotFound) })
	if err != nil {
		return identity.ConsoleUser{}, err
	}
	return s.GetConsoleUser(ctx, deploymentID, it.UserID)
}

// ListConsoleUsers lists a deployment's console users.
func (s *Store) ListConsoleUsers(ctx context.Context, deploymentID string, pr PageRequest) (Page[identity.ConsoleUser], error) {
	return listPrefix(ctx, s, deploymentID, consoleUserPrefix, pr, decodeConsoleUser)
}

// UpdateConsoleUser writes next over current (as read; optimistic). A change of custom role
// moves the member counts of the role left and the role joined, which must exist.
func (s *Store) UpdateConsoleUser(ctx context.Context, current, next identity.ConsoleUser, log tenant.LogEntry) (identity.ConsoleUser, error) {
	next.Version = current.Version + 1
	items := []types.TransactWriteItem{s.putVersioned(toConsoleUserItem(next), current.Version), s.putLog(current.DeploymentID, log)}
	moves, join := s.roleMoves(current.DeploymentID, current.Role, next.Role)
	if join >= 0 {
		join += len(items)
	}
	if err := s.transact(ctx, "update console user", append(items, moves...)); err != nil {
		// A stale user is the answer first; else a role joined that is not there.
		if codes := cancellationCodes(err); join >= 0 && join < len(codes) && codes[0] != conditionFailed && codes[join] == conditionFailed {
			return identity.ConsoleUser{}, roleMissing(next.Role)
		}
		return identity.ConsoleUser{}, s.userWriteError(err, -1, "console user", current.ID)
	}
	return next, nil
}

// DeleteConsoleUser removes a console user and frees the user name.
func (s *Store) DeleteConsoleUser(ctx context.Context, u identity.ConsoleUser, log tenant.LogEntry) error {
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(deploymentPK(u.DeploymentID), consoleUserSK(u.ID)),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.Version, 10)}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(deploymentPK(u.DeploymentID), usernameSK(u.Username))}},
		s.putLog(u.DeploymentID, log),
	}
	// The user leaves its custom role, so that the role can be deleted once nobody holds it,
	// and its domain, so that the domain can be once it holds nobody.
	leave, _ := s.roleMoves(u.DeploymentID, u.Role, "")
	items = append(items, leave...)
	if u.DomainID != "" {
		items = append(items, s.domainLeave(u.DeploymentID, u.DomainID))
	}
	// The user's client certificates go with it, so that none is left to authenticate and a
	// pinned certificate can be registered for someone else.
	creds, err := s.allClientCredentials(ctx, u.DeploymentID, u.ID)
	if err != nil {
		return err
	}
	for _, c := range creds {
		del, err := s.deleteClientCredItems(c)
		if err != nil {
			return err
		}
		items = append(items, del...)
	}
	if err := s.transact(ctx, "delete console user", items); err != nil {
		return s.userWriteError(err, -1, "console user", u.ID)
	}
	return nil
}

func toLocalDomainItem(d identity.LocalDomain) localDomainItem {
	return localDomainItem{PK: deploymentPK(d.DeploymentID), SK: localDomainSK, Type: "localDomain",
		Password: d.Password, Lockout: d.Lockout, Version: d.Version, UpdatedAt: formatTime(d.UpdatedAt)}
}

// GetLocalDomain reads the deployment's Local users domain settings.
func (s *Store) GetLocalDomain(ctx context.Context, deploymentID string) (identity.LocalDomain, error) {
	it, err := get(ctx, s, deploymentPK(deploymentID), localDomainSK, "get local domain", decodeAs[localDomainItem]("local domain"),
		notFound("The deployment has no Local users domain."))
	if err != nil {
		return identity.LocalDomain{}, err
	}
	return identity.LocalDomain{DeploymentID: deploymentID, Password: it.Password, Lockout: it.Lockout,
		Version: it.Version, UpdatedAt: parseTime(it.UpdatedAt)}, nil
}

// UpdateLocalDomain writes next over current (as read; optimistic).
func (s *Store) UpdateLocalDomain(ctx context.Context, current, next identity.LocalDomain, log tenant.LogEntry) (identity.LocalDomain, error) {
	next.Version, next.UpdatedAt = current.Version+1, s.now()
	items := []types.TransactWriteItem{s.putVersioned(toLocalDomainItem(next), current.Version), s.putLog(current.DeploymentID, log)}
	if err := s.transact(ctx, "update local domain", items); err != nil {
		return identity.LocalDomain{}, s.userWriteError(err, -1, "Local users domain of", current.DeploymentID)
	}
	return next, nil
}

// putLocalDomain is the provisioning's default Local users domain.
func (s *Store) putLocalDomain(d identity.LocalDomain, at time.Time) types.TransactWriteItem {
	d.Version, d.UpdatedAt = 1, at
	return s.putNew(toLocalDomainItem(d))
}
