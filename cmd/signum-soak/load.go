package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/wire"
)

// mix is what share of requests are of which kind.
type mix struct {
	// deny is the share of requests for the certificate no policy names (denied, 403).
	deny float64
	// multi is the share of requests with 2 to 8 digests; the rest have one.
	multi float64
}

// agent is one signing client: a console user of its deployment sending POST /sign in a
// loop, one request at a time, as a build agent does.
type agent struct {
	dep   *deployment
	n     int
	token func() (string, error)
	rng   *rand.Rand
	mix   mix
	url   string
	http  *http.Client
	// out are the agent's results, read once the agent has stopped.
	out []result
}

// result is what one request gave.
type result struct {
	dep     int
	latency time.Duration
	digests int
	// denyCase says the request was for the unlisted certificate (a denial is its expected
	// answer).
	denyCase bool
	status   int
	// problem is the problem type's anchor (docs/problems.md: "unavailable"), detail its
	// detail and retryAfter the answer's Retry-After; all empty for 200.
	problem, detail, retryAfter string
	// err is a request that got no HTTP answer.
	err error
	// signatures are the signatures a 200 returned; badSignatures how many of them did not
	// verify with the certificate's public key.
	signatures    []returned
	badSignatures int
}

// returned is a signature as the client got it: the decision event the service named for it
// and the SHA-256 of the signature, which its completion event must carry.
type returned struct {
	decision string
	sigSHA   string
}

// run signs until stop is closed, pausing after a refusal as a client should (pause). A
// request in flight then is let finish: cut short, it could be signed and recorded without
// the client ever seeing the signature.
func (a *agent) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := a.once(context.Background())
		a.out = append(a.out, r)
		if d := pause(r); d > 0 {
			select {
			case <-stop:
				return
			case <-time.After(d):
			}
		}
	}
}

// pause is how long an agent waits after r before its next request: as docs/problems.md
// tells clients, after a 429 or a 503 no sooner than Retry-After (a second when none is
// given); at once otherwise.
func pause(r result) time.Duration {
	if r.status != http.StatusTooManyRequests && r.status != http.StatusServiceUnavailable {
		return 0
	}
	if n, err := strconv.Atoi(r.retryAfter); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return time.Second
}

// once sends one request and checks its answer.
func (a *agent) once(ctx context.Context) result {
	cert := a.dep.allowed[a.rng.IntN(len(a.dep.allowed))]
	r := result{dep: a.dep.n, digests: 1}
	switch p := a.rng.Float64(); {
	case p < a.mix.deny:
		cert, r.denyCase = a.dep.unlisted, true
	case p < a.mix.deny+a.mix.multi:
		r.digests = 2 + a.rng.IntN(7)
	}
	req := wire.Request{CertificateID: cert.id, Context: wire.Context{Process: "signum-soak", AgentID: fmt.Sprintf("soak-%d-%d", a.dep.n, a.n)}}
	sums := make([][]byte, r.digests)
	for i := range sums {
		var b [32]byte
		for j := range b {
			b[j] = byte(a.rng.UintN(256))
		}
		sum := sha256.Sum256(b[:])
		sums[i] = sum[:]
		req.Digests = append(req.Digests, wire.Digest{Digest: base64.StdEncoding.EncodeToString(sum[:]), DigestAlgorithm: "SHA256", FileName: fmt.Sprintf("artifact-%d.bin", i)})
	}
	body, _ := json.Marshal(req)
	tok, err := a.token()
	if err != nil {
		r.err = err
		return r
	}
	hr, _ := http.NewRequestWithContext(ctx, "POST", a.url+"/sign", bytes.NewReader(body))
	hr.Host = a.dep.host
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := a.http.Do(hr)
	if err != nil {
		r.err = err
		return r
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.latency = time.Since(start)
	if err != nil {
		r.err = err
		return r
	}
	r.status = resp.StatusCode
	if r.status != http.StatusOK {
		var p struct{ Type, Detail string }
		_ = json.Unmarshal(b, &p)
		_, r.problem, _ = strings.Cut(p.Type, "#")
		r.detail, r.retryAfter = p.Detail, resp.Header.Get("Retry-After")
		return r
	}
	var out wire.Response
	if err := json.Unmarshal(b, &out); err != nil || len(out.Signatures) != len(sums) {
		r.err = fmt.Errorf("200 with a body that is not %d signatures: %.200s", len(sums), b)
		return r
	}
	for i, s := range out.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil || verify(cert, out.SignatureScheme, sums[i], sig) != nil {
			r.badSignatures++
		}
		h := sha256.Sum256(sig)
		// A request's signatures name its decision; each is its digest's place in it.
		r.signatures = append(r.signatures, returned{decision: fmt.Sprintf("%s#%d", s.EventID, i), sigSHA: hex.EncodeToString(h[:])})
	}
	return r
}

// verify checks sig, of the SHA-256 digest sum, with the certificate's public key.
func verify(c soakCert, scheme string, sum, sig []byte) error {
	switch pub := c.pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if scheme == "RSASSA_PSS" {
			return rsa.VerifyPSS(pub, crypto.SHA256, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum, sig)
	}
	return fmt.Errorf("unexpected public key %T", c.pub)
}

// phase runs agents for d, then waits for the requests in flight to end.
func phase(agents []*agent, d time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() { a.run(stop) })
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
}

// tokens hands an agent its console token, issuing a new one when half of the old one's life
// has passed (a soak longer than a token lives keeps signing).
type tokens struct {
	issue func() (string, error)
	ttl   time.Duration

	mu  sync.Mutex
	tok string
	at  time.Time
}

func (t *tokens) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == "" || time.Since(t.at) > t.ttl/2 {
		tok, err := t.issue()
		if err != nil {
			return "", err
		}
		t.tok, t.at = tok, time.Now()
	}
	return t.tok, nil
}
