// Package p11token is the signing service as a PKCS#11 token: what signum-pkcs11.so (the C
// face, cmd/signum-pkcs11) answers. Each certificate the caller may sign with (GET
// /sign/certificates) is a certificate object, a private key object whose signatures are made
// by the service (POST /sign over mutual TLS with the agent's .p12) and a public key object.
// Digests are computed here; only they leave the machine. The calls mirror PKCS#11 v2.40's
// and return its CKR_ codes; every call is safe from any thread.
package p11token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/opensignum/signum/lib/client"
)

// SlotID is the module's one slot.
const SlotID = 1

// Options configure a module.
type Options struct {
	// Config loads the configuration (client.LoadConfig of client.ConfigPath by default) and
	// says where it looked.
	Config func() (client.Config, string, error)
	// Caller is the process that loaded the module, as signing requests report it (policies'
	// Where rules match it).
	Caller client.Context
	// Log receives one line per problem (stderr by default). PINs and passwords are never
	// written.
	Log io.Writer
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Refresh is how long the certificate list is kept before it is asked for again.
	Refresh time.Duration
}

// Module is the token. The zero value is not usable: use New.
type Module struct {
	opts Options

	mu          sync.Mutex
	initialized bool
	cfg         client.Config
	cfgPath     string
	// needPIN: the .p12 is encrypted and no SIGNUM_P12_PASSWORD opened it: C_Login's PIN is
	// its password.
	needPIN  bool
	loggedIn bool
	client   *client.Client
	entries  []*entry
	byID     map[string]int
	listed   time.Time
	sessions map[uint]*session
	next     uint
}

type session struct {
	mu    sync.Mutex
	rw    bool
	find  []uint
	found bool
	sign  *signOp
}

type signOp struct {
	index int
	e     *entry
	mech  uint
	hash  crypto.Hash // the hash of a hashing mechanism, else 0
	pss   bool
	h     hash.Hash // running hash of C_SignUpdate
	// multiple: C_SignUpdate was used (C_SignFinal ends the operation).
	multiple bool
}

// New makes a module.
func New(opts Options) *Module {
	if opts.Config == nil {
		opts.Config = func() (client.Config, string, error) {
			p, err := client.ConfigPath("")
			if err != nil {
				return client.Config{}, "", err
			}
			cfg, err := client.LoadConfig(p)
			return cfg, p, err
		}
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh == 0 {
		opts.Refresh = 30 * time.Second
	}
	return &Module{opts: opts}
}

func (m *Module) logf(format string, args ...any) {
	fmt.Fprintf(m.opts.Log, "signum-pkcs11: "+format+"\n", args...)
}

// Initialize is C_Initialize. canCreateThreads is false when the application set
// CKF_LIBRARY_CANT_CREATE_OS_THREADS: Go's runtime cannot work without threads.
func (m *Module) Initialize(canCreateThreads bool) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.initialized {
		return p11.CKR_CRYPTOKI_ALREADY_INITIALIZED
	}
	if !canCreateThreads {
		m.logf("the application does not let libraries create threads; this module needs them")
		return p11.CKR_NEED_TO_CREATE_THREADS
	}
	cfg, path, err := m.opts.Config()
	if err != nil {
		m.logf("cannot read the configuration: %v", err)
		return p11.CKR_GENERAL_ERROR
	}
	where := "set SIGNUM_URL"
	if path != "" {
		where += " or write " + path + " with `signum configure`"
	}
	switch {
	case cfg.URL == "":
		m.logf("no server URL is configured: %s", where)
		return p11.CKR_GENERAL_ERROR
	case cfg.P12 == "" && cfg.Token == "":
		m.logf("no credentials are configured: set SIGNUM_P12 to the agent's .p12 (or SIGNUM_TOKEN), or run `signum configure --p12`")
		return p11.CKR_GENERAL_ERROR
	}
	m.cfg, m.cfgPath = cfg, path
	m.entries, m.byID, m.sessions, m.next, m.listed = nil, map[string]int{}, map[uint]*session{}, 1, time.Time{}
	m.loggedIn, m.client, m.needPIN = false, nil, false
	if cfg.P12 != "" && cfg.P12Password == "" {
		// Maybe the .p12 has no password; else C_Login's PIN opens it.
		c, err := client.New(cfg)
		if err == nil {
			m.client = c
		} else {
			m.needPIN = true
		}
	} else {
		c, err := client.New(cfg)
		if err != nil {
			m.logf("%v", err)
			if cfg.P12 == "" || !errors.Is(err, client.ErrConfig) {
				return p11.CKR_GENERAL_ERROR
			}
			// A wrong SIGNUM_P12_PASSWORD: C_Login may still give the right one.
			m.needPIN = true
		} else {
			m.client = c
		}
	}
	m.initialized = true
	return p11.CKR_OK
}

