package function

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/keys/pkcs11"
)

// StackTag is the KMS tag that names the stack (Config.Stack) a key was created by.
const StackTag = "signum:stack"

// KeyRegistry opens keys on the backends env configures: AWS KMS always, PKCS#11 when
// PKCS11_LIBRARY is set (its PIN read from Secrets Manager, or given by the local server).
// KMS keys it creates are tagged with the stack, when there is one, and have the key policy
// of Config.KeyPolicy, when there is one.
func KeyRegistry(ctx context.Context, env Env) (*keys.Registry, error) {
	var opts []awskms.Option
	if env.Config.Stack != "" {
		opts = append(opts, awskms.WithTags(map[string]string{StackTag: env.Config.Stack}))
	}
	policy, err := env.Config.KeyPolicy()
	if err != nil {
		return nil, fmt.Errorf("certificate keys' policy: %w", err)
	}
	if policy != nil {
		opts = append(opts, awskms.WithKeyPolicy(*policy))
	}
	backends := []keys.Backend{awskms.New(env.Clients.KMS, opts...)}
	if env.Config.PKCS11Library != "" {
		// Opened when first needed, not at start: an HSM (or its PIN's secret) out of reach
		// makes HSM keys answer 503 until it is back, instead of the function not starting.
		backends = append(backends, keys.Lazy(pkcs11.Scheme, func(ctx context.Context) (keys.Backend, error) {
			return openHSM(ctx, env)
		}, HSMRetry, env.Now))
	}
	return keys.NewRegistry(backends...), nil
}

// HSMRetry is how often an HSM that could not be reached is tried again.
const HSMRetry = 5 * time.Second

// openHSM reads the PIN (Secrets Manager, or the local server's) and logs in to the token.
func openHSM(ctx context.Context, env Env) (keys.Backend, error) {
	pin := env.Config.PKCS11PIN
	if pin == "" {
		var err error
		if pin, err = secretPIN(ctx, env); err != nil {
			return nil, err
		}
	}
	cfg := pkcs11.Config{LibraryPath: env.Config.PKCS11Library, TokenLabel: env.Config.PKCS11Token, PIN: pin}
	hsm, err := pkcs11.New(cfg)
	if err != nil {
		env.Log.Warn("PKCS#11 backend not reachable", slog.Any("pkcs11", cfg), slog.String("error", err.Error()))
		return nil, fmt.Errorf("PKCS#11 backend: %w", err)
	}
	// Which module and token this instance signs with (the PIN is redacted by LogValue).
	env.Log.Info("PKCS#11 backend", slog.Any("pkcs11", cfg))
	return hsm, nil
}

// secretPIN reads the HSM crypto user's PIN from Secrets Manager, once per cold start.
func secretPIN(ctx context.Context, env Env) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.Config.Region))
	if err != nil {
		return "", err
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(env.Config.PKCS11PINSecret)})
	if err != nil {
		return "", fmt.Errorf("read the PKCS#11 PIN secret: %w", err)
	}
	return aws.ToString(out.SecretString), nil
}
