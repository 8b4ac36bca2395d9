package signing

import (
	"context"
	"crypto"
	"errors"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/timestamping"
)

// TimestampSettings reads a deployment's time-stamping authorities (store.Store).
type TimestampSettings interface {
	GetTimestamping(ctx context.Context, dep string) (timestamping.Settings, error)
}

// Timestamper obtains a checked RFC 3161 token over a signature (timestamping.Client): the
// DER of the TimeStampToken, whose message imprint is h of sig. Its errors are
// *timestamping.Error when no token could be had.
type Timestamper interface {
	Token(ctx context.Context, s timestamping.Settings, h crypto.Hash, sig []byte) ([]byte, error)
}

// timestamps is the signer's timestamp step (WithTimestamps).
type timestamps struct {
	settings TimestampSettings
	tsa      Timestamper
}

// WithTimestamps lets policies require timestamps: the signatures of a request whose
// deciding policy sets RequireTimestamp get a token each from the deployment's authorities
// (read from settings), obtained by tsa. Without it such a request is signed but its
// signatures withheld, as when no authority answers.
func WithTimestamps(settings TimestampSettings, tsa Timestamper) Option {
	return func(s *Signer) { s.ts = &timestamps{settings: settings, tsa: tsa} }
}

// maxConcurrentTimestamps bounds the authority requests one request has in flight: a batch
// does not wait for its tokens one after another, and does not flood an authority that is
// not ours either.
const maxConcurrentTimestamps = 8

// timestampBudget bounds the whole step, so that a slow authority cannot take the signer's
// time (each authority has timestamping.Timeout of it).
const timestampBudget = 10 * time.Second

// timestamp returns a token for each of sigs (in their order) when the policy that allowed
// the request requires timestamps, nil otherwise: then it makes no call at all, so the
// signer's path is unchanged for every other policy. The deployment's authorities are read
// only here. An error means a signature has no token: every signature of the request is
// withheld, and the error's reason (noTimestampReason) says why.
func (s *Signer) timestamp(ctx context.Context, dep string, set *policy.Set, d policy.Decision, req Request, sigs [][]byte) ([][]byte, error) {
	if !set.RequiresTimestamp(d.PolicyID) {
		return nil, nil
	}
	if s.ts == nil {
		return nil, (&timestamping.Error{Reason: "this signer has no time-stamping client"}).Fault()
	}
	settings, err := s.ts.settings.GetTimestamping(ctx, dep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timestampBudget)
	defer cancel()
	tokens := make([][]byte, len(sigs))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, maxConcurrentTimestamps)
	)
	for i, sig := range sigs {
		slots <- struct{}{}
		if ctx.Err() != nil {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			tok, err := s.ts.tsa.Token(ctx, settings, req.hashes[i], sig)
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = &timestamping.Error{Reason: "the time-stamping authorities did not answer in time", Cause: ctx.Err()}
	}
	if first != nil {
		var te *timestamping.Error
		if errors.As(first, &te) {
			return nil, te.Fault()
		}
		return nil, first
	}
	return tokens, nil
}

// noTimestampReason is what the completion of a request withheld for want of a token says.
func noTimestampReason(err error) string {
	var te *timestamping.Error
	if errors.As(err, &te) {
		return "not signed: the policy requires a timestamp and " + te.Reason
	}
	return "not signed: the policy requires a timestamp and the deployment's time-stamping authorities could not be read"
}
