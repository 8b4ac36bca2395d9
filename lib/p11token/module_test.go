package p11token_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/local/localtest"
	"github.com/opensignum/signum/lib/p11token"
)

var world *localtest.World

func TestMain(m *testing.M) {
	w, err := localtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world = w
	code := m.Run()
	w.Close()
	os.Exit(code)
}

// fixture is what the tests share: an RSA and an EC certificate an agent may sign with from
// "osslsigncode", and the agent's .p12.
type fixture struct {
	rsa, ec, user, p12, policy string
}

var (
	fixOnce sync.Once
	fix     fixture
)

func setup(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fix.rsa = world.Certificate(t, "Release RSA", "RSA_2048")
		fix.ec = world.Certificate(t, "Release EC", "EC_P256")
		fix.user, fix.p12 = world.Agent(t, "p11-agent", time.Now().AddDate(0, 1, 0))
		fix.policy = world.Policy(t, "PKCS#11 tools", []string{fix.user}, []string{fix.rsa, fix.ec}, []string{"osslsigncode"})
	})
	if fix.policy == "" {
		t.Fatal("the fixture could not be set up")
	}
	return fix
}

// config is the world's environment as a configuration.
func config(p12 string, edit func(*client.Config)) func() (client.Config, string, error) {
	env := world.Env(p12)
	cfg := client.Config{URL: env["SIGNUM_URL"], Host: env["SIGNUM_HOST"], CAFile: env["SIGNUM_CA"], P12: p12, P12Password: localtest.P12Password}
	if edit != nil {
		edit(&cfg)
	}
	return func() (client.Config, string, error) { return cfg, "/nonexistent/config.json", nil }
}

var caller = client.Context{Process: "osslsigncode", CommandLine: client.CommandLine([]string{"osslsigncode", "sign", "-pass", "s3cret", "-in", "a.exe"})}

func newModule(t *testing.T, cfg func() (client.Config, string, error), log io.Writer) *p11token.Module {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	m := p11token.New(p11token.Options{Config: cfg, Caller: caller, Log: log})
	t.Cleanup(func() { m.Finalize() })
	return m
}

func open(t *testing.T, m *p11token.Module) uint {
	t.Helper()
	if rv := m.Initialize(true); rv != p11.CKR_OK && rv != p11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		t.Fatalf("C_Initialize: %#x", rv)
	}
	h, rv := m.OpenSession(p11token.SlotID, p11.CKF_SERIAL_SESSION)
	if rv != p11.CKR_OK {
		t.Fatalf("C_OpenSession: %#x", rv)
	}
	return h
}

