package function

// The function's configuration is read from the environment (once, in main) and the AWS
// clients are built from it. Pointing the endpoints at the local stand-ins is configuration,
// not a different code path.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/tenant"
)

// Config is what every function reads from its environment.
type Config struct {
	// Region is AWS_REGION.
	Region string
	// TableName is TABLE_NAME, the service's single table.
	TableName string
	// ServiceKeyID is SERVICE_KEY_ID: the KMS HMAC key (id, ARN or alias) from which shared
	// keys such as the page-cursor key are derived, so that no key sits in the environment.
	ServiceKeyID string
	// TokenKeyID is TOKEN_KEY_ID: the KMS key (ECC_NIST_P256, SIGN_VERIFY) that signs bearer
	// tokens.
	TokenKeyID string
	// DynamoDBEndpoint and KMSEndpoint override the AWS endpoints (AWS_ENDPOINT_URL_DYNAMODB,
	// AWS_ENDPOINT_URL_KMS, else AWS_ENDPOINT_URL). Empty in AWS.
	DynamoDBEndpoint, KMSEndpoint string
	// StaticAccessKey and StaticSecretKey are set only for local stand-ins; in AWS the
	// function's role provides credentials.
	StaticAccessKey, StaticSecretKey string
	// LogLevel is LOG_LEVEL (debug, info, warn, error).
	LogLevel string
	// PKCS11Library is PKCS11_LIBRARY: the PKCS#11 module of the CloudHSM client; empty means
	// no HSM backend. PKCS11Token is PKCS11_TOKEN_LABEL.
	PKCS11Library, PKCS11Token string
	// PKCS11PINSecret is PKCS11_PIN_SECRET: the Secrets Manager secret (id or ARN) holding the
	// crypto user's PIN. The PIN itself is never in the environment or the template.
	PKCS11PINSecret string
	// PKCS11PIN is set only by the local server (a throw-away SoftHSM2 token).
	PKCS11PIN string
	// DeploymentDomainSuffix is DEPLOYMENT_DOMAIN_SUFFIX: deployment domain names must be
	// one label under it (the API's wildcard custom domain); empty allows any name.
	DeploymentDomainSuffix string
	// SignerDomainSuffix is SIGNER_DOMAIN_SUFFIX: the mutual-TLS custom domain, whose host
	// "<label>.<suffix>" serves the deployment "<label>.<DeploymentDomainSuffix>"; empty when
	// there is none.
	SignerDomainSuffix string
	// LocalSignerPort is set by the local server only: its mutual-TLS port, where each
	// deployment's own host is its mutual-TLS host (access.Guard.SignerEndpoint).
	LocalSignerPort string
	// OperatorAccountID is OPERATOR_ACCOUNT_ID: the AWS account whose IAM principals may call
	// the operator API (functions that serve it only).
	OperatorAccountID string
	// Stack is SIGNUM_STACK: the CloudFormation stack id, tagged (StackTag) on every KMS key
	// the function creates. The stack's IAM policies let its functions create and use only
	// keys with that tag, so that they cannot reach another stack's keys. Empty locally.
	Stack string
	// Limits are the rate limits; FromEnv starts from DefaultLimits. The zero value limits
	// nothing (tests that are not about limits).
	Limits Limits
	// CheckpointKeyID is SIGNUM_CHECKPOINT_KEY: the KMS key (ECC_NIST_P256, SIGN_VERIFY; id,
	// ARN or alias) that certifies the keys sealing the event log's checkpoints and receipts.
	// Only the signer may sign with it (its key policy); the events function reads its public
	// key to verify. Empty: checkpoints are not sealed (and not checked).
	CheckpointKeyID string
	// AnchorBucket is SIGNUM_ANCHOR_BUCKET: the S3 bucket (Object Lock) where the signer
	// anchors sealed checkpoints outside the table, and the events function reads them.
	// Empty: no anchors.
	AnchorBucket string
	// AnchorEvery is how often a signer instance anchors a lane's checkpoint outside the
	// table (DefaultAnchorEvery; zero anchors every checkpoint): a table writer who rolls a
	// lane back can hide at most this much of it from the anchors (receipts show the rest).
	AnchorEvery time.Duration
	// S3Endpoint overrides the S3 endpoint (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL);
	// empty in AWS.
	S3Endpoint string
	// TruststoreBucket is SIGNUM_TRUSTSTORE_BUCKET: the versioned S3 bucket holding the
	// mutual-TLS truststore (lib/truststore), which the truststore function publishes and
	// the operator's status reads. Empty: no truststore is managed.
	TruststoreBucket string
	// TruststoreDomain is SIGNUM_TRUSTSTORE_DOMAIN: the mutual-TLS custom domain
	// ("*.<SignerDomain>") whose truststore the truststore function points at the newest
	// bundle; empty when the stack has none (the bundle is only uploaded).
	TruststoreDomain string
	// APIGatewayEndpoint overrides API Gateway's (v2) control-plane endpoint
	// (AWS_ENDPOINT_URL_APIGATEWAYV2, else AWS_ENDPOINT_URL), where the truststore function
	// points the mutual-TLS domain at a new bundle; empty in AWS.
	APIGatewayEndpoint string
	// EventBridgeEndpoint overrides EventBridge's endpoint (AWS_ENDPOINT_URL_EVENTBRIDGE, else
	// AWS_ENDPOINT_URL): the local stand-in the notices' events go to. Empty in AWS.
	EventBridgeEndpoint string
	// UpdatesQueueURL is UPDATES_QUEUE_URL: the updater's queue (lib/updates), where the
	// portal's "apply now", a retry and the updater itself send the runs to advance. Empty:
	// runs start only with the updater's tick.
	UpdatesQueueURL string
	// SQSEndpoint overrides the SQS endpoint (AWS_ENDPOINT_URL_SQS, else AWS_ENDPOINT_URL):
	// the local server's queue stand-in. Empty in AWS.
	SQSEndpoint string
	// KeyUsers is SIGNUM_KEY_USERS: the IAM roles (comma-separated ARNs) that sign with the
	// certificate keys this function creates, the signer's and the certificates function's.
	// Set, every key is created with an explicit key policy (awskms.NewKeyPolicy) in which
	// they, and KeyManager, are the only principals that may sign, and the account root of
	// their account administers the key. Empty: KMS's default key policy (tests).
	KeyUsers []string
	// KeyManager is SIGNUM_KEY_MANAGER: the role that, besides using them, schedules the
	// deletion of the certificate keys, the certificates function's (which creates them).
	KeyManager string
	// KeyAdministrator is SIGNUM_KEY_ADMINISTRATOR: an IAM role or user of the roles' account
	// that, besides the account root, may tag, untag and create grants on certificate keys
	// (the template's KeyAdministratorArn); empty for the root only.
	KeyAdministrator string
	// Marketplace is how the marketplace functions reach AWS Marketplace and Azure.
	Marketplace MarketplaceConfig
}

