package truststore_test

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
	"net/http"
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
	"github.com/opensignum/signum/lib/truststore"
)

const domain = "*.mtls.sign.example.com"

// world is a versioned bucket on the S3 stand-in, the API Gateway domain-name stand-in, and
// the registrations the publisher lists, which a test changes.
type world struct {
	p       *truststore.Publisher
	domains *devstack.DomainNames
	s3      *s3.Client

	mu    sync.Mutex
	creds []clientauth.Credential
	now   time.Time
}

func newWorld(t *testing.T) *world {
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
	w := &world{s3: s3c, now: time.Now()}
	w.domains = devstack.NewDomainNames(func(uri, version string) ([]byte, error) {
		return w.object(t, uri, version)
	})
	w.domains.Now = func() time.Time { return w.clock() }
	srv := httptest.NewServer(w.domains)
	t.Cleanup(srv.Close)
	apigw := apigatewayv2.New(apigatewayv2.Options{
		Region: devstack.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	w.p = &truststore.Publisher{
		S3: s3c, Bucket: bucket, Domains: apigw, DomainName: domain,
		Anchors: func(context.Context) ([]clientauth.Credential, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return append([]clientauth.Credential(nil), w.creds...), nil
		},
		Now: w.clock, Log: slog.New(slog.DiscardHandler),
	}
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// object reads s3://bucket/key at version from the S3 stand-in.
func (w *world) object(t *testing.T, uri, version string) ([]byte, error) {
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

// register adds a CA registration valid for d from now.
func (w *world) register(t *testing.T, name string, d time.Duration) *x509.Certificate {
	t.Helper()
	cert := selfSigned(t, name, w.clock(), d)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.creds = append(w.creds, clientauth.Credential{ID: name, DeploymentID: "dep-" + name, Kind: clientauth.Authority, CertificateDER: cert.Raw})
	return cert
}

func (w *world) unregister(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
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
func (w *world) deployed(t *testing.T) []string {
	t.Helper()
	uri, version, _, ok := w.domains.Truststore(domain)
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

func publish(t *testing.T, w *world) truststore.Status {
	t.Helper()
	st, err := w.p.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPublishFollowsTheRegistrations: the first publish (CloudFormation's, before the
// domain exists) uploads a placeholder that admits nobody; once the domain exists, every
// registration and removal reaches the bundle the domain uses, an unchanged state uploads
// and updates nothing, and an expired CA leaves the bundle.
func TestPublishFollowsTheRegistrations(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	st := publish(t, w)
	if !st.Uploaded || st.Pointed || st.Current || st.Certificates != 0 {
		t.Fatalf("first publish without a domain: %+v", st)
	}
	if err := w.domains.Create(domain, w.p.URI()); err != nil {
		t.Fatalf("API Gateway would not create the domain on the first bundle: %v", err)
	}
	if got := w.deployed(t); len(got) != 1 || !strings.Contains(got[0], "placeholder") {
		t.Fatalf("empty truststore holds %v, want the placeholder", got)
	}
	if st, err := w.p.Check(ctx); err != nil || st.Current {
		t.Fatalf("a domain on no named version is current: %+v %v", st, err)
	}

	w.register(t, "ca-one", 24*time.Hour)
	w.register(t, "ca-two", 48*time.Hour)
	st = publish(t, w)
	if !st.Uploaded || !st.Pointed || !st.Current || st.Certificates != 2 {
		t.Fatalf("after two registrations: %+v", st)
	}
	if got := w.deployed(t); strings.Join(got, ",") != "ca-one,ca-two" && strings.Join(got, ",") != "ca-two,ca-one" {
		t.Fatalf("deployed %v, want ca-one and ca-two", got)
	}

	_, v1, updates, _ := w.domains.Truststore(domain)
	again := publish(t, w)
	_, v2, updates2, _ := w.domains.Truststore(domain)
	if again.Uploaded || again.Pointed || v1 != v2 || updates != updates2 || !again.Current {
		t.Fatalf("publishing an unchanged state changed something: %+v (domain updates %d -> %d)", again, updates, updates2)
	}

	w.unregister("ca-one")
	if st, err := w.p.Check(ctx); err != nil || st.Current || len(st.Reasons) == 0 {
		t.Fatalf("Check after a removal: %+v %v", st, err)
	}
	publish(t, w)
	if got := w.deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("after the removal the domain uses %v", got)
	}

	w.mu.Lock()
	w.now = w.now.Add(72 * time.Hour)
	w.mu.Unlock()
	st = publish(t, w)
	if st.ExpiredLeftOut != 1 || st.Certificates != 0 || !st.Current {
		t.Fatalf("after ca-two expired: %+v", st)
	}
	if got := w.deployed(t); len(got) != 1 || !strings.Contains(got[0], "placeholder") {
		t.Fatalf("after every CA expired the domain uses %v", got)
	}
}

// TestPublishRepairsTheDomain: a domain pointed elsewhere (by hand, or by a stack update
// that named no version) is pointed back at the newest bundle, without a new upload.
func TestPublishRepairsTheDomain(t *testing.T) {
	w := newWorld(t)
	w.register(t, "ca-one", 24*time.Hour)
	publish(t, w)
	if err := w.domains.Create(domain, w.p.URI()); err != nil {
		t.Fatal(err)
	}
	st := publish(t, w)
	if st.Uploaded || !st.Pointed || !st.Current || st.DomainVersion == "" {
		t.Fatalf("publish onto a domain created with no version: %+v", st)
	}
}

// TestHandleEvents: a stream batch and a schedule tick publish; a custom resource request is
// answered on its response URL with the bundle's URI and version (and a Delete changes
// nothing); an event of another kind is an error.
func TestHandleEvents(t *testing.T) {
	w := newWorld(t)
	w.register(t, "ca-one", 24*time.Hour)
	var answers []map[string]any
	cfnSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if r.Method != http.MethodPut || r.Header.Get("Content-Type") != "" {
			t.Errorf("CloudFormation answer sent as %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Error(err)
		}
		answers = append(answers, a)
	}))
	t.Cleanup(cfnSrv.Close)
	h := &truststore.Handler{Publisher: w.p}
	ctx := context.Background()

	create := `{"RequestType":"Create","RequestId":"r1","ResponseURL":"` + cfnSrv.URL + `/answer","ResourceType":"Custom::Truststore","LogicalResourceId":"Truststore","StackId":"arn:aws:cloudformation:us-east-1:111122223333:stack/s/1"}`
	if _, err := h.Handle(ctx, json.RawMessage(create)); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 1 || answers[0]["Status"] != "SUCCESS" || answers[0]["PhysicalResourceId"] != w.p.URI() {
		t.Fatalf("custom resource answer %v", answers)
	}
	data, _ := answers[0]["Data"].(map[string]any)
	if data["Uri"] != w.p.URI() || data["Version"] == "" || data["Version"] == nil {
		t.Fatalf("custom resource data %v", data)
	}
	if err := w.domains.Create(domain, w.p.URI()); err != nil {
		t.Fatal(err)
	}

	w.register(t, "ca-two", 24*time.Hour)
	stream := `{"Records":[{"eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb","dynamodb":{"Keys":{"PK":{"S":"DEP#x"},"SK":{"S":"CCCA#x#y"}}}}]}`
	if _, err := h.Handle(ctx, json.RawMessage(stream)); err != nil {
		t.Fatal(err)
	}
	if got := w.deployed(t); len(got) != 2 {
		t.Fatalf("after a stream batch the domain uses %v", got)
	}

	w.unregister("ca-one")
	tick := `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-12-03T14:00:00Z","region":"us-east-1","resources":[],"detail":{}}`
	if _, err := h.Handle(ctx, json.RawMessage(tick)); err != nil {
		t.Fatal(err)
	}
	if got := w.deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("after a schedule tick the domain uses %v", got)
	}

	del := strings.Replace(create, `"Create"`, `"Delete"`, 1)
	del = strings.Replace(del, `"RequestId":"r1"`, `"RequestId":"r2","PhysicalResourceId":"`+w.p.URI()+`"`, 1)
	if _, err := h.Handle(ctx, json.RawMessage(del)); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || answers[1]["Status"] != "SUCCESS" {
		t.Fatalf("delete answer %v", answers)
	}
	if got := w.deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("a Delete changed the truststore: %v", got)
	}

	for _, bad := range []string{`{}`, `{"Records":[{"eventSource":"aws:sqs"}]}`, `[1]`} {
		if _, err := h.Handle(ctx, json.RawMessage(bad)); err == nil {
			t.Errorf("event %s was taken", bad)
		}
	}
}

// TestCustomResourceFailureIsAnswered: when the truststore cannot be written, CloudFormation
// still gets an answer (FAILED, with the reason), rather than waiting an hour.
func TestCustomResourceFailureIsAnswered(t *testing.T) {
	w := newWorld(t)
	w.p.Bucket = "no-such-bucket"
	var got map[string]any
	cfnSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	t.Cleanup(cfnSrv.Close)
	h := &truststore.Handler{Publisher: w.p}
	create := `{"RequestType":"Create","RequestId":"r1","ResponseURL":"` + cfnSrv.URL + `","LogicalResourceId":"Truststore","StackId":"s"}`
	if _, err := h.Handle(context.Background(), json.RawMessage(create)); err != nil {
		t.Fatal(err)
	}
	if got["Status"] != "FAILED" || !strings.Contains(got["Reason"].(string), "no-such-bucket") {
		t.Fatalf("answer %v", got)
	}
}
