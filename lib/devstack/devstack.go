// Package devstack runs the AWS stand-ins in-process for tests and for the local server:
// DynamoDB (minidyn's server) and KMS (local-kms), each behind its own loopback HTTP listener
// so that the real aws-sdk-go-v2 clients talk to them over HTTP, as they talk to AWS.
// Either stand-in can be stopped and started again (keeping its data) to simulate an outage.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	kmsconfig "github.com/nsmithuk/local-kms/src/config"
	kmsdata "github.com/nsmithuk/local-kms/src/data"
	"github.com/truora/minidyn/server"

	"github.com/opensignum/signum/lib/eventstandin"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/marketstandin"
	"github.com/opensignum/signum/lib/store"
)

// Region and account the stand-ins pretend to be in.
const (
	Region    = "us-east-1"
	AccountID = "111122223333"
)

// Roles of the signer and the certificates function in the stand-ins' account: the local
// certificate keys get the key policy that template.yaml's functions give theirs
// (SIGNUM_KEY_USERS, SIGNUM_KEY_MANAGER). The KMS stand-in keeps key policies but does not
// enforce them, so no role needs to exist.
const (
	SignerRoleARN       = "arn:aws:iam::" + AccountID + ":role/signum-local-SignerFunctionRole"
	CertificatesRoleARN = "arn:aws:iam::" + AccountID + ":role/signum-local-ConsoleCertificatesFunctionRole"
)

// ServiceKeyAlias names the HMAC key from which the functions derive keys they must share
// (page cursors now; more later). The template creates the same alias in AWS.
const ServiceKeyAlias = "alias/signum-service"

// TokenKeyAlias names the ECC key that signs bearer tokens.
const TokenKeyAlias = "alias/signum-token"

// CheckpointKeyAlias names the ECC key that certifies the keys sealing the event log's
// checkpoints and receipts (SIGNUM_CHECKPOINT_KEY).
const CheckpointKeyAlias = "alias/signum-checkpoint"

// AnchorBucket is the S3 stand-in's bucket for the event log's anchors
// (SIGNUM_ANCHOR_BUCKET).
const AnchorBucket = "signum-anchors"

// TruststoreBucket is the S3 stand-in's versioned bucket for the mutual-TLS truststore
// (SIGNUM_TRUSTSTORE_BUCKET).
const TruststoreBucket = "signum-truststore"

// Stack is a running pair of stand-ins.
type Stack struct {
	DynamoDB *Standin
	KMS      *Standin
	// S3 is gofakes3, in memory, with AnchorBucket.
	S3 *Standin
	// AWSMarketplace serves AWSMarket (AWS Marketplace's metering and entitlement APIs);
	// AzureMarketplace serves AzureMarket (Azure's SaaS fulfilment API, metering and Entra
	// ID's token endpoint and keys). Tests and the local server drive the buyers' side
	// through AWSMarket and AzureMarket.
	AWSMarketplace, AzureMarketplace *Standin
	AWSMarket                        *marketstandin.AWS
	AzureMarket                      *marketstandin.Azure
	// EventBridge serves Events, which records the events the notices function puts.
	EventBridge *Standin
	Events      *eventstandin.EventBridge

	kmsDB   *kmsdata.Database
	tmpDir  string
	dataDir string // Options.DataDir, made private again on Close
}

// Options configure Start.
type Options struct {
	// DynamoDBAddr and KMSAddr are the listen addresses ("127.0.0.1:0" when empty), and
	// AWSMarketplaceAddr and AzureMarketplaceAddr the marketplaces' stand-ins'.
	DynamoDBAddr, KMSAddr                    string
	AWSMarketplaceAddr, AzureMarketplaceAddr string
	// DataDir keeps the KMS stand-in's keys; a temporary directory when empty. It is made
	// readable by the current user only (PrivateDir).
	DataDir string
}

// kmsGlobals guards local-kms's package-level configuration.
var kmsGlobals sync.Mutex

