package samlsso_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/samlsso"
)

// The people the stand-in knows in these tests.
var (
	alice = samlidp.User{Username: "alice", Password: "correct horse", Email: "alice@example.com", Name: "Alice Liddell", Groups: []string{"signers", "release-managers"}}
	bob   = samlidp.User{Username: "bob", Password: "battery staple", Email: "bob@example.com", Name: "Bob"}
)

// discard keeps the stand-in's log out of the test output.
var discard = slog.New(slog.DiscardHandler)

// world is a service provider (a tiny "service" with the login routes the console will
// have) and the stand-in IdP, both real HTTP servers on loopback.
type world struct {
	t      testing.TB
	idp    *samlidp.IdP
	sp     *httptest.Server
	cfg    samlsso.Config
	replay *samlsso.MemoryReplay

	mu      sync.Mutex
	started map[string]bool // request IDs the service started
}

// registration says how the stand-in learns about the service provider.
type registration int

const (
	byMetadata registration = iota // its SP metadata (the IdP then encrypts assertions)
	byEntityID                     // its entity ID and ACS URL only
	byFetching                     // the IdP fetches the metadata from the entity ID
	notAtAll
)

// newWorld starts the stand-in and the service; change w.cfg (not its URLs) as a test needs.
func newWorld(t testing.TB, reg registration, tweak func(*samlsso.Config)) *world {
	t.Helper()
	w := &world{t: t, replay: &samlsso.MemoryReplay{}, started: map[string]bool{}}
	// TLS, because the request cookie is Secure (SameSite=None requires it), and Go's cookie
	// jar, unlike browsers, does not send Secure cookies to http://127.0.0.1.
	w.sp = httptest.NewTLSServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.sp.Close)
	idp, err := samlidp.Start(t.Context(), samlidp.Options{
		Users:                        []samlidp.User{alice, bob},
		FetchUnknownServiceProviders: reg == byFetching,
		HTTPClient:                   w.sp.Client(),
		Logger:                       discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	w.idp = idp
	keyPEM, certPEM, err := samlsso.NewSPKeyPair("test domain", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.cfg = samlsso.Config{
		EntityID:       w.sp.URL + "/saml/metadata",
		ACSURL:         w.sp.URL + "/saml/acs",
		IdPMetadataXML: w.fetch(idp.MetadataURL()),
		SPKeyPEM:       keyPEM,
		SPCertPEM:      certPEM,
	}
	if tweak != nil {
		tweak(&w.cfg)
	}
	if err := w.cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	switch reg {
	case byMetadata:
		md, err := samlsso.SPMetadata(w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := idp.AddServiceProviderMetadata(md); err != nil {
			t.Fatal(err)
		}
	case byEntityID:
		if err := idp.AddServiceProvider(w.cfg.EntityID, w.cfg.ACSURL); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// fetch GETs a URL the way an administrator's "load metadata from URL" would.
func (w *world) fetch(u string) []byte {
	w.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		w.t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return b
}

// requestCookie carries the IDs of the sign-ins a browser started, as the console will.
const requestCookie = "saml_request"

// serve is the service: the login routes of a SAML domain.
func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/login":
		redirect, id, err := samlsso.Start(w.cfg, "back-to=/console", time.Now())
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		w.mu.Lock()
		w.started[id] = true
		w.mu.Unlock()
		http.SetCookie(rw, &http.Cookie{Name: requestCookie, Value: id, Path: "/saml/acs", HttpOnly: true, SameSite: http.SameSiteNoneMode, Secure: true})
		http.Redirect(rw, r, redirect, http.StatusSeeOther)
	case r.Method == http.MethodGet && r.URL.Path == "/saml/metadata":
		md, err := samlsso.SPMetadata(w.cfg)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/samlmetadata+xml")
		rw.Write(md)
	case r.Method == http.MethodPost && r.URL.Path == "/saml/acs":
		var ids []string
		if c, err := r.Cookie(requestCookie); err == nil {
			ids = append(ids, c.Value)
		}
		p, err := samlsso.Finish(r.Context(), w.cfg, w.replay, r.PostFormValue("SAMLResponse"), ids, time.Now())
		if err != nil {
			detail, _ := fault.DetailOf(err)
			http.Error(rw, detail, http.StatusUnauthorized)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(struct {
			Person     samlsso.Person
			RelayState string
		}{p, r.PostFormValue("RelayState")})
	default:
		http.NotFound(rw, r)
	}
}

// browser is a user agent: a cookie jar, following redirects, submitting HTML forms.
type browser struct {
	t      testing.TB
	client *http.Client
}

// newBrowser is a browser that trusts the service's test certificate.
func (w *world) newBrowser() *browser {
	w.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return &browser{t: w.t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: w.sp.Client().Transport}}
}

// page is an HTML page the browser got.
type page struct {
	url    *url.URL
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{url: resp.Request.URL, status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// form is an HTML form on a page: its absolute action and its inputs' values.
type form struct {
	action string
	values url.Values
}

var (
	formRE  = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input\b([^>]*)>`)
	attrRE  = regexp.MustCompile(`([a-zA-Z-]+)="([^"]*)"`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// form parses the page's only form.
func (p page) form(t testing.TB) form {
	t.Helper()
	all := formRE.FindAllStringSubmatch(p.body, -1)
	if len(all) != 1 {
		t.Fatalf("%s (%d): want one form, found %d:\n%s", p.url, p.status, len(all), p.body)
	}
	action, err := p.url.Parse(attrs(all[0][1])["action"])
	if err != nil {
		t.Fatal(err)
	}
	f := form{action: action.String(), values: url.Values{}}
	for _, in := range inputRE.FindAllStringSubmatch(all[0][2], -1) {
		a := attrs(in[1])
		if a["name"] != "" {
			f.values.Set(a["name"], a["value"])
		}
	}
	return f
}

// submit posts f, as a browser does from the page's origin.
func (b *browser) submit(f form, from *url.URL) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.action, strings.NewReader(f.values.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", from.Scheme+"://"+from.Host)
	return b.do(req)
}

// isLoginForm reports whether p is the stand-in's login form.
func (p page) isLoginForm() bool { return strings.Contains(p.body, `name="password"`) }

// signIn runs a browser through the service's /login and the stand-in's login form, and
// returns the response form the IdP sends back, not yet posted to the ACS.
func (w *world) signIn(b *browser, u samlidp.User) form {
	w.t.Helper()
	p := b.get(w.sp.URL + "/login")
	if p.isLoginForm() {
		if p.status != http.StatusOK {
			w.t.Fatalf("login form: status %d", p.status)
		}
		f := p.form(w.t)
		f.values.Set("username", u.Username)
		f.values.Set("password", u.Password)
		f.values.Set("action", "login")
		p = b.submit(f, p.url)
	}
	if p.status != http.StatusOK || !strings.Contains(p.body, "SAMLResponse") {
		w.t.Fatalf("after login: %d %s\n%s", p.status, p.url, p.body)
	}
	return p.form(w.t)
}

// response signs u in with a fresh browser and returns the SAMLResponse and the request ID
// it answers.
func (w *world) response(u samlidp.User) (samlResponse, requestID string) {
	w.t.Helper()
	b := w.newBrowser()
	f := w.signIn(b, u)
	spURL, _ := url.Parse(w.sp.URL)
	for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "https", Host: spURL.Host, Path: "/saml/acs"}) {
		if c.Name == requestCookie {
			requestID = c.Value
		}
	}
	if requestID == "" {
		w.t.Fatal("the service set no request cookie")
	}
	return f.values.Get("SAMLResponse"), requestID
}

// finish is Finish with the world's config and replay cache.
func (w *world) finish(samlResponse string, ids []string, now time.Time) (samlsso.Person, error) {
	return samlsso.Finish(context.Background(), w.cfg, w.replay, samlResponse, ids, now)
}

// wantRefusal checks that err is the refusal want: a 401 fault whose caller-safe detail
// quotes nothing of the assertion.
func wantRefusal(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("refused with %v; want %v", err, want)
	}
	if !errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("%v is not a 401 fault", err)
	}
	detail, ok := fault.DetailOf(err)
	if !ok {
		t.Fatalf("%v has no caller-safe detail", err)
	}
	for _, secret := range []string{alice.Username, alice.Email, alice.Name, alice.Groups[0], "id-", "<"} {
		if strings.Contains(detail, secret) {
			t.Fatalf("detail %q quotes %q from the response", detail, secret)
		}
	}
}

func (p page) String() string { return fmt.Sprintf("%d %s", p.status, p.url) }