// MarketplaceConfig configures the marketplace functions (lib/fulfilment).
type MarketplaceConfig struct {
	// Region is MARKETPLACE_REGION: where AWS Marketplace's metering and entitlement APIs
	// are called (us-east-1, whatever the stack's region).
	Region string
	// MeteringEndpoint and EntitlementEndpoint override the AWS endpoints
	// (AWS_ENDPOINT_URL_MARKETPLACE_METERING, AWS_ENDPOINT_URL_MARKETPLACE_ENTITLEMENT_SERVICE):
	// the local stand-ins. Empty in AWS.
	MeteringEndpoint, EntitlementEndpoint string
	// AWSDefaultPlan is MARKETPLACE_AWS_DEFAULT_PLAN: the plan of an AWS subscription without
	// entitlements (pay-as-you-go), "standard" when empty.
	AWSDefaultPlan string
	// RegistrationURL is MARKETPLACE_REGISTRATION_URL: the web app's registration page the
	// fulfilment URL sends the buyer to ("/app/marketplace/register" when empty).
	RegistrationURL string
	// AzureTenantID and AzureClientID are AZURE_MARKETPLACE_TENANT_ID and
	// AZURE_MARKETPLACE_CLIENT_ID: the publisher's Entra tenant and app registration. Azure
	// is not configured without them.
	AzureTenantID, AzureClientID string
	// AzureSecret is AZURE_MARKETPLACE_SECRET: the Secrets Manager secret (id or ARN) whose
	// string is the app's client secret, read once per cold start.
	AzureSecret string
	// AzureClientSecret is the client secret itself, set only by the local server (its
	// stand-in's throw-away secret).
	AzureClientSecret string
	// AzureAPIBase and AzureLoginBase are AZURE_MARKETPLACE_API_BASE and
	// AZURE_MARKETPLACE_LOGIN_BASE: the local stand-in's URLs; empty in production.
	AzureAPIBase, AzureLoginBase string
}

