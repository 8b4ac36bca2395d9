package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rpkcs7 "github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"

	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/local/localtest"
	"github.com/opensignum/signum/lib/tsastandin"
)

// TestPolicyRequiresTimestamp: with a policy that requires timestamps and the local TSA
// stand-in configured as the deployment's authority, signum sign embeds the service's token
// with no --timestamp: osslsigncode verifies the executable's timestamp against the TSA's CA,
// and the detached signature's token, taken from its unsigned attribute, passes openssl ts
// -verify over the signature value. An authority that is down or answers a token over
// another hash fails the file and leaves it unsigned.
func TestPolicyRequiresTimestamp(t *testing.T) {
	w := newWorld(t)
	for _, tool := range []string{"osslsigncode", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed", tool)
		}
	}
	certID := w.lt.Certificate(t, "Stamped release", "RSA_2048")
	api(t, "POST", "/console/policies", w.admin, local.DemoDomain, map[string]any{"name": "Stamped CI", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{certID}}, "who": map[string]any{"users": []string{w.userID}}, "requireTimestamp": true})
	var cur struct{ Version int64 }
	_ = json.Unmarshal(api(t, "GET", "/console/timestamping", w.admin, local.DemoDomain, nil), &cur)
	api(t, "PUT", "/console/timestamping", w.admin, local.DemoDomain, map[string]any{"urls": []string{w.srv.TSA.URL}, "caPem": string(w.srv.TSA.CAPEM), "version": cur.Version})
	tsaCA := filepath.Join(w.dir, "data", local.TSACAFile)
	t.Cleanup(func() { w.srv.TSA.SetFault(tsastandin.None) })

	dir := t.TempDir()
	exe := filepath.Join(dir, "stamped.exe")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	served := w.srv.TSA.Served()
	if code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", certID, exe); code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	if w.srv.TSA.Served() != served+1 {
		t.Fatalf("the authority served %d tokens for one signature", w.srv.TSA.Served()-served)
	}
	out, err := exec.Command("osslsigncode", "verify", "-CAfile", w.caFile, "-TSA-CAfile", tsaCA, "-in", exe).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Timestamp Server Signature verification: ok") {
		t.Fatalf("osslsigncode verify: %v\n%s", err, out)
	}
	// Against another TSA root the timestamp does not verify: osslsigncode checked it.
	other, _ := tsastandin.New()
	otherCA := filepath.Join(dir, "other-tsa-ca.pem")
	_ = os.WriteFile(otherCA, other.CAPEM, 0o644)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", w.caFile, "-TSA-CAfile", otherCA, "-in", exe).CombinedOutput(); err == nil && strings.Contains(string(out), "Timestamp Server Signature verification: ok") {
		t.Fatalf("the timestamp verifies against another TSA root:\n%s", out)
	}

	// Detached CMS: the token is the signer's id-aa-timeStampToken attribute.
	txt := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(txt, []byte("stamped by policy\n"), 0o644)
	if code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", certID, txt); code != 0 {
		t.Fatalf("sign a text file: %d %s %s", code, out, errOut)
	}
	if out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", txt+".p7s", "-content", txt, "-CAfile", w.caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v %s", err, out)
	}
	der, _ := os.ReadFile(txt + ".p7s")
	psd, err := rpkcs7.Unmarshal(der)
	if err != nil {
		t.Fatal(err)
	}
	si := psd.Content.SignerInfos[0]
	var token rpkcs7.ContentInfoSignedData
	if err := si.UnauthenticatedAttributes.GetOne(pkcs9.OidAttributeTimeStampToken, &token); err != nil {
		t.Fatalf("no timestamp token in the detached signature: %v", err)
	}
	tokDER, _ := token.Marshal()
	tokFile, sigFile := filepath.Join(dir, "token.der"), filepath.Join(dir, "signature.bin")
	_ = os.WriteFile(tokFile, tokDER, 0o644)
	_ = os.WriteFile(sigFile, si.EncryptedDigest, 0o644)
	out, err = exec.Command("openssl", "ts", "-verify", "-token_in", "-in", tokFile, "-data", sigFile, "-CAfile", tsaCA).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	// The same token over other bytes does not verify: openssl checked the imprint.
	_ = os.WriteFile(sigFile, append([]byte{1}, si.EncryptedDigest...), 0o644)
	if out, err := exec.Command("openssl", "ts", "-verify", "-token_in", "-in", tokFile, "-data", sigFile, "-CAfile", tsaCA).CombinedOutput(); err == nil {
		t.Fatalf("openssl ts -verify accepts the token over other bytes:\n%s", out)
	}

	// The authority down, or answering a token over another hash: no signature, file unchanged.
	for _, f := range []tsastandin.Fault{tsastandin.Down, tsastandin.OtherImprint} {
		w.srv.TSA.SetFault(f)
		fresh := filepath.Join(dir, string(f)+".exe")
		_ = os.WriteFile(fresh, localtest.WindowsExe(t), 0o755)
		before, _ := os.ReadFile(fresh)
		code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", certID, fresh)
		if code == 0 || !strings.Contains(out+errOut, "time-stamping authority") {
			t.Fatalf("%s: exit %d %s %s", f, code, out, errOut)
		}
		if after, _ := os.ReadFile(fresh); !bytes.Equal(before, after) {
			t.Fatalf("%s: a withheld signature changed the file", f)
		}
	}
}
