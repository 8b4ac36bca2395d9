// Package samlsso is the service-provider side of a SAML 2.0 domain: it starts a sign-in at
// the customer's identity provider and finishes it with the response the browser brings
// back, on top of github.com/crewjam/saml's ServiceProvider.
//
// The flow, and what the caller keeps between its steps:
//
//  1. Start builds an AuthnRequest and returns the IdP URL to redirect the browser to (the
//     HTTP-Redirect binding) and the request's ID. The caller binds the ID to this browser
//     (for example in an HttpOnly cookie scoped to the ACS path, or a short-lived server-side
//     item named by such a cookie) so that only the browser that started a sign-in can finish
//     it. The IdP posts back cross-site, so that cookie must be SameSite=None; Secure: a Lax
//     or Strict cookie is not sent with the IdP's form post.
//  2. The IdP posts a form with SAMLResponse (and RelayState) to the domain's ACS URL
//     (the HTTP-POST binding). The caller passes SAMLResponse, the request IDs bound to the
//     browser, a Replay and the current time to Finish, which returns the Person or refuses
//     with a 401 fault saying why.
//
// Finish requires a signed Response or Assertion by a key of the domain's IdP metadata, an
// audience that is the domain's entity ID, a Destination and Recipient that are the domain's
// ACS URL, validity at the given time, an InResponseTo that is one of the given request IDs
// (so IdP-initiated sign-ins are refused) and an assertion ID it has not seen before (Replay).
// Refusals never quote the response or the assertion; their causes (for the log) name the
// check that failed and the values it expected.
//
// The package is stateless and does no I/O besides Replay: IdP metadata is stored as XML in
// the domain (fetch it once when the administrator configures the domain, not at every
// sign-in), and each call builds the service provider from the Config.
package samlsso

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/opensignum/signum/lib/fault"
)

// Default attribute names, used when Config leaves a name empty. They are the names the
// stand-in IdP (lib/samlidp) sends and the ones administrators usually configure in Okta,
// Keycloak, Entra ID and the like as custom attribute statements. The user name defaults to
// the assertion's NameID.
const (
	DefaultEmailAttr  = "email"
	DefaultNameAttr   = "displayName"
	DefaultGroupsAttr = "groups"
)

// Field names of Config in the fault.Fields that Validate (and every call) returns, so that
// the console can show each problem next to its input.
const (
	fieldEntityID    = "entityId"
	fieldACSURL      = "acsUrl"
	fieldIdPMetadata = "idpMetadataXml"
	fieldSPKey       = "spKeyPem"
	fieldSPCert      = "spCertPem"
	fieldNameID      = "nameIdFormat"
)

// Config is one SAML domain's service-provider configuration: what the store keeps for it.
type Config struct {
	// EntityID is this service provider's entity ID, the audience the IdP must restrict
	// assertions to. A URL unique to the domain is customary; the domain's public SP metadata
	// URL is the best choice, since IdPs (and the local stand-in) can fetch metadata from it.
	EntityID string
	// ACSURL is the domain's assertion consumer service: the absolute https URL (http only for
	// localhost and loopback addresses) where the IdP posts the response. Responses must be
	// addressed to it exactly.
	ACSURL string
	// IdPMetadataXML is the customer IdP's metadata (see ParseIdPMetadata).
	IdPMetadataXML []byte
	// SPKeyPEM and SPCertPEM are the domain's own key pair (NewSPKeyPair). The key decrypts
	// encrypted assertions and, with SignAuthnRequests, signs requests.
	SPKeyPEM  []byte
	SPCertPEM []byte

	// UsernameAttr names the attribute holding the user name; empty means the NameID.
	UsernameAttr string
	// EmailAttr, NameAttr and GroupsAttr name the attributes holding the e-mail address, the
	// display name and the groups (every value of every attribute of that name); empty means
	// DefaultEmailAttr, DefaultNameAttr and DefaultGroupsAttr. An attribute is found by its
	// Name, or failing that by its FriendlyName.
	EmailAttr  string
	NameAttr   string
	GroupsAttr string

	// NameIDFormat is the NameID format the AuthnRequest asks for; empty leaves the choice to
	// the IdP (unspecified), which is what most IdPs expect. Do not ask for transient when the
	// NameID is the user name: it changes at every sign-in.
	NameIDFormat string
	// SignAuthnRequests signs AuthnRequests (RSA-SHA256 on the redirect query). The IdP must
	// then know the SP's certificate, from SPMetadata. Off by default: the IdP only ever sends
	// responses to the ACS URLs it has registered, so an unsigned request gains an attacker
	// nothing, and registering only an entity ID and ACS URL stays possible.
	SignAuthnRequests bool
	// ForceAuthn asks the IdP to authenticate the user again even if it has a session.
	ForceAuthn bool
}

// withDefaults fills in the default attribute names.
func (c Config) withDefaults() Config {
	if c.EmailAttr == "" {
		c.EmailAttr = DefaultEmailAttr
	}
	if c.NameAttr == "" {
		c.NameAttr = DefaultNameAttr
	}
	if c.GroupsAttr == "" {
		c.GroupsAttr = DefaultGroupsAttr
	}
	return c
}

// Validate checks the whole configuration, reporting every bad field at once as fault.Fields
// (field names entityId, acsUrl, idpMetadataXml, spKeyPem, spCertPem, nameIdFormat). Start,
// Finish and SPMetadata check it too, so a domain saved without Validate fails at sign-in.
func (c Config) Validate() error {
	_, err := newServiceProvider(c, time.Now())
	return err
}

