package function

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/fulfilment"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/provisioning"
)

// Fulfilment builds the marketplace service of a marketplace function: AWS Marketplace's
// metering and entitlement clients (always: they are only called when AWS sends a buyer or
// an event), and Azure's fulfilment client and webhook verifier when the Azure app is
// configured (nil otherwise, and Azure's entry points answer that it is not configured).
func Fulfilment(ctx context.Context, env Env, p *Parts) (*fulfilment.Service, marketplace.WebhookVerifier, error) {
	mc := env.Config.Marketplace
	region := mc.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if env.Config.StaticAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(env.Config.StaticAccessKey, env.Config.StaticSecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS config: %w", err)
	}
	metering := marketplacemetering.NewFromConfig(cfg, func(o *marketplacemetering.Options) {
		if mc.MeteringEndpoint != "" {
			o.BaseEndpoint = aws.String(mc.MeteringEndpoint)
		}
	})
	entitlements := marketplaceentitlementservice.NewFromConfig(cfg, func(o *marketplaceentitlementservice.Options) {
		if mc.EntitlementEndpoint != "" {
			o.BaseEndpoint = aws.String(mc.EntitlementEndpoint)
		}
	})
	awsClients := marketplace.NewAWSClients(metering, entitlements)
	prov := provisioning.New(p.Store, p.Now)
	prov.DomainSuffix = p.DomainSuffix
	svc := &fulfilment.Service{Store: p.Store, AWS: awsClients, Entitlements: awsClients, Provisioning: prov, Now: p.Now,
		Log: env.Log, AWSDefaultPlan: mc.AWSDefaultPlan}
	if mc.AzureTenantID == "" || mc.AzureClientID == "" {
		return svc, nil, nil
	}
	secret := mc.AzureClientSecret
	if secret == "" && mc.AzureSecret != "" {
		out, err := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = env.Config.Region }).
			GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(mc.AzureSecret)})
		if err != nil {
			return nil, nil, fmt.Errorf("read the Azure marketplace app's secret: %w", err)
		}
		secret = aws.ToString(out.SecretString)
	}
	azCfg := azuremarket.Config{TenantID: mc.AzureTenantID, ClientID: mc.AzureClientID, ClientSecret: secret,
		APIBase: mc.AzureAPIBase, LoginBase: mc.AzureLoginBase, Now: p.Now}
	client, err := azuremarket.NewClient(azCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("azure marketplace client: %w", err)
	}
	verifier, err := azuremarket.NewVerifier(azCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("azure webhook verifier: %w", err)
	}
	svc.Azure = client
	return svc, verifier, nil
}
