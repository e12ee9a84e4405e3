package bullhorn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultCallsPerMinute is Bullhorn's documented per-account limit.
	DefaultCallsPerMinute = 1500
	// defaultClaim is how many calls a worker claims from the shared budget at once.
	defaultClaim = 10
)

// RateLimitConfig configures a [RateLimiter]. Bucket and Account are required.
type RateLimitConfig struct {
	// Bucket is the KV bucket shared by the account's workers (the token bucket will do).
	Bucket jetstream.KeyValue
	// Account names the shared budget; use the API username.
	Account string
	// PerMinute is the account's budget of calls per minute. Default [DefaultCallsPerMinute].
	PerMinute int
	// Claim is how many calls a worker takes from the budget in one compare-and-swap. Calls a
	// worker claimed but did not make in the minute are lost, so keep it small. Default 10.
	Claim int
	// Now defaults to time.Now.
	Now func() time.Time
}

// RateLimiter paces the API calls of all the workers of one account to a budget per minute.
// The budget of the current minute is a counter in a KV key that workers increase by
// compare-and-swap, a block of calls at a time; a worker whose minute is spent waits for the
// next one. Minutes are read from each worker's clock, so clocks should be synchronised. It
// is safe for concurrent use.
type RateLimiter struct {
	kv    jetstream.KeyValue
	key   string
	limit int
	claim int
	now   func() time.Time

	// sem serialises claims of this process.
	sem chan struct{}

	mu     sync.Mutex
	window int64 // the minute of the calls in hand
	left   int   // calls in hand
}

// NewRateLimiter returns a RateLimiter for cfg.
func NewRateLimiter(cfg RateLimitConfig) (*RateLimiter, error) {
	if cfg.Bucket == nil || cfg.Account == "" {
		return nil, errors.New("bullhorn: rate limit: a KV bucket and an account are required")
	}
	if cfg.PerMinute < 0 || cfg.Claim < 0 {
		return nil, errors.New("bullhorn: rate limit: negative budget")
	}
	l := &RateLimiter{
		kv:    cfg.Bucket,
		key:   "bullhorn.rate." + hash(cfg.Account)[:16],
		limit: cmp.Or(cfg.PerMinute, DefaultCallsPerMinute),
		now:   cfg.Now,
		sem:   make(chan struct{}, 1),
	}
	l.claim = min(cmp.Or(cfg.Claim, defaultClaim), l.limit)
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// budget is the JSON value of the rate key: the calls claimed in a minute.
type budget struct {
	Window int64 `json:"window"` // minutes since the epoch
	Used   int   `json:"used"`
}

// Wait blocks until one more call is allowed in the current minute, or ctx is done.
func (l *RateLimiter) Wait(ctx context.Context) error {
	for {
		if l.take() {
			return nil
		}
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if l.take() {
			<-l.sem
			return nil
		}
		wait, err := l.claimBlock(ctx)
		<-l.sem
		if err != nil {
			return err
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
}

// take uses a call in hand, if this minute's.
func (l *RateLimiter) take() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left == 0 || l.window != minute(l.now()) {
		return false
	}
	l.left--
	return true
}

func minute(t time.Time) int64 { return t.Unix() / 60 }

// claimBlock claims up to l.claim calls of the current minute. When the minute is spent, it
// returns how long until the next one.
func (l *RateLimiter) claimBlock(ctx context.Context) (time.Duration, error) {
	for {
		now := l.now()
		w := minute(now)
		var b budget
		var rev uint64
		e, err := l.kv.Get(ctx, l.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, fmt.Errorf("bullhorn: rate limit: %w", err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &b); err != nil {
				return 0, fmt.Errorf("bullhorn: rate limit record %s: %w", l.key, err)
			}
		}
		if b.Window != w {
			b = budget{Window: w}
		}
		if b.Used >= l.limit {
			return time.Unix((w+1)*60, 0).Sub(now), nil
		}
		n := min(l.claim, l.limit-b.Used)
		b.Used += n
		v, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			_, err = l.kv.Create(ctx, l.key, v)
		} else {
			_, err = l.kv.Update(ctx, l.key, v, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("bullhorn: rate limit: %w", err)
		}
		l.mu.Lock()
		l.window, l.left = w, n
		l.mu.Unlock()
		return 0, nil
	}
}
