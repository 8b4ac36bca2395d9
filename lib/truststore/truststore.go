// Package truststore keeps the mutual-TLS custom domain's truststore current: the PEM bundle
// of every deployment's registered client CAs and pinned certificates, in a versioned S3
// object, and the API Gateway domain pointed at the version that holds them. API Gateway
// completes a handshake only for a certificate that chains to the bundle, so a CA that a
// deployment registers authenticates nobody until the bundle holds it; the service checks
// every certificate against its own deployment's registrations again, so a bundle that still
// holds a removed CA lets a handshake complete and nothing more.
//
// The truststore function runs Publish when a registration changes (the table's stream),
// every quarter of an hour (expired certificates leave the bundle; a missed change is
// caught), and when CloudFormation creates the domain (a custom resource, so that the
// domain starts on a bundle that exists). The operator's GET /operator/truststore/status
// says whether the deployed bundle is current (Check).
package truststore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	apigwtypes "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/opensignum/signum/lib/clientauth"
)

// Object is the truststore's key in its bucket.
const Object = "truststore.pem"

// The object's metadata: the hash of the registrations it holds (not of the placeholder, so
// that an empty truststore is uploaded once) and how many certificates that is.
const (
	metaSHA256 = "signum-sha256"
	metaCount  = "signum-certificates"
)

// Bundle is the truststore that the registrations make.
type Bundle struct {
	// PEM is the certificates, one PEM block each, ordered by their DER bytes so that the
	// same registrations always make the same bundle.
	PEM []byte
	// SHA256 is the hex SHA-256 of PEM.
	SHA256 string
	// Certificates is how many certificates PEM holds; Expired how many registered ones were
	// left out because they have expired and authenticate nobody any more.
	Certificates, Expired int
}