func fieldError(name, format string, args ...any) error {
	var bad fault.Fields
	bad.Add(name, format, args...)
	return bad
}

// newServiceProvider builds crewjam's ServiceProvider for c, with now as its clock.
func newServiceProvider(c Config, now time.Time) (*saml.ServiceProvider, error) {
	c = c.withDefaults()
	var bad fault.Fields
	if c.EntityID == "" {
		bad.Add(fieldEntityID, "is required")
	} else if len(c.EntityID) > 1024 { // saml-core §8.3.6
		bad.Add(fieldEntityID, "is longer than 1024 characters")
	}
	acs, err := url.Parse(c.ACSURL)
	switch {
	case c.ACSURL == "":
		bad.Add(fieldACSURL, "is required")
	case err != nil || acs.Host == "" || acs.User != nil || acs.Fragment != "":
		bad.Add(fieldACSURL, "is not an absolute URL without credentials or fragment")
	case acs.Scheme != "https" && !isLocalHTTP(c.ACSURL):
		bad.Add(fieldACSURL, "must be https (http only for localhost)")
	}
	var idp *saml.EntityDescriptor
	if ed, err := parseIdPEntity(c.IdPMetadataXML); err != nil {
		bad.Add(fieldIdPMetadata, "%s", err)
	} else if _, err := describeIdP(ed); err != nil {
		var f fault.Fields
		if !errors.As(err, &f) {
			return nil, err
		}
		bad = append(bad, f...)
	} else {
		idp = ed
	}
	key, cert, err := parseKeyPair(c.SPKeyPEM, c.SPCertPEM)
	if err != nil {
		field := fieldSPKey
		if strings.HasPrefix(err.Error(), "the certificate") {
			field = fieldSPCert
		}
		bad.Add(field, "%s", err)
	}
	switch saml.NameIDFormat(c.NameIDFormat) {
	case "", saml.UnspecifiedNameIDFormat, saml.EmailAddressNameIDFormat, saml.PersistentNameIDFormat, saml.TransientNameIDFormat:
	default:
		bad.Add(fieldNameID, "is not a NameID format this service supports (unspecified, emailAddress, persistent, transient)")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	nameIDFormat := saml.NameIDFormat(c.NameIDFormat)
	if nameIDFormat == "" {
		nameIDFormat = saml.UnspecifiedNameIDFormat
	}
	sp := &saml.ServiceProvider{
		EntityID:          c.EntityID,
		Key:               key,
		Certificate:       cert,
		AcsURL:            *acs,
		IDPMetadata:       idp,
		AuthnNameIDFormat: nameIDFormat,
		// Only the HTTP-POST binding: artifact resolution would have the service call the IdP
		// from inside a Lambda at sign-in, for no gain here.
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		// A validUntil would make the metadata a customer registered stop working at some
		// IdPs after two days; cacheDuration is the conforming alternative.
		MetadataOmitValidUntil: true,
		// SAML messages name their relay state in a query string; the bindings cap it at 80
		// bytes, and some IdPs truncate or refuse longer ones.
		LimitRelayStateLength: true,
		// SHA-1 XML signatures are forgeable in practice; every current IdP signs with SHA-256.
		RejectSHA1Signatures: true,
		// Do not decrypt unauthenticated AES-CBC (padding-oracle attacks): the IdP must sign
		// the Response, or encrypt with AES-GCM, which the SP metadata lists first.
		RequireSignedResponseForCBC: true,
		Clock:                       dsig.NewFakeClockAt(now),
	}
	if c.SignAuthnRequests {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	if c.ForceAuthn {
		force := true
		sp.ForceAuthn = &force
	}
	return sp, nil
}

// isLocalHTTP reports whether raw is an http URL of this machine (localhost, *.localhost or a
// loopback address), the only place plain http is allowed: the local stack and tests.
func isLocalHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Start begins a sign-in: it returns the URL of the IdP's SingleSignOnService carrying a new
// AuthnRequest (HTTP-Redirect binding), and the request's ID, which the caller binds to the
// browser and passes to Finish (see the package comment). relayState, at most 80 bytes and
// possibly empty, comes back unchanged with the response; it is not protected, so it must not
// decide anything security-relevant on its own. now is the request's IssueInstant.
func Start(cfg Config, relayState string, now time.Time) (redirectURL, requestID string, err error) {
	sp, err := newServiceProvider(cfg, now)
	if err != nil {
		return "", "", err
	}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", fmt.Errorf("samlsso: make AuthnRequest: %w", err)
	}
	u, err := req.Redirect(relayState, sp)
	if err != nil {
		if errors.Is(err, saml.ErrRelayStateTooLong) {
			return "", "", fault.Newf(fault.ErrInvalid, "The relay state is longer than 80 bytes.")
		}
		return "", "", fmt.Errorf("samlsso: encode AuthnRequest: %w", err)
	}
	return u.String(), req.ID, nil
}

// SPMetadata is the domain's service-provider metadata (an md:EntityDescriptor): its entity
// ID, its ACS URL (HTTP-POST), its certificate for encryption (and signing, with
// SignAuthnRequests), and WantAssertionsSigned. A customer registers the service with their
// IdP by uploading it or pointing the IdP at a URL that serves it; it holds nothing secret,
// so that route needs no authentication. It carries a cacheDuration, not a validUntil, so
// that a registered copy does not expire.
func SPMetadata(cfg Config) ([]byte, error) {
	sp, err := newServiceProvider(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	out, err := xml.MarshalIndent(sp.Metadata(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("samlsso: marshal SP metadata: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}
