// Package truststoretest is a world for the truststore's tests: a versioned bucket on the S3
// stand-in, the API Gateway domain-name stand-in, and registrations a test changes.
package truststoretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/truststore"
)

// Domain is the mutual-TLS custom domain of the world.
const Domain = "*.mtls.sign.example.com"

// World is a versioned bucket on the S3 stand-in, the API Gateway domain-name stand-in, and
// the registrations the publisher lists, which a test changes.
type World struct {
	// P publishes; Domains is the API Gateway stand-in holding Domain.
	P       *truststore.Publisher
	Domains *devstack.DomainNames
	s3      *s3.Client

	mu    sync.Mutex
	creds []clientauth.Credential
	now   time.Time
	// prev is the registrations before the last change, which the next lag listings
	// still answer, as a lagging index does.
	prev []clientauth.Credential
	lag  int
	// Reads counts the listings.
	Reads int
}

// New is a world with no registration, on the embedded stand-ins.
func New(t *testing.T) *World {
	t.Helper()
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	bucket := "truststore-" + strings.ToLower(rand.Text()[:8])
	s3c := tg.Clients.S3
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	w := &World{s3: s3c, now: time.Now()}
	w.Domains = devstack.NewDomainNames(func(uri, version string) ([]byte, error) {
		return w.object(t, uri, version)
	})
	w.Domains.Now = func() time.Time { return w.Clock() }
	srv := httptest.NewServer(w.Domains)
	t.Cleanup(srv.Close)
	apigw := apigatewayv2.New(apigatewayv2.Options{
		Region: devstack.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	w.P = &truststore.Publisher{
		S3: s3c, Bucket: bucket, Domains: apigw, DomainName: Domain,
		Anchors: func(context.Context) ([]clientauth.Credential, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.Reads++
			if w.lag > 0 {
				w.lag--
				return append([]clientauth.Credential(nil), w.prev...), nil
			}
			return append([]clientauth.Credential(nil), w.creds...), nil
		},
		KeyOf: store.TrustAnchorKey,
		Now:   w.Clock, Log: slog.New(slog.DiscardHandler),
		IndexWait: 10 * time.Millisecond,
	}
	return w
}

func (w *World) Clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// object reads s3://bucket/key at version from the S3 stand-in.
func (w *World) object(t *testing.T, uri, version string) ([]byte, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := w.s3.GetObject(context.Background(), in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Register adds a CA registration valid for d from now.
func (w *World) Register(t *testing.T, name string, d time.Duration) *x509.Certificate {
	t.Helper()
	cert := selfSigned(t, name, w.Clock(), d)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prev = append([]clientauth.Credential(nil), w.creds...)
	w.creds = append(w.creds, clientauth.Credential{ID: name, DeploymentID: "dep-" + name, Kind: clientauth.Authority, CertificateDER: cert.Raw})
	return cert
}

// Lag makes the next n listings answer the registrations as they were before the last
// change.
func (w *World) Lag(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lag = n
}

// StreamRecord is the table's stream record (KEYS_ONLY) of registering (INSERT) or removing
// (REMOVE) the registration name.
func (w *World) StreamRecord(t *testing.T, name, event string) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range append(append([]clientauth.Credential(nil), w.creds...), w.prev...) {
		if c.ID != name {
			continue
		}
		k, err := store.TrustAnchorKey(c)
		if err != nil {
			t.Fatal(err)
		}
		pk, sk, _ := strings.Cut(k, " ") // store.ItemKey
		raw, _ := json.Marshal(map[string]any{"eventID": "1", "eventName": event, "eventSource": "aws:dynamodb",
			"dynamodb": map[string]any{"Keys": map[string]any{"PK": map[string]string{"S": pk}, "SK": map[string]string{"S": sk}}, "StreamViewType": "KEYS_ONLY"}})
		return string(raw)
	}
	t.Fatalf("no registration %s", name)
	return ""
}

// Unregister removes the registration name.
func (w *World) Unregister(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prev = append([]clientauth.Credential(nil), w.creds...)
	for i, c := range w.creds {
		if c.ID == name {
			w.creds = append(w.creds[:i], w.creds[i+1:]...)
			return
		}
	}
}

func selfSigned(t *testing.T, cn string, now time.Time, d time.Duration) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(d), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deployed are the certificates of the bundle the domain uses.
func (w *World) Deployed(t *testing.T) []string {
	t.Helper()
	uri, version, _, ok := w.Domains.Truststore(Domain)
	if !ok {
		t.Fatal("the domain does not exist")
	}
	raw, err := w.object(t, uri, version)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, c.Subject.CommonName)
	}
	return names
}

// Advance moves the world's clock.
func (w *World) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}
