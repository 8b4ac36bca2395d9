package client

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sassoftware/relic/v8/lib/authenticode"
	"github.com/sassoftware/relic/v8/lib/binpatch"
	"github.com/sassoftware/relic/v8/lib/cabfile"
	"github.com/sassoftware/relic/v8/lib/certloader"
	"github.com/sassoftware/relic/v8/lib/comdoc"
	rpkcs7 "github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sassoftware/relic/v8/lib/signappx"
	"github.com/sassoftware/relic/v8/lib/signjar"
	"github.com/sassoftware/relic/v8/lib/x509tools"
	"github.com/sassoftware/relic/v8/lib/zipslicer"
)

// Formats a file is signed in: the values of signum sign --format and of FileJob.Mode.
const (
	FormatPE   = "pe"   // Windows PE (.exe, .dll, .sys, ...): embedded Authenticode
	FormatMSI  = "msi"  // Windows Installer (.msi, .msp, .msm): a DigitalSignature stream
	FormatCAB  = "cab"  // cabinet: Authenticode in the header's reserved area
	FormatCAT  = "cat"  // security catalog: the catalog becomes a signed PKCS#7
	FormatAPPX = "appx" // APPX/MSIX package or bundle: AppxSignature.p7x
	FormatJAR  = "jar"  // Java archive: META-INF/SIGNUM.SF and .RSA/.EC
	FormatPS   = "ps1"  // PowerShell script, module, manifest: a signature comment block
	FormatCMS  = "cms"  // anything: a detached CMS/PKCS#7 signature in FILE.p7s
)

// Formats are the formats in the order help texts name them.
var Formats = []string{FormatPE, FormatMSI, FormatCAB, FormatCAT, FormatAPPX, FormatJAR, FormatPS, FormatCMS}

// ErrFormat is signing a file in a format it is not in.
var ErrFormat = errors.New("not in the format asked for")

// formatAliases are other names --format takes: the names of the kinds signum wrote before it
// knew more formats, and the names people use.
var formatAliases = map[string]string{
	Authenticode: FormatPE, "exe": FormatPE, "msix": FormatAPPX, "ps": FormatPS, "powershell": FormatPS,
	Detached: FormatCMS, "p7s": FormatCMS,
}

// formatNames say what a file of each format is, for messages.
var formatNames = map[string]string{
	FormatPE: "a Windows PE file", FormatMSI: "an MSI (compound file)", FormatCAB: "a cabinet (CAB)",
	FormatCAT: "a security catalog (CAT)", FormatAPPX: "an APPX/MSIX package", FormatJAR: "a ZIP archive (JAR)",
	FormatPS: "a text file (PowerShell script)",
}

// FormatList names the values --format takes, for usage messages.
func FormatList() string {
	return "auto, pe (authenticode), msi, cab, cat, appx (msix), jar, ps1 or cms"
}

