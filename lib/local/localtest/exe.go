package localtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	exeOnce  sync.Once
	exeBytes []byte
)

// WindowsExe is a small unsigned Windows executable (built once per test binary with the
// Go toolchain the tests run with).
func WindowsExe(t testing.TB) []byte {
	t.Helper()
	exeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signum-exe-")
		if err != nil {
			return
		}
		defer os.RemoveAll(dir)
		_ = os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "hello.exe"), ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("go build: %v %s", err, out)
			return
		}
		exeBytes, _ = os.ReadFile(filepath.Join(dir, "hello.exe"))
	})
	if exeBytes == nil {
		t.Fatal("could not build a Windows executable")
	}
	return exeBytes
}
