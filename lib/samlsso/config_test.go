package samlsso_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/samlsso"
)

// goodConfig is a valid configuration against a running stand-in.
func goodConfig(t *testing.T) (samlsso.Config, *samlidp.IdP) {
	t.Helper()
	idp, err := samlidp.Start(t.Context(), samlidp.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	key, cert, err := samlsso.NewSPKeyPair("acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return samlsso.Config{
		EntityID: "https://acme.example/saml/metadata", ACSURL: "https://acme.example/saml/acs",
		IdPMetadataXML: md, SPKeyPEM: key, SPCertPEM: cert,
	}, idp
}

func TestValidate(t *testing.T) {
	good, _ := goodConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	otherKey, _, err := samlsso.NewSPKeyPair("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	noCert := bytes.ReplaceAll(good.IdPMetadataXML, []byte("signing"), []byte("encryption"))
	for name, c := range map[string]struct {
		change func(*samlsso.Config)
		fields []string
	}{
		"fail/nothing":            {func(c *samlsso.Config) { *c = samlsso.Config{} }, []string{"entityId", "acsUrl", "idpMetadataXml", "spKeyPem"}},
		"fail/http-acs":           {func(c *samlsso.Config) { c.ACSURL = "http://acme.example/saml/acs" }, []string{"acsUrl"}},
		"ok/http-acs-localhost":   {func(c *samlsso.Config) { c.ACSURL = "http://demo.localhost:8080/saml/acs" }, nil},
		"ok/http-acs-loopback":    {func(c *samlsso.Config) { c.ACSURL = "http://127.0.0.1:8080/saml/acs" }, nil},
		"fail/relative-acs":       {func(c *samlsso.Config) { c.ACSURL = "/saml/acs" }, []string{"acsUrl"}},
		"fail/long-entity-id":     {func(c *samlsso.Config) { c.EntityID = strings.Repeat("e", 1025) }, []string{"entityId"}},
		"fail/metadata-not-xml":   {func(c *samlsso.Config) { c.IdPMetadataXML = []byte("hello") }, []string{"idpMetadataXml"}},
		"fail/metadata-no-certs":  {func(c *samlsso.Config) { c.IdPMetadataXML = noCert }, []string{"idpMetadataXml"}},
		"fail/key-not-for-cert":   {func(c *samlsso.Config) { c.SPKeyPEM = otherKey }, []string{"spCertPem"}},
		"fail/cert-not-pem":       {func(c *samlsso.Config) { c.SPCertPEM = []byte("x") }, []string{"spCertPem"}},
		"fail/name-id-format":     {func(c *samlsso.Config) { c.NameIDFormat = "urn:x" }, []string{"nameIdFormat"}},
		"ok/persistent-name-ids":  {func(c *samlsso.Config) { c.NameIDFormat = string(saml.PersistentNameIDFormat) }, nil},
		"ok/custom-attribute-map": {func(c *samlsso.Config) { c.UsernameAttr, c.GroupsAttr = "uid", "memberOf" }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			c.change(&cfg)
			err := cfg.Validate()
			if c.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("%v is not a 400", err)
			}
			for _, f := range c.fields {
				if !fault.HasField(err, f) {
					t.Errorf("%v does not name %s", err, f)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("%v quotes the key", err)
			}
			if _, _, err := samlsso.Start(cfg, "", time.Now()); !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("Start with a bad config: %v", err)
			}
		})
	}
}

func TestStart(t *testing.T) {
	cfg, idp := goodConfig(t)
	redirect, id, err := samlsso.Start(cfg, "r", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != idp.SSOURL() {
		t.Errorf("redirect to %s, not the IdP's SSO URL %s", got, idp.SSOURL())
	}
	if u.Query().Get("SAMLRequest") == "" || u.Query().Get("RelayState") != "r" || u.Query().Get("Signature") != "" {
		t.Errorf("query %v", u.Query())
	}
	_, id2, err := samlsso.Start(cfg, "", time.Now())
	if err != nil || id == "" || id == id2 {
		t.Errorf("request IDs %q, %q: %v", id, id2, err)
	}
	_, _, err = samlsso.Start(cfg, strings.Repeat("r", 81), time.Now())
	if !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("long relay state: %v", err)
	}
}

func TestSPMetadata(t *testing.T) {
	cfg, _ := goodConfig(t)
	md, err := samlsso.SPMetadata(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != cfg.EntityID || !ed.ValidUntil.IsZero() || len(ed.SPSSODescriptors) != 1 {
		t.Fatalf("entity %q, valid until %v", ed.EntityID, ed.ValidUntil)
	}
	d := ed.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Location != cfg.ACSURL || d.AssertionConsumerServices[0].Binding != saml.HTTPPostBinding {
		t.Errorf("ACS %+v", d.AssertionConsumerServices)
	}
	if d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned || d.AuthnRequestsSigned == nil || *d.AuthnRequestsSigned {
		t.Errorf("WantAssertionsSigned %v AuthnRequestsSigned %v", d.WantAssertionsSigned, d.AuthnRequestsSigned)
	}
	if len(d.KeyDescriptors) == 0 || d.KeyDescriptors[0].Use != "encryption" {
		t.Errorf("key descriptors %+v", d.KeyDescriptors)
	}
	if bytes.Contains(md, []byte("PRIVATE")) {
		t.Error("metadata carries the key")
	}
}

func TestParseIdPMetadata(t *testing.T) {
	cfg, idp := goodConfig(t)
	m, err := samlsso.ParseIdPMetadata(cfg.IdPMetadataXML)
	if err != nil {
		t.Fatal(err)
	}
	if m.EntityID != idp.EntityID() || m.SSOURL != idp.SSOURL() || len(m.SigningCertificates) != 1 || m.EarliestCertificateExpiry().Before(time.Now()) {
		t.Errorf("%+v", m)
	}
	// Strip the XML declaration so that the entity can be nested.
	entity := string(cfg.IdPMetadataXML)
	wrap := func(entities ...string) []byte {
		return []byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + strings.Join(entities, "") + `</EntitiesDescriptor>`)
	}
	if m, err := samlsso.ParseIdPMetadata(wrap(entity)); err != nil || m.EntityID != idp.EntityID() {
		t.Errorf("one IdP in an EntitiesDescriptor: %+v %v", m, err)
	}
	for name, md := range map[string][]byte{
		"fail/two-idps":  wrap(entity, entity),
		"fail/no-idps":   wrap(),
		"fail/empty":     nil,
		"fail/http-sso":  []byte(strings.ReplaceAll(entity, idp.BaseURL(), "http://idp.example")),
		"fail/sp-only":   []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><SPSSODescriptor/></EntityDescriptor>`),
		"fail/bad-cert":  []byte(strings.Replace(entity, ">MII", ">AAAAMII", 1)),
		"fail/too-large": bytes.Repeat([]byte(" "), 600<<10),
	} {
		if _, err := samlsso.ParseIdPMetadata(md); !fault.HasField(err, "idpMetadataXml") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