func find(t *testing.T, m *p11token.Module, h uint, template ...p11token.Attribute) []uint {
	t.Helper()
	if rv := m.FindObjectsInit(h, template); rv != p11.CKR_OK {
		t.Fatalf("C_FindObjectsInit: %#x", rv)
	}
	var all []uint
	for {
		got, rv := m.FindObjects(h, 2)
		if rv != p11.CKR_OK {
			t.Fatalf("C_FindObjects: %#x", rv)
		}
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	if rv := m.FindObjectsFinal(h); rv != p11.CKR_OK {
		t.Fatalf("C_FindObjectsFinal: %#x", rv)
	}
	return all
}

func ulong(v uint) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

func attr(t *testing.T, m *p11token.Module, h, obj uint, typ uint) []byte {
	t.Helper()
	vals, rv := m.Attributes(h, obj, []uint{typ})
	if rv != p11.CKR_OK || vals[0].Status != 0 {
		t.Fatalf("attribute %#x of %d: %#x %#x", typ, obj, rv, vals[0].Status)
	}
	return vals[0].Data
}

// key finds the private key and the certificate of certificate id.
func key(t *testing.T, m *p11token.Module, h uint, id string) (uint, *x509.Certificate) {
	t.Helper()
	keys := find(t, m, h, p11token.Attribute{Type: p11.CKA_CLASS, Value: ulong(p11.CKO_PRIVATE_KEY)}, p11token.Attribute{Type: p11.CKA_ID, Value: []byte(id)})
	certs := find(t, m, h, p11token.Attribute{Type: p11.CKA_CLASS, Value: ulong(p11.CKO_CERTIFICATE)}, p11token.Attribute{Type: p11.CKA_ID, Value: []byte(id)})
	if len(keys) != 1 || len(certs) != 1 {
		t.Fatalf("certificate %s: %d keys and %d certificates", id, len(keys), len(certs))
	}
	cert, err := x509.ParseCertificate(attr(t, m, h, certs[0], p11.CKA_VALUE))
	if err != nil {
		t.Fatal(err)
	}
	return keys[0], cert
}

func sign(t *testing.T, m *p11token.Module, h, k uint, mech p11token.Mechanism, data []byte) ([]byte, uint) {
	t.Helper()
	if rv := m.SignInit(h, mech, k); rv != p11.CKR_OK {
		return nil, rv
	}
	_, need, rv := m.Sign(context.Background(), h, data, -1)
	if rv != p11.CKR_OK {
		return nil, rv
	}
	sig, _, rv := m.Sign(context.Background(), h, data, need)
	return sig, rv
}

var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// TestSignsWithEveryMechanism: the objects describe the certificates the service lists, and
// each mechanism's signature verifies with the certificate's key.
func TestSignsWithEveryMechanism(t *testing.T) {
	f := setup(t)
	m := newModule(t, config(f.p12, nil), nil)
	h := open(t, m)
	msg := []byte("a build artifact")
	sum256, sum512 := sha256.Sum256(msg), sha512.Sum512(msg)
	pssParams := func(hash, mgf uint, salt uint) *p11token.PSSParams {
		return &p11token.PSSParams{HashAlg: hash, MGF: mgf, SaltLen: salt}
	}

	rk, rcert := key(t, m, h, f.rsa)
	pub := rcert.PublicKey.(*rsa.PublicKey)
	if !bytes.Equal(attr(t, m, h, rk, p11.CKA_MODULUS), pub.N.Bytes()) || string(attr(t, m, h, rk, p11.CKA_LABEL)) != "Release RSA" {
		t.Fatal("the RSA key's modulus or label is not the certificate's")
	}
	// The private key's secrets are sensitive; asking is answered, not failed.
	vals, _ := m.Attributes(h, rk, []uint{p11.CKA_PRIVATE_EXPONENT, p11.CKA_KEY_TYPE, 0x7fff0001})
	if vals[0].Status != p11.CKR_ATTRIBUTE_SENSITIVE || vals[1].Status != 0 || vals[2].Status != p11.CKR_ATTRIBUTE_TYPE_INVALID {
		t.Fatalf("attribute answers: %+v", vals)
	}
	rsaCases := []struct {
		name   string
		mech   p11token.Mechanism
		data   []byte
		verify func([]byte) error
	}{
		{"CKM_RSA_PKCS", p11token.Mechanism{Type: p11.CKM_RSA_PKCS}, append(append([]byte{}, digestInfo[crypto.SHA256]...), sum256[:]...),
			func(s []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum256[:], s) }},
		{"CKM_SHA512_RSA_PKCS", p11token.Mechanism{Type: p11.CKM_SHA512_RSA_PKCS}, msg,
			func(s []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA512, sum512[:], s) }},
		{"CKM_RSA_PKCS_PSS", p11token.Mechanism{Type: p11.CKM_RSA_PKCS_PSS, PSS: pssParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, 32)}, sum256[:],
			func(s []byte) error {
				return rsa.VerifyPSS(pub, crypto.SHA256, sum256[:], s, &rsa.PSSOptions{SaltLength: 32})
			}},
		{"CKM_SHA256_RSA_PKCS_PSS", p11token.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, PSS: pssParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, 32)}, msg,
			func(s []byte) error {
				return rsa.VerifyPSS(pub, crypto.SHA256, sum256[:], s, &rsa.PSSOptions{SaltLength: 32})
			}},
	}
	for _, c := range rsaCases {
		sig, rv := sign(t, m, h, rk, c.mech, c.data)
		if rv != p11.CKR_OK {
			t.Fatalf("%s: %#x", c.name, rv)
		}
		if err := c.verify(sig); err != nil {
			t.Fatalf("%s: the signature does not verify: %v", c.name, err)
		}
	}

	ek, ecert := key(t, m, h, f.ec)
	epub := ecert.PublicKey.(*ecdsa.PublicKey)
	raw := func(s []byte, d []byte) error {
		if len(s) != 64 || !ecdsa.Verify(epub, d, new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:])) {
			return fmt.Errorf("%d bytes do not verify", len(s))
		}
		return nil
	}
	for _, c := range []struct {
		mech   uint
		data   []byte
		digest []byte
	}{{p11.CKM_ECDSA, sum256[:], sum256[:]}, {p11.CKM_ECDSA_SHA256, msg, sum256[:]}, {p11.CKM_ECDSA, sum512[:], sum512[:]}} {
		sig, rv := sign(t, m, h, ek, p11token.Mechanism{Type: c.mech}, c.data)
		if rv != p11.CKR_OK {
			t.Fatalf("ECDSA %#x: %#x", c.mech, rv)
		}
		if err := raw(sig, c.digest); err != nil {
			t.Fatalf("ECDSA %#x: %v", c.mech, err)
		}
	}
	// CKM_ECDSA signs one digest: C_SignFinal has no message to sign.
	if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_ECDSA}, ek); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	if _, _, rv := m.SignFinal(context.Background(), h, 64); rv != p11.CKR_FUNCTION_NOT_SUPPORTED {
		t.Fatalf("C_SignFinal of CKM_ECDSA: %#x", rv)
	}
	// Multi-part: C_SignUpdate twice, then C_SignFinal (first with a buffer too small).
	if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ek); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	m.SignUpdate(h, msg[:5])
	m.SignUpdate(h, msg[5:])
	if _, need, rv := m.SignFinal(context.Background(), h, 8); rv != p11.CKR_BUFFER_TOO_SMALL || need != 64 {
		t.Fatalf("C_SignFinal with a short buffer: %#x %d", rv, need)
	}
	sig, _, rv := m.SignFinal(context.Background(), h, 64)
	if rv != p11.CKR_OK || raw(sig, sum256[:]) != nil {
		t.Fatalf("multi-part ECDSA: %#x", rv)
	}

	// Mechanisms the key or the service cannot do are refused before anything is sent.
	refused := []struct {
		name string
		key  uint
		mech p11token.Mechanism
		want uint
	}{
		{"ECDSA with an RSA key", rk, p11token.Mechanism{Type: p11.CKM_ECDSA}, p11.CKR_KEY_TYPE_INCONSISTENT},
		{"PSS salt not the hash's length", rk, p11token.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, PSS: pssParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, 20)}, p11.CKR_MECHANISM_PARAM_INVALID},
		{"PSS without parameters", rk, p11token.Mechanism{Type: p11.CKM_RSA_PKCS_PSS}, p11.CKR_MECHANISM_PARAM_INVALID},
		{"SHA-1", rk, p11token.Mechanism{Type: p11.CKM_SHA1_RSA_PKCS}, p11.CKR_MECHANISM_INVALID},
		{"a certificate as the key", rk + 1, p11token.Mechanism{Type: p11.CKM_RSA_PKCS}, p11.CKR_KEY_TYPE_INCONSISTENT},
	}
	for _, c := range refused {
		if rv := m.SignInit(h, c.mech, c.key); rv != c.want {
			t.Fatalf("%s: %#x, want %#x", c.name, rv, c.want)
		}
	}
	// Bad data ends the operation with a clear code.
	if _, rv := sign(t, m, h, ek, p11token.Mechanism{Type: p11.CKM_ECDSA}, make([]byte, 20)); rv != p11.CKR_DATA_LEN_RANGE {
		t.Fatalf("a SHA-1-sized digest: %#x", rv)
	}
	if _, rv := sign(t, m, h, rk, p11token.Mechanism{Type: p11.CKM_RSA_PKCS}, sum256[:]); rv != p11.CKR_DATA_INVALID {
		t.Fatalf("CKM_RSA_PKCS without a DigestInfo: %#x", rv)
	}
	if _, _, rv := m.Sign(context.Background(), h, sum256[:], 64); rv != p11.CKR_OPERATION_NOT_INITIALIZED {
		t.Fatalf("C_Sign after a failed one: %#x", rv)
	}
}

