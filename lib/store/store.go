// Package store is the only package that talks to DynamoDB. The service keeps everything in
// one table (single-table design); this package builds every key string (keys.go), maps
// domain types to items and back, and turns SDK errors into the service's error kinds.
// ACCESS_PATTERNS.md lists every entity and every read and write.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
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
)

// DynamoDB is the part of the DynamoDB client the store uses. Declared here, narrow, so that
// tests can wrap the real client to inject faults.
type DynamoDB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Store reads and writes the service's table.
type Store struct {
	db      DynamoDB
	table   string
	cursors *cursorCodec
	now     func() time.Time
	// logRetention is how long system log entries live before DynamoDB's TTL removes them.
	logRetention time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read time from now (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogRetention sets how long system log entries are kept (default 400 days).
func WithLogRetention(d time.Duration) Option { return func(s *Store) { s.logRetention = d } }

// New returns a store on table. cursorKey (32 bytes) encrypts and authenticates page cursors;
// every instance of a function must use the same key (the functions derive it from KMS).
func New(db DynamoDB, table string, cursorKey []byte, opts ...Option) (*Store, error) {
	cc, err := newCursorCodec(cursorKey)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, table: table, cursors: cc, now: time.Now, logRetention: 400 * 24 * time.Hour}
	for _, o := range opts {
		o(s)
	}
	return s, nil
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

// unavailable wraps an SDK error that is not a condition failure: the cause (which may name
// tables, ARNs and request ids) goes to the log, the caller gets a 503.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fault.Wrap(ErrUnavailable, fmt.Errorf("%s: %w", op, err), "The database is unavailable; retry later.")
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
