package samlsso_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/samlsso"
)

// TestSignIn is the whole flow over HTTP, as a browser goes through it: the service's login
// route redirects to the stand-in, the user fills in its form, the stand-in's response form is
// posted to the service's ACS, which finishes the sign-in with the request ID from its cookie.
func TestSignIn(t *testing.T) {
	for name, reg := range map[string]registration{
		"ok/registered-by-metadata": byMetadata, // the assertion comes encrypted
		"ok/registered-by-acs-url":  byEntityID,
		"ok/idp-fetches-metadata":   byFetching,
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, reg, nil)
			b := w.newBrowser()
			f := w.signIn(b, alice)
			if f.action != w.cfg.ACSURL {
				t.Fatalf("the response form posts to %s, not the ACS", f.action)
			}
			if f.values.Get("RelayState") != "back-to=/console" {
				t.Errorf("RelayState = %q", f.values.Get("RelayState"))
			}
			p := b.submit(f, mustParse(t, w.idp.BaseURL()))
			if p.status != http.StatusOK {
				t.Fatalf("ACS: %s: %s", p, p.body)
			}
			var got struct {
				Person     samlsso.Person
				RelayState string
			}
			if err := json.Unmarshal([]byte(p.body), &got); err != nil {
				t.Fatal(err)
			}
			want := samlsso.Person{
				NameID: "alice", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
				Username: "alice", Email: alice.Email, Name: alice.Name, Groups: alice.Groups,
				Issuer: w.idp.EntityID(),
			}
			person := got.Person
			if person.AssertionID == "" || person.NotOnOrAfter.Before(time.Now()) || person.NotOnOrAfter.After(time.Now().Add(10*time.Minute)) {
				t.Errorf("assertion ID %q, not on or after %v", person.AssertionID, person.NotOnOrAfter)
			}
			person.AssertionID, person.NotOnOrAfter, person.SessionNotOnOrAfter = "", time.Time{}, time.Time{}
			if !equalPerson(person, want) {
				t.Errorf("person\n got %+v\nwant %+v", person, want)
			}
			if got.RelayState != "back-to=/console" {
				t.Errorf("relay state at the ACS = %q", got.RelayState)
			}

			// The same browser posting the same response again is refused.
			p = b.submit(f, mustParse(t, w.idp.BaseURL()))
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "already used") {
				t.Errorf("replay at the ACS: %s: %s", p, p.body)
			}
		})
	}
}