// events lists the decisions recorded for a certificate.
func events(t *testing.T, certID, decision string) []audit.Event {
	t.Helper()
	var page struct{ Items []audit.Event }
	q := url.Values{"certificateId": {certID}, "decision": {decision}}
	if err := json.Unmarshal(world.Console(t, "GET", "/console/events?"+q.Encode(), nil), &page); err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// TestShortBufferSignsOnce: a buffer too small is said before the service is asked, and
// the operation stays for the retry: one signature, one decision.
func TestShortBufferSignsOnce(t *testing.T) {
	f := setup(t)
	m := newModule(t, config(f.p12, nil), nil)
	h := open(t, m)
	ek, ecert := key(t, m, h, f.ec)
	before := len(events(t, f.ec, audit.Allow))
	sum := sha256.Sum256([]byte("short buffer"))
	if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_ECDSA}, ek); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	if _, need, rv := m.Sign(context.Background(), h, sum[:], 10); rv != p11.CKR_BUFFER_TOO_SMALL || need != 64 {
		t.Fatalf("short buffer: %#x, need %d", rv, need)
	}
	sig, _, rv := m.Sign(context.Background(), h, sum[:], 64)
	epub := ecert.PublicKey.(*ecdsa.PublicKey)
	if rv != p11.CKR_OK || !ecdsa.Verify(epub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("retry: %#x", rv)
	}
	after := events(t, f.ec, audit.Allow)
	if len(after) != before+1 {
		t.Fatalf("%d decisions recorded, want 1", len(after)-before)
	}
	// The command line is recorded without the PIN the tool was given.
	if got := after[0]; got.Process != "osslsigncode" || strings.Contains(got.CommandLine, "s3cret") || !strings.Contains(got.CommandLine, "-pass ***") {
		t.Fatalf("recorded process %q, command line %q", got.Process, got.CommandLine)
	}
}