// DefaultAnchorEvery is AnchorEvery in a deployed service.
const DefaultAnchorEvery = time.Minute

// Limits are the service's rate limits (lib/ratelimit), counted in the table.
type Limits struct {
	// SigningPerPlan is how many signatures a deployment may make, by its plan or its plan's
	// tier (SIGNING_RATE_LIMITS: "trial=64/1s,standard=128/1s,enterprise=256/1s"; a plan
	// whose id and tier are not named is not limited; read it with SigningFor). The KMS request quota is the account's, shared by every
	// tenant: these keep one tenant from using all of it. A limit below 64 a window keeps
	// the plan's requests to that many digests.
	SigningPerPlan map[string]ratelimit.Limit
	// SigningPerCaller is how many signing requests one caller may send
	// (SIGNING_CALLER_RATE_LIMIT: "20/1s").
	SigningPerCaller ratelimit.Limit
	// LoginPerAccount is how many password logins may be tried on one account, portal or
	// console, whether it exists or not (LOGIN_ACCOUNT_RATE_LIMIT: "10/1m"); LoginPerAddress
	// how many, to any account, from one source address (LOGIN_ADDRESS_RATE_LIMIT: "60/1m").
	// They slow guessing beyond what the lockout does, and spraying one password over many
	// accounts, which no lockout sees.
	LoginPerAccount, LoginPerAddress ratelimit.Limit
}

// SigningFor is how many signatures deployment d may make: SigningPerPlan's limit for its
// plan, else for its plan's tier, so that a regional plan (standard-eu) is limited as its
// family (standard) unless the limits name it; a plan named by neither is not limited.
func (l Limits) SigningFor(d tenant.Deployment) ratelimit.Limit {
	if limit, ok := l.SigningPerPlan[d.Plan]; ok {
		return limit
	}
	return l.SigningPerPlan[d.Tier()]
}

// DefaultLimits are the limits of a deployed service: under KMS's default quota of 500 RSA
// (300 ECC) Sign requests a second per account and region for any one tenant, and never
// below one full request of 64 digests a second.
func DefaultLimits() Limits {
	return Limits{
		SigningPerPlan: map[string]ratelimit.Limit{
			"trial": {N: 64, Per: time.Second}, "standard": {N: 128, Per: time.Second}, "enterprise": {N: 256, Per: time.Second},
		},
		SigningPerCaller: ratelimit.Limit{N: 20, Per: time.Second},
		LoginPerAccount:  ratelimit.Limit{N: 10, Per: time.Minute},
		LoginPerAddress:  ratelimit.Limit{N: 60, Per: time.Minute},
	}
}