// Finalize is C_Finalize.
func (m *Module) Finalize() uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return p11.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	m.initialized, m.client, m.sessions, m.entries, m.loggedIn = false, nil, nil, nil, false
	return p11.CKR_OK
}

// TokenInfo is what C_GetTokenInfo reports.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial string
	Flags                              uint
	Sessions, RWSessions               uint
}

func (m *Module) checkSlot(slot uint) uint {
	if !m.initialized {
		return p11.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if slot != SlotID {
		return p11.CKR_SLOT_ID_INVALID
	}
	return p11.CKR_OK
}

// Slots is C_GetSlotList: one slot, with its token always present.
func (m *Module) Slots() ([]uint, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return nil, p11.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	return []uint{SlotID}, p11.CKR_OK
}

// SlotDescription is the slot's description for C_GetSlotInfo.
func (m *Module) SlotDescription(slot uint) (string, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rv := m.checkSlot(slot); rv != p11.CKR_OK {
		return "", rv
	}
	return "signum signing service " + m.host(), p11.CKR_OK
}

func (m *Module) host() string {
	if m.cfg.Host != "" {
		return m.cfg.Host
	}
	if u, err := url.Parse(m.cfg.URL); err == nil {
		return u.Host
	}
	return m.cfg.URL
}

// Token is C_GetTokenInfo.
func (m *Module) Token(slot uint) (TokenInfo, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rv := m.checkSlot(slot); rv != p11.CKR_OK {
		return TokenInfo{}, rv
	}
	sum := sha256.Sum256([]byte(m.cfg.URL + "|" + m.cfg.Host))
	info := TokenInfo{Label: "signum " + m.host(), Manufacturer: "signum", Model: "remote signer", Serial: hex.EncodeToString(sum[:8]),
		Flags: p11.CKF_TOKEN_INITIALIZED | p11.CKF_WRITE_PROTECTED | p11.CKF_USER_PIN_INITIALIZED}
	if m.needPIN && !m.loggedIn {
		info.Flags |= p11.CKF_LOGIN_REQUIRED
	}
	for _, s := range m.sessions {
		info.Sessions++
		if s.rw {
			info.RWSessions++
		}
	}
	return info, p11.CKR_OK
}

// OpenSession is C_OpenSession.
func (m *Module) OpenSession(slot uint, flags uint) (uint, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rv := m.checkSlot(slot); rv != p11.CKR_OK {
		return 0, rv
	}
	if flags&p11.CKF_SERIAL_SESSION == 0 {
		return 0, p11.CKR_SESSION_PARALLEL_NOT_SUPPORTED
	}
	h := m.next
	m.next++
	m.sessions[h] = &session{rw: flags&p11.CKF_RW_SESSION != 0}
	return h, p11.CKR_OK
}

// CloseSession is C_CloseSession.
func (m *Module) CloseSession(h uint) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.initialized {
		return p11.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if _, ok := m.sessions[h]; !ok {
		return p11.CKR_SESSION_HANDLE_INVALID
	}
	delete(m.sessions, h)
	if len(m.sessions) == 0 && m.needPIN {
		// The login state ends with the application's last session.
		m.loggedIn = false
	}
	return p11.CKR_OK
}

// CloseAllSessions is C_CloseAllSessions.
func (m *Module) CloseAllSessions(slot uint) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rv := m.checkSlot(slot); rv != p11.CKR_OK {
		return rv
	}
	m.sessions = map[uint]*session{}
	if m.needPIN {
		m.loggedIn = false
	}
	return p11.CKR_OK
}