func equalPerson(a, b samlsso.Person) bool {
	return reflect.DeepEqual(a, b)
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRefusals: each response a service provider must refuse, made by the stand-in on
// purpose, is refused with its own 401 reason.
func TestRefusals(t *testing.T) {
	w := newWorld(t, byEntityID, nil) // plaintext assertions, so that tampering is possible
	for name, c := range map[string]struct {
		misbehave samlidp.Misbehaviour
		ids       func(requestID string) []string
		now       func() time.Time
		want      error
	}{
		"fail/unsigned":               {misbehave: samlidp.Misbehaviour{Unsigned: true}, want: samlsso.ErrUnsigned},
		"fail/signed-by-another-key":  {misbehave: samlidp.Misbehaviour{SignWithOtherKey: true}, want: samlsso.ErrSignature},
		"fail/changed-after-signing":  {misbehave: samlidp.Misbehaviour{AddGroupAfterSigning: "signum-administrators"}, want: samlsso.ErrSignature},
		"fail/another-audience":       {misbehave: samlidp.Misbehaviour{Audience: "https://other.example/saml/metadata"}, want: samlsso.ErrAudience},
		"fail/another-destination":    {misbehave: samlidp.Misbehaviour{Destination: "https://other.example/saml/acs"}, want: samlsso.ErrDestination},
		"fail/another-recipient":      {misbehave: samlidp.Misbehaviour{Recipient: "https://other.example/saml/acs"}, want: samlsso.ErrDestination},
		"fail/misaddressed-unsigned":  {misbehave: samlidp.Misbehaviour{Unsigned: true, Destination: "https://other.example/saml/acs"}, want: samlsso.ErrUnsigned},
		"fail/issued-long-ago":        {misbehave: samlidp.Misbehaviour{IssuedAgo: 10 * time.Minute}, want: samlsso.ErrExpired},
		"fail/finished-too-late":      {now: func() time.Time { return time.Now().Add(10 * time.Minute) }, want: samlsso.ErrExpired},
		"fail/from-the-future":        {now: func() time.Time { return time.Now().Add(-10 * time.Minute) }, want: samlsso.ErrExpired},
		"fail/not-our-request":        {ids: func(string) []string { return []string{"id-someone-elses"} }, want: samlsso.ErrRequestID},
		"fail/no-request-started":     {ids: func(string) []string { return nil }, want: samlsso.ErrRequestID},
		"fail/empty-request-id-given": {ids: func(string) []string { return []string{""} }, want: samlsso.ErrRequestID},
	} {
		t.Run(name, func(t *testing.T) {
			w.idp.SetMisbehaviour(c.misbehave)
			defer w.idp.SetMisbehaviour(samlidp.Misbehaviour{})
			resp, id := w.response(alice)
			ids, now := []string{"id-older-one", id}, time.Now()
			if c.ids != nil {
				ids = c.ids(id)
			}
			if c.now != nil {
				now = c.now()
			}
			_, err := w.finish(resp, ids, now)
			wantRefusal(t, err, c.want)
		})
	}

	// The same world accepts a correct response, so that the refusals above are for the
	// reasons they name.
	resp, id := w.response(alice)
	if _, err := w.finish(resp, []string{id}, time.Now()); err != nil {
		t.Fatalf("correct response refused: %v", err)
	}
}

// TestReplay: a response is accepted once; again, it is refused, also when another sign-in
// from the same browser is pending, and a refused one does not use up its assertion.
func TestReplay(t *testing.T) {
	w := newWorld(t, byMetadata, nil)
	resp, id := w.response(bob)

	// Refused first for a reason of its own: the assertion is not recorded.
	_, err := w.finish(resp, []string{"id-not-this-one"}, time.Now())
	wantRefusal(t, err, samlsso.ErrRequestID)

	p, err := w.finish(resp, []string{id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "bob" || len(p.Groups) != 0 || p.Name != "Bob" {
		t.Errorf("person %+v", p)
	}
	_, err = w.finish(resp, []string{id, "id-another-pending"}, time.Now())
	wantRefusal(t, err, samlsso.ErrReplayed)

	// A Replay that fails refuses the sign-in, but not as a 401: the caller cannot help it.
	resp, id = w.response(bob)
	_, err = samlsso.Finish(context.Background(), w.cfg, failingReplay{}, resp, []string{id}, time.Now())
	if err == nil || errors.Is(err, fault.ErrUnauthenticated) || !errors.Is(err, errStoreDown) {
		t.Errorf("failing replay store: %v", err)
	}
	if _, err := samlsso.Finish(context.Background(), w.cfg, nil, resp, []string{id}, time.Now()); err == nil {
		t.Error("Finish without a Replay accepted a response")
	}
}

var errStoreDown = errors.New("store down")

type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errStoreDown
}

// TestAnotherIdP: a response from another IdP (with its own key and entity ID) is refused.
func TestAnotherIdP(t *testing.T) {
	w := newWorld(t, byEntityID, nil)
	other, err := samlidp.Start(t.Context(), samlidp.Options{Users: []samlidp.User{alice}, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.AddServiceProvider(w.cfg.EntityID, w.cfg.ACSURL); err != nil {
		t.Fatal(err)
	}
	// The service trusts the other IdP for the sign-in's start only, so that its request goes
	// there; the response is then checked against the real domain's metadata.
	trusting := w.cfg
	trusting.IdPMetadataXML = w.fetch(other.MetadataURL())
	redirect, id, err := samlsso.Start(trusting, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := w.newBrowser()
	p := b.get(redirect)
	f := p.form(t)
	f.values.Set("username", alice.Username)
	f.values.Set("password", alice.Password)
	f.values.Set("action", "login")
	p = b.submit(f, p.url)
	resp := p.form(t).values.Get("SAMLResponse")
	_, err = w.finish(resp, []string{id}, time.Now())
	wantRefusal(t, err, samlsso.ErrSignature)
}

// TestIdPStatus: a user who cancels at the IdP gets a refusal that says the IdP did not sign
// them in.
func TestIdPStatus(t *testing.T) {
	w := newWorld(t, byMetadata, nil)
	b := w.newBrowser()
	p := b.get(w.sp.URL + "/login")
	f := p.form(t)
	f.values.Set("action", "cancel")
	p = b.submit(f, p.url)
	rf := p.form(t)
	if rf.action != w.cfg.ACSURL {
		t.Fatalf("cancel: %s\n%s", p, p.body)
	}
	p = b.submit(rf, p.url)
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "did not sign the user in") {
		t.Errorf("cancelled sign-in at the ACS: %s: %s", p, p.body)
	}
}

// TestMalformed: what is not a SAML response at all is refused as malformed, without echo.
func TestMalformed(t *testing.T) {
	w := newWorld(t, notAtAll, nil)
	for name, c := range map[string]struct {
		resp string
		want error
	}{
		"fail/empty":      {"", samlsso.ErrMalformed},
		"fail/not-base64": {"<Response>", samlsso.ErrMalformed},
		"fail/not-xml":    {base64.StdEncoding.EncodeToString([]byte("alice@example.com")), samlsso.ErrMalformed},
		"fail/too-large":  {strings.Repeat("A", 2<<20), samlsso.ErrMalformed},
		"fail/bare-xml": {base64.StdEncoding.EncodeToString([]byte(
			`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="id-1" Version="2.0"/>`)), samlsso.ErrUnsigned},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := w.finish(c.resp, []string{"id-x"}, time.Now())
			wantRefusal(t, err, c.want)
		})
	}
}

// TestAttributeMapping: the attribute names a domain configures pick the person's fields,
// by Name first and FriendlyName second.
func TestAttributeMapping(t *testing.T) {
	for name, c := range map[string]struct {
		tweak func(*samlsso.Config)
		check func(*testing.T, samlsso.Person, error)
	}{
		"ok/username-from-attribute-name": {
			func(c *samlsso.Config) { c.UsernameAttr = "urn:oid:0.9.2342.19200300.100.1.3" }, // mail
			func(t *testing.T, p samlsso.Person, err error) {
				if err != nil || p.Username != alice.Email || p.NameID != "alice" {
					t.Errorf("%+v %v", p, err)
				}
			},
		},
		"ok/name-from-friendly-name": {
			func(c *samlsso.Config) { c.NameAttr = "cn"; c.EmailAttr = "mail" },
			func(t *testing.T, p samlsso.Person, err error) {
				if err != nil || p.Name != alice.Name || p.Email != alice.Email {
					t.Errorf("%+v %v", p, err)
				}
			},
		},
		"ok/groups-from-another-attribute": {
			func(c *samlsso.Config) { c.GroupsAttr = "username" },
			func(t *testing.T, p samlsso.Person, err error) {
				if err != nil || !slices.Equal(p.Groups, []string{"alice"}) {
					t.Errorf("%+v %v", p, err)
				}
			},
		},
		"fail/no-such-username-attribute": {
			func(c *samlsso.Config) { c.UsernameAttr = "employeeNumber" },
			func(t *testing.T, _ samlsso.Person, err error) { wantRefusal(t, err, samlsso.ErrNoUsername) },
		},
		"ok/missing-optional-attributes": {
			func(c *samlsso.Config) { c.EmailAttr = "nope"; c.GroupsAttr = "nope" },
			func(t *testing.T, p samlsso.Person, err error) {
				if err != nil || p.Email != "" || p.Groups != nil || p.Username != "alice" {
					t.Errorf("%+v %v", p, err)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, byMetadata, c.tweak)
			resp, id := w.response(alice)
			p, err := w.finish(resp, []string{id}, time.Now())
			c.check(t, p, err)
		})
	}
}

// TestSignedRequests: with SignAuthnRequests, the IdP checks the request's signature with
// the certificate from the SP metadata; an IdP that only knows the entity ID and ACS URL
// cannot, and refuses the request.
func TestSignedRequests(t *testing.T) {
	sign := func(c *samlsso.Config) { c.SignAuthnRequests = true; c.ForceAuthn = true }
	w := newWorld(t, byMetadata, sign)
	redirect, _, err := samlsso.Start(w.cfg, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	q := mustParse(t, redirect).Query()
	if q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || q.Get("Signature") == "" {
		t.Fatalf("request not signed: %s", redirect)
	}
	resp, id := w.response(alice)
	if _, err := w.finish(resp, []string{id}, time.Now()); err != nil {
		t.Fatal(err)
	}

	w = newWorld(t, byEntityID, sign)
	p := w.newBrowser().get(w.sp.URL + "/login")
	if p.status != http.StatusBadRequest {
		t.Errorf("IdP without the SP's certificate: %s", p)
	}
}

// TestSingleSignOnSession: a second sign-in from the same browser needs no password at the
// IdP, unless the domain asks for ForceAuthn.
func TestSingleSignOnSession(t *testing.T) {
	w := newWorld(t, byMetadata, nil)
	b := w.newBrowser()
	w.signIn(b, alice)
	if p := b.get(w.sp.URL + "/login"); p.isLoginForm() {
		t.Error("the IdP asked again within its session")
	}
	w.cfg.ForceAuthn = true
	if p := b.get(w.sp.URL + "/login"); !p.isLoginForm() {
		t.Errorf("ForceAuthn did not ask again: %s", p)
	}
}

// TestUnknownServiceProvider: the stand-in answers requests from service providers it does
// not know with an error, not a login form.
func TestUnknownServiceProvider(t *testing.T) {
	w := newWorld(t, notAtAll, nil)
	p := w.newBrowser().get(w.sp.URL + "/login")
	if p.status != http.StatusBadRequest || p.isLoginForm() {
		t.Errorf("unknown SP: %s", p)
	}
}
