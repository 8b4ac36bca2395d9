package tsastandin_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"testing"

	"github.com/digitorus/timestamp"

	"github.com/opensignum/signum/lib/tsastandin"
)

// TestStandIn: the authority answers a TimeStampReq with a token over its imprint with its
// nonce, signed by a certificate whose only extended key usage, critical, is timeStamping and
// that its CA issued; each fault answers wrongly as it says; garbage is rejected in protocol.
func TestStandIn(t *testing.T) {
	tsa, err := tsastandin.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()
	sum := sha256.Sum256([]byte("a signature value"))
	nonce, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	req, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Nonce: nonce, Certificates: true}).Marshal()
	ask := func() (*timestamp.Timestamp, error) {
		res, err := http.Post(tsa.URL, "application/timestamp-query", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return nil, &httpError{res.StatusCode}
		}
		return timestamp.ParseResponse(body)
	}
	ts, err := ask()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ts.HashedMessage, sum[:]) || ts.Nonce.Cmp(nonce) != 0 || ts.HashAlgorithm != crypto.SHA256 || len(ts.Certificates) == 0 {
		t.Fatalf("token: %+v", ts)
	}
	signer := ts.Certificates[0]
	critical := false
	for _, e := range signer.Extensions {
		if e.Id.Equal([]int{2, 5, 29, 37}) {
			critical = e.Critical
		}
	}
	if !critical || len(signer.ExtKeyUsage) != 1 || signer.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		t.Fatalf("the TSA certificate's extended key usage: critical %v, %v", critical, signer.ExtKeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(tsa.CAPEM)
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		t.Fatalf("the TSA certificate does not chain to its CA: %v", err)
	}
	served := tsa.Served()

	tsa.SetFault(tsastandin.OtherImprint)
	if ts, err := ask(); err != nil || bytes.Equal(ts.HashedMessage, sum[:]) {
		t.Fatalf("other-imprint: %v %+v", err, ts)
	}
	tsa.SetFault(tsastandin.NoNonce)
	if ts, err := ask(); err != nil || ts.Nonce != nil {
		t.Fatalf("no-nonce: %v %+v", err, ts)
	}
	tsa.SetFault(tsastandin.Down)
	if _, err := ask(); err == nil {
		t.Fatal("down answered")
	}
	if tsa.Served() != served+2 {
		t.Fatalf("served %d, want %d", tsa.Served(), served+2)
	}
	tsa.SetFault(tsastandin.None)
	// Not a request: a rejection, not a token.
	out, err := tsa.Respond([]byte("not DER"), tsastandin.None)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := timestamp.ParseResponse(out); err == nil {
		t.Fatal("garbage got a token")
	}
}

type httpError struct{ status int }

func (e *httpError) Error() string { return http.StatusText(e.status) }
