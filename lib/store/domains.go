package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// authDomainItem: PK=DEP#<dep>, SK=DOMAIN#<id>. What the Signum Administrator sets is one map
// attribute, config, written whole by the domain's own changes; users is moved with ADD by
// the users' writes, so that neither overwrites the other (as a group's members).
type authDomainItem struct {
	PK, SK       string
	Type         string           `dynamodbav:"type"`
	ID           string           `dynamodbav:"id"`
	DeploymentID string           `dynamodbav:"deploymentId"`
	Kind         string           `dynamodbav:"kind"`
	Alias        string           `dynamodbav:"alias"`
	Config       authDomainConfig `dynamodbav:"config"`
	Users        int              `dynamodbav:"users"`
	Version      int64            `dynamodbav:"version"`
	CreatedAt    string           `dynamodbav:"createdAt"`
	UpdatedAt    string           `dynamodbav:"updatedAt"`
}

// authDomainConfig is a domain's settings as stored. Secrets (an OIDC client secret, a SAML
// service provider's key) arrive sealed by the capability and are stored as they came.
type authDomainConfig struct {
	Name             string                `dynamodbav:"name"`
	UserLimit        int                   `dynamodbav:"userLimit,omitempty"`
	AgentConcurrency int                   `dynamodbav:"agentConcurrency,omitempty"`
	JIT              bool                  `dynamodbav:"jit,omitempty"`
	DefaultRole      string                `dynamodbav:"defaultRole,omitempty"`
	GroupRoles       []domains.RoleMapping `dynamodbav:"groupRoles,omitempty"`
	OIDC             *storedOIDC           `dynamodbav:"oidc,omitempty"`
	SAML             *storedSAML           `dynamodbav:"saml,omitempty"`
	CI               *domains.CISettings   `dynamodbav:"ci,omitempty"`
}

type storedOIDC struct {
	domains.OIDCSettings
	ClientSecret string `dynamodbav:"clientSecret,omitempty"`
}

type storedSAML struct {
	domains.SAMLSettings
	SPKeyPEM  []byte `dynamodbav:"spKey,omitempty"`
	SPCertPEM []byte `dynamodbav:"spCert,omitempty"`
}

// authAliasItem makes aliases unique in a deployment and finds a domain by the alias its
// users log in with: PK=DEP#<dep>, SK=DOMALIAS#<alias>.
type authAliasItem struct {
	PK, SK   string
	Type     string `dynamodbav:"type"`
	DomainID string `dynamodbav:"domainId"`
}

func configOf(d domains.Domain) authDomainConfig {
	c := authDomainConfig{Name: d.Name, UserLimit: d.UserLimit, AgentConcurrency: d.AgentConcurrency, JIT: d.JIT, DefaultRole: d.DefaultRole,
		GroupRoles: d.GroupRoles, CI: d.CI}
	if o := d.OIDC; o != nil {
		c.OIDC = &storedOIDC{OIDCSettings: *o, ClientSecret: o.ClientSecret}
	}
	if sm := d.SAML; sm != nil {
		c.SAML = &storedSAML{SAMLSettings: *sm, SPKeyPEM: sm.SPKeyPEM, SPCertPEM: sm.SPCertPEM}
	}
	return c
}

func decodeDomain(av map[string]types.AttributeValue) (domains.Domain, error) {
	var it authDomainItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return domains.Domain{}, fmt.Errorf("decode domain: %w", err)
	}
	c := it.Config
	d := domains.Domain{ID: it.ID, DeploymentID: it.DeploymentID, Kind: domains.Kind(it.Kind), Alias: it.Alias, Name: c.Name,
		UserLimit: c.UserLimit, AgentConcurrency: c.AgentConcurrency, JIT: c.JIT, DefaultRole: c.DefaultRole, GroupRoles: c.GroupRoles,
		CI: c.CI, Users: it.Users, Version: it.Version, CreatedAt: parseTime(it.CreatedAt), UpdatedAt: parseTime(it.UpdatedAt)}
	if o := c.OIDC; o != nil {
		s := o.OIDCSettings
		s.ClientSecret = o.ClientSecret
		d.OIDC = &s
	}
	if sm := c.SAML; sm != nil {
		s := sm.SAMLSettings
		s.SPKeyPEM, s.SPCertPEM = sm.SPKeyPEM, sm.SPCertPEM
		d.SAML = &s
	}
	return d, nil
}

