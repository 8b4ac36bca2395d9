package samlidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// sessionCookie names the stand-in's login session. Cookies do not keep ports apart, so the
// name is specific enough not to collide with the product's own cookies on 127.0.0.1.
const sessionCookie = "signum_samlidp_session"

// session is a login at the stand-in.
type session struct {
	username string
	at       time.Time
	expires  time.Time
}

// outcomeKey carries a login form's outcome from handleLogin to GetSession.
type outcomeKey struct{}

// outcome is what the user did on the login form.
type outcome struct {
	cancel   bool
	failed   bool   // wrong user name or password
	username string // as typed, for redisplay after a failure
	user     *User  // the authenticated user
	at       time.Time
}

// GetSession implements saml.SessionProvider: the user who just logged in on the form, or
// the user of the session cookie (unless the request has ForceAuthn), or else the login form
// (or, for an IsPassive request, a NoPassive error response).
func (i *IdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	if o, ok := r.Context().Value(outcomeKey{}).(outcome); ok {
		switch {
		case o.cancel:
			i.sendStatus(w, req, saml.StatusAuthnFailed, "The user cancelled the sign-in.")
			return nil
		case o.failed:
			i.renderLogin(w, req, o.username, "The user name or password is wrong.", http.StatusUnauthorized)
			return nil
		case o.user != nil:
			return i.samlSession(*o.user, o.at)
		}
	}
	if req.Request.ForceAuthn == nil || !*req.Request.ForceAuthn {
		if u, at, ok := i.cookieSession(r); ok {
			return i.samlSession(u, at)
		}
	}
	if req.Request.IsPassive != nil && *req.Request.IsPassive {
		i.sendStatus(w, req, saml.StatusNoPassive, "The user is not signed in at the identity provider.")
		return nil
	}
	i.renderLogin(w, req, "", "", http.StatusOK)
	return nil
}

