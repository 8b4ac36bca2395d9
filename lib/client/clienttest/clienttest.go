// Package clienttest makes small unsigned artifacts of each format signum signs (MSI, CAB,
// security catalog, APPX, JAR, PowerShell script), built here from their specifications so
// that tests need no Windows tool, no download and no Debian package to have them. They are
// the smallest files the formats' verifiers (osslsigncode, jarsigner) accept once signed, not
// installable software.
package clienttest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/sassoftware/relic/v8/lib/authenticode"
	"github.com/sassoftware/relic/v8/lib/pkcs7"
)

// Extensions are the file extensions Write gives each format.
var Extensions = map[string]string{
	"msi": ".msi", "cab": ".cab", "cat": ".cat", "appx": ".appx", "jar": ".jar", "ps1": ".ps1",
}

// Write writes an unsigned artifact of format (a key of Extensions) to dir as "unsigned"
// plus the format's extension, and returns its path.
func Write(t testing.TB, dir, format string) string {
	t.Helper()
	var raw []byte
	switch format {
	case "msi":
		raw = MSI(t)
	case "cab":
		raw = CAB(t)
	case "cat":
		raw = CAT(t)
	case "appx":
		raw = APPX(t, nil)
	case "jar":
		raw = JAR(t)
	case "ps1":
		raw = PS1()
	default:
		t.Fatalf("clienttest: no generator for format %q", format)
	}
	path := filepath.Join(dir, "unsigned"+Extensions[format])
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// PS1 is a PowerShell script (CRLF line ends, as Windows editors write them).
func PS1() []byte {
	return []byte("# signum test script\r\nparam([string]$Name = 'world')\r\nWrite-Output \"hello, $Name\"\r\n")
}

// JAR is a Java archive with a manifest, a class-path resource and a directory entry.
func JAR(t testing.TB) []byte {
	t.Helper()
	return zipOf(t, []zipEntry{
		{name: "META-INF/MANIFEST.MF", data: []byte("Manifest-Version: 1.0\r\nCreated-By: signum clienttest\r\n\r\n"), deflate: true},
		{name: "com/example/"},
		{name: "com/example/hello.txt", data: []byte("hello from a jar\n"), deflate: true},
	})
}

// APPX is an APPX/MSIX package as the packaging tools leave it before signing: payload files
// (Assets/hello.txt, then extra, e.g. an .exe, which makes the signer add a code-integrity
// catalog), its AppxManifest.xml, the block map (SHA-256 of each 64 KiB block of each file) and
// [Content_Types].xml. Files are stored uncompressed: a block map records the compressed size
// of each block, which only the packaging tool's own deflater would reproduce.
func APPX(t testing.TB, extra map[string][]byte) []byte {
	t.Helper()
	entries := []zipEntry{{name: "Assets/hello.txt", data: []byte("hello from an appx\n")}}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		entries = append(entries, zipEntry{name: name, data: extra[name]})
	}
	entries = append(entries, zipEntry{name: "AppxManifest.xml", data: []byte(appxManifest)})
	var bm strings.Builder
	bm.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" +
		`<BlockMap xmlns="http://schemas.microsoft.com/appx/2010/blockmap" HashMethod="http://www.w3.org/2001/04/xmlenc#sha256">`)
	exts := map[string]bool{}
	for _, e := range entries {
		// The local header is 30 bytes and the name: zipOf writes no extra fields.
		fmt.Fprintf(&bm, `<File Name="%s" Size="%d" LfhSize="%d">`, strings.ReplaceAll(e.name, "/", `\`), len(e.data), 30+len(e.name))
		for off := 0; off < len(e.data); off += 64 << 10 {
			block := e.data[off:min(off+64<<10, len(e.data))]
			fmt.Fprintf(&bm, `<Block Hash="%s"/>`, base64.StdEncoding.EncodeToString(sha256Of(block)))
		}
		bm.WriteString(`</File>`)
		if ext := path.Ext(e.name); ext != ".xml" {
			exts[strings.TrimPrefix(ext, ".")] = true
		}
	}
	bm.WriteString(`</BlockMap>`)
	var ct strings.Builder
	ct.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`)
	types := map[string]string{"txt": "text/plain", "exe": "application/x-msdownload", "dll": "application/x-msdownload"}
	for _, ext := range []string{"dll", "exe", "txt"} {
		if exts[ext] {
			fmt.Fprintf(&ct, `<Default Extension="%s" ContentType="%s"/>`, ext, types[ext])
		}
	}
	ct.WriteString(`<Override PartName="/AppxManifest.xml" ContentType="application/vnd.ms-appx.manifest+xml"/>` +
		`<Override PartName="/AppxBlockMap.xml" ContentType="application/vnd.ms-appx.blockmap+xml"/></Types>`)
	entries = append(entries, zipEntry{name: "AppxBlockMap.xml", data: []byte(bm.String())}, zipEntry{name: "[Content_Types].xml", data: []byte(ct.String())})
	return zipOf(t, entries)
}

const appxManifest = `<?xml version="1.0" encoding="utf-8"?>
<Package xmlns="http://schemas.microsoft.com/appx/manifest/foundation/windows10" xmlns:uap="http://schemas.microsoft.com/appx/manifest/uap/windows10" IgnorableNamespaces="uap">
  <Identity Name="Example.Hello" Publisher="CN=Example" Version="1.0.0.0" ProcessorArchitecture="x64" />
  <Properties>
    <DisplayName>Hello</DisplayName>
    <PublisherDisplayName>Example</PublisherDisplayName>
    <Logo>Assets\hello.txt</Logo>
  </Properties>
  <Dependencies>
    <TargetDeviceFamily Name="Windows.Desktop" MinVersion="10.0.17763.0" MaxVersionTested="10.0.19041.0" />
  </Dependencies>
  <Resources>
    <Resource Language="en-us" />
  </Resources>
  <Applications>
    <Application Id="Hello" Executable="hello.exe" EntryPoint="Windows.FullTrustApplication">
      <uap:VisualElements DisplayName="Hello" Description="Hello" BackgroundColor="transparent" Square150x150Logo="Assets\hello.txt" Square44x44Logo="Assets\hello.txt" />
    </Application>
  </Applications>
</Package>
`

type zipEntry struct {
	name    string
	data    []byte
	deflate bool
}

func zipOf(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		// The DOS time fields, not Modified: Modified adds an extra field to each local header,
		// which the APPX block map would have to count.
		h := &zip.FileHeader{Name: e.name, Method: zip.Store, ModifiedDate: 0x5822, ModifiedTime: 0x1883}
		var w io.Writer
		var err error
		if e.deflate {
			h.Method = zip.Deflate
			w, err = zw.CreateHeader(h)
		} else {
			// Stored entries carry their sizes in the local header, with no data descriptor,
			// as packaging tools write them: a verifier that rebuilds descriptors in ZIP64
			// form (osslsigncode does, for a package the signer made ZIP64) then hashes the
			// same bytes the signer did.
			h.CRC32 = crc32.ChecksumIEEE(e.data)
			h.CompressedSize64, h.UncompressedSize64 = uint64(len(e.data)), uint64(len(e.data))
			w, err = zw.CreateRaw(h)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// CAT is an unsigned security catalog, as makecat writes it before signtool signs it: a
// PKCS#7 SignedData without signers whose content is a certificate trust list naming one
// member file by its SHA-256 digest.
func CAT(t testing.TB) []byte {
	t.Helper()
	member := sha256Of([]byte("hello from a catalog member\n"))
	// CatalogMemberInfo2 is empty in every catalog Windows writes ([0] with no content).
	memberInfo := authenticode.CertTrustValue{Attribute: authenticode.OidCatalogMemberInfoV2, Value: setOf([]byte{0x80, 0})}
	ctl := authenticode.CertTrustList{
		SubjectUsage:     []asn1.ObjectIdentifier{authenticode.OidCatalogList},
		ListIdentifier:   []byte("signum-clienttest"),
		EffectiveDate:    time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		SubjectAlgorithm: pkix.AlgorithmIdentifier{Algorithm: authenticode.OidCatalogListMemberV2, Parameters: asn1.NullRawValue},
		Entries:          []authenticode.CertTrustEntry{{Tag: member, Values: []authenticode.CertTrustValue{memberInfo}}},
	}
	ci, err := pkcs7.NewContentInfo(authenticode.OidCertTrustList, ctl)
	if err != nil {
		t.Fatal(err)
	}
	psd := pkcs7.ContentInfoSignedData{ContentType: pkcs7.OidSignedData, Content: pkcs7.SignedData{
		Version: 1, DigestAlgorithmIdentifiers: []pkix.AlgorithmIdentifier{}, ContentInfo: ci, SignerInfos: []pkcs7.SignerInfo{}}}
	raw, err := psd.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

func setOf(content []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: content}
}

// CAB is a cabinet holding one uncompressed file.
func CAB(t testing.TB) []byte {
	t.Helper()
	name := []byte("hello.txt\x00")
	data := []byte("hello from a cabinet\r\n")
	const header, folder, fileFixed, dataHeader = 36, 8, 16, 8
	filesAt := header + folder
	dataAt := filesAt + fileFixed + len(name)
	total := dataAt + dataHeader + len(data)
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	// CFHEADER
	b.WriteString("MSCF")
	le(uint32(0))
	le(uint32(total))
	le(uint32(0))
	le(uint32(filesAt))
	le(uint32(0))
	le([]byte{3, 1}) // version 1.3
	le(uint16(1))    // folders
	le(uint16(1))    // files
	le(uint16(0))    // flags
	le(uint16(0x5347))
	le(uint16(0)) // cabinet number in the set
	// CFFOLDER: its data starts at dataAt, one block, no compression
	le(uint32(dataAt))
	le(uint16(1))
	le(uint16(0))
	// CFFILE
	le(uint32(len(data)))
	le(uint32(0))      // offset in the folder
	le(uint16(0))      // folder
	le(uint16(0x5822)) // 2024-01-02 (DOS date)
	le(uint16(0x1883)) // 03:04:06 (DOS time)
	le(uint16(0x20))   // archive
	b.Write(name)
	// CFDATA: checksum 0 means none was computed
	le(uint32(0))
	le(uint16(len(data)))
	le(uint16(len(data)))
	b.Write(data)
	if b.Len() != total {
		t.Fatalf("clienttest: cabinet is %d bytes, header says %d", b.Len(), total)
	}
	return b.Bytes()
}

// MSI is a Windows Installer file as far as signing sees one: a compound file (CFB, version 3)
// with the installer's root class id, a small stream in the mini stream and a large one in
// regular sectors. It has no installer tables, so msiexec would not install it; signing and
// verifying hash every stream whatever it holds.
func MSI(t testing.TB) []byte {
	t.Helper()
	const sector = 512
	const (
		freeSect   = 0xFFFFFFFF
		endOfChain = 0xFFFFFFFE
		fatSect    = 0xFFFFFFFD
		noStream   = 0xFFFFFFFF
	)
	small := []byte("hello from an installer\r\n")
	large := bytes.Repeat([]byte("signum clienttest installer payload\r\n"), 140) // over the 4096-byte mini stream cutoff
	// Sectors: 0 FAT, 1 directory, 2 mini FAT, 3 mini stream (the small stream, 64-byte
	// mini sectors), 4.. the large stream.
	largeSectors := (len(large) + sector - 1) / sector
	nSectors := 4 + largeSectors
	fat := make([]uint32, sector/4)
	for i := range fat {
		fat[i] = freeSect
	}
	fat[0], fat[1], fat[2], fat[3] = fatSect, endOfChain, endOfChain, endOfChain
	for i := 0; i < largeSectors; i++ {
		fat[4+i] = uint32(5 + i)
	}
	fat[4+largeSectors-1] = endOfChain
	miniSectors := (len(small) + 63) / 64
	minifat := make([]uint32, sector/4)
	for i := range minifat {
		minifat[i] = freeSect
	}
	for i := 0; i < miniSectors; i++ {
		minifat[i] = uint32(i + 1)
	}
	minifat[miniSectors-1] = endOfChain

	var out bytes.Buffer
	le := func(v any) { _ = binary.Write(&out, binary.LittleEndian, v) }
	// Header
	out.Write([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	out.Write(make([]byte, 16)) // header CLSID
	le(uint16(0x3E))            // minor version
	le(uint16(3))               // major version: 512-byte sectors
	le(uint16(0xFFFE))          // little-endian
	le(uint16(9))               // sector shift
	le(uint16(6))               // mini sector shift
	out.Write(make([]byte, 6))
	le(uint32(0))          // directory sectors (0 in version 3)
	le(uint32(1))          // FAT sectors
	le(uint32(1))          // first directory sector
	le(uint32(0))          // transaction signature
	le(uint32(4096))       // mini stream cutoff
	le(uint32(2))          // first mini FAT sector
	le(uint32(1))          // mini FAT sectors
	le(uint32(endOfChain)) // first DIFAT sector
	le(uint32(0))          // DIFAT sectors
	le(uint32(0))          // DIFAT[0]: the FAT is sector 0
	for i := 1; i < 109; i++ {
		le(uint32(freeSect))
	}
	// Sector 0: FAT
	le(fat)
	// Sector 1: directory. Siblings are ordered by name length, then name: "Data" < "Payload".
	msiCLSID := []byte{0x84, 0x10, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}
	dirent := func(name string, typ byte, left, right, child uint32, clsid []byte, start uint32, size uint64) {
		u := utf16.Encode([]rune(name))
		nameBytes := make([]byte, 64)
		for i, c := range u {
			binary.LittleEndian.PutUint16(nameBytes[2*i:], c)
		}
		out.Write(nameBytes)
		nameLen := uint16(0)
		if name != "" {
			nameLen = uint16(2*len(u) + 2)
		}
		le(nameLen)
		out.WriteByte(typ)
		out.WriteByte(1) // black
		le(left)
		le(right)
		le(child)
		if clsid == nil {
			clsid = make([]byte, 16)
		}
		out.Write(clsid)
		le(uint32(0)) // state bits
		out.Write(make([]byte, 16))
		le(start)
		le(size)
	}
	dirent("Root Entry", 5, noStream, noStream, 1, msiCLSID, 3, uint64(miniSectors*64))
	dirent("Data", 2, noStream, 2, noStream, nil, 0, uint64(len(small)))
	dirent("Payload", 2, noStream, noStream, noStream, nil, 4, uint64(len(large)))
	dirent("", 0, noStream, noStream, noStream, nil, 0, 0)
	// Sector 2: mini FAT
	le(minifat)
	// Sector 3: the mini stream
	ms := make([]byte, sector)
	copy(ms, small)
	out.Write(ms)
	// Sectors 4..: the large stream, padded to whole sectors
	lg := make([]byte, largeSectors*sector)
	copy(lg, large)
	out.Write(lg)
	if out.Len() != sector*(1+nSectors) {
		t.Fatalf("clienttest: compound file is %d bytes, want %d", out.Len(), sector*(1+nSectors))
	}
	return out.Bytes()
}