func authAlias(dep, alias, id string) authAliasItem {
	return authAliasItem{PK: deploymentPK(dep), SK: authAliasSK(alias), Type: "domainAlias", DomainID: id}
}

func aliasTaken(alias string) error {
	return fault.Newf(ErrConflict, "A domain with the alias %q exists in this deployment: its users log in as user@%s; choose another alias.", alias, alias)
}

// CreateDomain stores a new domain (version 1, no users) with its log entry; its alias must be
// free in the deployment.
func (s *Store) CreateDomain(ctx context.Context, d domains.Domain, log tenant.LogEntry) (domains.Domain, error) {
	now := s.now()
	d.Version, d.Users, d.CreatedAt, d.UpdatedAt = 1, 0, now, now
	it := authDomainItem{PK: deploymentPK(d.DeploymentID), SK: authDomainSK(d.ID), Type: "domain", ID: d.ID, DeploymentID: d.DeploymentID,
		Kind: string(d.Kind), Alias: d.Alias, Config: configOf(d), Version: 1, CreatedAt: formatTime(now), UpdatedAt: formatTime(now)}
	if err := s.conditional(ctx, "create domain", []types.TransactWriteItem{s.putNew(authAlias(d.DeploymentID, d.Alias, d.ID)), s.putNew(it), s.putLog(d.DeploymentID, log)},
		map[int]error{0: aliasTaken(d.Alias), 1: fault.Newf(ErrConflict, "A domain with the id %s exists.", d.ID)}); err != nil {
		return domains.Domain{}, err
	}
	return d, nil
}

// GetDomain reads a domain the Signum Administrator made.
func (s *Store) GetDomain(ctx context.Context, dep, id string) (domains.Domain, error) {
	return get(ctx, s, deploymentPK(dep), authDomainSK(id), "get domain", decodeDomain,
		notFound("No domain has the id %q.", fault.Clip(id, 40)))
}

// DomainByAlias finds the domain whose users log in as user@alias.
func (s *Store) DomainByAlias(ctx context.Context, dep, alias string) (domains.Domain, error) {
	missing := notFound("No domain has the alias %q.", fault.Clip(alias, 40))
	a, err := get(ctx, s, deploymentPK(dep), authAliasSK(alias), "get domain alias", decodeAs[authAliasItem]("domain alias"), missing)
	if err != nil {
		return domains.Domain{}, err
	}
	return get(ctx, s, deploymentPK(dep), authDomainSK(a.DomainID), "get domain", decodeDomain, missing)
}

// ListDomains lists the domains the Signum Administrator made, a page at a time.
func (s *Store) ListDomains(ctx context.Context, dep string, pr PageRequest) (Page[domains.Domain], error) {
	return listPrefix(ctx, s, dep, authDomainPrefix, pr, decodeDomain)
}

