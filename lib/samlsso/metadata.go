package samlsso

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crewjam/saml"
)

// maxMetadataBytes bounds the IdP metadata a domain stores. Real IdP metadata is a few KB;
// federation aggregates (thousands of entities) are not something a domain should hold.
const maxMetadataBytes = 512 << 10

// IdPMetadata is what a domain's IdP metadata says, for the console to show and check when
// an administrator pastes or uploads it.
type IdPMetadata struct {
	// EntityID is the IdP's entity ID; responses must be issued by it.
	EntityID string
	// SSOURL is where Start sends the browser (the HTTP-Redirect SingleSignOnService).
	SSOURL string
	// SigningCertificates are the keys the IdP signs with; a response signed by any other
	// key is refused.
	SigningCertificates []*x509.Certificate
}

// EarliestCertificateExpiry is when the first of the IdP's signing certificates expires
// (zero if there are none): worth showing, since many IdPs rotate then and the domain's
// metadata must be updated in time.
func (m IdPMetadata) EarliestCertificateExpiry() time.Time {
	var t time.Time
	for _, c := range m.SigningCertificates {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// ParseIdPMetadata reads IdP metadata XML: an EntityDescriptor, or an EntitiesDescriptor
// holding exactly one identity provider. It requires an HTTP-Redirect SingleSignOnService
// and at least one signing certificate, so that a domain can never be configured in a way
// that would accept unsigned or unverifiable responses. Its errors are caller-safe
// (fault.ErrInvalid with the field name "idpMetadataXml").
func ParseIdPMetadata(metadataXML []byte) (IdPMetadata, error) {
	ed, err := parseIdPEntity(metadataXML)
	if err != nil {
		return IdPMetadata{}, fieldError(fieldIdPMetadata, "%s", err)
	}
	return describeIdP(ed)
}

func describeIdP(ed *saml.EntityDescriptor) (IdPMetadata, error) {
	m := IdPMetadata{EntityID: ed.EntityID}
	if m.EntityID == "" {
		return m, fieldError(fieldIdPMetadata, "has no entityID")
	}
	for _, d := range ed.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding == saml.HTTPRedirectBinding && m.SSOURL == "" {
				m.SSOURL = s.Location
			}
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					return m, fieldError(fieldIdPMetadata, "has a signing certificate that is not base64")
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return m, fieldError(fieldIdPMetadata, "has a signing certificate that does not parse")
				}
				m.SigningCertificates = append(m.SigningCertificates, c)
			}
		}
	}
	if m.SSOURL == "" {
		return m, fieldError(fieldIdPMetadata, "has no SingleSignOnService with the HTTP-Redirect binding")
	}
	if !strings.HasPrefix(m.SSOURL, "https://") && !isLocalHTTP(m.SSOURL) {
		return m, fieldError(fieldIdPMetadata, "names a SingleSignOnService that is not https")
	}
	if len(m.SigningCertificates) == 0 {
		return m, fieldError(fieldIdPMetadata, "has no signing certificate")
	}
	return m, nil
}

// parseIdPEntity finds the one IdP EntityDescriptor in metadataXML.
func parseIdPEntity(metadataXML []byte) (*saml.EntityDescriptor, error) {
	if len(bytes.TrimSpace(metadataXML)) == 0 {
		return nil, errors.New("is empty")
	}
	if len(metadataXML) > maxMetadataBytes {
		return nil, fmt.Errorf("is larger than %d KiB", maxMetadataBytes>>10)
	}
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(metadataXML, &root); err != nil {
		return nil, errors.New("is not XML")
	}
	const md = "urn:oasis:names:tc:SAML:2.0:metadata"
	switch root.XMLName {
	case xml.Name{Space: md, Local: "EntityDescriptor"}:
		var ed saml.EntityDescriptor
		if err := xml.Unmarshal(metadataXML, &ed); err != nil {
			return nil, errors.New("is not a SAML EntityDescriptor")
		}
		if len(ed.IDPSSODescriptors) == 0 {
			return nil, errors.New("describes no identity provider (IDPSSODescriptor)")
		}
		return &ed, nil
	case xml.Name{Space: md, Local: "EntitiesDescriptor"}:
		var eds saml.EntitiesDescriptor
		if err := xml.Unmarshal(metadataXML, &eds); err != nil {
			return nil, errors.New("is not a SAML EntitiesDescriptor")
		}
		var found []*saml.EntityDescriptor
		var walk func(*saml.EntitiesDescriptor)
		walk = func(e *saml.EntitiesDescriptor) {
			for i := range e.EntityDescriptors {
				if len(e.EntityDescriptors[i].IDPSSODescriptors) > 0 {
					found = append(found, &e.EntityDescriptors[i])
				}
			}
			for i := range e.EntitiesDescriptors {
				walk(&e.EntitiesDescriptors[i])
			}
		}
		walk(&eds)
		if len(found) != 1 {
			return nil, fmt.Errorf("describes %d identity providers, not exactly one", len(found))
		}
		return found[0], nil
	default:
		return nil, errors.New("is not SAML metadata (an EntityDescriptor)")
	}
}
