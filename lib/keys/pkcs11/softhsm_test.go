//go:build cgo

package pkcs11_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/keys/pkcs11"
)

// softHSMLibraries are where distributions put the SoftHSM2 module.
var softHSMLibraries = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // older Debian, Ubuntu
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // arm64 multiarch
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, Amazon Linux
	"/usr/local/lib/softhsm/libsofthsm2.so",             // source builds
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS (Apple silicon)
	"/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so", // macOS (Intel)
}

const installHint = "install SoftHSM2 (Debian: apt-get install -y softhsm2, or scripts/softhsm-setup.sh; macOS: brew install softhsm)"

// softHSM is a throw-away SoftHSM2 installation: a config and token directory under a test's
// temporary directory, with SOFTHSM2_CONF pointing at it for the rest of the test.
type softHSM struct {
	Library string
	Tokens  []string // labels of the initialised tokens
	PIN     string   // user PIN of every token
	SOPIN   string
}

// newSoftHSM initialises one token per label (default "signum-test") in tb.TempDir(). Without
// softhsm2-util or the module it skips tb, or fails it when SIGNUM_REQUIRE_SOFTHSM=1 (CI).
//
// SoftHSM2 reads SOFTHSM2_CONF when the module is initialised, and crypto11 initialises it
// once per process for as long as any Backend is open; so a test must close its Backends
// (newBackend does, at cleanup) before the next test makes its token, and tests using
// SoftHSM must not run in parallel.
func newSoftHSM(tb testing.TB, labels ...string) *softHSM {
	tb.Helper()
	util, err := exec.LookPath("softhsm2-util")
	lib := ""
	for _, p := range softHSMLibraries {
		if _, err := os.Stat(p); err == nil {
			lib = p
			break
		}
	}
	if err != nil || lib == "" {
		missing := "softhsm2-util"
		if err == nil {
			missing = "libsofthsm2.so (looked in " + strings.Join(softHSMLibraries, ", ") + ")"
		}
		if os.Getenv("SIGNUM_REQUIRE_SOFTHSM") == "1" {
			tb.Fatalf("SIGNUM_REQUIRE_SOFTHSM=1 but %s is missing: %s", missing, installHint)
		}
		tb.Skipf("%s is missing; %s to run the PKCS#11 tests", missing, installHint)
	}
	if len(labels) == 0 {
		labels = []string{"signum-test"}
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	h := &softHSM{Library: lib, Tokens: labels, PIN: randomPIN(), SOPIN: randomPIN()}
	for _, label := range labels {
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", h.SOPIN, "--pin", h.PIN).CombinedOutput()
		if err != nil {
			tb.Fatalf("softhsm2-util --init-token --label %s: %v\n%s", label, err, out)
		}
	}
	return h
}

// Config is a backend config for token i.
func (h *softHSM) Config(i int) pkcs11.Config {
	return pkcs11.Config{LibraryPath: h.Library, TokenLabel: h.Tokens[i], PIN: h.PIN}
}

// newBackend makes a SoftHSM2 token and a Backend on it, closed at cleanup.
func newBackend(tb testing.TB) (*pkcs11.Backend, *softHSM) {
	tb.Helper()
	h := newSoftHSM(tb)
	b, err := pkcs11.New(h.Config(0))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return b, h
}

func randomPIN() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
