package bullhorn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
)

// natsURL is the embedded NATS server shared by the package's tests; each test uses its own
// buckets.
var natsURL string

var bucketSeq atomic.Int64

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bullhorn-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := broker.Start(broker.Config{Port: -1, StoreDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	natsURL = srv.ClientURL()
	code := m.Run()
	srv.Shutdown()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// newBucket returns a new KV bucket for the test.
func newBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return createBucket(t, jetstream.KeyValueConfig{})
}

// newLockBucket returns a new KV bucket with per-key TTLs, as the Locks bucket needs.
func newLockBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return createBucket(t, jetstream.KeyValueConfig{LimitMarkerTTL: time.Second})
}

func createBucket(t *testing.T, cfg jetstream.KeyValueConfig) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bucket = fmt.Sprintf("test_%d", bucketSeq.Add(1))
	kv, err := js.CreateKeyValue(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// clock is a settable clock shared by the workers of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// permanent, retryAfter and credentials read an error as the job runtime does.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func retryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

func credentials(err error) bool {
	var c interface{ Credentials() bool }
	return errors.As(err, &c) && c.Credentials()
}
