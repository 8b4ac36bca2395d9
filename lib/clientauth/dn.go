package clientauth

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Rules, the console and the refusals show a certificate's subject and issuer as the text
// `openssl x509 -noout -subject -nameopt RFC2253` prints: every attribute of the name as
// encoded, none dropped or merged (pkix.Name.String keeps only the last of repeated
// attributes and reorders them, so a rule could be matched by a name it was not written
// for). The form:
//
//   - RDNs in the reverse of their encoded order (most specific first), joined by ",";
//     the attributes of a multi-valued RDN, also reversed, joined by "+"; no spaces;
//   - an attribute is TYPE=VALUE, TYPE the short name openssl gives it (CN, O, OU, C, L, ST,
//     emailAddress, DC, UID, serialNumber, ...: the types in attributeNames);
//   - VALUE escapes , + " \ < > ; with a backslash, and # at the start and a space at the
//     start or end; control characters and every byte of a non-ASCII character's UTF-8
//     encoding are written as \XX (upper-case hex): "CN=Jos\C3\A9" for "José";
//   - an attribute of any other type is its dotted OID and "#" with the upper-case hex of the
//     value's DER encoding ("1.3.6.1.4.1.99999.1=#0C03616263").
//
// A name this cannot write exactly (a malformed encoding, an empty RDN, a value of a type
// that is not a string) has no text: rules on it do not match, and the certificate is
// refused.

// attributeNames are the attribute types openssl names, by the arc under which they sit.
// openssl knows some more objects that no name should hold; those are written as OIDs here.
var attributeNames = func() map[string]string {
	m := map[string]string{}
	for arc, names := range map[string]string{
		"2.5.4": "3:CN 4:SN 5:serialNumber 6:C 7:L 8:ST 9:street 10:O 11:OU 12:title 13:description 14:searchGuide " +
			"15:businessCategory 16:postalAddress 17:postalCode 18:postOfficeBox 19:physicalDeliveryOfficeName " +
			"20:telephoneNumber 21:telexNumber 22:teletexTerminalIdentifier 23:facsimileTelephoneNumber " +
			"24:x121Address 25:internationaliSDNNumber 26:registeredAddress 27:destinationIndicator " +
			"28:preferredDeliveryMethod 29:presentationAddress 30:supportedApplicationContext 31:member 32:owner " +
			"33:roleOccupant 34:seeAlso 35:userPassword 36:userCertificate 37:cACertificate " +
			"38:authorityRevocationList 39:certificateRevocationList 40:crossCertificatePair 41:name 42:GN " +
			"43:initials 44:generationQualifier 45:x500UniqueIdentifier 46:dnQualifier 47:enhancedSearchGuide " +
			"48:protocolInformation 49:distinguishedName 50:uniqueMember 51:houseIdentifier 52:supportedAlgorithms " +
			"53:deltaRevocationList 54:dmdName 65:pseudonym 72:role 97:organizationIdentifier 98:c3 99:n3 100:dnsName",
		"0.9.2342.19200300.100.1": "1:UID 2:textEncodedORAddress 3:mail 4:info 5:favouriteDrink 6:roomNumber 7:photo " +
			"8:userClass 9:host 10:manager 11:documentIdentifier 12:documentTitle 13:documentVersion " +
			"14:documentAuthor 15:documentLocation 20:homeTelephoneNumber 21:secretary 22:otherMailbox " +
			"23:lastModifiedTime 24:lastModifiedBy 25:DC 26:aRecord 27:pilotAttributeType27 28:mXRecord " +
			"29:nSRecord 30:sOARecord 31:cNAMERecord 37:associatedDomain 38:associatedName 39:homePostalAddress " +
			"40:personalTitle 41:mobileTelephoneNumber 42:pagerTelephoneNumber 43:friendlyCountryName 44:uid " +
			"45:organizationalStatus 46:janetMailbox 47:mailPreferenceOption 48:buildingName 49:dSAQuality " +
			"50:singleLevelQuality 51:subtreeMinimumQuality 52:subtreeMaximumQuality 53:personalSignature " +
			"54:dITRedirect 55:audio 56:documentPublisher",
		"1.2.840.113549.1.9": "1:emailAddress 2:unstructuredName 3:contentType 4:messageDigest 5:signingTime " +
			"6:countersignature 7:challengePassword 8:unstructuredAddress 9:extendedCertificateAttributes " +
			"14:extReq 15:SMIME-CAPS 20:friendlyName 21:localKeyID",
		"1.3.6.1.4.1.311.60.2.1": "1:jurisdictionL 2:jurisdictionST 3:jurisdictionC",
	} {
		for _, f := range strings.Fields(names) {
			n, name, _ := strings.Cut(f, ":")
			m[arc+"."+n] = name
		}
	}
	return m
}()

