package p11token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"

	p11 "github.com/miekg/pkcs11"

	"github.com/opensignum/signum/lib/client"
)

// Objects per certificate: the certificate, its private key (a handle that signs remotely)
// and its public key. Handles are stable for the life of the module: certificate i (in the
// order first seen) owns handles 3i+1, 3i+2 and 3i+3.
const objectsPerCert = 3

type objectKind int

const (
	kindCertificate objectKind = iota
	kindPrivateKey
	kindPublicKey
)

// entry is one certificate the caller may sign with, as the token shows it.
type entry struct {
	cert  client.Certificate
	chain []*x509.Certificate
	// gone is set when the service no longer lists the certificate: its handles stay
	// reserved (an application may hold them) but it is not found any more.
	gone bool
}

func (e *entry) leaf() *x509.Certificate { return e.chain[0] }

// noKeyType is the key type of a key the module cannot use (CKK_RSA is 0).
const noKeyType = ^uint(0)

// keyType is CKK_RSA or CKK_EC, or noKeyType.
func (e *entry) keyType() uint {
	switch e.leaf().PublicKey.(type) {
	case *rsa.PublicKey:
		return p11.CKK_RSA
	case *ecdsa.PublicKey:
		return p11.CKK_EC
	}
	return noKeyType
}

// Value is one attribute's answer: its bytes, or why there are none (CKR_ATTRIBUTE_SENSITIVE
// or CKR_ATTRIBUTE_TYPE_INVALID).
type Value struct {
	Data   []byte
	Status uint
}

