package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sassoftware/relic/v8/config"
	"github.com/sassoftware/relic/v8/lib/certloader"
	rpkcs7 "github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sassoftware/relic/v8/lib/pkcs9/tsclient"
	"github.com/smallstep/pkcs7"
)

// Kinds of output of signing a file.
const (
	// Authenticode: the signature is embedded in the Windows PE file.
	Authenticode = "authenticode"
	// Detached: a CMS/PKCS#7 signature next to the file (FILE.p7s, DER).
	Detached = "cms-detached"
)

// ErrNotPE is signing a file as PE that is not one.
var ErrNotPE = errors.New("not a Windows PE file")

// MaxBatch is the most digests one request carries (the service's limit).
const MaxBatch = 64

// Batch signs the digests of several files in one request: each file's signer blocks until
// every file of the batch has asked for its signature (or given up), then one POST /sign
// answers all of them. The digests go in the order of the files, so a retry with the same
// idempotency key sends the same request.
type Batch struct {
	client *Client
	cert   string
	pub    crypto.PublicKey
	scheme string
	sc     Context
	idem   string

	mu        sync.Mutex
	expected  int
	submitted []*slot
	withdrawn int
	done      chan struct{}
	err       error
	result    SignResult
}

type slot struct {
	index int // the file's place in the batch
	d     Digest
	sig   []byte
	event string
	// receipt is the answer's signed receipt: where the batch's events are in the log.
	receipt json.RawMessage
	// token is the RFC 3161 token the service returned with sig (DER), nil when the policy
	// requires none (stamps.go).
	token []byte
}

// NewBatch prepares a batch of n files signed with certificate cert, whose key is pub.
func (c *Client) NewBatch(cert Certificate, pub crypto.PublicKey, n int, sc Context, idempotencyKey string) *Batch {
	scheme := "ECDSA"
	if _, ok := pub.(*rsa.PublicKey); ok {
		scheme = "RSASSA_PKCS1_V1_5" // what Authenticode and most CMS verifiers expect
	}
	return &Batch{client: c, cert: cert.ID, pub: pub, scheme: scheme, sc: sc, idem: idempotencyKey, expected: n, done: make(chan struct{})}
}

// Withdraw tells the batch that one of its files will not ask for a signature.
func (b *Batch) Withdraw(ctx context.Context) {
	b.mu.Lock()
	b.withdrawn++
	ready := b.ready()
	b.mu.Unlock()
	if ready {
		b.flush(ctx)
	}
}

func (b *Batch) ready() bool { return len(b.submitted)+b.withdrawn == b.expected }

func (b *Batch) submit(ctx context.Context, s *slot) ([]byte, error) {
	b.mu.Lock()
	b.submitted = append(b.submitted, s)
	ready := b.ready()
	b.mu.Unlock()
	if ready {
		b.flush(ctx)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.err != nil {
		return nil, b.err
	}
	return s.sig, nil
}

func (b *Batch) flush(ctx context.Context) {
	defer close(b.done)
	if len(b.submitted) == 0 {
		return
	}
	sort.Slice(b.submitted, func(i, j int) bool { return b.submitted[i].index < b.submitted[j].index })
	digests := make([]Digest, len(b.submitted))
	for i, s := range b.submitted {
		digests[i] = s.d
	}
	res, err := b.client.Sign(ctx, b.cert, b.scheme, digests, b.sc, b.idem)
	if err != nil {
		b.err = err
		return
	}
	b.result = res
	for i, s := range b.submitted {
		sig, err := base64.StdEncoding.DecodeString(res.Signatures[i].Signature)
		if err == nil {
			err = checkSignature(b.pub, s.d, sig)
		}
		if err != nil {
			b.err = fmt.Errorf("%w: signature %d: %v", ErrServer, i, err)
			return
		}
		s.sig, s.event, s.receipt = sig, res.Signatures[i].EventID, res.Receipt
		if s.token, err = decodeToken(res.Signatures[i]); err != nil {
			b.err = fmt.Errorf("%w: signature %d: %v", ErrServer, i, err)
			return
		}
	}
}

// digestAlgorithms are the digest algorithms the service signs, by the names it takes.
var digestAlgorithms = map[string]crypto.Hash{"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512}

// HashByName is the digest algorithm named name ("SHA256", "sha-384", ...).
func HashByName(name string) (crypto.Hash, bool) {
	h, ok := digestAlgorithms[strings.ToUpper(strings.ReplaceAll(name, "-", ""))]
	return h, ok
}

func hashName(h crypto.Hash) (string, bool) {
	for name, v := range digestAlgorithms {
		if v == h {
			return name, true
		}
	}
	return "", false
}

// checkSignature verifies a signature the service returned with the certificate's key
// before anything is written with it.
func checkSignature(pub crypto.PublicKey, d Digest, sig []byte) error {
	h, _ := HashByName(d.Algorithm)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, h, d.Digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d.Digest, sig) {
			return errors.New("does not verify with the certificate's key")
		}
		return nil
	}
	return fmt.Errorf("key type %T", pub)
}