// attribute is one AttributeTypeAndValue of a name, as encoded.
type attribute struct {
	oid   asn1.ObjectIdentifier
	tag   cbasn1.Tag
	value []byte // the contents octets
	der   []byte // the whole value element (tag, length, contents)
}

// parseName reads a DER Name (RDNSequence) into its RDNs, in encoded order.
func parseName(der []byte) ([][]attribute, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("is not a DER name")
	}
	var rdns [][]attribute
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return nil, errors.New("holds an RDN that is not a SET")
		}
		if set.Empty() {
			return nil, errors.New("holds an empty RDN")
		}
		var rdn []attribute
		for !set.Empty() {
			var atv cryptobyte.String
			var a attribute
			var elem cryptobyte.String
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&a.oid) ||
				!atv.ReadAnyASN1Element(&elem, &a.tag) || !atv.Empty() {
				return nil, errors.New("holds a malformed attribute")
			}
			a.der = elem
			var content cryptobyte.String
			if !elem.ReadAnyASN1(&content, &a.tag) {
				return nil, errors.New("holds a malformed attribute value")
			}
			a.value = content
			rdn = append(rdn, a)
		}
		rdns = append(rdns, rdn)
	}
	return rdns, nil
}

// DN is the RFC 2253 text of a DER distinguished name (a certificate's RawSubject or
// RawIssuer), as openssl prints it with -nameopt RFC2253; an error says why the name cannot be
// written exactly.
func DN(der []byte) (string, error) {
	rdns, err := parseName(der)
	if err != nil {
		return "", err
	}
	return render(rdns)
}

// render writes parsed RDNs (in encoded order) as DN does.
func render(rdns [][]attribute) (string, error) {
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j := len(rdns[i]) - 1; j >= 0; j-- {
			if j < len(rdns[i])-1 {
				b.WriteByte('+')
			}
			if err := writeAttribute(&b, rdns[i][j]); err != nil {
				return "", err
			}
		}
	}
	return b.String(), nil
}

func writeAttribute(b *strings.Builder, a attribute) error {
	name, known := attributeNames[a.oid.String()]
	if !known {
		fmt.Fprintf(b, "%s=#%X", a.oid, a.der)
		return nil
	}
	chars, err := decodeString(a.tag, a.value)
	if err != nil {
		return fmt.Errorf("holds %s of %w", name, err)
	}
	b.WriteString(name)
	b.WriteByte('=')
	for i, c := range chars {
		// openssl marks the first character, then the last; a value of one character is
		// only "last" (so a lone "#" is not escaped, a lone space is).
		last := i == len(chars)-1
		first := i == 0 && !last
		switch {
		case c >= utf8.RuneSelf:
			for _, x := range utf8.AppendRune(nil, c) {
				fmt.Fprintf(b, `\%02X`, x)
			}
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(b, `\%02X`, c)
		case strings.ContainsRune(`,+"\<>;`, c), c == '#' && first, c == ' ' && (first || last):
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return nil
}

// decodeString reads a string value into its characters: UTF8String as UTF-8, BMPString as
// UCS-2, and the one-byte string types as Latin-1 (as openssl does). These are the string
// types Go's certificate parser accepts in a name; it refuses certificates with any other.
func decodeString(tag cbasn1.Tag, v []byte) ([]rune, error) {
	switch tag {
	case cbasn1.UTF8String:
		if !utf8.Valid(v) {
			return nil, errors.New("invalid UTF-8")
		}
		return []rune(string(v)), nil
	case cbasn1.PrintableString, cbasn1.IA5String, cbasn1.T61String, cbasn1.Tag(asn1.TagNumericString):
		out := make([]rune, len(v))
		for i, x := range v {
			out[i] = rune(x)
		}
		return out, nil
	case cbasn1.Tag(asn1.TagBMPString):
		if len(v)%2 != 0 {
			return nil, errors.New("an odd-length BMPString")
		}
		out := make([]rune, 0, len(v)/2)
		for i := 0; i < len(v); i += 2 {
			c := rune(v[i])<<8 | rune(v[i+1])
			if utf16.IsSurrogate(c) {
				return nil, errors.New("a BMPString with a surrogate")
			}
			out = append(out, c)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value that is not a string (tag %d)", tag)
}

// ShowDN is name's RFC 2253 text for display; a name DN cannot write says so in brackets.
func ShowDN(der []byte) string {
	s, err := DN(der)
	if err != nil {
		return "(a name that cannot be shown: it " + err.Error() + ")"
	}
	return s
}
