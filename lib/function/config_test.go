package function_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/ratelimit"
)

func setRequired(t *testing.T) {
	for k, v := range map[string]string{"AWS_REGION": "eu-west-1", "TABLE_NAME": "signum", "SERVICE_KEY_ID": "alias/s", "TOKEN_KEY_ID": "alias/t"} {
		t.Setenv(k, v)
	}
}

// The rate limits start from the defaults; the environment replaces them; a bad value stops
// the function at start with the variable named, rather than running unlimited.
func TestLimitsFromEnv(t *testing.T) {
	setRequired(t)
	c, err := function.FromEnv()
	if err != nil || !reflect.DeepEqual(c.Limits, function.DefaultLimits()) {
		t.Fatalf("ok/defaults: %+v %v", c.Limits, err)
	}
	t.Setenv("SIGNING_RATE_LIMITS", "trial=64/1s, enterprise=off")
	t.Setenv("SIGNING_CALLER_RATE_LIMIT", "5/1m")
	t.Setenv("LOGIN_ACCOUNT_RATE_LIMIT", "3/1m")
	t.Setenv("LOGIN_ADDRESS_RATE_LIMIT", "off")
	c, err = function.FromEnv()
	want := function.Limits{SigningPerPlan: map[string]ratelimit.Limit{"trial": {N: 64, Per: time.Second}, "enterprise": {}},
		SigningPerCaller: ratelimit.Limit{N: 5, Per: time.Minute}, LoginPerAccount: ratelimit.Limit{N: 3, Per: time.Minute}}
	if err != nil || !reflect.DeepEqual(c.Limits, want) {
		t.Fatalf("ok/set: %+v %v", c.Limits, err)
	}
	for name, v := range map[string]string{"SIGNING_RATE_LIMITS": "trial:64/1s", "SIGNING_CALLER_RATE_LIMIT": "fast", "LOGIN_ACCOUNT_RATE_LIMIT": "10", "LOGIN_ADDRESS_RATE_LIMIT": "1/1ms"} {
		t.Run("fail/"+name, func(t *testing.T) {
			t.Setenv(name, v)
			if _, err := function.FromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%v", err)
			}
		})
	}
}

// EnvVars is what FromEnv reads a configuration back from: the variables a function run
// elsewhere (sam local) needs to use the same stand-ins and limits.
func TestEnvVarsRoundTrip(t *testing.T) {
	want := function.Config{Region: "us-east-1", TableName: "signum", ServiceKeyID: "alias/s", TokenKeyID: "alias/t",
		DynamoDBEndpoint: "http://host.docker.internal:4001", KMSEndpoint: "http://host.docker.internal:4002", S3Endpoint: "http://host.docker.internal:4003",
		LogLevel: "debug", OperatorAccountID: "000000000000", Stack: "local", PKCS11Library: "/opt/lib.so", PKCS11Token: "signum", PKCS11PINSecret: "arn:aws:secretsmanager:us-east-1:000000000000:secret:pin-AbCdEf",
		DeploymentDomainSuffix: "localhost", SignerDomainSuffix: "mtls.localhost", CheckpointKeyID: "arn:aws:kms:us-east-1:000000000000:key/x", AnchorBucket: "anchors",
		AnchorEvery: function.DefaultAnchorEvery,
		KeyUsers:    []string{"arn:aws:iam::000000000000:role/signer", "arn:aws:iam::000000000000:role/path/certificates"},
		KeyManager:  "arn:aws:iam::000000000000:role/path/certificates", KeyAdministrator: "arn:aws:iam::000000000000:role/admin",
		Limits: function.Limits{SigningPerPlan: map[string]ratelimit.Limit{"trial": {N: 64, Per: time.Second}, "enterprise": {}},
			SigningPerCaller: ratelimit.Limit{N: 5, Per: time.Minute}, LoginPerAccount: ratelimit.Limit{N: 3, Per: time.Hour}}}
	vars := function.EnvVars(want)
	for k, v := range vars {
		t.Setenv(k, v)
	}
	got, err := function.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v\nwant      %+v\nfrom %v", got, want, vars)
	}
	withKeys := want
	withKeys.StaticAccessKey, withKeys.StaticSecretKey = "local", "secret"
	if v := function.EnvVars(withKeys); v["AWS_ACCESS_KEY_ID"] != "local" || v["AWS_SECRET_ACCESS_KEY"] != "secret" {
		t.Errorf("static credentials are not carried: %v", v)
	}
}

// TestKeyPolicyFromEnv: the certificate keys' policy comes from SIGNUM_KEY_USERS,
// SIGNUM_KEY_MANAGER and SIGNUM_KEY_ADMINISTRATOR, which template.yaml sets; none of them is
// KMS's default policy; a value that is not what it should be stops the function at start
// with the variables named.
func TestKeyPolicyFromEnv(t *testing.T) {
	const signer, certs = "arn:aws:iam::123456789012:role/signum-SignerFunctionRole-1", "arn:aws:iam::123456789012:role/signum-ConsoleCertificatesFunctionRole-2"
	t.Run("ok/unset", func(t *testing.T) {
		setRequired(t)
		for _, k := range []string{"SIGNUM_KEY_USERS", "SIGNUM_KEY_MANAGER", "SIGNUM_KEY_ADMINISTRATOR"} {
			t.Setenv(k, "")
		}
		c, err := function.FromEnv()
		if err != nil || c.KeyUsers != nil || c.KeyManager != "" {
			t.Fatalf("%+v %v", c, err)
		}
		if p, err := c.KeyPolicy(); p != nil || err != nil {
			t.Fatalf("policy %v, %v; want none", p, err)
		}
	})
	t.Run("ok/set", func(t *testing.T) {
		setRequired(t)
		t.Setenv("SIGNUM_KEY_USERS", " "+signer+" , "+certs+",")
		t.Setenv("SIGNUM_KEY_MANAGER", certs)
		t.Setenv("SIGNUM_KEY_ADMINISTRATOR", "")
		c, err := function.FromEnv()
		if err != nil || !reflect.DeepEqual(c.KeyUsers, []string{signer, certs}) || c.KeyManager != certs || c.KeyAdministrator != "" {
			t.Fatalf("%q %q %q %v", c.KeyUsers, c.KeyManager, c.KeyAdministrator, err)
		}
		p, err := c.KeyPolicy()
		if err != nil || p == nil || !strings.Contains(p.String(), `"arn:aws:iam::123456789012:root"`) || !strings.Contains(p.String(), signer) {
			t.Fatalf("policy %v, %v", p, err)
		}
	})
	for name, env := range map[string]map[string]string{
		"fail/not-an-arn":         {"SIGNUM_KEY_USERS": "SignerFunctionRole"},
		"fail/other-account":      {"SIGNUM_KEY_USERS": signer, "SIGNUM_KEY_MANAGER": "arn:aws:iam::999999999999:role/c"},
		"fail/bad-administrator":  {"SIGNUM_KEY_USERS": signer, "SIGNUM_KEY_ADMINISTRATOR": "admin"},
		"fail/administrator-only": {"SIGNUM_KEY_ADMINISTRATOR": "arn:aws:iam::123456789012:role/admin"},
	} {
		t.Run(name, func(t *testing.T) {
			setRequired(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			if _, err := function.FromEnv(); err == nil || !strings.Contains(err.Error(), "SIGNUM_KEY_USERS") {
				t.Fatalf("%v", err)
			}
		})
	}
}
