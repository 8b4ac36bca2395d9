package samlsso_test

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/samlsso"
)

// neverSeen is a Replay that accepts every assertion, so that the fuzzer can reuse one.
type neverSeen struct{}

func (neverSeen) Seen(context.Context, string, time.Time) (bool, error) { return false, nil }

// FuzzFinish feeds Finish mutations of real responses from the stand-in (signed and
// encrypted, unsigned, signed by another key): it must never panic, must refuse with a 401
// that quotes nothing of the input, and may only accept a response that signs in the very
// person the stand-in signed for.
func FuzzFinish(f *testing.F) {
	w := newWorld(f, byMetadata, nil)
	resp, id := w.response(alice)
	now := time.Now()
	want, err := w.finish(resp, []string{id}, now)
	if err != nil {
		f.Fatal(err)
	}
	seed := func(r string) {
		raw, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	seed(resp)
	for _, m := range []samlidp.Misbehaviour{{Unsigned: true}, {SignWithOtherKey: true}} {
		w.idp.SetMisbehaviour(m)
		r, _ := w.response(alice)
		seed(r)
	}
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := samlsso.Finish(context.Background(), w.cfg, neverSeen{}, base64.StdEncoding.EncodeToString(raw), []string{id}, now)
		if err == nil {
			if !reflect.DeepEqual(p, want) {
				t.Fatalf("accepted a changed response: %+v", p)
			}
			return
		}
		if !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("not a 401: %v", err)
		}
		detail, _ := fault.DetailOf(err)
		if len(raw) >= 8 && strings.Contains(detail, string(raw)) {
			t.Fatalf("detail %q quotes the input", detail)
		}
	})
}

// FuzzParseIdPMetadata: administrator-supplied metadata never panics the parser, and what it
// accepts has everything a sign-in needs.
func FuzzParseIdPMetadata(f *testing.F) {
	idp, err := samlidp.Start(f.Context(), samlidp.Options{Logger: discard})
	if err != nil {
		f.Fatal(err)
	}
	defer idp.Close()
	md, err := idp.Metadata()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(md)
	f.Add([]byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + string(md) + `</EntitiesDescriptor>`))
	f.Add([]byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := samlsso.ParseIdPMetadata(b)
		if err != nil {
			if !fault.HasField(err, "idpMetadataXml") {
				t.Fatalf("not a field error: %v", err)
			}
			return
		}
		if m.EntityID == "" || m.SSOURL == "" || len(m.SigningCertificates) == 0 {
			t.Fatalf("accepted incomplete metadata: %+v", m)
		}
	})
}