// UpdateDomain writes next's settings over current's if current is still the version read; a
// new alias must be free, and a user limit at least the users the domain holds when the write
// lands. Users are not a version change.
func (s *Store) UpdateDomain(ctx context.Context, current, next domains.Domain, log tenant.LogEntry) (domains.Domain, error) {
	dep := current.DeploymentID
	now := s.now()
	next.ID, next.DeploymentID, next.Kind, next.Version, next.CreatedAt, next.UpdatedAt = current.ID, dep, current.Kind, current.Version+1, current.CreatedAt, now
	cfg, err := attributevalue.Marshal(configOf(next))
	if err != nil {
		return domains.Domain{}, fmt.Errorf("marshal domain: %w", err)
	}
	cond := "version = :v"
	values := map[string]types.AttributeValue{
		":v":     &types.AttributeValueMemberN{Value: strconv.FormatInt(current.Version, 10)},
		":next":  &types.AttributeValueMemberN{Value: strconv.FormatInt(next.Version, 10)},
		":cfg":   cfg,
		":alias": &types.AttributeValueMemberS{Value: next.Alias},
		":at":    &types.AttributeValueMemberS{Value: formatTime(now)},
	}
	if next.UserLimit > 0 {
		cond += " AND (attribute_not_exists(#users) OR #users <= :limit)"
		values[":limit"] = &types.AttributeValueMemberN{Value: strconv.Itoa(next.UserLimit)}
	}
	names := map[string]string{"#alias": "alias", "#users": "users"}
	if next.UserLimit <= 0 {
		delete(names, "#users")
	}
	items := []types.TransactWriteItem{{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), authDomainSK(current.ID)),
		UpdateExpression: aws.String("SET config = :cfg, version = :next, #alias = :alias, updatedAt = :at"), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values}}, s.putLog(dep, log)}
	failed := map[int]error{0: fault.Newf(ErrStale, "The domain %s was changed or removed by someone else, or holds more users than the new limit; read it again and retry.", current.ID)}
	if current.Alias != next.Alias {
		items = append(items, s.putNew(authAlias(dep, next.Alias, current.ID)), types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table,
			Key: key(deploymentPK(dep), authAliasSK(current.Alias)), ConditionExpression: aws.String("domainId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: current.ID}}}})
		failed[2] = aliasTaken(next.Alias)
	}
	if err := s.conditional(ctx, "update domain", items, failed); err != nil {
		return domains.Domain{}, err
	}
	next.Users = current.Users
	return next, nil
}

// DeleteDomain removes a domain if it is still the version read and has no users when the
// write lands.
func (s *Store) DeleteDomain(ctx context.Context, d domains.Domain, log tenant.LogEntry) error {
	pk := deploymentPK(d.DeploymentID)
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, authDomainSK(d.ID)),
			ConditionExpression:      aws.String("version = :v AND (attribute_not_exists(#users) OR #users = :zero)"),
			ExpressionAttributeNames: map[string]string{"#users": "users"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v":    &types.AttributeValueMemberN{Value: strconv.FormatInt(d.Version, 10)},
				":zero": &types.AttributeValueMemberN{Value: "0"}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, authAliasSK(d.Alias)), ConditionExpression: aws.String("domainId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: d.ID}}}},
		s.putLog(d.DeploymentID, log),
	}
	err := s.conditional(ctx, "delete domain", items, nil)
	if codes := cancellationCodes(err); len(codes) > 0 && codes[0] == conditionFailed {
		now, gerr := s.GetDomain(ctx, d.DeploymentID, d.ID)
		switch {
		case gerr != nil:
			return gerr
		case now.Version != d.Version:
			return fault.Newf(ErrStale, "The domain %s was changed since it was read; read it again and retry.", d.ID)
		default:
			return fault.Newf(ErrConflict, "The domain %s has %d users: delete them or move them to another domain first.", d.ID, now.Users)
		}
	}
	return err
}

// domainJoin is the item of a console user's create that counts the user in its OIDC or SAML
// domain: on condition that the domain exists and, when it has a user limit, holds fewer
// users than the limit as stored when the write lands (the limit is read in the condition,
// not by the caller, so that a limit lowered meanwhile still holds).
func (s *Store) domainJoin(dep, id string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), authDomainSK(id)),
		UpdateExpression: aws.String("ADD #users :one"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(#cfg.#limit) OR #cfg.#limit = :zero OR " +
			"attribute_not_exists(#users) OR #users < #cfg.#limit)"),
		ExpressionAttributeNames: map[string]string{"#users": "users", "#cfg": "config", "#limit": "userLimit"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"}, ":zero": &types.AttributeValueMemberN{Value: "0"}}}}
}

// domainLeave is the item of a console user's delete that takes the user out of its domain's
// count. The domain exists: it cannot be deleted while it holds users.
func (s *Store) domainLeave(dep, id string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), authDomainSK(id)),
		UpdateExpression: aws.String("ADD #users :minus"), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#users": "users"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": &types.AttributeValueMemberN{Value: "-1"}}}}
}

// domainFull is the answer to a user's create whose domain refused it (domainJoin): the
// domain is gone, or holds its limit.
func (s *Store) domainFull(ctx context.Context, dep, id string) error {
	d, err := s.GetDomain(ctx, dep, id)
	if err != nil {
		return err
	}
	return fault.Newf(ErrConflict, "The domain %s holds its limit of %d users: raise the limit or delete users of the domain first.", d.Name, d.UserLimit)
}
