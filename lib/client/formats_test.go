package client

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensignum/signum/lib/client/clienttest"
)

// TestDetectFormat: content decides first, the name only where content is open to several
// formats; a file of no known format is signed as a detached signature.
func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		path string
		want string
	}{
		{"ok/msi", clienttest.Write(t, t.TempDir(), "msi"), FormatMSI},
		{"ok/cab", clienttest.Write(t, t.TempDir(), "cab"), FormatCAB},
		{"ok/cat", clienttest.Write(t, t.TempDir(), "cat"), FormatCAT},
		{"ok/appx", clienttest.Write(t, t.TempDir(), "appx"), FormatAPPX},
		{"ok/jar", clienttest.Write(t, t.TempDir(), "jar"), FormatJAR},
		{"ok/ps1", clienttest.Write(t, t.TempDir(), "ps1"), FormatPS},
		{"ok/msi-named-txt", write("installer.txt", clienttest.MSI(t)), FormatMSI},
		{"ok/appx-named-jar", write("package.jar", clienttest.APPX(t, nil)), FormatAPPX},
		{"ok/jar-named-zip", write("library.zip", clienttest.JAR(t)), FormatJAR},
		{"ok/psm1", write("module.psm1", clienttest.PS1()), FormatPS},
		{"ok/utf16-script", write("wide.ps1", []byte{0xFF, 0xFE, '#', 0, ' ', 0, 'x', 0}), FormatPS},
		{"ok/script-named-txt", write("script.txt", clienttest.PS1()), FormatCMS},
		{"ok/binary-named-ps1", write("blob.ps1", []byte{1, 0, 2, 0}), FormatCMS},
		{"ok/mz-not-pe", write("mz.exe", []byte("MZ but no PE header follows, not a program")), FormatCMS},
		{"ok/empty", write("empty.ps1", nil), FormatCMS},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DetectFormat(c.path)
			if err != nil || got != c.want {
				t.Fatalf("DetectFormat(%s) = %q, %v; want %q", filepath.Base(c.path), got, err, c.want)
			}
		})
	}
	if _, err := DetectFormat(filepath.Join(dir, "missing")); !errors.Is(err, ErrConfig) {
		t.Fatalf("a missing file: %v", err)
	}
}

// TestCheckFormat: an explicit format is kept when the file is in it, refused with what the
// file looks like when not; cms fits any file, jar any ZIP but an APPX, ps1 any text.
func TestCheckFormat(t *testing.T) {
	dir := t.TempDir()
	appx := clienttest.Write(t, dir, "appx")
	txt := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(txt, []byte("notes\n"), 0o644)
	for _, c := range []struct {
		name, path, format, want string
	}{
		{"ok/auto", appx, "auto", FormatAPPX},
		{"ok/msix-alias", appx, "MSIX", FormatAPPX},
		{"ok/cms-any", appx, "cms", FormatCMS},
		{"ok/ps1-any-text", txt, "ps1", FormatPS},
		{"ok/empty-is-auto", txt, "", FormatCMS},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := CheckFormat(c.path, c.format)
			if err != nil || got != c.want {
				t.Fatalf("CheckFormat(%s, %s) = %q, %v; want %q", filepath.Base(c.path), c.format, got, err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name, path, format, looks string
		notPE                     bool
	}{
		{"fail/jar-on-appx", appx, "jar", "an APPX/MSIX package", false},
		{"fail/pe-on-text", txt, "authenticode", "a text file", true},
		{"fail/cat-on-text", txt, "cat", "a text file", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := CheckFormat(c.path, c.format)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Looks != c.looks || !errors.Is(err, ErrFormat) || errors.Is(err, ErrNotPE) != c.notPE {
				t.Fatalf("CheckFormat(%s, %s): %v", filepath.Base(c.path), c.format, err)
			}
		})
	}
	if _, err := CheckFormat(txt, "rpm"); !errors.Is(err, ErrFormat) {
		t.Fatalf("unknown format: %v", err)
	}
}
