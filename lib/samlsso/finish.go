package samlsso

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crewjam/saml"

	"github.com/opensignum/signum/lib/fault"
)

// Refusals of a SAML response. Each is a 401 (fault.ErrUnauthenticated) whose detail is safe to
// show the user; Finish returns them wrapped with the cause for the log (errors.Is finds
// them). None quotes the response or the assertion.
var (
	// ErrUnsigned: neither the Response nor its Assertion carries a signature.
	ErrUnsigned = fault.Newf(fault.ErrUnauthenticated, "The SAML response is not signed by the identity provider.")
	// ErrSignature: a signature is there but is not a valid one by a key of the domain's IdP
	// metadata (another key, or the response was changed after signing).
	ErrSignature = fault.Newf(fault.ErrUnauthenticated, "The SAML response's signature is not valid for the domain's identity provider: it is made with another key, or the response was changed. If the identity provider changed its signing certificate, update the domain's IdP metadata.")
	// ErrAudience: the assertion is restricted to another service provider.
	ErrAudience = fault.Newf(fault.ErrUnauthenticated, "The SAML assertion is meant for another service provider: its audience is not this domain's entity ID.")
	// ErrDestination: the Response's Destination or the assertion's Recipient is not the ACS URL.
	ErrDestination = fault.Newf(fault.ErrUnauthenticated, "The SAML response is addressed to another service: its destination or recipient is not this domain's assertion consumer service URL.")
	// ErrExpired: the response or assertion is no longer valid (or, by the clocks, not yet).
	ErrExpired = fault.Newf(fault.ErrUnauthenticated, "The SAML response is expired or not yet valid; sign in again (if this keeps happening, the identity provider's clock may be wrong).")
	// ErrRequestID: InResponseTo names no sign-in this browser started here (or none at all:
	// IdP-initiated sign-ins are not accepted).
	ErrRequestID = fault.Newf(fault.ErrUnauthenticated, "The SAML response does not answer a sign-in started here from this browser; start the sign-in again from the login page.")
	// ErrReplayed: the assertion was already used for a sign-in.
	ErrReplayed = fault.Newf(fault.ErrUnauthenticated, "This SAML response was already used; sign in again.")
	// ErrIssuer: the response comes from another IdP than the domain's metadata names.
	ErrIssuer = fault.Newf(fault.ErrUnauthenticated, "The SAML response comes from another identity provider than the domain's.")
	// ErrStatus: the IdP answered, but did not authenticate the user (cancelled, denied, ...).
	ErrStatus = fault.Newf(fault.ErrUnauthenticated, "The identity provider did not sign the user in.")
	// ErrDecryption: the assertion is encrypted to a key that is not the domain's SP key.
	ErrDecryption = fault.Newf(fault.ErrUnauthenticated, "The SAML assertion cannot be decrypted with this domain's service-provider key; the identity provider may hold an old copy of the service's metadata.")
	// ErrNoUsername: the assertion carries no usable user name.
	ErrNoUsername = fault.Newf(fault.ErrUnauthenticated, "The SAML assertion carries no usable user name: check the domain's user name attribute and what the identity provider sends.")
	// ErrAttribute: a mapped attribute has an unusable value (control characters, too long).
	ErrAttribute = fault.Newf(fault.ErrUnauthenticated, "The SAML assertion carries an attribute value this service cannot use (too long, or with control characters).")
	// ErrMalformed: anything else wrong with the response (not SAML, not base64, missing
	// elements, unsupported features).
	ErrMalformed = fault.Newf(fault.ErrUnauthenticated, "The SAML response is malformed or incomplete.")
)

// maxResponseChars bounds the posted SAMLResponse (base64). Real responses are a few KB,
// tens with many groups; the bound keeps parsing costs small for anything hostile.
const maxResponseChars = 1 << 20

// Limits on mapped values, so that what reaches the store and the log stays sane.
const (
	maxValueBytes = 256
	maxGroups     = 1000
)