// TestConcurrentSessions: 16 threads, each with its own session, sign at once.
func TestConcurrentSessions(t *testing.T) {
	f := setup(t)
	m := newModule(t, config(f.p12, nil), nil)
	h0 := open(t, m)
	_, cert := key(t, m, h0, f.rsa)
	pub := cert.PublicKey.(*rsa.PublicKey)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, rv := m.OpenSession(p11token.SlotID, p11.CKF_SERIAL_SESSION)
			if rv != p11.CKR_OK {
				errs <- fmt.Errorf("open: %#x", rv)
				return
			}
			defer m.CloseSession(h)
			for i := 0; i < 3; i++ {
				keys := findQuiet(m, h, f.rsa)
				if len(keys) != 1 {
					errs <- fmt.Errorf("thread %d found %d keys", g, len(keys))
					return
				}
				msg := []byte(fmt.Sprintf("artifact %d/%d", g, i))
				sum := sha256.Sum256(msg)
				if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, keys[0]); rv != p11.CKR_OK {
					errs <- fmt.Errorf("sign init: %#x", rv)
					return
				}
				sig, _, rv := m.Sign(context.Background(), h, msg, 256)
				if rv != p11.CKR_OK {
					errs <- fmt.Errorf("sign: %#x", rv)
					return
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	// Threads that share one session (which PKCS#11 leaves to the application to serialise)
	// get codes, not a deadlock or a crash.
	keys := findQuiet(m, h0, f.rsa)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				rv := m.SignInit(h0, p11token.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, keys[0])
				if rv != p11.CKR_OK && rv != p11.CKR_OPERATION_ACTIVE {
					errs <- fmt.Errorf("shared session, C_SignInit: %#x", rv)
					return
				}
				_, _, rv = m.Sign(context.Background(), h0, []byte("shared"), 256)
				if rv != p11.CKR_OK && rv != p11.CKR_OPERATION_NOT_INITIALIZED {
					errs <- fmt.Errorf("shared session, C_Sign: %#x", rv)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func findQuiet(m *p11token.Module, h uint, id string) []uint {
	if m.FindObjectsInit(h, []p11token.Attribute{{Type: p11.CKA_CLASS, Value: ulong(p11.CKO_PRIVATE_KEY)}, {Type: p11.CKA_ID, Value: []byte(id)}}) != p11.CKR_OK {
		return nil
	}
	defer m.FindObjectsFinal(h)
	got, _ := m.FindObjects(h, 10)
	return got
}

// TestRefusals: each way the module cannot sign says why, with a PKCS#11 code the
// application understands, and leaves no partial output.
func TestRefusals(t *testing.T) {
	f := setup(t)

	t.Run("no configuration", func(t *testing.T) {
		var log bytes.Buffer
		m := newModule(t, func() (client.Config, string, error) {
			return client.Config{}, "/home/u/.config/signum/config.json", nil
		}, &log)
		if rv := m.Initialize(true); rv != p11.CKR_GENERAL_ERROR || !strings.Contains(log.String(), "no server URL") || !strings.Contains(log.String(), "SIGNUM_URL") {
			t.Fatalf("%#x %q", rv, log.String())
		}
		if _, rv := m.Slots(); rv != p11.CKR_CRYPTOKI_NOT_INITIALIZED {
			t.Fatalf("after a failed C_Initialize: %#x", rv)
		}
		log.Reset()
		m = newModule(t, config("", nil), &log)
		if rv := m.Initialize(true); rv != p11.CKR_GENERAL_ERROR || !strings.Contains(log.String(), "SIGNUM_P12") {
			t.Fatalf("no credentials: %#x %q", rv, log.String())
		}
	})

	t.Run("PIN", func(t *testing.T) {
		var log bytes.Buffer
		m := newModule(t, config(f.p12, func(c *client.Config) { c.P12Password = "" }), &log)
		h := open(t, m)
		info, _ := m.Token(p11token.SlotID)
		if info.Flags&p11.CKF_LOGIN_REQUIRED == 0 {
			t.Fatal("a .p12 without its password in the environment needs a login")
		}
		if got := findQuiet(m, h, f.rsa); len(got) != 0 {
			t.Fatalf("keys before login: %v", got)
		}
		if rv := m.Login(h, p11.CKU_USER, []byte("wrong")); rv != p11.CKR_PIN_INCORRECT {
			t.Fatalf("wrong PIN: %#x", rv)
		}
		if strings.Contains(log.String(), "wrong") {
			t.Fatalf("the PIN is in the log: %q", log.String())
		}
		if rv := m.Login(h, p11.CKU_USER, []byte(localtest.P12Password)); rv != p11.CKR_OK {
			t.Fatalf("right PIN: %#x", rv)
		}
		if got := findQuiet(m, h, f.rsa); len(got) != 1 {
			t.Fatalf("keys after login: %v", got)
		}
		if rv := m.Login(h, p11.CKU_USER, []byte(localtest.P12Password)); rv != p11.CKR_USER_ALREADY_LOGGED_IN {
			t.Fatalf("second login: %#x", rv)
		}
		if strings.Contains(log.String(), localtest.P12Password) {
			t.Fatal("the PIN is in the log")
		}
	})

	t.Run("expired client certificate", func(t *testing.T) {
		_, expired := world.Agent(t, "p11-expired", time.Now().Add(-time.Hour))
		var log bytes.Buffer
		m := newModule(t, config(expired, func(c *client.Config) { c.P12Password = "" }), &log)
		h := open(t, m)
		if rv := m.Login(h, p11.CKU_USER, []byte(localtest.P12Password)); rv != p11.CKR_PIN_EXPIRED || !strings.Contains(log.String(), "expired") {
			t.Fatalf("%#x %q", rv, log.String())
		}
		// A certificate that expires while the module is loaded: refused before sending.
		log.Reset()
		later := time.Now()
		m = p11token.New(p11token.Options{Config: config(f.p12, nil), Caller: caller, Log: &log, Now: func() time.Time { return later }})
		defer m.Finalize()
		h = open(t, m)
		k, _ := key(t, m, h, f.ec)
		later = later.AddDate(1, 0, 0)
		sum := sha256.Sum256([]byte("x"))
		if sig, rv := sign(t, m, h, k, p11token.Mechanism{Type: p11.CKM_ECDSA}, sum[:]); rv != p11.CKR_PIN_EXPIRED || sig != nil || !strings.Contains(log.String(), "expired on") {
			t.Fatalf("%#x %q", rv, log.String())
		}
	})

	t.Run("network lost while signing", func(t *testing.T) {
		proxy := newProxy(t, world.Srv.TLSURL)
		var log bytes.Buffer
		m := newModule(t, config(f.p12, func(c *client.Config) { c.URL = proxy.url }), &log)
		h := open(t, m)
		k, _ := key(t, m, h, f.ec)
		proxy.close()
		sum := sha256.Sum256([]byte("lost"))
		if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_ECDSA}, k); rv != p11.CKR_OK {
			t.Fatal(rv)
		}
		sig, _, rv := m.Sign(context.Background(), h, sum[:], 64)
		if rv != p11.CKR_DEVICE_ERROR || sig != nil || !strings.Contains(log.String(), "cannot reach") {
			t.Fatalf("%#x %d bytes %q", rv, len(sig), log.String())
		}
		if _, _, rv := m.Sign(context.Background(), h, sum[:], 64); rv != p11.CKR_OPERATION_NOT_INITIALIZED {
			t.Fatalf("the failed operation is over: %#x", rv)
		}
	})

	t.Run("denied by policy", func(t *testing.T) {
		other := world.Certificate(t, "Nightly", "EC_P256")
		pol := world.Policy(t, "Nightly from tools", []string{f.user}, []string{other}, []string{"osslsigncode"})
		var log bytes.Buffer
		m := newModule(t, config(f.p12, nil), &log)
		h := open(t, m)
		k, _ := key(t, m, h, other)
		// The policy is switched off after the token listed the certificate.
		var p map[string]any
		_ = json.Unmarshal(world.Console(t, "GET", "/console/policies/"+pol, nil), &p)
		p["enabled"] = false
		world.Console(t, "PUT", "/console/policies/"+pol, p)
		sum := sha256.Sum256([]byte("denied"))
		if sig, rv := sign(t, m, h, k, p11token.Mechanism{Type: p11.CKM_ECDSA}, sum[:]); rv != p11.CKR_FUNCTION_REJECTED || sig != nil || !strings.Contains(log.String(), "signing with Nightly") {
			t.Fatalf("%#x %q", rv, log.String())
		}
		denied := events(t, other, audit.Deny)
		if len(denied) != 1 || denied[0].Process != "osslsigncode" {
			t.Fatalf("denials recorded: %+v", denied)
		}
	})
}

// proxy forwards TCP connections to a server until it is closed: then the network is gone.
type proxy struct {
	url  string
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, _ := url.Parse(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{url: "https://" + ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", u.Host)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

// TestSessionStates: the login state is the application's, across its sessions, and ends
// with C_Logout or its last session; the slot and mechanisms describe what the token does.
func TestSessionStates(t *testing.T) {
	f := setup(t)
	m := newModule(t, config(f.p12, func(c *client.Config) { c.P12Password = "" }), nil)
	h := open(t, m)
	rw, rv := m.OpenSession(p11token.SlotID, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	state := func(h uint) uint {
		s, _, rv := m.SessionState(h)
		if rv != p11.CKR_OK {
			t.Fatalf("C_GetSessionInfo: %#x", rv)
		}
		return s
	}
	if state(h) != p11.CKS_RO_PUBLIC_SESSION || state(rw) != p11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("sessions before login are public")
	}
	if rv := m.Login(rw, p11.CKU_USER, []byte(localtest.P12Password)); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	if state(h) != p11.CKS_RO_USER_FUNCTIONS || state(rw) != p11.CKS_RW_USER_FUNCTIONS {
		t.Fatal("a login is every session's")
	}
	if rv := m.Logout(h); rv != p11.CKR_OK || state(rw) != p11.CKS_RW_PUBLIC_SESSION || len(findQuiet(m, h, f.rsa)) != 0 {
		t.Fatalf("after C_Logout: %#x", rv)
	}
	if rv := m.Logout(h); rv != p11.CKR_USER_NOT_LOGGED_IN {
		t.Fatalf("second C_Logout: %#x", rv)
	}
	_ = m.Login(h, p11.CKU_USER, []byte(localtest.P12Password))
	if rv := m.CloseAllSessions(p11token.SlotID); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	if _, _, rv := m.SessionState(h); rv != p11.CKR_SESSION_HANDLE_INVALID {
		t.Fatalf("a closed session: %#x", rv)
	}
	h = open(t, m)
	if state(h) != p11.CKS_RO_PUBLIC_SESSION {
		t.Fatal("closing every session logs out")
	}
	if rv := m.Login(h, p11.CKU_SO, []byte("x")); rv != p11.CKR_USER_TYPE_INVALID {
		t.Fatalf("security officer: %#x", rv)
	}
	if _, rv := m.OpenSession(p11token.SlotID, 0); rv != p11.CKR_SESSION_PARALLEL_NOT_SUPPORTED {
		t.Fatalf("a session without CKF_SERIAL_SESSION: %#x", rv)
	}
	if _, rv := m.SlotDescription(2); rv != p11.CKR_SLOT_ID_INVALID {
		t.Fatalf("another slot: %#x", rv)
	}
	if desc, _ := m.SlotDescription(p11token.SlotID); !strings.Contains(desc, "demo.localhost") {
		t.Fatalf("slot description %q", desc)
	}
	for _, mech := range p11token.Mechanisms() {
		if info, ok := p11token.InfoOf(mech); !ok || info.Flags&p11.CKF_SIGN == 0 {
			t.Fatalf("mechanism %#x: %+v", mech, info)
		}
	}
	if _, ok := p11token.InfoOf(p11.CKM_SHA1_RSA_PKCS); ok {
		t.Fatal("SHA-1 is not signed")
	}
	if rv := m.Initialize(true); rv != p11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		t.Fatalf("second C_Initialize: %#x", rv)
	}
	m.Finalize()
	if _, rv := m.OpenSession(p11token.SlotID, p11.CKF_SERIAL_SESSION); rv != p11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Fatalf("after C_Finalize: %#x", rv)
	}
	if rv := m.Initialize(false); rv != p11.CKR_NEED_TO_CREATE_THREADS {
		t.Fatalf("an application that forbids threads: %#x", rv)
	}
}