// Result is the service's answer once the batch was sent.
func (b *Batch) Result() SignResult { return b.result }

// remoteKey is a crypto.Signer whose private key stays in the service: Sign sends the digest
// in the batch.
type remoteKey struct {
	ctx       context.Context
	batch     *Batch
	pub       crypto.PublicKey
	index     int
	fileName  string
	submitted *slot
	// cert is the certificate relic signs the file with: its Timestamper is set once a
	// signature comes back with a token (stamps.go).
	cert *certloader.Certificate
	// tsaURL is --timestamp: the time-stamping authority of signatures without a token.
	tsaURL string
	// more are the signatures after the first, each sent alone (see FileResult.MoreDecisions).
	more []*slot
}

func (k *remoteKey) Public() crypto.PublicKey { return k.pub }

func (k *remoteKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return nil, errors.New("signum: RSASSA-PSS is not used for files")
	}
	alg, ok := hashName(opts.HashFunc())
	if !ok {
		return nil, fmt.Errorf("signum: digest %v is not supported", opts.HashFunc())
	}
	d := Digest{Digest: digest, Algorithm: alg, FileName: k.fileName}
	if k.submitted != nil {
		return k.signAlone(d)
	}
	k.submitted = &slot{index: k.index, d: d}
	sig, err := k.batch.submit(k.ctx, k.submitted)
	if err == nil {
		k.stampWith(k.submitted.token)
	}
	return sig, err
}

// signAlone signs a digest that only exists once the file's first signature is in hand, in a
// request of its own: the batch has answered by then (the first signature came from it).
func (k *remoteKey) signAlone(d Digest) ([]byte, error) {
	b := k.batch
	idem := b.idem
	if idem != "" {
		idem = fmt.Sprintf("%s/%d.%d", idem, k.index, len(k.more)+1)
	}
	res, err := b.client.Sign(k.ctx, b.cert, b.scheme, []Digest{d}, b.sc, idem)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(res.Signatures[0].Signature)
	if err == nil {
		err = checkSignature(b.pub, d, sig)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrServer, err)
	}
	token, err := decodeToken(res.Signatures[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrServer, err)
	}
	k.more = append(k.more, &slot{index: k.index, d: d, sig: sig, event: res.Signatures[0].EventID, receipt: res.Receipt, token: token})
	k.stampWith(token)
	return sig, nil
}

// FileJob is one file to sign.
type FileJob struct {
	Path string
	// Mode is the format to sign the file in (a value of Formats, or a name ParseFormat takes,
	// such as Authenticode or Detached), or "" to detect it (see DetectFormat).
	Mode string
	// TimestampURL, when set, is an RFC 3161 time-stamping authority.
	TimestampURL string
}

// FileResult is what signing one file produced.
type FileResult struct {
	Path    string `json:"path"`
	Output  string `json:"output"`
	Kind    string `json:"kind"`
	EventID string `json:"eventId,omitempty"`
	// Receipt is the signed receipt of the request that signed the file (files signed in one
	// request share it): keep it to check the event log later (signum events verify).
	Receipt json.RawMessage `json:"receipt,omitempty"`
	// MoreDecisions are the file's further signatures, each a request of its own after the
	// batch: an APPX package with programs in it has its code-integrity catalog signed (the
	// batch's signature), then the package, whose signature covers the signed catalog.
	MoreDecisions []Decision `json:"moreDecisions,omitempty"`
	Error         string     `json:"error,omitempty"`
	err           error
}

