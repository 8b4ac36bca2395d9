package p11token_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/opensignum/signum/lib/p11token"
	"github.com/opensignum/signum/lib/tsastandin"
)

// TestRequiredTimestampIsDropped: under a policy that requires timestamps, the module signs
// (the service got and checked its token) but returns signature bytes only, and says on its
// log that the tool needs its own time-stamping authority; with the authority down, the
// service withholds the signature and the module signs nothing.
func TestRequiredTimestampIsDropped(t *testing.T) {
	id := world.Certificate(t, "Stamped EC", "EC_P256")
	user, p12 := world.Agent(t, "p11-stamped", time.Now().AddDate(0, 1, 0))
	world.Console(t, "POST", "/console/policies", map[string]any{"name": "PKCS#11 stamped", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{id}}, "who": map[string]any{"users": []string{user}}, "requireTimestamp": true})
	var cur struct{ Version int64 }
	_ = json.Unmarshal(world.Console(t, "GET", "/console/timestamping", nil), &cur)
	world.Console(t, "PUT", "/console/timestamping", map[string]any{"urls": []string{world.Srv.TSA.URL}, "caPem": string(world.Srv.TSA.CAPEM), "version": cur.Version})

	var log bytes.Buffer
	m := newModule(t, config(p12, nil), &log)
	h := open(t, m)
	k, cert := key(t, m, h, id)
	sum := sha256.Sum256([]byte("stamped through PKCS#11"))
	served := world.Srv.TSA.Served()
	sig, rv := sign(t, m, h, k, p11token.Mechanism{Type: p11.CKM_ECDSA}, sum[:])
	pub := cert.PublicKey.(*ecdsa.PublicKey)
	if rv != p11.CKR_OK || len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("sign: %#x %x", rv, sig)
	}
	if world.Srv.TSA.Served() != served+1 {
		t.Fatal("the service got no token for the module's signature")
	}
	if !strings.Contains(log.String(), "requires a timestamp") || !strings.Contains(log.String(), "osslsigncode -ts") {
		t.Fatalf("the module did not say the tool needs its own authority: %q", log.String())
	}

	world.Srv.TSA.SetFault(tsastandin.Down)
	defer world.Srv.TSA.SetFault(tsastandin.None)
	if rv := m.SignInit(h, p11token.Mechanism{Type: p11.CKM_ECDSA}, k); rv != p11.CKR_OK {
		t.Fatal(rv)
	}
	if sig, _, rv := m.Sign(context.Background(), h, sum[:], 64); rv == p11.CKR_OK {
		t.Fatalf("signed with the authority down: %x", sig)
	}
}
