// Package samlidp is an embedded SAML 2.0 identity provider: the local stand-in for a
// customer's IdP, started by `make run` and by tests. It is a real protocol server on
// github.com/crewjam/saml's IdentityProvider: it publishes metadata, takes AuthnRequests at its
// SingleSignOnService (HTTP-Redirect or HTTP-POST binding), asks the browser for a user name
// and password on a plain HTML form, and sends back a Response with the HTTP-POST binding,
// signed (Response and Assertion, RSA-SHA256) with its own key and self-signed certificate,
// and encrypted when the service provider's metadata has an encryption certificate.
//
// Nothing about it is specific to Signum's service provider: the product talks to it as to
// any IdP. For tests it can also misbehave on purpose (SetMisbehaviour), so that a service
// provider can be shown to refuse what it must refuse.
//
// Routes (all under the base URL):
//
//	GET  /metadata        the IdP metadata (its entity ID is this URL)
//	GET  /sso, POST /sso  the SingleSignOnService: a login form, or the response form
//	POST /login           the login form's target; answers with the response form
//	GET  /autosubmit.js   the script that submits the response form (no inline script)
//
// Pages carry a strict Content-Security-Policy (no inline script or style): the response form
// is submitted by /autosubmit.js, and has a visible Continue button for browsers without
// script.
package samlidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"
)

// User is a person the stand-in knows. The assertion's NameID (format unspecified) is
// Username; the attributes are "username", "email", "displayName" and "groups" (one value
// per group), in the basic name format, beside crewjam's usual OID attributes (uid, mail, cn,
// eduPersonPrincipalName).
type User struct {
	Username string
	Password string
	Email    string
	Name     string
	Groups   []string
}

// ServiceProvider registers a service provider: by its metadata (MetadataXML, which wins when
// set; its encryption certificate makes the IdP encrypt assertions, its signing certificate
// lets it sign requests), or by EntityID and ACSURL alone (an HTTP-POST assertion consumer
// service; such a service provider must not sign its AuthnRequests, since the IdP has no key
// to check them with).
type ServiceProvider struct {
	EntityID    string
	ACSURL      string
	MetadataXML []byte
}

// Options configures Start.
type Options struct {
	// Addr is the listen address; empty means "127.0.0.1:0" (a free port).
	Addr string
	// BaseURL is the URL the IdP is reached at, if not http://<listen address>, for example
	// behind a proxy. The metadata URL (and so the entity ID) is BaseURL + "/metadata".
	BaseURL string
	// KeyPEM and CertPEM are the IdP's signing key and certificate (see NewKeyPair). Empty
	// means a new pair at every start; `make run` should keep one in its data directory, so
	// that domains configured with the IdP's metadata keep working after a restart.
	KeyPEM  []byte
	CertPEM []byte
	// Users and ServiceProviders are registered at start (AddUser, AddServiceProvider...).
	Users            []User
	ServiceProviders []ServiceProvider
	// FetchUnknownServiceProviders makes an AuthnRequest from an unregistered service
	// provider fetch that provider's metadata from its entity ID, when the entity ID is an
	// http(s) URL on this machine (localhost, *.localhost, loopback addresses), and register
	// it. This lets `make run` sign in to a SAML domain created in the console without
	// registering it by hand, if the domain's entity ID is its metadata URL. Never on
	// another host: the stand-in must not be made to fetch arbitrary URLs.
	FetchUnknownServiceProviders bool
	// SessionLifetime is how long a login at the stand-in lasts (its cookie session, so a
	// second sign-in does not ask again); zero means one hour.
	SessionLifetime time.Duration
	// Logger receives the IdP's log; nil means slog.Default(). Passwords and assertions are
	// never logged.
	Logger *slog.Logger
	// HTTPClient fetches service-provider metadata; nil means a client with a 10 s timeout
	// that follows no redirects and, as browsers do, reaches every *.localhost name at
	// 127.0.0.1 (Go's resolver does not), so that http://demo.localhost:8080/... works.
	HTTPClient *http.Client
}

