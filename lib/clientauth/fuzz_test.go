package clientauth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

// FuzzDN: the names and name constraints of client certificates come from outside. Reading
// them never panics; a name that is written has no unescaped separator inside a value (the
// text has as many RDNs as the encoding), and every name is within its own subtree.
func FuzzDN(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte("0\x1b1\x0b0\t\x06\x03U\x04\x03\x0c\x02a,1\x0c0\n\x06\x03U\x04\n\f\x03A+c"))
	f.Add([]byte{0x30, 0x08, 0xa0, 0x06, 0x30, 0x04, 0x88, 0x02, 0x2a, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = caConstraints(&x509.Certificate{Extensions: []pkix.Extension{{Id: oidNameConstraints, Value: data}}})
		rdns, err := parseName(data)
		s, errDN := DN(data)
		if err != nil {
			if errDN == nil {
				t.Fatalf("DN wrote %q for a name that does not parse", s)
			}
			return
		}
		if !within(rdns, rdns) {
			t.Fatal("a name is not within its own subtree")
		}
		if errDN != nil || len(rdns) == 0 {
			return
		}
		// Count the RDN separators that are not escaped.
		seps, esc := 0, false
		for _, c := range s {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == ',':
				seps++
			}
		}
		if seps != len(rdns)-1 || strings.ContainsAny(s, "\n\x00") {
			t.Fatalf("%q: %d separators for %d RDNs", s, seps, len(rdns))
		}
	})
}
