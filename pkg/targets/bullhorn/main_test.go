package bullhorn

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
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

// newLockBucket returns a new KV bucket with per-key TTLs, as the Locks bucket needs.
func newLockBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return natsServer.KeyValue(t, jetstream.KeyValueConfig{LimitMarkerTTL: time.Second})
}

// newClock returns a settable clock shared by the parts of a test.
func newClock() *targetstest.Clock {
	return targetstest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
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
