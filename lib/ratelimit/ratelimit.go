// Package ratelimit is the service's rate limits: how much of something a key (an account, a
// source address, a caller, a deployment) may do per window of time, counted in the table so
// that every function instance sees the same count.
//
// A limit is a fixed window: at most N units in each window of length Per, counted from the
// Unix epoch. A burst can reach 2N across a window boundary; the limits here protect shared
// capacity and slow guessing, for which that is enough, and one counter item per key and
// window costs one conditional write. The package is pure; the store counts
// (store.Store.TakeRate).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Limit is at most N units per window of length Per. The zero Limit is no limit.
type Limit struct {
	N   int
	Per time.Duration
}

// Off reports whether l limits nothing.
func (l Limit) Off() bool { return l.N <= 0 || l.Per <= 0 }

// Window is the window now falls in: its start and its end.
func (l Limit) Window(now time.Time) (start, end time.Time) {
	start = now.Truncate(l.Per)
	return start, start.Add(l.Per)
}

// String is l as ParseLimit reads it: "10/1m0s".
func (l Limit) String() string { return strconv.Itoa(l.N) + "/" + l.Per.String() }

// ParseLimit reads "N/duration" (10/1m, 200/1s) or "off".
func ParseLimit(s string) (Limit, error) {
	if s == "off" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("rate limit %q is not N/duration (10/1m) or off", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count <= 0 {
		return Limit{}, fmt.Errorf("rate limit %q: %q is not a positive count", s, n)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second {
		return Limit{}, fmt.Errorf("rate limit %q: %q is not a duration of a second or more", s, per)
	}
	return Limit{N: count, Per: d}, nil
}

// Verdict is the outcome of taking units from a limit.
type Verdict struct {
	Allowed bool
	// Used is how many units the window holds after an allowed take.
	Used int
	// RetryAfter is how long until the window has room again, when refused.
	RetryAfter time.Duration
}

// Counter counts units per key and window (store.Store).
type Counter interface {
	TakeRate(ctx context.Context, key string, n int, l Limit, now time.Time) (Verdict, error)
}

// Take is n units of the limit of one key; What says, for the caller, what is limited
// ("logins to this account").
type Take struct {
	Key   string
	N     int
	Limit Limit
	What  string
}

// maxKey is the longest key kept readable; longer keys are hashed so that a caller's input
// cannot make a table key too long.
const maxKey = 200

// Key joins a key's parts: the kind of limit first, then what it counts ("login", "portal",
// "ada@example.com"). The result is used as a table key as it is, or its SHA-256 when long.
func Key(parts ...string) string {
	k := strings.Join(parts, "#")
	if len(k) <= maxKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return parts[0] + "#sha256:" + hex.EncodeToString(sum[:])
}

// Check takes every one of takes (in parallel: one round trip of latency) and returns nil when
// all were allowed, else a 429 error (fault.ErrTooManyRequests) that says what was limited and,
// in Retry-After, when the longest refusal ends. Units taken from limits that allowed are not
// given back: a refused caller has used them. A take whose limit is off makes no call.
func Check(ctx context.Context, c Counter, now time.Time, takes ...Take) error {
	type result struct {
		v   Verdict
		err error
	}
	results := make([]result, len(takes))
	var wg sync.WaitGroup
	for i, t := range takes {
		if t.Limit.Off() {
			results[i].v.Allowed = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].v, results[i].err = c.TakeRate(ctx, t.Key, t.N, t.Limit, now)
		}()
	}
	wg.Wait()
	var errs []error
	var refused []string
	var wait time.Duration
	for i, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case !r.v.Allowed:
			refused = append(refused, takes[i].What+" (at most "+describe(takes[i].Limit)+")")
			wait = max(wait, r.v.RetryAfter)
		}
	}
	if len(refused) > 0 {
		return fault.RetryLater(fault.Newf(fault.ErrTooManyRequests, "Too many requests: %s. Retry after the time in Retry-After.", strings.Join(refused, "; ")), wait)
	}
	return errors.Join(errs...)
}

// describe is l for a person: "10 per minute", "200 per second", "5 per 10s".
func describe(l Limit) string {
	switch l.Per {
	case time.Second:
		return strconv.Itoa(l.N) + " per second"
	case time.Minute:
		return strconv.Itoa(l.N) + " per minute"
	case time.Hour:
		return strconv.Itoa(l.N) + " per hour"
	}
	return strconv.Itoa(l.N) + " per " + l.Per.String()
}