// SessionState is C_GetSessionInfo's state and flags.
func (m *Module) SessionState(h uint) (state, flags uint, rv uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(h)
	if rv != p11.CKR_OK {
		return 0, 0, rv
	}
	flags = p11.CKF_SERIAL_SESSION
	user := m.loggedIn || !m.needPIN
	switch {
	case s.rw && user:
		state, flags = p11.CKS_RW_USER_FUNCTIONS, flags|p11.CKF_RW_SESSION
	case s.rw:
		state, flags = p11.CKS_RW_PUBLIC_SESSION, flags|p11.CKF_RW_SESSION
	case user:
		state = p11.CKS_RO_USER_FUNCTIONS
	default:
		state = p11.CKS_RO_PUBLIC_SESSION
	}
	return state, flags, p11.CKR_OK
}

// session finds a session; m.mu is held.
func (m *Module) session(h uint) (*session, uint) {
	if !m.initialized {
		return nil, p11.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	s, ok := m.sessions[h]
	if !ok {
		return nil, p11.CKR_SESSION_HANDLE_INVALID
	}
	return s, p11.CKR_OK
}

// Login is C_Login. The PIN is the .p12's password; a token that needs none takes any PIN
// that opens the .p12 (or an empty one).
func (m *Module) Login(h uint, userType uint, pin []byte) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, rv := m.session(h); rv != p11.CKR_OK {
		return rv
	}
	switch userType {
	case p11.CKU_USER:
	case p11.CKU_SO:
		return p11.CKR_USER_TYPE_INVALID // the token cannot be administered from here
	case p11.CKU_CONTEXT_SPECIFIC:
		return p11.CKR_OPERATION_NOT_INITIALIZED // no key needs a login per signature
	default:
		return p11.CKR_USER_TYPE_INVALID
	}
	if m.loggedIn {
		return p11.CKR_USER_ALREADY_LOGGED_IN
	}
	if !m.needPIN {
		// The credentials are open already (SIGNUM_P12_PASSWORD, a .p12 without a password,
		// or a token): a PIN adds nothing.
		m.loggedIn = true
		return p11.CKR_OK
	}
	cfg := m.cfg
	cfg.P12Password = string(pin)
	c, err := client.New(cfg)
	switch {
	case err == nil:
	case errors.Is(err, client.ErrAuth):
		m.logf("%v", err)
		return p11.CKR_PIN_EXPIRED
	case errors.Is(err, client.ErrConfig) && errors.Is(err, client.ErrWrongP12Password):
		m.logf("the PIN is not the password of %s", cfg.P12)
		return p11.CKR_PIN_INCORRECT
	default:
		m.logf("%v", err)
		return p11.CKR_GENERAL_ERROR
	}
	m.client, m.loggedIn = c, true
	m.listed = time.Time{} // what the caller may use is asked for again
	return p11.CKR_OK
}

// Logout is C_Logout.
func (m *Module) Logout(h uint) uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, rv := m.session(h); rv != p11.CKR_OK {
		return rv
	}
	if !m.loggedIn {
		return p11.CKR_USER_NOT_LOGGED_IN
	}
	m.loggedIn = false
	if m.needPIN {
		m.client = nil
	}
	return p11.CKR_OK
}

// usable is the client when the token's objects may be shown; m.mu is held.
func (m *Module) usable() *client.Client {
	if m.needPIN && !m.loggedIn {
		return nil
	}
	return m.client
}