// Build makes the bundle of creds at now: every registered certificate once, expired ones
// left out. A stored certificate that does not parse is left out and logged.
func Build(creds []clientauth.Credential, now time.Time, log *slog.Logger) Bundle {
	seen := map[string]bool{}
	var ders [][]byte
	b := Bundle{}
	for _, c := range creds {
		cert, err := c.Certificate()
		if err != nil {
			log.Error("stored client certificate does not parse", slog.String("deployment", c.DeploymentID), slog.String("credential", c.ID))
			continue
		}
		if seen[string(cert.Raw)] {
			continue
		}
		seen[string(cert.Raw)] = true
		if now.After(cert.NotAfter) {
			b.Expired++
			continue
		}
		ders = append(ders, cert.Raw)
	}
	sort.Slice(ders, func(i, j int) bool { return bytes.Compare(ders[i], ders[j]) < 0 })
	var out bytes.Buffer
	for _, der := range ders {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	sum := sha256.Sum256(out.Bytes())
	b.PEM, b.SHA256, b.Certificates = out.Bytes(), hex.EncodeToString(sum[:]), len(ders)
	return b
}

// Publisher uploads the bundle and points the domain at it.
type Publisher struct {
	// S3 and Bucket hold the truststore (a versioned bucket: API Gateway names a version).
	S3     *s3.Client
	Bucket string
	// Domains and DomainName are the mutual-TLS custom domain ("*.<SignerDomain>"); with an
	// empty DomainName the bundle is only uploaded.
	Domains    *apigatewayv2.Client
	DomainName string
	// Anchors lists every deployment's registrations, from an eventually consistent index;
	// KeyOf is the table key of a registration's listed item, as the table's stream records
	// name it (PublishChanges waits until the listing shows the changes).
	Anchors func(ctx context.Context) ([]clientauth.Credential, error)
	KeyOf   func(clientauth.Credential) (string, error)
	Now     func() time.Time
	Log     *slog.Logger
	// IndexWait is how long PublishChanges waits between readings of a listing that does
	// not show the changes yet (DefaultIndexWait), IndexReads how often it reads
	// (DefaultIndexReads).
	IndexWait  time.Duration
	IndexReads int
}

// How long PublishChanges waits for the index by default: a GSI is usually current within a
// second; after five the stream retries the batch.
const (
	DefaultIndexWait  = time.Second
	DefaultIndexReads = 5
)

// StatusObject is where each publish records how it ended, beside the bundle, so that Check
// (the operator's status) can say why the domain is behind: API Gateway may refuse a bundle
// (UpdateDomainName's answer), which only the publisher sees.
const StatusObject = "publish-status.json"

// Outcome is how a publish ended.
type Outcome struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// Change is a registration's listed item that a stream record says was written (Present) or
// removed, by its table key (KeyOf).
type Change struct {
	Key     string
	Present bool
}

// URI is the truststore's S3 URI, as API Gateway takes it.
func (p *Publisher) URI() string { return "s3://" + p.Bucket + "/" + Object }

// Status is how the deployed truststore compares with the registrations.
type Status struct {
	URI string `json:"truststoreUri"`
	// Current is true when the uploaded bundle holds exactly the registrations and the
	// domain uses that version of it (or there is no domain).
	Current bool `json:"current"`
	// Reasons say why it is not current.
	Reasons        []string `json:"reasons,omitempty"`
	Certificates   int      `json:"certificates"`
	ExpiredLeftOut int      `json:"expiredLeftOut"`
	WantedSHA256   string   `json:"wantedSha256"`
	// UploadedSHA256 and UploadedVersion describe the newest object in the bucket.
	UploadedSHA256  string `json:"uploadedSha256,omitempty"`
	UploadedVersion string `json:"uploadedVersion,omitempty"`
	DomainName      string `json:"domainName,omitempty"`
	// DomainVersion is the object version the domain uses; Warnings what API Gateway said of
	// that bundle (certificates it could not use).
	DomainVersion string   `json:"domainVersion,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	// Uploaded and Pointed say what Publish changed.
	Uploaded bool `json:"uploaded,omitempty"`
	Pointed  bool `json:"pointed,omitempty"`
	// LastPublish is how the truststore function's last run ended (Check only).
	LastPublish *Outcome `json:"lastPublish,omitempty"`
}

// Check compares the deployed truststore with the registrations, changing nothing, and says
// how the last publish ended.
func (p *Publisher) Check(ctx context.Context) (Status, error) {
	creds, err := p.Anchors(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("list the registrations: %w", err)
	}
	st, err := p.run(ctx, creds, false)
	if err != nil {
		return st, err
	}
	if st.LastPublish, err = p.lastOutcome(ctx); err != nil {
		return st, err
	}
	if st.LastPublish != nil && st.LastPublish.Error != "" {
		st.Reasons = append(st.Reasons, "the last publish failed: "+st.LastPublish.Error)
		st.Current = false
	}
	return st, nil
}

// Publish makes the deployed truststore current: it uploads the bundle when the newest
// object does not hold exactly the registrations, and points the domain at the newest
// object's version when it uses another (or none named). A domain that does not exist yet
// (CloudFormation creates it after the first upload) is not an error. Publishing twice
// changes nothing the second time. How it ended is recorded in StatusObject.
func (p *Publisher) Publish(ctx context.Context) (Status, error) {
	return p.PublishChanges(ctx, nil)
}

// PublishChanges is Publish once the listing shows changes (the table's stream records): the
// listing comes from an index that can lag the table, and a publish that missed a new CA
// would leave it out until the next run. When the index does not show them after
// IndexReads readings, it fails, and the stream delivers the batch again.
func (p *Publisher) PublishChanges(ctx context.Context, changes []Change) (Status, error) {
	st, err := p.publishChanges(ctx, changes)
	out := Outcome{At: p.Now().UTC()}
	if err != nil {
		out.Error = err.Error()
	}
	if rerr := p.recordOutcome(ctx, out); rerr != nil && err == nil {
		err = rerr
	}
	return st, err
}

func (p *Publisher) publishChanges(ctx context.Context, changes []Change) (Status, error) {
	reads, wait := p.IndexReads, p.IndexWait
	if reads <= 0 {
		reads = DefaultIndexReads
	}
	if wait <= 0 {
		wait = DefaultIndexWait
	}
	for i := 1; ; i++ {
		creds, err := p.Anchors(ctx)
		if err != nil {
			return Status{}, fmt.Errorf("list the registrations: %w", err)
		}
		missing, err := p.unseen(creds, changes)
		if err != nil {
			return Status{}, err
		}
		if missing == 0 {
			return p.run(ctx, creds, true)
		}
		if i == reads {
			return Status{}, fmt.Errorf("the registrations' index does not show %d of %d changes yet", missing, len(changes))
		}
		select {
		case <-ctx.Done():
			return Status{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// unseen counts the changes the listing does not show (the last change of a key counts).
func (p *Publisher) unseen(creds []clientauth.Credential, changes []Change) (int, error) {
	if len(changes) == 0 || p.KeyOf == nil {
		return 0, nil
	}
	listed := map[string]bool{}
	for _, c := range creds {
		k, err := p.KeyOf(c)
		if err != nil {
			continue // a stored certificate that does not parse (Build logs it)
		}
		listed[k] = true
	}
	want := map[string]bool{}
	for _, c := range changes {
		want[c.Key] = c.Present
	}
	n := 0
	for k, present := range want {
		if listed[k] != present {
			n++
		}
	}
	return n, nil
}

func (p *Publisher) run(ctx context.Context, creds []clientauth.Credential, write bool) (Status, error) {
	b := Build(creds, p.Now(), p.Log)
	st := Status{URI: p.URI(), Certificates: b.Certificates, ExpiredLeftOut: b.Expired, WantedSHA256: b.SHA256, DomainName: p.DomainName}
	if err := p.uploaded(ctx, &st); err != nil {
		return st, err
	}
	if st.UploadedSHA256 != b.SHA256 && write {
		if err := p.upload(ctx, b, &st); err != nil {
			return st, err
		}
	}
	if st.UploadedSHA256 != b.SHA256 {
		st.Reasons = append(st.Reasons, "the uploaded bundle does not hold exactly the registered certificates")
	}
	if p.DomainName != "" {
		if err := p.point(ctx, &st, write); err != nil {
			return st, err
		}
	}
	if len(st.Warnings) > 0 {
		st.Reasons = append(st.Reasons, "API Gateway warns about the bundle the domain uses: "+strings.Join(st.Warnings, "; "))
	}
	st.Current = len(st.Reasons) == 0
	return st, nil
}

// recordOutcome writes out as StatusObject.
func (p *Publisher) recordOutcome(ctx context.Context, out Outcome) error {
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if _, err := p.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(StatusObject),
		Body: bytes.NewReader(raw), ContentType: aws.String("application/json")}); err != nil {
		return fmt.Errorf("record the outcome in s3://%s/%s: %w", p.Bucket, StatusObject, err)
	}
	return nil
}

// lastOutcome reads StatusObject; nil before the first publish.
func (p *Publisher) lastOutcome(ctx context.Context) (*Outcome, error) {
	got, err := p.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(StatusObject)})
	var nk *s3types.NoSuchKey
	switch {
	case errors.As(err, &nk):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read s3://%s/%s: %w", p.Bucket, StatusObject, err)
	}
	defer got.Body.Close()
	var out Outcome
	if err := json.NewDecoder(io.LimitReader(got.Body, 1<<16)).Decode(&out); err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", p.Bucket, StatusObject, err)
	}
	return &out, nil
}

// uploaded reads what the newest object holds.
func (p *Publisher) uploaded(ctx context.Context, st *Status) error {
	head, err := p.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(Object)})
	var nf *s3types.NotFound
	switch {
	case errors.As(err, &nf):
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", st.URI, err)
	}
	st.UploadedSHA256, st.UploadedVersion = head.Metadata[metaSHA256], aws.ToString(head.VersionId)
	return nil
}

// upload puts b (or, when it is empty, a placeholder) as the newest object.
func (p *Publisher) upload(ctx context.Context, b Bundle, st *Status) error {
	body := b.PEM
	if b.Certificates == 0 {
		// API Gateway refuses a truststore with no certificate; this one's key is gone, so
		// no client can ever present a chain to it.
		ph, err := placeholder(p.Now())
		if err != nil {
			return err
		}
		body = ph
	}
	out, err := p.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(p.Bucket), Key: aws.String(Object), Body: bytes.NewReader(body),
		ContentType: aws.String("application/x-pem-file"),
		Metadata:    map[string]string{metaSHA256: b.SHA256, metaCount: strconv.Itoa(b.Certificates)},
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", st.URI, err)
	}
	if out.VersionId == nil {
		return fmt.Errorf("upload %s: the bucket is not versioned (API Gateway needs a version of the truststore)", st.URI)
	}
	st.UploadedSHA256, st.UploadedVersion, st.Uploaded = b.SHA256, aws.ToString(out.VersionId), true
	p.Log.Info("truststore uploaded", slog.String("uri", st.URI), slog.String("version", st.UploadedVersion), slog.Int("certificates", b.Certificates))
	return nil
}

// point compares the domain's truststore with the newest object and, when write is set,
// points it there.
func (p *Publisher) point(ctx context.Context, st *Status, write bool) error {
	got, err := p.Domains.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(p.DomainName)})
	var nf *apigwtypes.NotFoundException
	switch {
	case errors.As(err, &nf):
		st.Reasons = append(st.Reasons, "the domain "+p.DomainName+" does not exist (yet)")
		return nil
	case err != nil:
		return fmt.Errorf("read the domain %s: %w", p.DomainName, err)
	}
	m := got.MutualTlsAuthentication
	if m != nil {
		st.DomainVersion, st.Warnings = aws.ToString(m.TruststoreVersion), m.TruststoreWarnings
	}
	if m != nil && aws.ToString(m.TruststoreUri) == st.URI && st.DomainVersion != "" && st.DomainVersion == st.UploadedVersion {
		return nil
	}
	if !write || st.UploadedVersion == "" {
		st.Reasons = append(st.Reasons, "the domain does not use the newest bundle")
		return nil
	}
	upd, err := p.Domains.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{
		DomainName: aws.String(p.DomainName),
		MutualTlsAuthentication: &apigwtypes.MutualTlsAuthenticationInput{
			TruststoreUri: aws.String(st.URI), TruststoreVersion: aws.String(st.UploadedVersion),
		},
	})
	if err != nil {
		return fmt.Errorf("point the domain %s at %s version %s: %w", p.DomainName, st.URI, st.UploadedVersion, err)
	}
	st.DomainVersion, st.Pointed, st.Warnings = st.UploadedVersion, true, nil
	if upd.MutualTlsAuthentication != nil {
		st.Warnings = upd.MutualTlsAuthentication.TruststoreWarnings
	}
	p.Log.Info("truststore deployed", slog.String("domain", p.DomainName), slog.String("version", st.UploadedVersion),
		slog.String("warnings", strings.Join(st.Warnings, "; ")))
	return nil
}

// placeholder is a self-signed certificate whose private key is thrown away at once: a
// truststore entry that admits nobody.
func placeholder(now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "signum truststore placeholder (no client CA registered; its key was discarded)"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