// sendStatus answers req with an error Response (top-level status Responder).
func (i *IdP) sendStatus(w http.ResponseWriter, req *saml.IdpAuthnRequest, second, message string) {
	err := i.idp.SendErrorResponse(w, req, &saml.StatusError{TopLevel: saml.StatusResponder, SecondLevel: second, Message: message})
	if err != nil {
		i.log.Warn("samlidp: send error response", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}

// cookieSession is the user of r's session cookie, if it names a live session of a user that
// still exists.
func (i *IdP) cookieSession(r *http.Request) (User, time.Time, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return User{}, time.Time{}, false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	s, ok := i.sessions[c.Value]
	if !ok || !time.Now().Before(s.expires) {
		delete(i.sessions, c.Value)
		return User{}, time.Time{}, false
	}
	u, ok := i.users[s.username]
	return u, s.at, ok
}

// samlSession is the session crewjam makes the assertion from. The attributes the service
// provider maps are custom attributes with plain names; crewjam adds its OID ones.
func (i *IdP) samlSession(u User, at time.Time) *saml.Session {
	str := func(name string, values ...string) saml.Attribute {
		a := saml.Attribute{FriendlyName: name, Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range values {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		return a
	}
	attrs := []saml.Attribute{str("username", u.Username)}
	if u.Email != "" {
		attrs = append(attrs, str("email", u.Email))
	}
	if u.Name != "" {
		attrs = append(attrs, str("displayName", u.Name))
	}
	if len(u.Groups) > 0 {
		attrs = append(attrs, str("groups", u.Groups...))
	}
	return &saml.Session{
		ID:               randomID(),
		CreateTime:       at,
		ExpireTime:       at.Add(i.lifetime),
		Index:            randomID(),
		NameID:           u.Username,
		NameIDFormat:     string(saml.UnspecifiedNameIDFormat),
		UserName:         u.Username,
		UserEmail:        u.Email,
		UserCommonName:   u.Name,
		CustomAttributes: attrs,
	}
}

// handleLogin takes the login form: it checks the credentials (or the Cancel button), starts
// a cookie session, and answers the original AuthnRequest, which the form carries along, as
// the SingleSignOnService would. Replaying the request this way, rather than posting it back
// to /sso, keeps the HTTP-Redirect binding's query signature intact.
func (i *IdP) handleLogin(w http.ResponseWriter, r *http.Request) {
	// Login CSRF: only the stand-in's own page may post credentials to it.
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	o := outcome{at: time.Now()}
	if r.PostForm.Get("action") == "cancel" {
		o.cancel = true
	} else {
		o.username = r.PostForm.Get("username")
		if u, ok := i.authenticate(o.username, r.PostForm.Get("password")); ok {
			o.user = &u
			id := randomID()
			i.mu.Lock()
			i.sessions[id] = session{username: u.Username, at: o.at, expires: o.at.Add(i.lifetime)}
			i.mu.Unlock()
			http.SetCookie(w, &http.Cookie{
				Name: sessionCookie, Value: id, Path: "/", MaxAge: int(i.lifetime.Seconds()),
				HttpOnly: true, Secure: i.base.Scheme == "https", SameSite: http.SameSiteLaxMode,
			})
			i.log.Info("samlidp: login", "username", u.Username)
		} else {
			o.failed = true
			i.log.Info("samlidp: failed login", "username", o.username)
		}
	}
	sso, err := i.ssoRequest(r, o)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	i.idp.ServeSSO(w, sso)
}

// ssoRequest rebuilds the AuthnRequest the login form carries as a request to /sso: a GET
// with the original query (HTTP-Redirect binding) or a POST with SAMLRequest and RelayState
// (HTTP-POST binding), with the form's outcome in its context.
func (i *IdP) ssoRequest(r *http.Request, o outcome) (*http.Request, error) {
	sso := r.Clone(context.WithValue(r.Context(), outcomeKey{}, o))
	sso.URL = &url.URL{Path: i.idp.SSOURL.Path}
	sso.RequestURI = ""
	sso.Form, sso.PostForm = nil, nil
	switch q, samlRequest := r.PostForm.Get("query"), r.PostForm.Get("SAMLRequest"); {
	case q != "":
		sso.Method = http.MethodGet
		sso.URL.RawQuery = q
		sso.Body, sso.ContentLength = http.NoBody, 0
		sso.Header.Del("Content-Type")
	case samlRequest != "":
		v := url.Values{"SAMLRequest": {samlRequest}}
		if rs := r.PostForm.Get("RelayState"); rs != "" {
			v.Set("RelayState", rs)
		}
		body := v.Encode()
		sso.Method = http.MethodPost
		sso.Body, sso.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		sso.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		return nil, errors.New("the login form carries no AuthnRequest")
	}
	return sso, nil
}

// authenticate checks a user name and password in constant time (for the password).
func (i *IdP) authenticate(username, password string) (User, bool) {
	i.mu.Lock()
	u, ok := i.users[username]
	i.mu.Unlock()
	want := sha256.Sum256([]byte(u.Password))
	got := sha256.Sum256([]byte(password))
	return u, subtle.ConstantTimeCompare(want[:], got[:]) == 1 && ok
}

// loginPage is the data of the login form.
type loginPage struct {
	ServiceProvider string
	Query           string // the original query of an HTTP-Redirect request
	SAMLRequest     string // the request of an HTTP-POST request
	RelayState      string
	Username        string
	Message         string
}

// The login form: labelled inputs, no script, no inline style, so that it works under the
// page's strict Content-Security-Policy and with a keyboard or a screen reader.
var loginTemplate = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in – SAML stand-in identity provider</title>
</head>
<body>
<main>
<h1>Sign in</h1>
<p>The local SAML identity provider asks who you are{{if .ServiceProvider}} for <strong>{{.ServiceProvider}}</strong>{{end}}.</p>
{{if .Message}}<p id="login-error" role="alert">{{.Message}}</p>{{end}}
<form method="post" action="login">
{{if .Query}}<input type="hidden" name="query" value="{{.Query}}">{{end}}
{{if .SAMLRequest}}<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">{{end}}
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<p><label for="username">User name</label><br>
<input id="username" name="username" type="text" autocomplete="username" required autofocus value="{{.Username}}"{{if .Message}} aria-invalid="true" aria-describedby="login-error"{{end}}></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button></p>
</form>
</main>
</body>
</html>
`))

// renderLogin shows the login form for req.
func (i *IdP) renderLogin(w http.ResponseWriter, req *saml.IdpAuthnRequest, username, message string, status int) {
	page := loginPage{Username: username, Message: message}
	if req.ServiceProviderMetadata != nil {
		page.ServiceProvider = req.ServiceProviderMetadata.EntityID
	}
	if req.HTTPRequest.Method == http.MethodGet {
		page.Query = req.HTTPRequest.URL.RawQuery
	} else {
		page.SAMLRequest = base64.StdEncoding.EncodeToString(req.RequestBuffer)
		page.RelayState = req.RelayState
	}
	var buf bytes.Buffer
	if err := loginTemplate.Execute(&buf, page); err != nil {
		i.log.Error("samlidp: render login form", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header(), "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageHeaders sets the headers of every HTML page of the stand-in.
func pageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// MakeAssertion implements saml.AssertionMaker: crewjam's assertion, then the misbehaviour
// that must be in place before signing.
func (i *IdP) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	m := i.misbehaviour()
	a := req.Assertion
	if m.Audience != "" {
		a.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: m.Audience}}}
	}
	for k := range a.Subject.SubjectConfirmations {
		d := a.Subject.SubjectConfirmations[k].SubjectConfirmationData
		if d == nil {
			continue
		}
		if m.Recipient != "" {
			d.Recipient = m.Recipient
		}
		d.NotOnOrAfter = d.NotOnOrAfter.Add(-m.IssuedAgo)
	}
	if ago := m.IssuedAgo; ago != 0 {
		req.Now = req.Now.Add(-ago) // the Response's IssueInstant
		a.IssueInstant = a.IssueInstant.Add(-ago)
		a.Conditions.NotBefore = a.Conditions.NotBefore.Add(-ago)
		a.Conditions.NotOnOrAfter = a.Conditions.NotOnOrAfter.Add(-ago)
		for k := range a.AuthnStatements {
			a.AuthnStatements[k].AuthnInstant = a.AuthnStatements[k].AuthnInstant.Add(-ago)
		}
	}
	return nil
}

// WriteResponse implements saml.ResponseWriter: it makes the Response (with the misbehaviour
// that concerns signing) unless it is an error Response already made, and sends it in an
// HTML form that posts it to the ACS (HTTP-POST binding).
func (i *IdP) WriteResponse(w http.ResponseWriter, req *saml.IdpAuthnRequest) error {
	if req.ACSEndpoint == nil || req.ACSEndpoint.Binding != saml.HTTPPostBinding {
		return errors.New("samlidp: only an HTTP-POST assertion consumer service is supported")
	}
	acs := req.ACSEndpoint.Location
	if req.ResponseEl == nil {
		m := i.misbehaviour()
		if m.Destination != "" {
			ep := *req.ACSEndpoint
			ep.Location = m.Destination
			req.ACSEndpoint = &ep
		}
		switch {
		case m.Unsigned:
			req.ResponseEl = unsignedResponse(req)
		case m.SignWithOtherKey:
			other, err := i.otherSigner()
			if err != nil {
				return err
			}
			req.IDP = other
			if err := req.MakeResponse(); err != nil {
				return err
			}
		default:
			if err := req.MakeResponse(); err != nil {
				return err
			}
		}
		if m.AddGroupAfterSigning != "" {
			addGroup(req.ResponseEl, m.AddGroupAfterSigning)
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = responseTemplate.Execute(&buf, responsePage{URL: acs, SAMLResponse: base64.StdEncoding.EncodeToString(raw), RelayState: req.RelayState})
	if err != nil {
		return err
	}
	// No form-action: browsers apply it to the redirects after the post too, and the ACS
	// usually redirects to an app on another origin than its own.
	pageHeaders(w.Header(), "default-src 'none'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err = w.Write(buf.Bytes())
	return err
}

// unsignedResponse is the Response crewjam would make, without any signature or encryption.
func unsignedResponse(req *saml.IdpAuthnRequest) *etree.Element {
	resp := &saml.Response{
		Destination:  req.ACSEndpoint.Location,
		ID:           "id-" + randomID(),
		InResponseTo: req.Request.ID,
		IssueInstant: req.Now,
		Version:      "2.0",
		Issuer:       &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: req.IDP.MetadataURL.String()},
		Status:       saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	el := resp.Element()
	el.AddChild(req.Assertion.Element())
	return el
}

// addGroup adds value to every "groups" attribute in el (a tampering test).
func addGroup(el *etree.Element, value string) {
	if el.Tag == "Attribute" && el.SelectAttrValue("Name", "") == "groups" {
		if vs := el.ChildElements(); len(vs) > 0 {
			v := vs[0].Copy()
			v.SetText(value)
			el.AddChild(v)
		}
	}
	for _, c := range el.ChildElements() {
		addGroup(c, value)
	}
}

// responsePage is the data of the response form.
type responsePage struct {
	URL          string
	SAMLResponse string
	RelayState   string
}

// The response form: /autosubmit.js posts it at once; without script, the visible Continue
// button does. No inline script, so the page keeps a strict script-src 'self'.
var responseTemplate = template.Must(template.New("response").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Continue to the service</title>
<script src="autosubmit.js" defer></script>
</head>
<body>
<main>
<h1>Signed in</h1>
<p>Continue to the service to finish signing in.</p>
<form method="post" action="{{.URL}}" id="SAMLResponseForm">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<button type="submit">Continue</button>
</form>
</main>
</body>
</html>
`))

const autosubmitJS = `"use strict";
document.getElementById("SAMLResponseForm").submit();
`

// serveAutosubmit serves the script that submits the response form.
func serveAutosubmit(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, autosubmitJS)
}

func randomID() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("samlidp: random: %v", err))
	}
	return hex.EncodeToString(b)
}

// readLimited reads resp's body, refusing more than n bytes.
func readLimited(resp *http.Response, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("more than %d bytes", n)
	}
	return b, nil
}