// Start starts both stand-ins.
func Start(opts Options) (*Stack, error) {
	st := &Stack{}
	dir := opts.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "signum-kms-")
		if err != nil {
			return nil, err
		}
		dir, st.tmpDir = d, d
	} else if err := PrivateDir(dir); err != nil {
		return nil, fmt.Errorf("KMS stand-in data in %s: %w", dir, err)
	}
	st.dataDir = opts.DataDir
	kmsGlobals.Lock()
	kmsconfig.AWSRegion, kmsconfig.AWSAccountId, kmsconfig.DatabasePath = Region, AccountID, dir
	kmsGlobals.Unlock()
	db, err := openKMSDatabase(dir)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.kmsDB = db
	// The database has just written its files, 0644.
	if err := PrivateDir(dir); err != nil {
		st.Close()
		return nil, fmt.Errorf("KMS stand-in data in %s: %w", dir, err)
	}
	if st.KMS, err = startStandin("kms", opts.KMSAddr, kmsHandler(db)); err != nil {
		st.Close()
		return nil, err
	}
	if st.DynamoDB, err = startStandin("dynamodb", opts.DynamoDBAddr, &transactFront{inner: server.NewServer()}); err != nil {
		st.Close()
		return nil, err
	}
	bucket := s3mem.New()
	for _, name := range []string{AnchorBucket, TruststoreBucket} {
		if err := bucket.CreateBucket(name); err != nil {
			st.Close()
			return nil, err
		}
	}
	// API Gateway names the truststore's version: the bucket is versioned, as in the template.
	if err := bucket.SetVersioningConfiguration(TruststoreBucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		st.Close()
		return nil, err
	}
	if st.S3, err = startStandin("s3", "", gofakes3.New(bucket, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()); err != nil {
		st.Close()
		return nil, err
	}
	st.AWSMarket = marketstandin.NewAWS()
	if st.AWSMarketplace, err = startStandin("aws-marketplace", opts.AWSMarketplaceAddr, st.AWSMarket); err != nil {
		st.Close()
		return nil, err
	}
	st.Events = eventstandin.New()
	if st.EventBridge, err = startStandin("eventbridge", "", st.Events); err != nil {
		st.Close()
		return nil, err
	}
	st.AzureMarket = marketstandin.NewAzure(marketstandin.AzureOptions{})
	if st.AzureMarketplace, err = startStandin("azure-marketplace", opts.AzureMarketplaceAddr, st.AzureMarket); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openKMSDatabase opens local-kms's LevelDB, which panics instead of returning errors.
func openKMSDatabase(dir string) (db *kmsdata.Database, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("open KMS stand-in data in %s: %v", dir, v)
		}
	}()
	return kmsdata.NewDatabase(dir), nil
}

// Close stops both stand-ins and removes temporary data.
func (st *Stack) Close() {
	for _, s := range []*Standin{st.DynamoDB, st.KMS, st.S3, st.AWSMarketplace, st.AzureMarketplace, st.EventBridge} {
		if s != nil {
			s.close()
		}
	}
	if st.kmsDB != nil {
		st.kmsDB.Close()
	}
	if st.dataDir != "" {
		// What the database wrote while running (new tables and logs, 0644).
		_ = PrivateDir(st.dataDir)
	}
	if st.tmpDir != "" {
		_ = os.RemoveAll(st.tmpDir)
	}
}

// Env is the configuration the functions read, pointing at this stack.
func (st *Stack) Env(table string) function.Config {
	return function.Config{
		Region:              Region,
		TableName:           table,
		ServiceKeyID:        ServiceKeyAlias,
		TokenKeyID:          TokenKeyAlias,
		DynamoDBEndpoint:    st.DynamoDB.URL(),
		KMSEndpoint:         st.KMS.URL(),
		StaticAccessKey:     "local",
		StaticSecretKey:     "local",
		CheckpointKeyID:     CheckpointKeyAlias,
		AnchorBucket:        AnchorBucket,
		TruststoreBucket:    TruststoreBucket,
		AnchorEvery:         function.DefaultAnchorEvery,
		S3Endpoint:          st.S3.URL(),
		KeyUsers:            []string{SignerRoleARN, CertificatesRoleARN},
		KeyManager:          CertificatesRoleARN,
		Marketplace:         st.MarketplaceConfig(),
		EventBridgeEndpoint: st.EventBridge.URL(),
	}
}