// Misbehaviour makes the stand-in send responses a service provider must refuse, for tests.
// The zero value is correct behaviour. Set it with IdP.SetMisbehaviour; it applies to the
// responses made from then on.
type Misbehaviour struct {
	// Unsigned sends the Response and the Assertion without any signature (and unencrypted).
	Unsigned bool
	// SignWithOtherKey signs with a key and certificate that are not in the IdP's metadata.
	SignWithOtherKey bool
	// Audience, when set, restricts the assertion to this audience instead of the service
	// provider's entity ID.
	Audience string
	// Destination, when set, addresses the Response (its Destination) to this URL, and
	// Recipient the assertion's subject confirmation; the browser still posts to the real ACS.
	Destination string
	Recipient   string
	// IssuedAgo dates the response and the assertion (IssueInstant, NotBefore, NotOnOrAfter)
	// this much in the past, so that a large value makes them expired.
	IssuedAgo time.Duration
	// AddGroupAfterSigning adds this value to the "groups" attribute after the response is
	// signed (only when the assertion is not encrypted): a tampered response.
	AddGroupAfterSigning string
}

// IdP is a running stand-in identity provider.
type IdP struct {
	idp      *saml.IdentityProvider
	base     url.URL
	srv      *http.Server
	ln       net.Listener
	log      *slog.Logger
	client   *http.Client
	fetchSPs bool
	lifetime time.Duration
	stop     func() bool

	mu        sync.Mutex
	users     map[string]User
	sps       map[string]*saml.EntityDescriptor
	sessions  map[string]session
	misbehave Misbehaviour
	other     *saml.IdentityProvider // signs with the other key (SignWithOtherKey), made on first use

	closeOnce sync.Once
	closeErr  error // set once, inside closeOnce
}

// Start starts the stand-in on opts.Addr and returns once it accepts connections. It stops
// when ctx is done or Close is called.
func Start(ctx context.Context, opts Options) (*IdP, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	key, cert, err := keyPair(opts.KeyPEM, opts.CertPEM)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("samlidp: listen on %s: %w", addr, err)
	}
	baseURL := opts.BaseURL
	if baseURL == "" {
		baseURL = "http://" + ln.Addr().String()
	}
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || base.Host == "" || base.Path != "" || base.RawQuery != "" {
		ln.Close()
		return nil, fmt.Errorf("samlidp: base URL %q is not an absolute URL without a path", baseURL)
	}
	i := &IdP{
		base:     *base,
		ln:       ln,
		log:      opts.Logger,
		client:   opts.HTTPClient,
		fetchSPs: opts.FetchUnknownServiceProviders,
		lifetime: opts.SessionLifetime,
		users:    map[string]User{},
		sps:      map[string]*saml.EntityDescriptor{},
		sessions: map[string]session{},
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	if i.client == nil {
		i.client = localClient()
	}
	if i.lifetime == 0 {
		i.lifetime = time.Hour
	}
	i.idp = &saml.IdentityProvider{
		Key:                     key,
		Certificate:             cert,
		Logger:                  slog.NewLogLogger(i.log.Handler(), slog.LevelWarn),
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		ServiceProviderProvider: i,
		SessionProvider:         i,
		AssertionMaker:          i,
		ResponseWriter:          i,
		OnError:                 i.onError,
		NameIDFormats:           []saml.NameIDFormat{saml.UnspecifiedNameIDFormat},
	}
	for _, u := range opts.Users {
		if err := i.AddUser(u); err != nil {
			ln.Close()
			return nil, err
		}
	}
	for _, sp := range opts.ServiceProviders {
		var err error
		if len(sp.MetadataXML) > 0 {
			err = i.AddServiceProviderMetadata(sp.MetadataXML)
		} else {
			err = i.AddServiceProvider(sp.EntityID, sp.ACSURL)
		}
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
	i.srv = &http.Server{Handler: i.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := i.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.log.Error("samlidp: serve", "err", err)
		}
	}()
	stop := context.AfterFunc(ctx, func() { i.Close() })
	i.mu.Lock()
	i.stop = stop
	i.mu.Unlock()
	return i, nil
}

