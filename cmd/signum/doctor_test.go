package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// doctorLines runs signum doctor -o json with env and args and returns its exit code and
// its checks by name.
func doctorChecks(t *testing.T, env map[string]string, args ...string) (int, map[string]check, []string, string) {
	t.Helper()
	code, out, errOut := cli(t, env, append([]string{"doctor", "-o", "json"}, args...)...)
	var r struct {
		OK     bool
		Checks []struct{ Name, Status, Detail, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, errOut)
	}
	if r.OK != (code == 0) {
		t.Fatalf("doctor says ok %v with exit code %d", r.OK, code)
	}
	byName := map[string]check{}
	var order []string
	for _, c := range r.Checks {
		byName[c.Name] = check{Name: c.Name, Status: c.Status, Detail: c.Detail, Fix: c.Fix}
		order = append(order, c.Name+"="+c.Status)
	}
	return code, byName, order, errOut
}

// want fails unless check name has status and its detail (or fix) says each of says.
func want(t *testing.T, checks map[string]check, name, status string, says ...string) {
	t.Helper()
	c, ok := checks[name]
	if !ok {
		t.Fatalf("no %q check in %v", name, checks)
	}
	if c.Status != status {
		t.Fatalf("%s: %s (%s; fix: %s), want %s", name, c.Status, c.Detail, c.Fix, status)
	}
	for _, s := range says {
		if !strings.Contains(c.Detail+" "+c.Fix, s) {
			t.Fatalf("%s: %q does not say %q", name, c.Detail+" fix: "+c.Fix, s)
		}
	}
}

// TestDoctorGood: with a working configuration every check is ok, in order, the listing
// names the certificate and --cert names the policy that allows it; the text form is one
// line per check.
func TestDoctorGood(t *testing.T) {
	w := newWorld(t)
	code, checks, order, errOut := doctorChecks(t, w.env(w.p12), "--cert", "Release")
	if code != 0 {
		t.Fatalf("doctor: %d %v %s", code, order, errOut)
	}
	if got := strings.Join(order, " "); got != "configuration=ok .p12=ok client certificate=ok server=ok authentication=ok certificates=ok evaluate=ok" {
		t.Fatalf("checks: %s", got)
	}
	want(t, checks, "configuration", checkOK, w.srv.TLSURL, "credentials: .p12 "+w.p12)
	want(t, checks, "authentication", checkOK, "accepted as ci-agent", w.userID)
	want(t, checks, "certificates", checkOK, w.certID, `process "signum"`)
	want(t, checks, "evaluate", checkOK, `allowed by policy "CI"`, w.certID)

	code, out, _ := cli(t, w.env(w.p12), "doctor")
	if code != 0 || strings.Count(out, "\nok  ")+1 != 6 || !strings.HasPrefix(out, "ok    configuration") {
		t.Fatalf("doctor text: %d\n%s", code, out)
	}
}

// TestDoctorFailures: each broken setup fails the check it concerns with what to fix, skips
// those that depend on it, and exits with that failure's code.
func TestDoctorFailures(t *testing.T) {
	w := newWorld(t)

	t.Run("fail/wrong-p12-password", func(t *testing.T) {
		env := w.env(w.p12)
		env["SIGNUM_P12_PASSWORD"] = "wrong"
		code, checks, order, _ := doctorChecks(t, env)
		if code != exitUsage {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, ".p12", checkFail, "wrong .p12 password", "SIGNUM_P12_PASSWORD")
		// The server is still checked: it needs no credentials.
		want(t, checks, "server", checkOK, "trusted")
		want(t, checks, "authentication", checkSkip)
	})

	t.Run("fail/expired-client-certificate", func(t *testing.T) {
		_, expired := w.lt.Agent(t, "doctor-expired", time.Now().Add(-time.Hour))
		code, checks, order, _ := doctorChecks(t, w.env(expired))
		if code != exitAuth {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, ".p12", checkOK)
		want(t, checks, "client certificate", checkFail, "expired on", "console admin")
		want(t, checks, "authentication", checkSkip)
	})

	t.Run("warn/client-certificate-expires-soon", func(t *testing.T) {
		_, soon := w.lt.Agent(t, "doctor-soon", time.Now().Add(10*24*time.Hour))
		code, checks, order, _ := doctorChecks(t, w.env(soon))
		// It is no failure: the certificate still authenticates (its user has no policy).
		want(t, checks, "client certificate", checkWarn, "in 9 days", "new client certificate")
		want(t, checks, "authentication", checkOK, "doctor-soon")
		if code != exitDenied {
			t.Fatalf("exit %d: %v", code, order)
		}
	})

	t.Run("fail/connection-refused", func(t *testing.T) {
		env := w.env(w.p12)
		env["SIGNUM_URL"] = "https://127.0.0.1:1"
		code, checks, order, _ := doctorChecks(t, env)
		if code != exitUnreachable {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "configuration", checkOK)
		want(t, checks, "server", checkFail, "connection refused", "port")
		want(t, checks, "authentication", checkSkip)
		want(t, checks, "certificates", checkSkip)
	})

	t.Run("fail/host-does-not-resolve", func(t *testing.T) {
		env := w.env(w.p12)
		env["SIGNUM_URL"] = "https://signum-doctor-test.invalid"
		code, checks, order, _ := doctorChecks(t, env)
		if code != exitUnreachable {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "server", checkFail, "does not resolve", "host name")
	})

	t.Run("fail/untrusted-server-ca", func(t *testing.T) {
		// The signing certificates' CA is not the one that issued the server's certificate.
		env := w.env(w.p12)
		env["SIGNUM_CA"] = w.caFile
		code, checks, order, _ := doctorChecks(t, env)
		if code != exitUnreachable {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "server", checkFail, "not trusted", "SIGNUM_CA")
	})

	t.Run("fail/no-configuration", func(t *testing.T) {
		env := w.env("")
		env["SIGNUM_URL"] = ""
		code, checks, order, _ := doctorChecks(t, env)
		if code != exitUsage {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "configuration", checkFail, "no credentials", "signum configure")
		want(t, checks, "server", checkSkip)
	})

	t.Run("fail/process-not-allowed", func(t *testing.T) {
		code, checks, order, _ := doctorChecks(t, w.env(w.p12), "--process", "make", "--cert", w.certID)
		if code != exitDenied {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "authentication", checkOK)
		want(t, checks, "certificates", checkFail, `process "make"`, "Where matches")
		want(t, checks, "evaluate", checkFail, "would be refused", "no policy allows this request")
	})

	t.Run("fail/unknown-certificate", func(t *testing.T) {
		code, checks, order, _ := doctorChecks(t, w.env(w.p12), "--cert", "crt_aaaaaaaaaaaaaaaaaaaaaaaaaa")
		if code == 0 {
			t.Fatalf("exit %d: %v", code, order)
		}
		want(t, checks, "evaluate", checkFail, "no certificate")
	})

	t.Run("fail/no-policy", func(t *testing.T) {
		code, checks, order, errOut := doctorChecks(t, w.env(w.noPolicy), "--cert", w.certID)
		if code != exitDenied || !strings.HasPrefix(errOut, "signum: doctor: 2 checks failed") {
			t.Fatalf("exit %d: %v %s", code, order, errOut)
		}
		want(t, checks, "certificates", checkFail, "no policy lets you sign")
		want(t, checks, "evaluate", checkFail, "would be refused")
	})
}
