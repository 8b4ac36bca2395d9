package p11token

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/opensignum/signum/lib/client"
)

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
	sc.CommandLine = client.CommandLine(args)
	return sc
}