// EnvVars are the environment variables from which FromEnv reads c back: what a function
// deployed elsewhere (sam local, a container) needs to run with c. Static credentials become
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which the SDK reads; a PKCS#11 PIN given
// directly (the local server's) is not carried: in AWS it comes from its secret.
func EnvVars(c Config) map[string]string {
	vars := map[string]string{
		"AWS_REGION": c.Region, "TABLE_NAME": c.TableName, "SERVICE_KEY_ID": c.ServiceKeyID, "TOKEN_KEY_ID": c.TokenKeyID,
		"AWS_ENDPOINT_URL_DYNAMODB": c.DynamoDBEndpoint, "AWS_ENDPOINT_URL_KMS": c.KMSEndpoint, "AWS_ENDPOINT_URL_S3": c.S3Endpoint,
		"LOG_LEVEL": c.LogLevel, "OPERATOR_ACCOUNT_ID": c.OperatorAccountID, "SIGNUM_STACK": c.Stack,
		"PKCS11_LIBRARY": c.PKCS11Library, "PKCS11_TOKEN_LABEL": c.PKCS11Token, "PKCS11_PIN_SECRET": c.PKCS11PINSecret,
		"DEPLOYMENT_DOMAIN_SUFFIX": c.DeploymentDomainSuffix, "SIGNER_DOMAIN_SUFFIX": c.SignerDomainSuffix,
		"SIGNUM_CHECKPOINT_KEY": c.CheckpointKeyID, "SIGNUM_ANCHOR_BUCKET": c.AnchorBucket,
		"SIGNUM_TRUSTSTORE_BUCKET": c.TruststoreBucket, "SIGNUM_TRUSTSTORE_DOMAIN": c.TruststoreDomain,
		"AWS_ENDPOINT_URL_APIGATEWAYV2":                    c.APIGatewayEndpoint,
		"AWS_ENDPOINT_URL_EVENTBRIDGE":                     c.EventBridgeEndpoint,
		"UPDATES_QUEUE_URL":                                c.UpdatesQueueURL,
		"AWS_ENDPOINT_URL_SQS":                             c.SQSEndpoint,
		"MARKETPLACE_REGION":                               c.Marketplace.Region,
		"AWS_ENDPOINT_URL_MARKETPLACE_METERING":            c.Marketplace.MeteringEndpoint,
		"AWS_ENDPOINT_URL_MARKETPLACE_ENTITLEMENT_SERVICE": c.Marketplace.EntitlementEndpoint,
		"MARKETPLACE_AWS_DEFAULT_PLAN":                     c.Marketplace.AWSDefaultPlan,
		"MARKETPLACE_REGISTRATION_URL":                     c.Marketplace.RegistrationURL,
		"AZURE_MARKETPLACE_TENANT_ID":                      c.Marketplace.AzureTenantID,
		"AZURE_MARKETPLACE_CLIENT_ID":                      c.Marketplace.AzureClientID,
		"AZURE_MARKETPLACE_SECRET":                         c.Marketplace.AzureSecret,
		"AZURE_MARKETPLACE_API_BASE":                       c.Marketplace.AzureAPIBase,
		"AZURE_MARKETPLACE_LOGIN_BASE":                     c.Marketplace.AzureLoginBase,
		"AWS_ACCESS_KEY_ID":                                c.StaticAccessKey, "AWS_SECRET_ACCESS_KEY": c.StaticSecretKey,
		"SIGNUM_KEY_USERS": strings.Join(c.KeyUsers, ","), "SIGNUM_KEY_MANAGER": c.KeyManager, "SIGNUM_KEY_ADMINISTRATOR": c.KeyAdministrator,
		"SIGNING_CALLER_RATE_LIMIT": limitString(c.Limits.SigningPerCaller),
		"LOGIN_ACCOUNT_RATE_LIMIT":  limitString(c.Limits.LoginPerAccount),
		"LOGIN_ADDRESS_RATE_LIMIT":  limitString(c.Limits.LoginPerAddress),
	}
	plans := make([]string, 0, len(c.Limits.SigningPerPlan))
	for plan, l := range c.Limits.SigningPerPlan {
		plans = append(plans, plan+"="+limitString(l))
	}
	sort.Strings(plans)
	vars["SIGNING_RATE_LIMITS"] = strings.Join(plans, ",")
	for k, v := range vars {
		if v == "" {
			delete(vars, k)
		}
	}
	return vars
}

// limitString is l as ParseLimit reads it ("off" for none).
func limitString(l ratelimit.Limit) string {
	if l.Off() {
		return "off"
	}
	return l.String()
}