func boolean(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

// ulong is a CK_ULONG in the host's byte order and width (the module is built for 64-bit
// little-endian Linux, where CK_ULONG is unsigned long).
func ulong(v uint) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

var curveOIDs = map[elliptic.Curve]asn1.ObjectIdentifier{
	elliptic.P256(): {1, 2, 840, 10045, 3, 1, 7},
	elliptic.P384(): {1, 3, 132, 0, 34},
	elliptic.P521(): {1, 3, 132, 0, 35},
}

// ecParams is CKA_EC_PARAMS: the DER of the curve's named OID.
func ecParams(k *ecdsa.PublicKey) []byte {
	oid, ok := curveOIDs[k.Curve]
	if !ok {
		return nil
	}
	der, _ := asn1.Marshal(oid)
	return der
}

// ecPoint is CKA_EC_POINT: the uncompressed point in a DER OCTET STRING.
func ecPoint(k *ecdsa.PublicKey) []byte {
	size := (k.Curve.Params().BitSize + 7) / 8
	raw := make([]byte, 1+2*size)
	raw[0] = 4
	k.X.FillBytes(raw[1 : 1+size])
	k.Y.FillBytes(raw[1+size:])
	der, _ := asn1.Marshal(raw)
	return der
}

// serialDER is CKA_SERIAL_NUMBER: the DER INTEGER of the serial number.
func serialDER(n *big.Int) []byte {
	der, _ := asn1.Marshal(n)
	return der
}

// attribute answers one attribute of an object. loginRequired makes the private key a
// private object (its handle is shown only after C_Login).
func (e *entry) attribute(kind objectKind, typ uint, loginRequired bool) Value {
	leaf := e.leaf()
	ok := func(b []byte) Value { return Value{Data: b} }
	// Attributes of every object.
	switch typ {
	case p11.CKA_TOKEN:
		return ok(boolean(true))
	case p11.CKA_MODIFIABLE, p11.CKA_DESTROYABLE, p11.CKA_COPYABLE:
		return ok(boolean(false))
	case p11.CKA_LABEL:
		return ok([]byte(e.cert.Name))
	case p11.CKA_ID:
		return ok([]byte(e.cert.ID))
	case p11.CKA_PRIVATE:
		return ok(boolean(kind == kindPrivateKey && loginRequired))
	}
	switch kind {
	case kindCertificate:
		switch typ {
		case p11.CKA_CLASS:
			return ok(ulong(p11.CKO_CERTIFICATE))
		case p11.CKA_CERTIFICATE_TYPE:
			return ok(ulong(p11.CKC_X_509))
		case p11.CKA_VALUE:
			return ok(leaf.Raw)
		case p11.CKA_SUBJECT:
			return ok(leaf.RawSubject)
		case p11.CKA_ISSUER:
			return ok(leaf.RawIssuer)
		case p11.CKA_SERIAL_NUMBER:
			return ok(serialDER(leaf.SerialNumber))
		case p11.CKA_TRUSTED:
			return ok(boolean(false))
		case p11.CKA_CERTIFICATE_CATEGORY:
			return ok(ulong(1)) // token user
		case p11.CKA_PUBLIC_KEY_INFO:
			return ok(leaf.RawSubjectPublicKeyInfo)
		case p11.CKA_START_DATE, p11.CKA_END_DATE:
			return ok(nil)
		}
		return Value{Status: p11.CKR_ATTRIBUTE_TYPE_INVALID}
	}
	// Keys.
	switch typ {
	case p11.CKA_CLASS:
		if kind == kindPrivateKey {
			return ok(ulong(p11.CKO_PRIVATE_KEY))
		}
		return ok(ulong(p11.CKO_PUBLIC_KEY))
	case p11.CKA_KEY_TYPE:
		return ok(ulong(e.keyType()))
	case p11.CKA_SUBJECT:
		return ok(leaf.RawSubject)
	case p11.CKA_LOCAL, p11.CKA_DERIVE, p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_WRAP, p11.CKA_UNWRAP,
		p11.CKA_SIGN_RECOVER, p11.CKA_VERIFY_RECOVER, p11.CKA_ALWAYS_AUTHENTICATE, p11.CKA_WRAP_WITH_TRUSTED, p11.CKA_TRUSTED:
		return ok(boolean(false))
	case p11.CKA_SIGN:
		return ok(boolean(kind == kindPrivateKey))
	case p11.CKA_VERIFY:
		return ok(boolean(kind == kindPublicKey))
	case p11.CKA_START_DATE, p11.CKA_END_DATE:
		return ok(nil)
	case p11.CKA_PUBLIC_KEY_INFO:
		return ok(leaf.RawSubjectPublicKeyInfo)
	case p11.CKA_ALLOWED_MECHANISMS:
		var b []byte
		for _, m := range mechanismsFor(e.keyType()) {
			b = append(b, ulong(m)...)
		}
		return ok(b)
	}
	if kind == kindPrivateKey {
		switch typ {
		case p11.CKA_SENSITIVE, p11.CKA_ALWAYS_SENSITIVE, p11.CKA_NEVER_EXTRACTABLE:
			return ok(boolean(true))
		case p11.CKA_EXTRACTABLE:
			return ok(boolean(false))
		case p11.CKA_VALUE, p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1, p11.CKA_PRIME_2, p11.CKA_EXPONENT_1, p11.CKA_EXPONENT_2, p11.CKA_COEFFICIENT:
			// The key is in KMS or the HSM; nothing here could answer, and nothing would.
			return Value{Status: p11.CKR_ATTRIBUTE_SENSITIVE}
		}
	}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		switch typ {
		case p11.CKA_MODULUS:
			return ok(k.N.Bytes())
		case p11.CKA_PUBLIC_EXPONENT:
			return ok(big.NewInt(int64(k.E)).Bytes())
		case p11.CKA_MODULUS_BITS:
			return ok(ulong(uint(k.N.BitLen())))
		}
	case *ecdsa.PublicKey:
		switch typ {
		case p11.CKA_EC_PARAMS:
			return ok(ecParams(k))
		case p11.CKA_EC_POINT:
			// Also on the private key: OpenSSL's pkcs11 engine reads the public point from
			// there before it looks for the public key object.
			return ok(ecPoint(k))
		}
	}
	return Value{Status: p11.CKR_ATTRIBUTE_TYPE_INVALID}
}

// matches reports whether an object has every attribute of template with the same value.
func (e *entry) matches(kind objectKind, template []Attribute, loginRequired bool) bool {
	for _, a := range template {
		v := e.attribute(kind, a.Type, loginRequired)
		if v.Status != 0 || !bytes.Equal(v.Data, a.Value) {
			return false
		}
	}
	return true
}

// Attribute is one attribute of a search template.
type Attribute struct {
	Type  uint
	Value []byte
}

func handleOf(index int, kind objectKind) uint { return uint(index*objectsPerCert + int(kind) + 1) }

func objectOf(h uint) (int, objectKind, bool) {
	if h == 0 {
		return 0, 0, false
	}
	return int((h - 1) / objectsPerCert), objectKind((h - 1) % objectsPerCert), true
}

// signatureSize is the length of a signature by the key, as PKCS#11 returns it: the
// modulus for RSA, r‖s of the curve's size for ECDSA.
func (e *entry) signatureSize() int {
	switch k := e.leaf().PublicKey.(type) {
	case *rsa.PublicKey:
		return k.Size()
	case *ecdsa.PublicKey:
		return 2 * ((k.Curve.Params().BitSize + 7) / 8)
	}
	return 0
}

func (e *entry) String() string { return fmt.Sprintf("%s (%s)", e.cert.Name, e.cert.ID) }
