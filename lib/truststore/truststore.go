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
	"encoding/pem"
	"errors"
	"fmt"
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
	// Anchors lists every deployment's registrations.
	Anchors func(ctx context.Context) ([]clientauth.Credential, error)
	Now     func() time.Time
	Log     *slog.Logger
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
}

// Check compares the deployed truststore with the registrations, changing nothing.
func (p *Publisher) Check(ctx context.Context) (Status, error) {
	return p.run(ctx, false)
}

// Publish makes the deployed truststore current: it uploads the bundle when the newest
// object does not hold exactly the registrations, and points the domain at the newest
// object's version when it uses another (or none named). A domain that does not exist yet
// (CloudFormation creates it after the first upload) is not an error. Publishing twice
// changes nothing the second time.
func (p *Publisher) Publish(ctx context.Context) (Status, error) {
	return p.run(ctx, true)
}

func (p *Publisher) run(ctx context.Context, write bool) (Status, error) {
	creds, err := p.Anchors(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("list the registrations: %w", err)
	}
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
	st.Current = len(st.Reasons) == 0
	return st, nil
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