// ParseFormat is the format named name: "" for "auto" or "" (detected from each file), else a
// value of Formats. An unknown name is an error that lists the known ones.
func ParseFormat(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || n == "auto" {
		return "", nil
	}
	if a, ok := formatAliases[n]; ok {
		return a, nil
	}
	for _, f := range Formats {
		if f == n {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: unknown format %q; the formats are %s", ErrFormat, name, FormatList())
}

// FormatError is a file given to a format it is not in.
type FormatError struct {
	Path   string
	Format string
	// Looks is what the file looks like ("a text file", "a ZIP archive without ...").
	Looks string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s is not %s: it looks like %s (formats: %s)", e.Path, formatNames[e.Format], e.Looks, FormatList())
}

// Is makes a FormatError an ErrFormat, and also an ErrNotPE when PE was asked for.
func (e *FormatError) Is(target error) bool {
	return target == ErrFormat || (target == ErrNotPE && e.Format == FormatPE)
}

// detection is what a file's content (and, where the content leaves it open, its name) says.
type detection struct {
	format string // what --format auto signs it as
	looks  string
	zip    bool // a ZIP archive (a JAR may be any ZIP but an APPX)
	text   bool // text, which a PowerShell signature block can be appended to
}

// DetectFormat is the format signum sign --format auto signs the file at path in: FormatCMS
// (a detached signature) for a file of no format it knows.
func DetectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	d, err := detect(f, path)
	return d.format, err
}

// CheckFormat is the format to sign the file at path in: the detected one when format is ""
// (auto), else format itself if the file is in it, else a *FormatError.
func CheckFormat(path, format string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	return checkFormat(f, path, format)
}

func checkFormat(f *os.File, path, format string) (string, error) {
	format, err := ParseFormat(format)
	if err != nil {
		return "", err
	}
	d, err := detect(f, path)
	if err != nil {
		return "", err
	}
	if format == "" {
		return d.format, nil
	}
	ok := d.format == format
	switch format {
	case FormatCMS:
		ok = true // a detached signature fits any file
	case FormatJAR:
		ok = d.zip && d.format != FormatAPPX // jar signing adds a manifest when there is none
	case FormatPS:
		ok = d.text
	}
	if !ok {
		return "", &FormatError{Path: path, Format: format, Looks: d.looks}
	}
	return format, nil
}

var (
	cfbMagic  = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	oidCTL    = []byte{0x06, 0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0A, 0x01} // 1.3.6.1.4.1.311.10.1, DER
	oidSigned = []byte{0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02} // 1.2.840.113549.1.7.2
)

// detect reads the file's magic numbers first; the name decides only where the content is
// open to several formats (a ZIP without a JAR or APPX manifest, a text file).
func detect(f *os.File, name string) (detection, error) {
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return detection{}, err
	}
	head = head[:n]
	ext := strings.ToLower(filepath.Ext(name))
	switch {
	case looksLikePE(f):
		return detection{format: FormatPE, looks: formatNames[FormatPE]}, nil
	case bytes.HasPrefix(head, cfbMagic):
		// Every compound file is signed as an installer (so are .msp patches and .msm merge
		// modules); osslsigncode does the same.
		return detection{format: FormatMSI, looks: "a compound file (MSI)"}, nil
	case bytes.HasPrefix(head, []byte("MSCF")):
		return detection{format: FormatCAB, looks: formatNames[FormatCAB]}, nil
	case len(head) > 0 && head[0] == 0x30 && bytes.Contains(head[:min(len(head), 256)], oidCTL):
		return detection{format: FormatCAT, looks: formatNames[FormatCAT]}, nil
	case len(head) > 0 && head[0] == 0x30 && bytes.Contains(head[:min(len(head), 256)], oidSigned):
		return detection{format: FormatCMS, looks: "a PKCS#7 signature"}, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return detectZip(f, ext), nil
	}
	if isText(head) {
		if _, ok := authenticode.GetSigStyle(ext); ok {
			return detection{format: FormatPS, looks: "a PowerShell script", text: true}, nil
		}
		return detection{format: FormatCMS, looks: "a text file", text: true}, nil
	}
	return detection{format: FormatCMS, looks: "a file of no format signum signs inside (it gets a detached signature)"}, nil
}

func detectZip(f *os.File, ext string) detection {
	info, err := f.Stat()
	if err != nil {
		return detection{format: FormatCMS, looks: "a ZIP archive that cannot be read"}
	}
	zr, err := zip.NewReader(f, info.Size())
	if err != nil {
		return detection{format: FormatCMS, looks: "a damaged ZIP archive (" + err.Error() + ")"}
	}
	jar := false
	for _, zf := range zr.File {
		switch path.Clean(strings.TrimPrefix(zf.Name, "/")) {
		case "AppxManifest.xml", "AppxMetadata/AppxBundleManifest.xml":
			return detection{format: FormatAPPX, looks: formatNames[FormatAPPX], zip: true}
		case "META-INF/MANIFEST.MF":
			jar = true
		}
	}
	switch {
	case jar:
		return detection{format: FormatJAR, looks: "a Java archive (JAR)", zip: true}
	case ext == ".jar" || ext == ".war" || ext == ".ear":
		return detection{format: FormatJAR, looks: "a Java archive without a manifest", zip: true}
	}
	return detection{format: FormatCMS, looks: "a ZIP archive with neither META-INF/MANIFEST.MF nor AppxManifest.xml", zip: true}
}

// isText: no NUL in the first bytes, or a UTF-16 byte order mark (PowerShell scripts saved by
// Windows PowerShell ISE are UTF-16).
func isText(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return true
	}
	return !bytes.ContainsRune(head, 0)
}

// kindOf is what FileResult.Kind and VerifyResult.Kind say of a format: the names signum used
// before it knew more formats for PE and CMS, the format's name for the others.
func kindOf(format string) string {
	switch format {
	case FormatPE:
		return Authenticode
	case FormatCMS:
		return Detached
	}
	return format
}

// outputOf is where signing a file in format writes: the file itself, or FILE.p7s.
func outputOf(path, format string) string {
	if format == FormatCMS {
		return path + ".p7s"
	}
	return path
}