// routes is the stand-in's HTTP surface (see the package comment).
func (i *IdP) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata", i.idp.ServeMetadata)
	mux.HandleFunc("GET /sso", i.idp.ServeSSO)
	mux.HandleFunc("POST /sso", i.idp.ServeSSO)
	mux.HandleFunc("POST /login", i.handleLogin)
	mux.HandleFunc("GET /autosubmit.js", serveAutosubmit)
	return mux
}

// Close stops the server; it is safe to call more than once and concurrently (with the
// context ending, for one): every call returns once the server has stopped.
func (i *IdP) Close() error {
	i.closeOnce.Do(func() {
		i.mu.Lock()
		stop := i.stop
		i.mu.Unlock()
		if stop != nil {
			stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		i.closeErr = i.srv.Shutdown(ctx)
	})
	return i.closeErr
}

// BaseURL is the URL the stand-in serves at, without a trailing slash.
func (i *IdP) BaseURL() string { return i.base.String() }

// MetadataURL is where the IdP metadata is served; it is also the IdP's entity ID.
func (i *IdP) MetadataURL() string { return i.idp.MetadataURL.String() }

// EntityID is the IdP's entity ID, the Issuer of its responses (its metadata URL).
func (i *IdP) EntityID() string { return i.MetadataURL() }

// SSOURL is the IdP's SingleSignOnService.
func (i *IdP) SSOURL() string { return i.idp.SSOURL.String() }

// Metadata is the IdP metadata XML, as MetadataURL serves it, for tests and for configuring
// a domain without an HTTP round trip.
func (i *IdP) Metadata() ([]byte, error) {
	out, err := xml.MarshalIndent(i.idp.Metadata(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("samlidp: marshal metadata: %w", err)
	}
	return out, nil
}

// CertificatePEM is the IdP's signing certificate.
func (i *IdP) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.idp.Certificate.Raw})
}

// AddUser adds a user, or replaces the user of that name.
func (i *IdP) AddUser(u User) error {
	if u.Username == "" || u.Password == "" {
		return errors.New("samlidp: a user needs a user name and a password")
	}
	u.Groups = append([]string(nil), u.Groups...)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.users[u.Username] = u
	return nil
}

// AddServiceProvider registers a service provider by its entity ID and its HTTP-POST
// assertion consumer service URL. It must not sign its AuthnRequests (see ServiceProvider),
// and its assertions are not encrypted.
func (i *IdP) AddServiceProvider(entityID, acsURL string) error {
	if entityID == "" {
		return errors.New("samlidp: a service provider needs an entity ID")
	}
	if u, err := url.Parse(acsURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("samlidp: ACS URL %q is not an absolute http(s) URL", acsURL)
	}
	ed := &saml.EntityDescriptor{
		EntityID: entityID,
		SPSSODescriptors: []saml.SPSSODescriptor{{
			SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
				ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
			}},
			AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: acsURL, Index: 1}},
		}},
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sps[entityID] = ed
	return nil
}

// AddServiceProviderMetadata registers a service provider by its metadata (an
// md:EntityDescriptor with an SPSSODescriptor), replacing any of the same entity ID.
func (i *IdP) AddServiceProviderMetadata(metadataXML []byte) error {
	ed, err := parseSPMetadata(metadataXML)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sps[ed.EntityID] = ed
	return nil
}

// AddServiceProviderMetadataURL fetches a service provider's metadata and registers it.
func (i *IdP) AddServiceProviderMetadataURL(ctx context.Context, metadataURL string) error {
	ed, err := i.fetchSPMetadata(ctx, metadataURL)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sps[ed.EntityID] = ed
	return nil
}

// SetMisbehaviour sets how the responses made from now on misbehave; the zero value restores
// correct behaviour.
func (i *IdP) SetMisbehaviour(m Misbehaviour) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.misbehave = m
}

func (i *IdP) misbehaviour() Misbehaviour {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.misbehave
}