// Person is the user a SAML response signs in, with the attributes mapped by Config.
type Person struct {
	// NameID is the assertion's subject identifier and NameIDFormat its format.
	NameID       string
	NameIDFormat string
	// Username is the UsernameAttr value, or NameID when UsernameAttr is empty; never empty.
	Username string
	// Email and Name are the EmailAttr and NameAttr values, empty when absent.
	Email string
	Name  string
	// Groups are the GroupsAttr values in the order sent, without empty or duplicate values.
	Groups []string
	// Issuer is the IdP's entity ID.
	Issuer string
	// AssertionID is the ID of the accepted assertion, unique per IdP. Finish has recorded it
	// with Replay; keep it with the sign-in's system-log entry.
	AssertionID string
	// NotOnOrAfter is when the assertion stops being acceptable anyway (its own and its
	// subject confirmation's NotOnOrAfter, IssueInstant+90s, plus the allowed clock skew): a
	// replay record must be kept until then, and may be dropped after.
	NotOnOrAfter time.Time
	// SessionNotOnOrAfter is when the IdP wants the session it started to end (zero when it
	// says nothing); a console session should not outlive it.
	SessionNotOnOrAfter time.Time
}

// Replay remembers accepted assertion IDs so that each is accepted once.
type Replay interface {
	// Seen records assertionID as used until until and reports whether it was already
	// recorded, atomically: of two concurrent calls with one ID, exactly one gets false. An
	// error refuses the sign-in (fail closed).
	//
	// Production implementation (DynamoDB): one conditional PutItem per assertion, with the
	// key under the tenant and the domain (for example PK "DEP#<deployment>",
	// SK "SAMLASSERTION#<domain>#" + hex(sha256(assertionID))), the condition
	// attribute_not_exists(PK), and a TTL attribute of until (Unix seconds). A
	// ConditionalCheckFailedException means true. TTL deletes lazily (up to days later),
	// which is harmless: an assertion is refused as expired after until anyway. Hashing the
	// ID keeps an IdP-chosen string out of the key; scoping by domain keeps one IdP's IDs
	// from colliding with another's.
	Seen(ctx context.Context, assertionID string, until time.Time) (bool, error)
}

// refusal is a refusal kind with its cause, for errors.Is on both and the cause in the log.
type refusal struct {
	kind  error
	cause error
}

func (r *refusal) Error() string {
	if r.cause == nil {
		return r.kind.Error()
	}
	return r.kind.Error() + ": " + r.cause.Error()
}

func (r *refusal) Unwrap() []error {
	if r.cause == nil {
		return []error{r.kind}
	}
	return []error{r.kind, r.cause}
}

func refuse(kind, cause error) error { return &refusal{kind: kind, cause: cause} }

// Finish checks the SAMLResponse form value the IdP posted to the ACS URL and returns the
// person it signs in. possibleRequestIDs are the IDs of the sign-ins this browser started
// (Start); the response must answer one of them. now is the time the checks use. replay
// must not be nil: an accepted assertion is recorded with it, and a recorded one refused.
//
// Every refusal is a 401 fault (one of the Err* values of this package, wrapped with its
// cause); configuration problems are fault.Fields (400) as from Validate, and a failing
// Replay is returned wrapped (a 5xx at the edge).
func Finish(ctx context.Context, cfg Config, replay Replay, samlResponse string, possibleRequestIDs []string, now time.Time) (Person, error) {
	if replay == nil {
		return Person{}, errors.New("samlsso: Finish needs a Replay")
	}
	sp, err := newServiceProvider(cfg, now)
	if err != nil {
		return Person{}, err
	}
	cfg = cfg.withDefaults()
	if len(samlResponse) > maxResponseChars {
		return Person{}, refuse(ErrMalformed, fmt.Errorf("SAMLResponse of %d characters", len(samlResponse)))
	}
	// Some IdPs wrap the base64 in lines.
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(samlResponse), ""))
	if err != nil {
		return Person{}, refuse(ErrMalformed, errors.New("SAMLResponse is not base64"))
	}
	if err := checkSigned(raw); err != nil {
		return Person{}, err
	}
	assertion, err := sp.ParseXMLResponse(raw, possibleRequestIDs, sp.AcsURL)
	if err != nil {
		return Person{}, classify(err)
	}
	p, err := mapPerson(cfg, assertion)
	if err != nil {
		return Person{}, err
	}
	seen, err := replay.Seen(ctx, p.AssertionID, p.NotOnOrAfter)
	if err != nil {
		return Person{}, fmt.Errorf("samlsso: record assertion for replay protection: %w", err)
	}
	if seen {
		return Person{}, refuse(ErrReplayed, fmt.Errorf("assertion %q from %q", p.AssertionID, p.Issuer))
	}
	return p, nil
}

