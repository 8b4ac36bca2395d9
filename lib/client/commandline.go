package client

import (
	"regexp"
	"strings"
)

// maxCommandLine is the longest command line a request reports (the service's limit).
const maxCommandLine = 4096

// secretFlags take a secret as their next argument (or after "="): PINs and passwords of
// osslsigncode, openssl, pkcs11-tool and jarsigner, and signum's own tokens.
var secretFlags = map[string]bool{
	"-pass": true, "--pass": true, "-pin": true, "--pin": true, "-p": true, "--so-pin": true, "--new-pin": true, "--puk": true,
	"-passin": true, "-passout": true, "-password": true, "--password": true, "-storepass": true, "-keypass": true,
	"--p12-password": true, "-kpass": true, "--oidc-token": true, "--token": true,
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
