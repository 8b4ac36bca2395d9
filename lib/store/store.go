// Package store is the only package that talks to DynamoDB. The service keeps everything in
// one table (single-table design); this package builds every key string (keys.go), maps
// domain types to items and back, and turns SDK errors into the service's error kinds.
// ACCESS_PATTERNS.md lists every entity and every read and write.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/fault/awsfault"
)

// Errors of the store. Each wraps a fault kind so the edge knows its HTTP status.
var (
	// ErrNotFound means no item has the key.
	ErrNotFound = fmt.Errorf("store: %w", fault.ErrNotFound)
	// ErrConflict means a create found the item already there, or a unique value taken.
	ErrConflict = fmt.Errorf("store: %w", fault.ErrConflict)
	// ErrStale means a write named a version that is no longer current.
	ErrStale = fmt.Errorf("store: stale version: %w", fault.ErrPrecondition)
	// ErrInvalidCursor means a page cursor was altered, expired or belongs to another query.
	ErrInvalidCursor = fmt.Errorf("store: invalid cursor: %w", fault.ErrInvalid)
	// ErrUnavailable means DynamoDB could not be reached or refused the call (throttling,
	// outage, timeout). The request may be retried.
	ErrUnavailable = fmt.Errorf("store: %w", fault.ErrUnavailable)
	// ErrRequestMismatch means a request key (Idempotency-Key) was used before for a
	// different request.
	ErrRequestMismatch = fmt.Errorf("store: request key reused: %w", fault.ErrUnprocessable)
)

// DynamoDB is the part of the DynamoDB client the store uses. Declared here, narrow, so that
// tests can wrap the real client to inject faults.
type DynamoDB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// KeySource returns the 32-byte key that seals page cursors. It is called when a listing first
// needs it (not at cold start, so a KMS hiccup at start does not take down routes that never
// page) and again after a failure; a success is kept.
type KeySource func(ctx context.Context) ([]byte, error)

// StaticKey is a KeySource of a fixed key (tests, tools).
func StaticKey(key []byte) KeySource {
	return func(context.Context) ([]byte, error) { return key, nil }
}

// Store reads and writes the service's table.
type Store struct {
	db        DynamoDB
	table     string
	cursorKey KeySource
	cursorMu  sync.Mutex
	cursors   *cursorCodec
	now       func() time.Time
	// heads caches the last event of each event lane this store appended to (laneHead by
	// "<dep>#<lane>"), so that a warm append reads nothing first.
	heads sync.Map
	// laneLocks serialise this store's appends per lane (*sync.Mutex by "<dep>#<lane>").
	laneLocks sync.Map
	// domains remembers which deployment a domain name belongs to (deployment id by lower-case
	// name); DeploymentByDomain still reads the deployment every time.
	domains sync.Map
	// reads holds items read for requests that may be answered from it (readcache): item by
	// "<PK>\x00<SK>"; cached counts its keys, and it is emptied when it grows past maxCached.
	reads  sync.Map
	cached atomic.Int64
	// agents remembers the activity items this store has seen count an agent's name (by
	// "<dep>#<day>#<lane>#<agent>"; knownAgents counts them): see AppendEventCounting.
	agents      sync.Map
	knownAgents atomic.Int64
	// indexedDeps remembers the deployments whose events are all in the listings' indexes
	// (EventsIndexed), a mark that is never taken back.
	indexedDeps sync.Map
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read time from now (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a store on table. cursorKey gives the key that encrypts and authenticates page
// cursors; every instance of a function must get the same key (the functions derive it from
// KMS).
func New(db DynamoDB, table string, cursorKey KeySource, opts ...Option) *Store {
	s := &Store{db: db, table: table, cursorKey: cursorKey, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// codec returns the cursor codec, getting the key on first use.
func (s *Store) codec(ctx context.Context) (*cursorCodec, error) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	if s.cursors != nil {
		return s.cursors, nil
	}
	key, err := s.cursorKey(ctx)
	if err != nil {
		return nil, fault.Wrap(ErrUnavailable, err, "Listings are unavailable; retry later.")
	}
	if s.cursors, err = newCursorCodec(key); err != nil {
		return nil, err
	}
	return s.cursors, nil
}

// TableDescriber is what Ping needs.
type TableDescriber interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Ping checks that table exists, is reachable and serves requests. It needs no Store, so the
// health function does not derive keys it never uses.
func Ping(ctx context.Context, db TableDescriber, table string) error {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return unavailable("describe table", err)
	}
	if !tableReady(out.Table) {
		return fmt.Errorf("table %s is not active: %w", table, ErrUnavailable)
	}
	return nil
}

// Ping checks the store's table; see the function Ping.
func (s *Store) Ping(ctx context.Context) error { return Ping(ctx, s.db, s.table) }

// unavailable classifies an SDK error that is not a condition failure. Outages, timeouts,
// throttling and server errors are ErrUnavailable (503: retry later), with the cause (which
// may name tables, ARNs and request ids) for the log only. Anything else — validation errors,
// access denied, a missing table — is a fault of the service, not of the moment, and stays an
// unclassified error (500, logged): telling the caller to retry would not help.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if awsfault.Transient(err, transientCodes...) {
		return fault.Wrap(ErrUnavailable, fmt.Errorf("%s: %w", op, err), "The database is unavailable; retry later.")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// transientCodes are DynamoDB error codes that pass with time.
var transientCodes = []string{
	"ThrottlingException", "ProvisionedThroughputExceededException",
	"RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
	"TransactionInProgressException", "LimitExceededException",
}

// cancelled turns a cancelled transaction whose cause is not a failed condition of ours into
// the right error: throttling is ErrUnavailable, a conflict with another transaction on the
// same items is ErrConflict (the caller may retry at once).
func cancelled(op string, err error, codes []string) error {
	for _, c := range codes {
		switch c {
		case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			return fault.Wrap(ErrUnavailable, fmt.Errorf("%s: %w", op, err), "The database is busy; retry later.")
		case "TransactionConflict":
			return fault.Wrap(ErrConflict, fmt.Errorf("%s: %w", op, err), "A concurrent change to the same data interfered; retry.")
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// requestToken makes a transaction idempotent for DynamoDB's ten-minute window: when the SDK
// retries a transaction whose first attempt succeeded but whose answer was lost, DynamoDB
// answers the retry with success instead of failing its own conditions. The SDK resends the
// same input on a retry, so a token random per call is what is needed; one derived from the
// data would make a second, different call on the same object within ten minutes fail with
// IdempotentParameterMismatch. (The parts are unused; they document what a call is.)
func requestToken() *string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	return &t
}

// isConditionFailed reports whether err is a failed condition of a single-item write.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellationCodes returns the per-item cancellation reason codes of a cancelled
// transaction ("None", "ConditionalCheckFailed", ...), or nil if err is not one.
func cancellationCodes(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		if r.Code != nil {
			codes[i] = *r.Code
		}
	}
	if len(codes) == 0 {
		// Some emulators omit reasons; still a cancellation.
		codes = []string{"Unknown"}
	}
	return codes
}
