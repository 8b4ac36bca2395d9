package devstack

import (
	"io/fs"
	"os"
	"path/filepath"
)

// PrivateDir makes dir, and everything already in it, readable by the current user only:
// directories 0700, files without any group or other permission (0644 becomes 0600). The
// local data directory holds key material (the KMS stand-in's keys, among them the token
// signing key; the SoftHSM token and its PINs; the operator's credentials), and an earlier
// version, or a library's default, may have left it world-readable; it is made private at
// every start, and the files written while running (the KMS stand-in's database writes files
// 0644) are made private again when the stack closes. Symbolic links are left alone.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return nil
		case d.IsDir():
			return os.Chmod(path, 0o700)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if m := info.Mode().Perm(); m&0o077 != 0 {
			return os.Chmod(path, m&^0o077)
		}
		return nil
	})
}