// signEmbedded signs f in format (any but CMS) and renames the signed file over job.Path.
func signEmbedded(ctx context.Context, f *os.File, format string, job FileJob, cert *certloader.Certificate) error {
	opus := &authenticode.OpusParams{}
	switch format {
	case FormatPE:
		digest, err := authenticode.DigestPE(f, crypto.SHA256, false)
		if err != nil {
			return fmt.Errorf("%w (%v); sign it as a detached signature (--format cms)", ErrNotPE, err)
		}
		patch, _, err := digest.Sign(ctx, cert, opus)
		if err != nil {
			return unwrapSign(err)
		}
		return applyPatch(f, patch, job.Path)
	case FormatCAB:
		digest, err := cabfile.Digest(f, crypto.SHA256)
		if err != nil {
			return fmt.Errorf("reading the cabinet: %w", err)
		}
		patch, _, err := authenticode.SignCabImprint(ctx, digest, cert, opus)
		if err != nil {
			return unwrapSign(err)
		}
		return applyPatch(f, patch, job.Path)
	case FormatPS:
		style, ok := authenticode.GetSigStyle(job.Path)
		if !ok {
			style = authenticode.SigStyleHash // --format ps1 on a script without a PowerShell extension
		}
		digest, err := authenticode.DigestPowershell(f, style, crypto.SHA256)
		if err != nil {
			return fmt.Errorf("reading the script: %w", err)
		}
		patch, _, err := digest.Sign(ctx, cert, opus)
		if err != nil {
			return unwrapSign(err)
		}
		return applyPatch(f, patch, job.Path)
	case FormatAPPX:
		var digest *signappx.AppxDigest
		err := zipStream(f, func(r io.Reader) (err error) {
			digest, err = signappx.DigestAppxTar(r, crypto.SHA256, false)
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the package: %w", err)
		}
		patch, _, _, err := digest.Sign(ctx, cert, opus)
		if err != nil {
			return unwrapSign(err)
		}
		return applyPatch(f, patch, job.Path)
	case FormatJAR:
		var digest *signjar.JarDigest
		err := zipStream(f, func(r io.Reader) (err error) {
			digest, err = signjar.DigestJarStream(r, crypto.SHA256)
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		patch, _, err := digest.Sign(ctx, cert, "SIGNUM", false, false, false)
		if err != nil {
			return unwrapSign(err)
		}
		return applyPatch(f, patch, job.Path)
	case FormatMSI:
		return signMSI(ctx, f, job.Path, cert, opus)
	case FormatCAT:
		return signCatalog(ctx, f, job.Path, cert)
	}
	return fmt.Errorf("%w: format %q", ErrFormat, format)
}

// zipStream gives digest the archive as relic's signers read it: a tar stream with the
// central directory first, so the archive is read once, front to back.
func zipStream(f *os.File, digest func(io.Reader) error) error {
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := zipslicer.ZipToTar(f, w)
		_ = w.CloseWithError(err)
		done <- err
	}()
	err := digest(r)
	if err == nil {
		// The JAR digester stops at the last entry it needs; the rest of the stream is read
		// so that the writer ends normally.
		_, err = io.Copy(io.Discard, r)
	}
	// Unblock the writer if digest failed, and wait for it: f is used again after.
	_ = r.CloseWithError(errors.New("stopped reading"))
	if werr := <-done; err == nil && werr != nil {
		err = werr
	}
	return err
}

// applyPatch writes f with patch applied to a temporary file and renames it over path.
func applyPatch(f *os.File, patch *binpatch.PatchSet, path string) error {
	tmp, err := tempNext(path)
	if err != nil {
		return err
	}
	if err := patch.Apply(f, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing the signed file: %w", err)
	}
	return renameInto(tmp, path)
}

func signMSI(ctx context.Context, f *os.File, path string, cert *certloader.Certificate, opus *authenticode.OpusParams) error {
	cdf, err := comdoc.ReadFile(f)
	if err != nil {
		return fmt.Errorf("reading the installer: %w", err)
	}
	// The extended digest (MsiDigitalSignatureEx) covers the streams' metadata too; Windows
	// and osslsigncode check it when it is there.
	imprint, prehash, err := authenticode.DigestMSI(cdf, crypto.SHA256, true)
	if err != nil {
		return fmt.Errorf("reading the installer: %w", err)
	}
	ts, err := authenticode.SignMSIImprint(ctx, imprint, crypto.SHA256, cert, opus)
	if err != nil {
		return unwrapSign(err)
	}
	tmp, err := tempNext(path)
	if err != nil {
		return err
	}
	werr := func() error {
		out, err := os.OpenFile(tmp, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer out.Close()
		if _, err := io.Copy(out, io.NewSectionReader(f, 0, 1<<62)); err != nil {
			return err
		}
		w, err := comdoc.WriteFile(out)
		if err != nil {
			return err
		}
		if err := authenticode.InsertMSISignature(w, ts.Raw, prehash); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return out.Close()
	}()
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing the signed installer: %w", werr)
	}
	return renameInto(tmp, path)
}

func signCatalog(ctx context.Context, f *os.File, path string, cert *certloader.Certificate) error {
	// Catalogs list file hashes: megabytes at most, read whole like every catalog tool does.
	blob, err := io.ReadAll(io.LimitReader(f, 256<<20))
	if err != nil {
		return err
	}
	old, err := rpkcs7.Unmarshal(blob)
	if err != nil || !old.Content.ContentInfo.ContentType.Equal(authenticode.OidCertTrustList) {
		return &FormatError{Path: path, Format: FormatCAT, Looks: "a PKCS#7 file that holds no certificate trust list"}
	}
	// The new signature replaces any old one and signs the same list.
	sb := rpkcs7.NewBuilder(cert.Signer(), cert.Chain(), crypto.SHA256)
	if err := sb.SetContentInfo(old.Content.ContentInfo); err != nil {
		return err
	}
	psd, err := sb.Sign()
	if err != nil {
		return unwrapSign(err)
	}
	ts, err := pkcs9.TimestampAndMarshal(ctx, psd, cert.Timestamper, true)
	if err != nil {
		return unwrapSign(err)
	}
	tmp, err := tempNext(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, ts.Raw, 0o644); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return renameInto(tmp, path)
}

// verifyEmbedded checks the signature inside f, a file in format (any but CMS), and returns
// what it names as signer and chain (unchecked: the caller checks the chain).
func verifyEmbedded(f *os.File, format, path string) (*pkcs9.TimestampedSignature, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	switch format {
	case FormatPE:
		sigs, err := authenticode.VerifyPE(f, false)
		if err != nil {
			return nil, err
		}
		if len(sigs) == 0 {
			return nil, errors.New("it has no signature")
		}
		return &sigs[0].TimestampedSignature, nil
	case FormatMSI:
		sig, err := authenticode.VerifyMSI(f, false)
		if err != nil {
			return nil, err
		}
		return &sig.TimestampedSignature, nil
	case FormatCAB:
		sig, err := authenticode.VerifyCab(f, false)
		if err != nil {
			return nil, err
		}
		return &sig.TimestampedSignature, nil
	case FormatPS:
		style, ok := authenticode.GetSigStyle(path)
		if !ok {
			style = authenticode.SigStyleHash
		}
		sig, err := authenticode.VerifyPowershell(f, style, false)
		if err != nil {
			return nil, err
		}
		return &sig.TimestampedSignature, nil
	case FormatAPPX:
		zr, err := zip.NewReader(f, size)
		if err != nil {
			return nil, err
		}
		if needsCatalog(zr) {
			sig, err := signappx.Verify(f, size, false)
			if err != nil {
				return nil, err
			}
			return sig.Signature, nil
		}
		return verifyAPPXWithoutCatalog(f, size, zr)
	case FormatJAR:
		zr, err := zip.NewReader(f, size)
		if err != nil {
			return nil, err
		}
		sigs, err := signjar.Verify(zr, false)
		if err != nil {
			return nil, err
		}
		if len(sigs) == 0 {
			return nil, errors.New("it has no signature")
		}
		return &sigs[0].TimestampedSignature, nil
	case FormatCAT:
		blob, err := io.ReadAll(io.LimitReader(f, 256<<20))
		if err != nil {
			return nil, err
		}
		psd, err := rpkcs7.Unmarshal(blob)
		if err != nil {
			return nil, err
		}
		if len(psd.Content.SignerInfos) == 0 {
			return nil, errors.New("it has no signature")
		}
		sig, err := psd.Content.Verify(nil, false)
		if err != nil {
			return nil, err
		}
		ts, err := pkcs9.VerifyOptionalTimestamp(sig)
		if err != nil {
			return nil, err
		}
		return &ts, nil
	}
	return nil, fmt.Errorf("%w: format %q", ErrFormat, format)
}

const (
	appxSignatureFile = "AppxSignature.p7x"
	appxCatalogFile   = "AppxMetadata/CodeIntegrity.cat"
)

// needsCatalog: relic's APPX verifier insists on a code-integrity catalog in every package
// that is not a bundle, while signers (signtool, relic's own, signum's) add one only to
// packages with programs in them. Packages with a catalog, bundles, and packages with programs
// (which must have one) go to relic's verifier; the others to verifyAPPXWithoutCatalog.
func needsCatalog(zr *zip.Reader) bool {
	for _, zf := range zr.File {
		name := strings.ToLower(zf.Name)
		if zf.Name == appxCatalogFile || zf.Name == "AppxMetadata/AppxBundleManifest.xml" || strings.HasSuffix(name, ".exe") || strings.HasSuffix(name, ".dll") {
			return true
		}
	}
	return false
}

// verifyAPPXWithoutCatalog checks an APPX package that has no code-integrity catalog as relic's
// verifier checks one that has: the AppxSignature.p7x signature, then each digest it signs
// (AXPC: every entry's bytes but the signature's; AXCD: the central directory without it;
// AXCT and AXBM: [Content_Types].xml and AppxBlockMap.xml), none missing, none extra.
func verifyAPPXWithoutCatalog(r io.ReaderAt, size int64, zr *zip.Reader) (*pkcs9.TimestampedSignature, error) {
	files := map[string]*zip.File{}
	for _, zf := range zr.File {
		files[zf.Name] = zf
	}
	blob, err := readZipEntry(files[appxSignatureFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", appxSignatureFile, err)
	}
	if !bytes.HasPrefix(blob, []byte("PKCX")) {
		return nil, errors.New("invalid APPX signature")
	}
	psd, err := rpkcs7.Unmarshal(blob[4:])
	if err != nil || !psd.Content.ContentInfo.ContentType.Equal(authenticode.OidSpcIndirectDataContent) {
		return nil, fmt.Errorf("invalid APPX signature: %v", err)
	}
	sig, err := psd.Content.Verify(nil, false)
	if err != nil {
		return nil, err
	}
	ts, err := pkcs9.VerifyOptionalTimestamp(sig)
	if err != nil {
		return nil, err
	}
	var indirect authenticode.SpcIndirectDataContentMsi
	if err := psd.Content.ContentInfo.Unmarshal(&indirect); err != nil {
		return nil, fmt.Errorf("invalid APPX signature: %w", err)
	}
	hash, err := x509tools.PkixDigestToHashE(indirect.MessageDigest.DigestAlgorithm)
	if err != nil {
		return nil, err
	}
	digests := indirect.MessageDigest.Digest
	if !bytes.HasPrefix(digests, []byte("APPX")) {
		return nil, errors.New("invalid APPX signature digests")
	}
	signed := map[string][]byte{}
	for digests = digests[4:]; len(digests) > 0; digests = digests[4+hash.Size():] {
		if len(digests) < 4+hash.Size() {
			return nil, errors.New("invalid APPX signature digests")
		}
		signed[string(digests[:4])] = digests[4 : 4+hash.Size()]
	}
	calc := map[string][]byte{}
	for tag, name := range map[string]string{"AXCT": "[Content_Types].xml", "AXBM": "AppxBlockMap.xml"} {
		content, err := readZipEntry(files[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		d := hash.New()
		d.Write(content)
		calc[tag] = d.Sum(nil)
	}
	dir, err := zipslicer.Read(r, size)
	if err != nil {
		return nil, err
	}
	sigIdx := -1
	for i, zf := range dir.File {
		if zf.Name == appxSignatureFile {
			sigIdx = i
		} else if sigIdx >= 0 {
			return nil, fmt.Errorf("entries follow %s", appxSignatureFile)
		}
	}
	axpc, axcd := hash.New(), hash.New()
	if err := dir.Truncate(sigIdx, axpc, axcd); err != nil {
		return nil, err
	}
	calc["AXPC"], calc["AXCD"] = axpc.Sum(nil), axcd.Sum(nil)
	if len(signed) != len(calc) {
		return nil, fmt.Errorf("the signature covers %d parts of the package, want %d (AXPC, AXCD, AXCT, AXBM)", len(signed), len(calc))
	}
	for tag, sum := range calc {
		if !bytes.Equal(signed[tag], sum) {
			return nil, fmt.Errorf("the package's %s digest does not match its signature", tag)
		}
	}
	return &ts, nil
}

func readZipEntry(zf *zip.File) ([]byte, error) {
	if zf == nil {
		return nil, errors.New("missing")
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}