// limitsFromEnv is DefaultLimits with what the environment sets instead.
func limitsFromEnv() (Limits, error) {
	l := DefaultLimits()
	var errs []error
	if v := os.Getenv("SIGNING_RATE_LIMITS"); v != "" {
		l.SigningPerPlan = map[string]ratelimit.Limit{}
		for _, pair := range strings.Split(v, ",") {
			plan, limit, ok := strings.Cut(strings.TrimSpace(pair), "=")
			parsed, err := ratelimit.ParseLimit(limit)
			if !ok || err != nil {
				errs = append(errs, fmt.Errorf("SIGNING_RATE_LIMITS: %q is not plan=N/duration", pair))
				continue
			}
			l.SigningPerPlan[plan] = parsed
		}
	}
	if v := os.Getenv("SIGNING_CALLER_RATE_LIMIT"); v != "" {
		parsed, err := ratelimit.ParseLimit(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SIGNING_CALLER_RATE_LIMIT: %w", err))
		}
		l.SigningPerCaller = parsed
	}
	for name, limit := range map[string]*ratelimit.Limit{"LOGIN_ACCOUNT_RATE_LIMIT": &l.LoginPerAccount, "LOGIN_ADDRESS_RATE_LIMIT": &l.LoginPerAddress} {
		if v := os.Getenv(name); v != "" {
			parsed, err := ratelimit.ParseLimit(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			*limit = parsed
		}
	}
	return l, errors.Join(errs...)
}

// FromEnv reads the configuration from the environment and says what is missing.
func FromEnv() (Config, error) {
	c := Config{
		Region:           os.Getenv("AWS_REGION"),
		TableName:        os.Getenv("TABLE_NAME"),
		ServiceKeyID:     os.Getenv("SERVICE_KEY_ID"),
		TokenKeyID:       os.Getenv("TOKEN_KEY_ID"),
		DynamoDBEndpoint: firstSet("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"),
		KMSEndpoint:      firstSet("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"),
		LogLevel:         os.Getenv("LOG_LEVEL"),

		OperatorAccountID:      os.Getenv("OPERATOR_ACCOUNT_ID"),
		Stack:                  os.Getenv("SIGNUM_STACK"),
		PKCS11Library:          os.Getenv("PKCS11_LIBRARY"),
		DeploymentDomainSuffix: os.Getenv("DEPLOYMENT_DOMAIN_SUFFIX"),
		SignerDomainSuffix:     os.Getenv("SIGNER_DOMAIN_SUFFIX"),
		PKCS11Token:            os.Getenv("PKCS11_TOKEN_LABEL"),
		PKCS11PINSecret:        os.Getenv("PKCS11_PIN_SECRET"),
		CheckpointKeyID:        os.Getenv("SIGNUM_CHECKPOINT_KEY"),
		AnchorBucket:           os.Getenv("SIGNUM_ANCHOR_BUCKET"),
		S3Endpoint:             firstSet("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		TruststoreBucket:       os.Getenv("SIGNUM_TRUSTSTORE_BUCKET"),
		TruststoreDomain:       os.Getenv("SIGNUM_TRUSTSTORE_DOMAIN"),
		APIGatewayEndpoint:     firstSet("AWS_ENDPOINT_URL_APIGATEWAYV2", "AWS_ENDPOINT_URL"),
		EventBridgeEndpoint:    firstSet("AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL"),
		UpdatesQueueURL:        os.Getenv("UPDATES_QUEUE_URL"),
		SQSEndpoint:            firstSet("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"),
		AnchorEvery:            DefaultAnchorEvery,
		KeyUsers:               splitList(os.Getenv("SIGNUM_KEY_USERS")),
		KeyManager:             strings.TrimSpace(os.Getenv("SIGNUM_KEY_MANAGER")),
		KeyAdministrator:       strings.TrimSpace(os.Getenv("SIGNUM_KEY_ADMINISTRATOR")),
		Marketplace: MarketplaceConfig{
			Region:              os.Getenv("MARKETPLACE_REGION"),
			MeteringEndpoint:    firstSet("AWS_ENDPOINT_URL_MARKETPLACE_METERING", "AWS_ENDPOINT_URL"),
			EntitlementEndpoint: firstSet("AWS_ENDPOINT_URL_MARKETPLACE_ENTITLEMENT_SERVICE", "AWS_ENDPOINT_URL"),
			AWSDefaultPlan:      os.Getenv("MARKETPLACE_AWS_DEFAULT_PLAN"),
			RegistrationURL:     os.Getenv("MARKETPLACE_REGISTRATION_URL"),
			AzureTenantID:       os.Getenv("AZURE_MARKETPLACE_TENANT_ID"),
			AzureClientID:       os.Getenv("AZURE_MARKETPLACE_CLIENT_ID"),
			AzureSecret:         os.Getenv("AZURE_MARKETPLACE_SECRET"),
			AzureAPIBase:        os.Getenv("AZURE_MARKETPLACE_API_BASE"),
			AzureLoginBase:      os.Getenv("AZURE_MARKETPLACE_LOGIN_BASE"),
		},
	}
	limits, err := limitsFromEnv()
	if err != nil {
		return c, err
	}
	c.Limits = limits
	// A mistyped role stops the function at start, not at the first CreateKey.
	if _, err := c.KeyPolicy(); err != nil {
		return c, fmt.Errorf("SIGNUM_KEY_USERS, SIGNUM_KEY_MANAGER, SIGNUM_KEY_ADMINISTRATOR: %w", err)
	}
	var missing []string
	for name, v := range map[string]string{"AWS_REGION": c.Region, "TABLE_NAME": c.TableName, "SERVICE_KEY_ID": c.ServiceKeyID, "TOKEN_KEY_ID": c.TokenKeyID} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// KeyPolicy is the key policy of the certificate keys c's function creates, or nil when c
// names no key users or manager: KMS's default policy.
func (c Config) KeyPolicy() (*awskms.KeyPolicy, error) {
	if len(c.KeyUsers) == 0 && c.KeyManager == "" {
		if c.KeyAdministrator != "" {
			return nil, errors.New("a key administrator without key users")
		}
		return nil, nil
	}
	p, err := awskms.NewKeyPolicy(c.KeyUsers, c.KeyManager, c.KeyAdministrator)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// splitList is the comma-separated items of v, trimmed; nil when there are none.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func firstSet(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Clients are the AWS clients a function uses.
type Clients struct {
	DynamoDB *dynamodb.Client
	KMS      *kms.Client
	// S3 keeps the event log's anchors (used only when AnchorBucket is set) and the
	// truststore (TruststoreBucket).
	S3 *s3.Client
	// APIGateway points the mutual-TLS domain at a new truststore (the truststore function).
	APIGateway *apigatewayv2.Client
	// Messaging, when set, is the messaging clients every function gets (a
	// *messaging.Clients: the local server's, which record the functions' calls); nil in AWS,
	// where package messaging makes them for the functions that need them. (Not named by its
	// type, so that this package, which every function links, does not link their SDK
	// packages.)
	Messaging any
}

// NewClients builds the clients every function uses for c. The EventBridge and SQS clients,
// which only the notices and the updates functions need, are made by package messaging, so
// that the other functions neither make them nor link their code.
func NewClients(ctx context.Context, c Config) (*Clients, error) {
	cfg, err := AWSConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if c.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoDBEndpoint)
			// The local DynamoDB stand-in sends no valid CRC32 header. Only for loopback
			// endpoints: against AWS the checksum stays on.
			o.DisableValidateResponseChecksum = isLoopback(c.DynamoDBEndpoint)
		}
	})
	k := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if c.KMSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KMSEndpoint)
		}
	})
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(c.S3Endpoint)
			o.UsePathStyle = true // a local stand-in has no bucket host names
		}
	})
	apigw := apigatewayv2.NewFromConfig(cfg, func(o *apigatewayv2.Options) {
		if c.APIGatewayEndpoint != "" {
			o.BaseEndpoint = aws.String(c.APIGatewayEndpoint)
		}
	})
	return &Clients{DynamoDB: ddb, KMS: k, S3: s3c, APIGateway: apigw}, nil
}

