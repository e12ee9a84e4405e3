package targets_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// tokenRecord is a credential record: a token issued at Issued for 20 s.
type tokenRecord struct {
	Token  string    `json:"token"`
	Issued time.Time `json:"issued"`
	targets.Lease
}

func (r *tokenRecord) Current() (string, time.Time) {
	return r.Token, targets.RenewAt(r.Issued, r.Issued.Add(20*time.Second))
}

func TestCredential(t *testing.T) {
	t.Parallel()
	kv := brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: "tokens"})
	clk := targetstest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	var renewals atomic.Int64
	creds := make([]*targets.Credential[tokenRecord, *tokenRecord], 3)
	for i := range creds {
		creds[i] = targets.NewCredential(targets.CredentialConfig[tokenRecord]{
			Records:  targets.Records{KV: kv, Name: "test: token record"},
			Key:      "token",
			Owner:    fmt.Sprint("worker-", i),
			LeaseTTL: 10 * time.Second,
			CanRenew: func(tokenRecord, time.Time) error { return nil },
			Renew: func(_ context.Context, rec tokenRecord, _ func(context.Context, tokenRecord)) (tokenRecord, error) {
				return tokenRecord{Token: fmt.Sprint("token-", renewals.Add(1)), Issued: clk.Now()}, nil
			},
			Now: clk.Now,
		})
	}
	getAll := func(want string) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				rec, err := creds[i%3].Get(t.Context())
				if err != nil || rec.Token != want {
					t.Errorf("Get = %q, %v; want %s", rec.Token, err, want)
				}
				if rec.LeaseOwner != "" {
					t.Errorf("Get returned a record leased by %q", rec.LeaseOwner)
				}
			})
		}
		wg.Wait()
	}

	// Three workers of 20 goroutines each share one renewal per 16 s (20 s less a fifth).
	getAll("token-1")
	clk.Advance(15 * time.Second)
	getAll("token-1")
	clk.Advance(time.Second)
	getAll("token-2")
	// A token refused by a call is renewed once: a worker whose call is refused next reads the
	// new token.
	for _, c := range creds {
		c.Invalidate("token-2")
		rec, err := c.Get(t.Context())
		if err != nil || rec.Token != "token-3" {
			t.Errorf("Get after Invalidate = %q, %v; want token-3", rec.Token, err)
		}
	}
	if n := renewals.Load(); n != 3 {
		t.Errorf("%d renewals, want 3", n)
	}
}
