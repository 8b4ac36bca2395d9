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