// MarketplaceConfig points the marketplace functions at this stack's marketplace stand-ins:
// one AWS stand-in serves metering and entitlements; the Azure app is the stand-in's.
func (st *Stack) MarketplaceConfig() function.MarketplaceConfig {
	if st.AWSMarketplace == nil || st.AzureMarketplace == nil {
		return function.MarketplaceConfig{}
	}
	api, login := marketstandin.AzureBases(st.AzureMarketplace.URL())
	return function.MarketplaceConfig{
		Region: marketstandin.AWSRegion, MeteringEndpoint: st.AWSMarketplace.URL(), EntitlementEndpoint: st.AWSMarketplace.URL(),
		AzureTenantID: st.AzureMarket.TenantID(), AzureClientID: st.AzureMarket.ClientID(), AzureClientSecret: st.AzureMarket.ClientSecret(),
		AzureAPIBase: api, AzureLoginBase: login,
	}
}

// Bootstrap creates what the template creates in AWS: the table and the service key.
func Bootstrap(ctx context.Context, c *function.Clients, table string) error {
	if err := store.CreateTable(ctx, c.DynamoDB, table); err != nil {
		return err
	}
	if err := ensureKey(ctx, c.KMS, ServiceKeyAlias, kmstypes.KeySpecHmac256, kmstypes.KeyUsageTypeGenerateVerifyMac, "signum service key: derives shared keys"); err != nil {
		return err
	}
	if err := ensureKey(ctx, c.KMS, TokenKeyAlias, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify, "signum token key: signs bearer tokens"); err != nil {
		return err
	}
	return ensureKey(ctx, c.KMS, CheckpointKeyAlias, kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify, "signum checkpoint key: certifies the event log's sealing keys")
}

// CheckpointKeyARN is the ARN of the checkpoint key, which the template gives the functions
// (an alias would make them resolve it first).
func CheckpointKeyARN(ctx context.Context, k *kms.Client) (string, error) {
	out, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(CheckpointKeyAlias)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// ensureKey creates a key and its alias unless the alias exists.
func ensureKey(ctx context.Context, k *kms.Client, alias string, spec kmstypes.KeySpec, usage kmstypes.KeyUsageType, desc string) error {
	_, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	var nf *kmstypes.NotFoundException
	if err == nil || !errors.As(err, &nf) {
		return err
	}
	out, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage, Description: aws.String(desc)})
	if err != nil {
		return fmt.Errorf("create %s: %w", alias, err)
	}
	_, err = k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId})
	return err
}

// Standin is one stand-in's HTTP listener. Stop and Start toggle it without losing data.
type Standin struct {
	name    string
	handler http.Handler
	mu      sync.Mutex
	addr    string
	srv     *http.Server
	// down is an outage (Stop): the listener stays, so that no other server of the process
	// (the tests run many) takes the port meanwhile and answers in the stand-in's place, but
	// every request's connection is closed unanswered, as a dead endpoint's would be.
	down bool
}

// serve answers with the stand-in, or, during an outage, drops the connection.
func (s *Standin) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if !down {
		s.handler.ServeHTTP(w, r)
		return
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func startStandin(name, addr string, h http.Handler) (*Standin, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Standin{name: name, handler: h, addr: addr}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the stand-in's endpoint.
func (s *Standin) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// Running reports whether the stand-in is serving.
func (s *Standin) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil && !s.down
}

// Start (re)starts serving on the same address.
func (s *Standin) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		// After an outage: serve again on the port it kept.
		s.down = false
		s.srv.SetKeepAlivesEnabled(true)
		return nil
	}
	var ln net.Listener
	var err error
	// The port may linger for a moment after Stop; retry briefly.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%s stand-in: listen %s: %w", s.name, s.addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return nil
}

// Stop is an outage: open connections are closed and every new request's connection is
// dropped unanswered, until Start. The port stays the stand-in's (see Standin.down).
func (s *Standin) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.down = true
		// Closes the idle keep-alive connections; busy ones are dropped at their next request.
		s.srv.SetKeepAlivesEnabled(false)
	}
}

// close shuts the stand-in down for good.
func (s *Standin) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Name is "dynamodb", "kms" or "s3".
func (s *Standin) Name() string { return s.name }

// Compile-time check that the DynamoDB client satisfies what the store needs.
var _ store.DynamoDB = (*dynamodb.Client)(nil)
