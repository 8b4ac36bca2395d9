package p11token

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opensignum/signum/lib/client"
)

// maxCommandLine is the longest command line a request reports (the service's limit).
const maxCommandLine = 4096

// Caller is the process that loaded the module as signing requests report it: the name of
// its executable ("osslsigncode", "openssl"), its command line with secrets removed, the
// machine and the CI job. Policies' Where rules match the process and the command line.
func Caller() client.Context {
	host, ci := client.Machine()
	sc := client.Context{AgentID: host, CI: ci}
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		sc.Process = filepath.Base(exe)
	} else if len(os.Args) > 0 {
		sc.Process = filepath.Base(os.Args[0])
	}
	args := os.Args
	if raw, err := os.ReadFile("/proc/self/cmdline"); err == nil && len(raw) > 0 {
		args = strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
	}
	sc.CommandLine = CommandLine(args)
	return sc
}

// secretFlags take a secret as their next argument (or after "="): PINs and passwords of
// osslsigncode, openssl, pkcs11-tool, jarsigner and signtool-like tools.
var secretFlags = map[string]bool{
	"-pass": true, "--pass": true, "-pin": true, "--pin": true, "-p": true, "--so-pin": true, "--new-pin": true, "--puk": true,
	"-passin": true, "-passout": true, "-password": true, "--password": true, "-storepass": true, "-keypass": true,
	"--p12-password": true, "-kpass": true,
}

// inlineSecrets are secrets written inside an argument: openssl's "pass:SECRET" and a
// PKCS#11 URI's pin-value.
var inlineSecrets = regexp.MustCompile(`(?i)(^pass:|pin-value=)[^;&]*`)

// CommandLine joins args as the request reports them, each PIN or password replaced by
// "***": the command line is kept in the signing event log, which must hold no secrets.
func CommandLine(args []string) string {
	out := make([]string, len(args))
	hide := false
	for i, a := range args {
		switch {
		case hide:
			out[i], hide = "***", false
			continue
		case secretFlags[a]:
			hide = true
		case strings.Contains(a, "=") && secretFlags[a[:strings.Index(a, "=")]]:
			a = a[:strings.Index(a, "=")+1] + "***"
		}
		out[i] = inlineSecrets.ReplaceAllString(a, "${1}***")
	}
	line := strings.Join(out, " ")
	if len(line) > maxCommandLine {
		line = line[:maxCommandLine]
	}
	return line
}
