package bullhorn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestLimiter(t *testing.T, cfg RateLimitConfig) *RateLimiter {
	t.Helper()
	l, err := NewRateLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()

	t.Run("two workers together never exceed the budget of a minute", func(t *testing.T) {
		t.Parallel()
		kv, clk := newBucket(t), newClock()
		cfg := RateLimitConfig{Bucket: kv, Account: testUser, PerMinute: 25, Claim: 4, Now: clk.Now}
		limiters := []*RateLimiter{newTestLimiter(t, cfg), newTestLimiter(t, cfg)}

		// The clock stands still: once the minute is spent, every Wait blocks until ctx ends.
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for limiters[i%2].Wait(ctx) == nil {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 25 {
			t.Errorf("%d calls allowed in one minute, want 25", n)
		}

		clk.Advance(time.Minute)
		if err := limiters[0].Wait(t.Context()); err != nil {
			t.Errorf("Wait in the next minute: %v", err)
		}
	})

	t.Run("a spent minute waits for the next one", func(t *testing.T) {
		t.Parallel()
		kv := newBucket(t)
		start := time.Now()
		// A clock 150 ms before the end of a minute, running at real speed.
		offset := time.Unix(start.Unix()/60*60+60, 0).Add(-150 * time.Millisecond).Sub(start)
		now := func() time.Time { return time.Now().Add(offset) }
		l := newTestLimiter(t, RateLimitConfig{Bucket: kv, Account: testUser, PerMinute: 2, Now: now})
		for range 3 {
			if err := l.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if waited := time.Since(start); waited < 100*time.Millisecond {
			t.Errorf("the third call waited %v, want the end of the minute", waited)
		}
	})

	t.Run("invalid configurations", func(t *testing.T) {
		t.Parallel()
		kv := newBucket(t)
		for name, cfg := range map[string]RateLimitConfig{
			"no bucket":       {Account: testUser},
			"no account":      {Bucket: kv},
			"negative budget": {Bucket: kv, Account: testUser, PerMinute: -1},
		} {
			if _, err := NewRateLimiter(cfg); err == nil {
				t.Errorf("NewRateLimiter with %s: no error", name)
			}
		}
	})

	t.Run("a waiting call honours its context", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		l := newTestLimiter(t, RateLimitConfig{Bucket: newBucket(t), Account: testUser, PerMinute: 1, Now: clk.Now})
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
	})
}
