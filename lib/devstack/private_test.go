package devstack_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
)

// CheckPrivate fails t unless every directory under dir is 0700 and no file under it grants
// any permission to the group or to others.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if m := info.Mode().Perm(); d.IsDir() && m != 0o700 || !d.IsDir() && m&0o077 != 0 {
			t.Errorf("%s has mode %#o", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("only %d entries under %s: nothing was written?", n, dir)
	}
}

// TestKMSDataIsPrivate: the KMS stand-in's keys (the token signing key among them) are
// readable by their owner only — the data directory 0700, its files 0600 — including what an
// earlier run left world-readable and what the stand-in writes while it runs.
func TestKMSDataIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// What an earlier version left: a world-readable directory, file and subdirectory.
	if err := os.MkdirAll(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"operator.env", "old/key"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, filepath.Join(dir, "old")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "old/key"), 0o666); err != nil {
		t.Fatal(err)
	}

	st, err := devstack.Start(devstack.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	ctx := context.Background()
	c, err := function.NewClients(ctx, st.Env("t"))
	if err != nil {
		t.Fatal(err)
	}
	if err := devstack.Bootstrap(ctx, c, "t"); err != nil { // writes the token and service keys
		t.Fatal(err)
	}
	checkPrivate(t, dir)
	st.Close()
	closed = true
	checkPrivate(t, dir)
}