// Decision is one signing request's decision event and receipt.
type Decision struct {
	EventID string          `json:"eventId"`
	Receipt json.RawMessage `json:"receipt"`
}

// SignFiles signs files with cert, MaxBatch files per request. Each output is written to a
// temporary file next to its target and renamed into place only when complete, so a failure
// leaves no partial output. progress, when set, is called as each file finishes (never
// concurrently).
func (c *Client) SignFiles(ctx context.Context, cert Certificate, jobs []FileJob, sc Context, idempotencyKey string, progress func(FileResult)) ([]FileResult, error) {
	chain, err := cert.Chain()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrServer, err)
	}
	switch chain[0].PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("%w: the certificate's key type %T is not supported", ErrBadRequest, chain[0].PublicKey)
	}
	results := make([]FileResult, len(jobs))
	var progressMu sync.Mutex
	var batchErrs []error
	for from := 0; from < len(jobs); from += MaxBatch {
		to := min(from+MaxBatch, len(jobs))
		idem := idempotencyKey
		if idem != "" && len(jobs) > MaxBatch {
			idem = fmt.Sprintf("%s#%d", idempotencyKey, from/MaxBatch)
		}
		batch := c.NewBatch(cert, chain[0].PublicKey, to-from, sc, idem)
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			job := jobs[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := &remoteKey{ctx: ctx, batch: batch, pub: chain[0].PublicKey, index: i, fileName: filepath.Base(job.Path)}
				res, err := signFile(ctx, job, chain, key)
				if key.submitted == nil {
					batch.Withdraw(ctx)
				} else if err == nil {
					res.EventID, res.Receipt = key.submitted.event, key.submitted.receipt
				}
				// Later signatures are recorded also when the file failed after them.
				for _, s := range key.more {
					res.MoreDecisions = append(res.MoreDecisions, Decision{EventID: s.event, Receipt: s.receipt})
				}
				if err != nil {
					res.Error, res.err = err.Error(), err
				}
				results[i] = res
				if progress != nil {
					progressMu.Lock()
					progress(res)
					progressMu.Unlock()
				}
			}()
		}
		wg.Wait()
		if batch.err != nil {
			batchErrs = append(batchErrs, batch.err)
		}
	}
	if len(batchErrs) > 0 {
		return results, errors.Join(batchErrs...)
	}
	var errs []error
	for i := range results {
		if results[i].err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", results[i].Path, results[i].err))
		}
	}
	return results, errors.Join(errs...)
}

func signFile(ctx context.Context, job FileJob, chain []*x509.Certificate, key *remoteKey) (FileResult, error) {
	res := FileResult{Path: job.Path}
	f, err := os.Open(job.Path)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	format, err := checkFormat(f, job.Path, job.Mode)
	if err != nil {
		return res, err
	}
	res.Kind, res.Output = kindOf(format), outputOf(job.Path, format)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return res, err
	}
	if format == FormatCMS {
		return res, signDetached(ctx, f, job, res.Output, chain, key)
	}
	cert := &certloader.Certificate{Leaf: chain[0], Certificates: chain, PrivateKey: key}
	key.cert, key.tsaURL = cert, job.TimestampURL
	if job.TimestampURL != "" {
		if _, err := timestamper(job.TimestampURL); err != nil {
			return res, err
		}
		cert.Timestamper = &stamps{key: key}
	}
	return res, signEmbedded(ctx, f, format, job, cert)
}

// looksLikePE reports whether f is a PE image: "MZ", and at e_lfanew the "PE\0\0" signature.
func looksLikePE(f *os.File) bool {
	var dos [64]byte
	if _, err := f.ReadAt(dos[:], 0); err != nil || dos[0] != 'M' || dos[1] != 'Z' {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(dos[60:64]))
	var sig [4]byte
	if off < 64 || off > 1<<20 {
		return false
	}
	if _, err := f.ReadAt(sig[:], off); err != nil {
		return false
	}
	return sig == [4]byte{'P', 'E', 0, 0}
}