// otherSigner is a copy of the IdP that signs with a key of its own (SignWithOtherKey).
func (i *IdP) otherSigner() (*saml.IdentityProvider, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.other != nil {
		return i.other, nil
	}
	keyPEM, certPEM, err := NewKeyPair("Not the SAML stand-in", time.Now())
	if err != nil {
		return nil, err
	}
	key, cert, err := keyPair(keyPEM, certPEM)
	if err != nil {
		return nil, err
	}
	other := *i.idp
	other.Key, other.Certificate = key, cert
	i.other = &other
	return i.other, nil
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (i *IdP) GetServiceProvider(r *http.Request, entityID string) (*saml.EntityDescriptor, error) {
	i.mu.Lock()
	ed, ok := i.sps[entityID]
	i.mu.Unlock()
	if ok {
		return ed, nil
	}
	if !i.fetchSPs || !isLocalURL(entityID) {
		return nil, fmt.Errorf("service provider %q is not registered: %w", entityID, os.ErrNotExist)
	}
	ed, err := i.fetchSPMetadata(r.Context(), entityID)
	if err != nil {
		return nil, err
	}
	if ed.EntityID != entityID {
		return nil, fmt.Errorf("metadata at %q is for entity %q: %w", entityID, ed.EntityID, os.ErrNotExist)
	}
	i.mu.Lock()
	i.sps[entityID] = ed
	i.mu.Unlock()
	i.log.Info("samlidp: registered service provider from its metadata", "entityID", entityID)
	return ed, nil
}

// localClient is the default HTTPClient (see Options.HTTPClient).
func localClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // only ever this machine
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{
		Transport: tr,
		Timeout:   10 * time.Second,
		// Fetch what the entity ID names, not wherever a redirect points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxSPMetadataBytes bounds fetched SP metadata.
const maxSPMetadataBytes = 512 << 10

func (i *IdP) fetchSPMetadata(ctx context.Context, metadataURL string) (*saml.EntityDescriptor, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("samlidp: SP metadata URL: %w", err)
	}
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("samlidp: fetch SP metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("samlidp: fetch SP metadata %s: status %d", metadataURL, resp.StatusCode)
	}
	body, err := readLimited(resp, maxSPMetadataBytes)
	if err != nil {
		return nil, fmt.Errorf("samlidp: read SP metadata: %w", err)
	}
	return parseSPMetadata(body)
}

func parseSPMetadata(metadataXML []byte) (*saml.EntityDescriptor, error) {
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(metadataXML, &ed); err != nil {
		return nil, fmt.Errorf("samlidp: SP metadata is not an EntityDescriptor: %w", err)
	}
	if ed.EntityID == "" || len(ed.SPSSODescriptors) == 0 {
		return nil, errors.New("samlidp: SP metadata has no entityID or no SPSSODescriptor")
	}
	return &ed, nil
}

// isLocalURL reports whether raw is an http(s) URL on this machine.
func isLocalURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// onError logs why a request failed and answers with a bare status: the stand-in's errors
// are for the developer's log, not the browser.
func (i *IdP) onError(w http.ResponseWriter, r *http.Request, status int, err error) {
	i.log.Warn("samlidp: request failed", "path", r.URL.Path, "status", status, "err", err)
	if errors.Is(err, saml.ErrExpired) {
		// The AuthnRequest is only good for 90 seconds, which a slow login can outlast.
		http.Error(w, "The sign-in request expired. Go back to the service and sign in again.", status)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// NewKeyPair generates an RSA key and a self-signed certificate for the stand-in, PEM-encoded
// (PKCS#8 and CERTIFICATE), for Options.KeyPEM and Options.CertPEM.
func NewKeyPair(commonName string, now time.Time) (keyPEM, certPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: serial: %w", err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Signum local stack"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: self-sign: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// keyPair parses keyPEM and certPEM, or generates a pair when both are empty.
func keyPair(keyPEM, certPEM []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	if len(keyPEM) == 0 && len(certPEM) == 0 {
		var err error
		if keyPEM, certPEM, err = NewKeyPair("Signum SAML stand-in IdP", time.Now()); err != nil {
			return nil, nil, err
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: key pair: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("samlidp: the key is not an RSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("samlidp: certificate: %w", err)
	}
	return key, cert, nil
}