// signatureShape is just enough of a Response to see where it is signed.
type signatureShape struct {
	Signatures []struct{} `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
	Assertions []struct {
		Signatures []struct{} `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Assertion"`
	Encrypted []struct{} `xml:"urn:oasis:names:tc:SAML:2.0:assertion EncryptedAssertion"`
}

// checkSigned refuses, with ErrUnsigned, a Response that carries no signature at all, before
// crewjam parses it: crewjam refuses it too, but with an error it does not classify. This
// check only ever refuses; whether a signature is valid is crewjam's to decide. An encrypted
// assertion may hide its signature, so a Response carrying one is left to crewjam.
func checkSigned(raw []byte) error {
	var s signatureShape
	if err := xml.Unmarshal(raw, &s); err != nil {
		return refuse(ErrMalformed, errors.New("SAMLResponse is not XML"))
	}
	if len(s.Signatures) > 0 || len(s.Encrypted) > 0 {
		return nil
	}
	for _, a := range s.Assertions {
		if len(a.Signatures) > 0 {
			return nil
		}
	}
	return refuse(ErrUnsigned, errors.New("neither the Response nor an Assertion has a Signature"))
}

// classify turns crewjam's refusal into one of ours. The order matters: a response can match
// several of crewjam's kinds, and the most specific (and most actionable) reason wins.
func classify(err error) error {
	cause := err
	var ivr *saml.InvalidResponseError
	if errors.As(err, &ivr) && ivr.PrivateErr != nil {
		// InvalidResponseError's own text is a constant; PrivateErr says what failed. Its
		// Response field (the whole XML) is never used.
		cause = ivr.PrivateErr
	}
	var bad saml.ErrBadStatus
	switch {
	case errors.As(err, &bad):
		return refuse(ErrStatus, fmt.Errorf("status %s", bad.Status))
	case errors.Is(err, saml.ErrInvalidSignature), errors.Is(err, saml.ErrUntrustedCertificate), errors.Is(err, saml.ErrCertificateNotValidNow):
		return refuse(ErrSignature, cause)
	case errors.Is(err, saml.ErrDecryptionFailed):
		return refuse(ErrDecryption, cause)
	case errors.Is(err, saml.ErrIssuerMismatch):
		return refuse(ErrIssuer, cause)
	case errors.Is(err, saml.ErrAudienceMismatch):
		return refuse(ErrAudience, cause)
	case errors.Is(err, saml.ErrDestinationMismatch):
		return refuse(ErrDestination, cause)
	case errors.Is(err, saml.ErrRequestIDMismatch):
		return refuse(ErrRequestID, cause)
	case errors.Is(err, saml.ErrExpired), errors.Is(err, saml.ErrNotYetValid):
		return refuse(ErrExpired, cause)
	case strings.Contains(cause.Error(), "signature element not present"):
		// crewjam's unexported errSignatureElementNotPresent: an encrypted assertion without a
		// signature in a Response without one (checkSigned cannot see inside encryption).
		return refuse(ErrUnsigned, cause)
	default:
		return refuse(ErrMalformed, cause)
	}
}

