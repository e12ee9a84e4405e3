package jobadder

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
)

// natsServer is the embedded NATS server shared by the package's tests; each test uses its own
// buckets.
var natsServer brokertest.Shared

func TestMain(m *testing.M) { os.Exit(natsServer.Run(m)) }

// newBucket returns a new KV bucket for the test.
func newBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return natsServer.KeyValue(t, jetstream.KeyValueConfig{})
}

// clock is a settable clock shared by the Auths of a test.
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