func signDetached(ctx context.Context, f *os.File, job FileJob, out string, chain []*x509.Certificate, key *remoteKey) error {
	// The file is hashed as it is read: large artifacts are never held in memory.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	sb := rpkcs7.NewBuilder(key, chain, crypto.SHA256)
	if err := sb.SetDetachedContent(rpkcs7.OidData, h.Sum(nil)); err != nil {
		return err
	}
	psd, err := sb.Sign()
	if err != nil {
		return unwrapSign(err)
	}
	if (key.submitted != nil && key.submitted.token != nil) || job.TimestampURL != "" {
		// RFC 3161 over the signature value, as an unsigned attribute of the signer: the
		// service's token when the policy required one, else --timestamp's.
		key.tsaURL = job.TimestampURL
		si := &psd.Content.SignerInfos[0]
		token, err := (&stamps{key: key}).Timestamp(ctx, &pkcs9.Request{EncryptedDigest: si.EncryptedDigest, Hash: crypto.SHA256})
		if err != nil {
			return fmt.Errorf("time-stamping: %w", err)
		}
		if err := pkcs9.AddStampToSignedData(si, *token); err != nil {
			return err
		}
	}
	der, err := psd.Marshal()
	if err != nil {
		return err
	}
	tmp, err := tempNext(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, der, 0o644); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return renameInto(tmp, out)
}

func timestamper(url string) (pkcs9.Timestamper, error) {
	ts, err := tsclient.New(&config.TimestampConfig{URLs: []string{url}, Timeout: 30})
	if err != nil {
		return nil, fmt.Errorf("%w: time-stamping authority %s: %v", ErrConfig, url, err)
	}
	return ts, nil
}

// unwrapSign keeps the service's error (denied, unauthenticated, ...) recognisable through
// the signing libraries' wrapping.
func unwrapSign(err error) error {
	for _, kind := range []error{ErrDenied, ErrAuth, ErrUnreachable, ErrBadRequest, ErrNotFound, ErrServer, ErrConfig} {
		if errors.Is(err, kind) {
			return err
		}
	}
	return fmt.Errorf("signing: %w", err)
}

func tempNext(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".signum-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	return name, f.Close()
}

func renameInto(tmp, final string) error {
	mode := os.FileMode(0o644)
	if info, err := os.Stat(final); err == nil {
		mode = info.Mode().Perm()
	}
	_ = os.Chmod(tmp, mode)
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// VerifyResult is what verifying a file found.
type VerifyResult struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Signer  string `json:"signer"`
	Issuer  string `json:"issuer"`
	Chained bool   `json:"chained"`
}

// VerifyFile checks the signature of a file: its FILE.p7s when there is one (a detached
// signature), else the one embedded in it, found by its format (PE, MSI, CAB, CAT, APPX, JAR,
// PowerShell); and the signer's chain to roots (system roots when nil).
func VerifyFile(path string, roots *x509.CertPool) (VerifyResult, error) {
	res := VerifyResult{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	format := FormatCMS
	sigFile := path + ".p7s"
	if !fileExists(sigFile) {
		d, err := detect(f, path)
		if err != nil {
			return res, err
		}
		format = d.format
	}
	res.Kind = kindOf(format)
	var leaf *x509.Certificate
	var certs []*x509.Certificate
	if format == FormatCMS {
		content, err := os.ReadFile(path)
		if err != nil {
			return res, err
		}
		der, err := os.ReadFile(sigFile)
		if err != nil {
			return res, fmt.Errorf("%w: no detached signature %s", ErrConfig, sigFile)
		}
		p7, err := pkcs7.Parse(der)
		if err != nil {
			return res, fmt.Errorf("%s is not a CMS/PKCS#7 signature: %v", sigFile, err)
		}
		p7.Content = content
		if err := p7.Verify(); err != nil {
			return res, fmt.Errorf("the signature does not match %s: %v", path, err)
		}
		leaf, certs = p7.GetOnlySigner(), p7.Certificates
	} else {
		sig, err := verifyEmbedded(f, format, path)
		if err != nil {
			return res, fmt.Errorf("the %s signature of %s does not verify: %v", res.Kind, path, err)
		}
		leaf, certs = sig.Certificate, sig.Intermediates
	}
	if leaf == nil {
		return res, errors.New("the signature names no signer certificate")
	}
	res.Signer, res.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	inter := x509.NewCertPool()
	for _, c := range certs {
		if !bytes.Equal(c.Raw, leaf.Raw) {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return res, fmt.Errorf("the signer %s does not chain to a trusted root: %v", res.Signer, err)
	}
	res.Chained = true
	return res, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
