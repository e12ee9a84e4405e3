package jobadder

import (
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

// newClock returns a settable clock shared by the parts of a test.
func newClock() *targetstest.Clock {
	return targetstest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}
