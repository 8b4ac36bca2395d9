package pkcs11_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/keys/pkcs11"
)

// TestConfigHidesPIN: printing or logging a Config leaves the PIN out.
func TestConfigHidesPIN(t *testing.T) {
	const pin = "crypto-user:s3cret-Pa55"
	cfg := pkcs11.Config{LibraryPath: "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so", TokenLabel: "hsm1", PIN: pin, MaxSessions: 4}
	var log bytes.Buffer
	slog.New(slog.NewJSONHandler(&log, nil)).Info("config", "pkcs11", cfg)
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(&cfg), log.String()} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("PIN shown: %s", s)
		}
		if !strings.Contains(s, "hsm1") {
			t.Fatalf("token label missing: %s", s)
		}
	}
}
