package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// SoftHSMLibrary is where Debian's softhsm2 package puts the PKCS#11 module.
const SoftHSMLibrary = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSMToken is the label of the local stand-in for a CloudHSM cluster's token.
const SoftHSMToken = "signum-local"

// ErrNoSoftHSM means SoftHSM2 is not installed (scripts/softhsm-setup.sh installs it).
var ErrNoSoftHSM = errors.New("SoftHSM2 is not installed: run scripts/softhsm-setup.sh (or apt-get install softhsm2)")

// HSM is a SoftHSM2 token standing in for CloudHSM.
type HSM struct {
	Library, Token, PIN string
}

var (
	hsmOnce sync.Once
	hsm     HSM
	hsmErr  error
)

// SoftHSM sets up (once per process: SoftHSM reads SOFTHSM2_CONF when the module is first
// loaded) a token in dir, keeping its PIN in dir/pin, and returns how to reach it. A later
// call returns the first call's token whatever its dir.
func SoftHSM(dir string) (HSM, error) {
	hsmOnce.Do(func() { hsm, hsmErr = softHSM(dir) })
	return hsm, hsmErr
}

func softHSM(dir string) (HSM, error) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return HSM{}, ErrNoSoftHSM
	}
	if _, err := os.Stat(SoftHSMLibrary); err != nil {
		return HSM{}, ErrNoSoftHSM
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return HSM{}, err
	}
	tokens := filepath.Join(abs, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return HSM{}, err
	}
	if err := PrivateDir(abs); err != nil { // the token and its PINs, as an earlier run left them
		return HSM{}, err
	}
	conf := filepath.Join(abs, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		return HSM{}, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return HSM{}, err
	}
	pin, err := readOrMakePIN(filepath.Join(abs, "pin"))
	if err != nil {
		return HSM{}, err
	}
	slots, err := exec.Command("softhsm2-util", "--show-slots").CombinedOutput()
	if err != nil {
		return HSM{}, fmt.Errorf("softhsm2-util --show-slots: %v: %s", err, slots)
	}
	if !strings.Contains(string(slots), SoftHSMToken) {
		so, err := readOrMakePIN(filepath.Join(abs, "so-pin"))
		if err != nil {
			return HSM{}, err
		}
		// The PINs are on the command line: acceptable for a throw-away local token only.
		if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", SoftHSMToken, "--so-pin", so, "--pin", pin).CombinedOutput(); err != nil {
			return HSM{}, fmt.Errorf("softhsm2-util --init-token: %v: %s", err, strings.ReplaceAll(string(out), pin, "(pin)"))
		}
	}
	return HSM{Library: SoftHSMLibrary, Token: SoftHSMToken, PIN: pin}, nil
}

func readOrMakePIN(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 4 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	pin := hex.EncodeToString(b[:])
	return pin, os.WriteFile(path, []byte(pin+"\n"), 0o600)
}