// mapPerson reads the person out of an accepted assertion.
func mapPerson(cfg Config, a *saml.Assertion) (Person, error) {
	p := Person{AssertionID: a.ID, Issuer: a.Issuer.Value, NotOnOrAfter: acceptableUntil(a)}
	if p.AssertionID == "" {
		return Person{}, refuse(ErrMalformed, errors.New("assertion has no ID"))
	}
	if a.Subject != nil && a.Subject.NameID != nil {
		p.NameID = a.Subject.NameID.Value
		p.NameIDFormat = a.Subject.NameID.Format
	}
	for _, s := range a.AuthnStatements {
		if s.SessionNotOnOrAfter != nil && (p.SessionNotOnOrAfter.IsZero() || s.SessionNotOnOrAfter.Before(p.SessionNotOnOrAfter)) {
			p.SessionNotOnOrAfter = *s.SessionNotOnOrAfter
		}
	}
	attrs := attributes(a)
	if cfg.UsernameAttr == "" {
		p.Username = strings.TrimSpace(p.NameID)
	} else {
		p.Username = first(attrs.values(cfg.UsernameAttr))
	}
	if p.Username == "" {
		return Person{}, refuse(ErrNoUsername, fmt.Errorf("no value for %q", firstNonEmpty(cfg.UsernameAttr, "NameID")))
	}
	p.Email = first(attrs.values(cfg.EmailAttr))
	p.Name = first(attrs.values(cfg.NameAttr))
	seen := map[string]bool{}
	for _, g := range attrs.values(cfg.GroupsAttr) {
		if !seen[g] {
			seen[g] = true
			p.Groups = append(p.Groups, g)
		}
	}
	if len(p.Groups) > maxGroups {
		return Person{}, refuse(ErrAttribute, fmt.Errorf("%d groups, more than %d", len(p.Groups), maxGroups))
	}
	for name, v := range map[string]string{"user name": p.Username, "e-mail": p.Email, "name": p.Name} {
		if !usable(v) {
			return Person{}, refuse(ErrAttribute, fmt.Errorf("the %s value is unusable", name))
		}
	}
	for _, g := range p.Groups {
		if !usable(g) {
			return Person{}, refuse(ErrAttribute, errors.New("a group value is unusable"))
		}
	}
	return p, nil
}

// attributeList is the assertion's attributes, in order.
type attributeList []saml.Attribute

func attributes(a *saml.Assertion) attributeList {
	var out attributeList
	for _, st := range a.AttributeStatements {
		out = append(out, st.Attributes...)
	}
	return out
}

// values are the trimmed, non-empty values of every attribute whose Name is name or, when
// none has that Name, of every attribute whose FriendlyName is. Names win because a
// FriendlyName is only a hint (saml-core §2.7.3.1) and can repeat another attribute's Name.
func (l attributeList) values(name string) []string {
	collect := func(match func(saml.Attribute) bool) []string {
		var out []string
		for _, at := range l {
			if !match(at) {
				continue
			}
			for _, v := range at.Values {
				if s := strings.TrimSpace(v.Value); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	if vs := collect(func(at saml.Attribute) bool { return at.Name == name }); len(vs) > 0 {
		return vs
	}
	return collect(func(at saml.Attribute) bool { return at.FriendlyName == name })
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// usable reports whether v can be stored and shown: UTF-8, no control characters, bounded.
func usable(v string) bool {
	if len(v) > maxValueBytes || !utf8.ValidString(v) {
		return false
	}
	return !strings.ContainsFunc(v, unicode.IsControl)
}

// acceptableUntil mirrors crewjam's (unexported) rule for when an accepted assertion stops
// being acceptable: IssueInstant+MaxIssueDelay, or earlier the Conditions NotOnOrAfter plus
// skew, or earlier the latest subject confirmation's NotOnOrAfter plus skew. crewjam counts
// bearer confirmations only; counting every one can only make the result later, which for a
// replay record errs on the safe side.
func acceptableUntil(a *saml.Assertion) time.Time {
	deadline := a.IssueInstant.Add(saml.MaxIssueDelay)
	if a.Conditions != nil && !a.Conditions.NotOnOrAfter.IsZero() {
		deadline = earliest(deadline, a.Conditions.NotOnOrAfter.Add(saml.MaxClockSkew))
	}
	var confirmation time.Time
	if a.Subject != nil {
		for _, c := range a.Subject.SubjectConfirmations {
			if c.SubjectConfirmationData == nil {
				continue
			}
			if d := c.SubjectConfirmationData.NotOnOrAfter.Add(saml.MaxClockSkew); d.After(confirmation) {
				confirmation = d
			}
		}
	}
	if !confirmation.IsZero() {
		deadline = earliest(deadline, confirmation)
	}
	return deadline
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
