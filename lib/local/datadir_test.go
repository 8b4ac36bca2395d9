package local_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

// TestDataDirIsPrivate: what the local server keeps in its data directory (.local for `make
// run`: the KMS stand-in's keys with the token signing key, the SoftHSM token and its PINs,
// the operator's credentials, the TLS CA) is readable by the current user only, including
// what an earlier run left world-readable: directories 0700, files with no group or other
// permission.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".local")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An earlier run's credentials, world-readable.
	if err := os.WriteFile(filepath.Join(dir, "operator.env"), []byte("AWS_SECRET_ACCESS_KEY=old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "operator.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: dir, Log: function.NewLogger(io.Discard, "error")})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			seen[d.Name()] = true
			if m := info.Mode().Perm(); d.IsDir() && m != 0o700 || !d.IsDir() && m&0o077 != 0 {
				t.Errorf("%s: %s has mode %#o", when, path, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"operator.env", local.TLSCAFile, "CURRENT"} { // CURRENT: the KMS stand-in's database
			if !seen[f] {
				t.Errorf("%s: %s was not written", when, f)
			}
		}
	}
	check("running")
	srv.Close()
	check("stopped")
}