// AWSConfig is the SDK's configuration for c.
func AWSConfig(ctx context.Context, c Config) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(c.Region),
		// Fail fast: a Lambda has seconds, not minutes, and the health check must notice an
		// outage quickly. Connection setup is bounded; the SDK's retryer handles the rest.
		config.WithHTTPClient(awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 2 * time.Second }).
			WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConnsPerHost = 64
				// A call whose answer does not start within this is retried or failed, not
				// waited on until the Lambda dies.
				t.ResponseHeaderTimeout = 5 * time.Second
			})),
	}
	if c.StaticAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.StaticAccessKey, c.StaticSecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Macer is the part of the KMS client DeriveKey uses.
type Macer interface {
	GenerateMac(context.Context, *kms.GenerateMacInput, ...func(*kms.Options)) (*kms.GenerateMacOutput, error)
}

// DeriveKey derives a 32-byte key for purpose from the KMS HMAC key keyID. Every instance of
// every function derives the same key, and the key itself never leaves KMS: only this
// derived value, kept in memory, does. Changing purpose gives an unrelated key.
func DeriveKey(ctx context.Context, k Macer, keyID, purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("derive key: empty purpose")
	}
	out, err := k.GenerateMac(ctx, &kms.GenerateMacInput{
		KeyId: aws.String(keyID), MacAlgorithm: kmstypes.MacAlgorithmSpecHmacSha256,
		Message: []byte("signum key derivation v1: " + purpose),
	})
	if err != nil {
		return nil, fmt.Errorf("derive %s key from KMS key %s: %w", purpose, keyID, err)
	}
	// Hash once more so that the key is exactly 32 bytes whatever the MAC length.
	sum := sha256.Sum256(out.Mac)
	return sum[:], nil
}
