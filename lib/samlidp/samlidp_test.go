package samlidp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/samlsso"
)

var carol = samlidp.User{Username: "carol", Password: "s3cret pass", Email: "carol@example.com", Name: "Carol", Groups: []string{"ops"}}

const (
	spEntityID = "https://sp.example/saml/metadata"
	spACS      = "https://sp.example/saml/acs"
)

func start(t *testing.T, opts samlidp.Options) *samlidp.IdP {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	idp, err := samlidp.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	return idp
}

// authnRequestURL is a fresh AuthnRequest from the test SP to idp, as the SP's redirect.
func authnRequestURL(t *testing.T, idp *samlidp.IdP) string {
	t.Helper()
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	key, cert, err := samlsso.NewSPKeyPair("sp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	redirect, _, err := samlsso.Start(samlsso.Config{EntityID: spEntityID, ACSURL: spACS, IdPMetadataXML: md, SPKeyPEM: key, SPCertPEM: cert}, "state", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return redirect
}

type result struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func do(t *testing.T, c *http.Client, req *http.Request) result {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, string(b), resp.Request.URL}
}

func get(t *testing.T, c *http.Client, u string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

var (
	formRE   = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`<input\b([^>]*)>`)
	attrRE   = regexp.MustCompile(`([a-zA-Z-]+)="([^"]*)"`)
	labelRE  = regexp.MustCompile(`<label\b[^>]*\bfor="([^"]*)"`)
	scriptRE = regexp.MustCompile(`<script\b([^>]*)>`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// post submits the page's only form with the given changes, from the page's own origin.
func post(t *testing.T, c *http.Client, r result, set map[string]string, origin string) result {
	t.Helper()
	all := formRE.FindAllStringSubmatch(r.body, -1)
	if len(all) != 1 {
		t.Fatalf("want one form:\n%s", r.body)
	}
	action, err := r.url.Parse(attrs(all[0][1])["action"])
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	for _, in := range inputRE.FindAllStringSubmatch(all[0][2], -1) {
		if a := attrs(in[1]); a["name"] != "" {
			v.Set(a["name"], a["value"])
		}
	}
	for k, x := range set {
		v.Set(k, x)
	}
	req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if origin != r.url.Scheme+"://"+r.url.Host {
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
	}
	return do(t, c, req)
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// checkStrictPage: the page would work under a strict CSP: it declares one without
// 'unsafe-inline', has no inline script, style element or style attribute.
func checkStrictPage(t *testing.T, r result) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	for _, s := range scriptRE.FindAllStringSubmatch(r.body, -1) {
		if attrs(s[1])["src"] == "" {
			t.Errorf("inline script: %s", s[0])
		}
	}
	if strings.Contains(r.body, "<style") || strings.Contains(r.body, "style=") || strings.Contains(r.body, "onload") || strings.Contains(r.body, "onclick") {
		t.Error("inline style or event handler")
	}
}

func TestMetadata(t *testing.T) {
	idp := start(t, samlidp.Options{})
	r := get(t, http.DefaultClient, idp.MetadataURL())
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
	}
	m, err := samlsso.ParseIdPMetadata([]byte(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if m.EntityID != idp.EntityID() || m.SSOURL != idp.SSOURL() || len(m.SigningCertificates) != 1 {
		t.Errorf("%+v", m)
	}
	if !bytes.Contains(idp.CertificatePEM(), []byte("BEGIN CERTIFICATE")) {
		t.Error("no certificate PEM")
	}
}

// TestKeyPair: a stand-in started with a stored key pair keeps its identity, so that
// domains configured with its metadata survive a restart of `make run`.
func TestKeyPair(t *testing.T) {
	key, cert, err := samlidp.NewKeyPair("kept", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	idp := start(t, samlidp.Options{KeyPEM: key, CertPEM: cert})
	if !bytes.Equal(idp.CertificatePEM(), cert) {
		t.Error("the stand-in does not use the given certificate")
	}
	if _, err := samlidp.Start(t.Context(), samlidp.Options{KeyPEM: key, CertPEM: []byte("x")}); err == nil {
		t.Error("started with a broken certificate")
	}
}

func TestLoginForm(t *testing.T) {
	idp := start(t, samlidp.Options{Users: []samlidp.User{carol}})
	if err := idp.AddServiceProvider(spEntityID, spACS); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	origin := idp.BaseURL()

	login := get(t, c, authnRequestURL(t, idp))
	if login.status != http.StatusOK || !strings.Contains(login.body, `type="password"`) {
		t.Fatalf("login form: %d\n%s", login.status, login.body)
	}
	checkStrictPage(t, login)
	if !strings.Contains(login.body, spEntityID) {
		t.Error("the form does not say which service asks")
	}
	// Every visible input has a label.
	labelled := map[string]bool{}
	for _, l := range labelRE.FindAllStringSubmatch(login.body, -1) {
		labelled[l[1]] = true
	}
	for _, in := range inputRE.FindAllStringSubmatch(login.body, -1) {
		a := attrs(in[1])
		if a["type"] != "hidden" && !labelled[a["id"]] {
			t.Errorf("input without a label: %s", in[0])
		}
	}

	t.Run("fail/wrong-password", func(t *testing.T) {
		r := post(t, c, login, map[string]string{"username": "carol", "password": "nope", "action": "login"}, origin)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `role="alert"`) || !strings.Contains(r.body, `value="carol"`) {
			t.Errorf("%d\n%s", r.status, r.body)
		}
		if strings.Contains(r.body, "SAMLResponse") {
			t.Error("a response after a wrong password")
		}
		checkStrictPage(t, r)
	})
	t.Run("fail/unknown-user", func(t *testing.T) {
		r := post(t, c, login, map[string]string{"username": "mallory", "password": "", "action": "login"}, origin)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%d", r.status)
		}
	})
	t.Run("fail/cross-origin-post", func(t *testing.T) {
		r := post(t, c, login, map[string]string{"username": "carol", "password": carol.Password, "action": "login"}, "https://evil.example")
		if r.status != http.StatusForbidden {
			t.Errorf("login CSRF: %d", r.status)
		}
	})
	t.Run("ok/response-form", func(t *testing.T) {
		r := post(t, c, login, map[string]string{"username": "carol", "password": carol.Password, "action": "login"}, origin)
		if r.status != http.StatusOK {
			t.Fatalf("%d\n%s", r.status, r.body)
		}
		checkStrictPage(t, r)
		if !strings.Contains(r.body, `action="`+spACS+`"`) || !strings.Contains(r.body, `<button type="submit">Continue</button>`) {
			t.Errorf("no visible form posting to the ACS:\n%s", r.body)
		}
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") || !strings.Contains(r.body, `<script src="autosubmit.js" defer>`) {
			t.Error("the response page does not load its submit script from the IdP")
		}
		js := get(t, c, idp.BaseURL()+"/autosubmit.js")
		if js.status != http.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, `getElementById("SAMLResponseForm").submit()`) {
			t.Errorf("autosubmit.js: %d %s", js.status, js.body)
		}
		// The response is signed and addressed to the ACS, with the user's attributes.
		m := regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`).FindStringSubmatch(r.body)
		raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`Destination="` + spACS + `"`, "<ds:Signature", ">carol@example.com<", `Name="groups"`, ">ops<", "RelayState"} {
			if want == "RelayState" {
				if !strings.Contains(r.body, `name="RelayState" value="state"`) {
					t.Error("relay state lost")
				}
				continue
			}
			if !strings.Contains(string(raw), want) {
				t.Errorf("response lacks %s", want)
			}
		}

		// The login lasts: the next request gets a response without the form.
		again := get(t, c, authnRequestURL(t, idp))
		if again.status != http.StatusOK || !strings.Contains(again.body, "SAMLResponse") {
			t.Errorf("second sign-in: %d", again.status)
		}
	})
}

// TestUnknownServiceProvider: no login form for a service provider the stand-in does not know,
// and no fetching of metadata from anywhere but this machine.
func TestUnknownServiceProvider(t *testing.T) {
	var fetched atomic.Int32
	c := &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		fetched.Add(1)
		return nil, errors.New("no network in tests")
	})}
	idp := start(t, samlidp.Options{Users: []samlidp.User{carol}, FetchUnknownServiceProviders: true, HTTPClient: c})
	r := get(t, client(t), authnRequestURL(t, idp)) // from https://sp.example
	if r.status != http.StatusBadRequest || strings.Contains(r.body, "password") {
		t.Errorf("%d\n%s", r.status, r.body)
	}
	if fetched.Load() != 0 {
		t.Error("the stand-in fetched metadata from another host")
	}
}

// TestFetchFromLocalhostName: the stand-in fetches an unknown SP's metadata from its entity
// ID on a *.localhost name, as `make run` needs for http://demo.localhost:8080/....
func TestFetchFromLocalhostName(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	entityID := "http://sp.demo.localhost:" + port + "/saml/metadata"
	acs := "http://sp.demo.localhost:" + port + "/saml/acs"
	key, cert, err := samlsso.NewSPKeyPair("sp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	idp := start(t, samlidp.Options{Users: []samlidp.User{carol}, FetchUnknownServiceProviders: true})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	cfg := samlsso.Config{EntityID: entityID, ACSURL: acs, IdPMetadataXML: md, SPKeyPEM: key, SPCertPEM: cert}
	var mu sync.Mutex
	var hosts []string
	fetched := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(hosts) }
	mux.HandleFunc("GET /saml/metadata", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		b, err := samlsso.SPMetadata(cfg)
		if err != nil {
			t.Error(err)
		}
		w.Write(b)
	})
	redirect, _, err := samlsso.Start(cfg, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, client(t), redirect)
	if r.status != http.StatusOK || !strings.Contains(r.body, `type="password"`) {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	if h := fetched(); len(h) != 1 || h[0] != "sp.demo.localhost:"+port {
		t.Errorf("metadata fetched with Host %q", h)
	}
	// Registered now: the next request does not fetch again.
	redirect, _, _ = samlsso.Start(cfg, "", time.Now())
	get(t, client(t), redirect)
	if h := fetched(); len(h) != 1 {
		t.Errorf("fetched %d times", len(h))
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRegistration: bad registrations are refused.
func TestRegistration(t *testing.T) {
	idp := start(t, samlidp.Options{})
	for name, err := range map[string]error{
		"fail/no-entity-id":     idp.AddServiceProvider("", spACS),
		"fail/relative-acs":     idp.AddServiceProvider(spEntityID, "/acs"),
		"fail/not-metadata":     idp.AddServiceProviderMetadata([]byte("<x/>")),
		"fail/idp-metadata":     idp.AddServiceProviderMetadata(must(idp.Metadata())),
		"fail/unreachable-url":  idp.AddServiceProviderMetadataURL(t.Context(), "http://127.0.0.1:1/metadata"),
		"fail/user-no-password": idp.AddUser(samlidp.User{Username: "x"}),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestStops: the stand-in stops with its context and with Close.
func TestStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	idp, err := samlidp.Start(ctx, samlidp.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(idp.MetadataURL())
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := idp.Close(); err != nil {
		t.Errorf("Close after the context: %v", err)
	}
}

// The stand-in's responses follow crewjam's rules: an IsPassive request without a session
// gets a NoPassive status, not a login form.
func TestPassive(t *testing.T) {
	idp := start(t, samlidp.Options{Users: []samlidp.User{carol}})
	if err := idp.AddServiceProvider(spEntityID, spACS); err != nil {
		t.Fatal(err)
	}
	passive := true
	req := saml.AuthnRequest{
		ID: "id-passive", Version: "2.0", IssueInstant: time.Now(), Destination: idp.SSOURL(),
		Issuer:    &saml.Issuer{Value: spEntityID},
		IsPassive: &passive, AssertionConsumerServiceURL: spACS,
	}
	u, err := req.Redirect("", &saml.ServiceProvider{})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, client(t), u.String())
	if r.status != http.StatusOK || strings.Contains(r.body, "password") || !strings.Contains(r.body, "SAMLResponse") {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	m := regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`).FindStringSubmatch(r.body)
	raw, _ := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if !strings.Contains(string(raw), saml.StatusNoPassive) {
		t.Errorf("no NoPassive status:\n%s", raw)
	}
}
