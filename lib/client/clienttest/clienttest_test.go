package clienttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutsideToolsSignTheFixtures: the generated files are what the formats' own tools take:
// osslsigncode signs and verifies each Windows format with a local key, and jarsigner the JAR.
// A fixture only signum could read would prove nothing in the signing tests.
func TestOutsideToolsSignTheFixtures(t *testing.T) {
	osslsigncode, err := exec.LookPath("osslsigncode")
	if err != nil {
		if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
			t.Fatal("osslsigncode is not installed")
		}
		t.Skip("osslsigncode is not installed")
	}
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	// The APPX manifest names its publisher CN=Example; signing tools insist the certificate's
	// subject is that publisher.
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
		"-subj", "/CN=Example", "-addext", "extendedKeyUsage=codeSigning").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v %s", err, out)
	}
	for _, format := range []string{"msi", "cab", "cat", "appx", "ps1"} {
		t.Run(format, func(t *testing.T) {
			in := Write(t, t.TempDir(), format)
			signed := filepath.Join(filepath.Dir(in), "signed"+Extensions[format])
			if out, err := exec.Command(osslsigncode, "sign", "-certs", cert, "-key", key, "-in", in, "-out", signed).CombinedOutput(); err != nil {
				t.Fatalf("osslsigncode sign: %v\n%s", err, out)
			}
			out, err := exec.Command(osslsigncode, "verify", "-CAfile", cert, "-in", signed).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
				t.Fatalf("osslsigncode verify: %v\n%s", err, out)
			}
		})
	}
	t.Run("jar", func(t *testing.T) {
		jarsigner, err := exec.LookPath("jarsigner")
		if err != nil {
			t.Skip("jarsigner is not installed")
		}
		jar := Write(t, t.TempDir(), "jar")
		ks := filepath.Join(dir, "ks.p12")
		if out, err := exec.Command("openssl", "pkcs12", "-export", "-inkey", key, "-in", cert, "-out", ks, "-passout", "pass:changeit", "-name", "test").CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs12: %v %s", err, out)
		}
		if out, err := exec.Command(jarsigner, "-keystore", ks, "-storetype", "PKCS12", "-storepass", "changeit", jar, "test").CombinedOutput(); err != nil {
			t.Fatalf("jarsigner: %v %s", err, out)
		}
		if out, err := exec.Command(jarsigner, "-verify", jar).CombinedOutput(); err != nil || !strings.Contains(string(out), "jar verified") {
			t.Fatalf("jarsigner -verify: %v %s", err, out)
		}
	})
}