// refresh asks the service for the certificates the caller may use, when the list is older
// than opts.Refresh. It is called without m.mu held (it waits for the network).
func (m *Module) refresh(ctx context.Context) uint {
	m.mu.Lock()
	c := m.usable()
	fresh := !m.listed.IsZero() && m.opts.Now().Sub(m.listed) < m.opts.Refresh
	m.mu.Unlock()
	if c == nil || fresh {
		return p11.CKR_OK
	}
	if rv := m.clientValid(c); rv != p11.CKR_OK {
		return rv
	}
	certs, err := c.Certificates(ctx, m.opts.Caller.Process, m.opts.Caller.CommandLine)
	if err != nil {
		m.logf("cannot list the certificates: %v", err)
		return rvOf(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, cert := range certs {
		chain, err := cert.Chain()
		if err != nil || len(chain) == 0 {
			m.logf("certificate %s has no usable chain: %v", cert.ID, err)
			continue
		}
		e := &entry{cert: cert, chain: chain}
		if e.keyType() == noKeyType {
			continue
		}
		seen[cert.ID] = true
		if i, ok := m.byID[cert.ID]; ok {
			m.entries[i] = e
			continue
		}
		m.byID[cert.ID] = len(m.entries)
		m.entries = append(m.entries, e)
	}
	for _, e := range m.entries {
		e.gone = !seen[e.cert.ID]
	}
	m.listed = m.opts.Now()
	return p11.CKR_OK
}

// clientValid refuses a client certificate that expired while the module was loaded.
func (m *Module) clientValid(c *client.Client) uint {
	if c.Leaf != nil && m.opts.Now().After(c.Leaf.NotAfter) {
		m.logf("the client certificate in %s expired on %s; ask your console admin for a new one", m.cfg.P12, c.Leaf.NotAfter.UTC().Format("2006-01-02"))
		return p11.CKR_PIN_EXPIRED
	}
	return p11.CKR_OK
}

// rvOf maps the service's answer to a CKR_ code.
func rvOf(err error) uint {
	switch {
	case errors.Is(err, client.ErrDenied):
		return p11.CKR_FUNCTION_REJECTED
	case errors.Is(err, client.ErrAuth):
		return p11.CKR_PIN_EXPIRED
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return p11.CKR_DEVICE_ERROR
	}
	return p11.CKR_DEVICE_ERROR
}

// FindObjectsInit is C_FindObjectsInit.
func (m *Module) FindObjectsInit(h uint, template []Attribute) uint {
	m.mu.Lock()
	s, rv := m.session(h)
	m.mu.Unlock()
	if rv != p11.CKR_OK {
		return rv
	}
	s.mu.Lock()
	busy := s.found
	s.mu.Unlock()
	if busy {
		return p11.CKR_OPERATION_ACTIVE
	}
	if rv := m.refresh(context.Background()); rv != p11.CKR_OK {
		return rv
	}
	m.mu.Lock()
	var found []uint
	if m.usable() != nil {
		login := m.needPIN
		for i, e := range m.entries {
			if e.gone {
				continue
			}
			for _, kind := range []objectKind{kindCertificate, kindPrivateKey, kindPublicKey} {
				if e.matches(kind, template, login) {
					found = append(found, handleOf(i, kind))
				}
			}
		}
	}
	m.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.found {
		return p11.CKR_OPERATION_ACTIVE
	}
	s.find, s.found = found, true
	return p11.CKR_OK
}

// FindObjects is C_FindObjects.
func (m *Module) FindObjects(h uint, max int) ([]uint, uint) {
	m.mu.Lock()
	s, rv := m.session(h)
	m.mu.Unlock()
	if rv != p11.CKR_OK {
		return nil, rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.found {
		return nil, p11.CKR_OPERATION_NOT_INITIALIZED
	}
	n := min(max, len(s.find))
	out := s.find[:n]
	s.find = s.find[n:]
	return out, p11.CKR_OK
}

// FindObjectsFinal is C_FindObjectsFinal.
func (m *Module) FindObjectsFinal(h uint) uint {
	m.mu.Lock()
	s, rv := m.session(h)
	m.mu.Unlock()
	if rv != p11.CKR_OK {
		return rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.found {
		return p11.CKR_OPERATION_NOT_INITIALIZED
	}
	s.find, s.found = nil, false
	return p11.CKR_OK
}

// object finds an object the session may see; m.mu is held.
func (m *Module) object(obj uint) (*entry, int, objectKind, uint) {
	i, kind, ok := objectOf(obj)
	if !ok || i >= len(m.entries) || m.usable() == nil {
		return nil, 0, 0, p11.CKR_OBJECT_HANDLE_INVALID
	}
	return m.entries[i], i, kind, p11.CKR_OK
}

// Attributes is C_GetAttributeValue: one Value per type asked for.
func (m *Module) Attributes(h, obj uint, types []uint) ([]Value, uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, rv := m.session(h); rv != p11.CKR_OK {
		return nil, rv
	}
	e, _, kind, rv := m.object(obj)
	if rv != p11.CKR_OK {
		return nil, rv
	}
	out := make([]Value, len(types))
	for i, t := range types {
		out[i] = e.attribute(kind, t, m.needPIN)
	}
	return out, p11.CKR_OK
}

// SignInit is C_SignInit.
func (m *Module) SignInit(h uint, mech Mechanism, key uint) uint {
	// m.mu is let go before s.mu is taken: a signing session holds s.mu while it waits for
	// m.mu (remote), and the two must never be waited for in the other order.
	m.mu.Lock()
	s, rv := m.session(h)
	if rv != p11.CKR_OK {
		m.mu.Unlock()
		return rv
	}
	e, index, kind, rv := m.object(key)
	m.mu.Unlock()
	if rv != p11.CKR_OK {
		return p11.CKR_KEY_HANDLE_INVALID
	}
	if kind != kindPrivateKey {
		return p11.CKR_KEY_TYPE_INCONSISTENT
	}
	if _, ok := InfoOf(mech.Type); !ok {
		return p11.CKR_MECHANISM_INVALID
	}
	allowed := false
	for _, mt := range mechanismsFor(e.keyType()) {
		allowed = allowed || mt == mech.Type
	}
	if !allowed {
		return p11.CKR_KEY_TYPE_INCONSISTENT
	}
	op := &signOp{index: index, e: e, mech: mech.Type, hash: hashOf(mech.Type), pss: isPSS(mech.Type)}
	if op.pss {
		h, err := checkPSS(mech.PSS, op.hash)
		if err != nil {
			m.logf("%v", err)
			return p11.CKR_MECHANISM_PARAM_INVALID
		}
		if op.hash == 0 {
			op.hash = h // CKM_RSA_PKCS_PSS: the digest's hash is the parameters'
			op.pss = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sign != nil {
		return p11.CKR_OPERATION_ACTIVE
	}
	s.sign = op
	return p11.CKR_OK
}

// signing finds the session's signing operation.
func (m *Module) signing(h uint) (*session, uint) {
	m.mu.Lock()
	s, rv := m.session(h)
	m.mu.Unlock()
	if rv != p11.CKR_OK {
		return nil, rv
	}
	s.mu.Lock()
	if s.sign == nil {
		s.mu.Unlock()
		return nil, p11.CKR_OPERATION_NOT_INITIALIZED
	}
	return s, p11.CKR_OK
}

// Sign is C_Sign. room is the application's buffer size, or -1 when it asks for the length
// (then nothing is signed). It returns the signature, or the length needed with
// CKR_BUFFER_TOO_SMALL (the signature is kept for the retry) or with a length query.
func (m *Module) Sign(ctx context.Context, h uint, data []byte, room int) ([]byte, int, uint) {
	s, rv := m.signing(h)
	if rv != p11.CKR_OK {
		return nil, 0, rv
	}
	defer s.mu.Unlock()
	op := s.sign
	if op.multiple {
		s.sign = nil
		return nil, 0, p11.CKR_FUNCTION_FAILED
	}
	return m.finish(ctx, s, op, data, room)
}

// SignUpdate is C_SignUpdate: the hashing mechanisms only (the others take one digest).
func (m *Module) SignUpdate(h uint, part []byte) uint {
	s, rv := m.signing(h)
	if rv != p11.CKR_OK {
		return rv
	}
	defer s.mu.Unlock()
	op := s.sign
	if hashOf(op.mech) == 0 {
		s.sign = nil
		return p11.CKR_FUNCTION_NOT_SUPPORTED
	}
	if op.h == nil {
		op.h = op.hash.New()
	}
	op.multiple = true
	op.h.Write(part)
	return p11.CKR_OK
}

// SignFinal is C_SignFinal.
func (m *Module) SignFinal(ctx context.Context, h uint, room int) ([]byte, int, uint) {
	s, rv := m.signing(h)
	if rv != p11.CKR_OK {
		return nil, 0, rv
	}
	defer s.mu.Unlock()
	op := s.sign
	if hashOf(op.mech) == 0 {
		// CKM_RSA_PKCS, CKM_RSA_PKCS_PSS and CKM_ECDSA sign one digest, with C_Sign.
		s.sign = nil
		return nil, 0, p11.CKR_FUNCTION_NOT_SUPPORTED
	}
	if op.h == nil {
		op.h = op.hash.New()
	}
	return m.finish(ctx, s, op, nil, room)
}

// finish signs (s.mu held). data is C_Sign's input; for C_SignFinal it is nil and the
// running hash holds the message.
func (m *Module) finish(ctx context.Context, s *session, op *signOp, data []byte, room int) ([]byte, int, uint) {
	size := op.e.signatureSize()
	if room < 0 {
		return nil, size, p11.CKR_OK
	}
	// The digest to sign, and its hash.
	var digest []byte
	h := op.hash
	switch {
	case op.multiple || (hashOf(op.mech) != 0 && data == nil):
		digest = op.h.Sum(nil)
	case hashOf(op.mech) != 0:
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
	case op.mech == p11.CKM_RSA_PKCS:
		var err error
		if h, digest, err = parseDigestInfo(data); err != nil {
			m.logf("%v", err)
			s.sign = nil
			return nil, 0, p11.CKR_DATA_INVALID
		}
	default: // CKM_ECDSA, CKM_RSA_PKCS_PSS: the digest itself
		got, err := hashBySize(len(data))
		if err != nil || (h != 0 && got != h) {
			if err == nil {
				err = fmt.Errorf("a %d-byte digest is not the %v the PSS parameters name", len(data), h)
			}
			m.logf("%v", err)
			s.sign = nil
			return nil, 0, p11.CKR_DATA_LEN_RANGE
		}
		h, digest = got, data
	}
	// The signature's length is known before it is made: a buffer too small is said before
	// the service is asked, and the operation stays for the retry.
	if room < size {
		return nil, size, p11.CKR_BUFFER_TOO_SMALL // (hash.Hash's Sum leaves the running hash as it was)
	}
	s.sign = nil
	sig, rv := m.remote(ctx, op, h, digest)
	if rv != p11.CKR_OK {
		return nil, 0, rv
	}
	return sig, len(sig), p11.CKR_OK
}

// remote has the service sign digest and checks the answer.
func (m *Module) remote(ctx context.Context, op *signOp, h crypto.Hash, digest []byte) ([]byte, uint) {
	m.mu.Lock()
	c := m.usable()
	m.mu.Unlock()
	if c == nil {
		return nil, p11.CKR_USER_NOT_LOGGED_IN
	}
	if rv := m.clientValid(c); rv != p11.CKR_OK {
		return nil, rv
	}
	scheme := "ECDSA"
	if op.e.keyType() == p11.CKK_RSA {
		scheme = "RSASSA_PKCS1_V1_5"
		if op.pss {
			scheme = "RSASSA_PSS"
		}
	}
	alg := map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512"}[h]
	// A key per request: the service answers a retried request (same key) with its first
	// answer instead of signing twice.
	idem := make([]byte, 16)
	_, _ = rand.Read(idem)
	res, err := c.Sign(ctx, op.e.cert.ID, scheme, []client.Digest{{Digest: digest, Algorithm: alg}}, m.opts.Caller, "p11-"+hex.EncodeToString(idem))
	if err != nil {
		m.logf("signing with %s: %v", op.e, err)
		return nil, rvOf(err)
	}
	sig, err := decodeSignature(res.Signatures[0].Signature)
	if err == nil && op.e.keyType() == p11.CKK_EC {
		sig, err = rawECDSA(sig, op.e.signatureSize()/2)
	}
	if err == nil {
		err = verify(op.e.leaf().PublicKey, h, op.pss, digest, sig)
	}
	if err != nil {
		m.logf("the service's signature with %s is not usable: %v", op.e, err)
		return nil, p11.CKR_DEVICE_ERROR
	}
	if res.Signatures[0].TimestampToken != "" {
		// PKCS#11 returns signature bytes only: the tool that asked builds the signature
		// structure and timestamps it itself, with the authority it is given.
		m.logf("the policy for %s requires a timestamp: the service's token cannot go through PKCS#11, so give the signing tool its own time-stamping authority (osslsigncode -ts URL, jarsigner -tsa URL)", op.e)
	}
	return sig, p11.CKR_OK
}

func decodeSignature(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
