package brokertest_test

import (
	"os"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
)

var shared brokertest.Shared

// TestMain runs the tests on a shared server and checks that servers and connections are
// gone afterwards.
func TestMain(m *testing.M) {
	code := shared.Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("brokertest: goroutines left: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func TestJetStream(t *testing.T) {
	t.Parallel()
	url, js := brokertest.JetStream(t)
	if url == "" {
		t.Fatal("no URL")
	}
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(t.Context(), "s.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := brokertest.StreamMsgs(t, js, "S"); n != 3 {
		t.Errorf("StreamMsgs = %d, want 3", n)
	}
	if err := s.DeleteMsg(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if n, last := brokertest.StreamMsgs(t, js, "S"), brokertest.StreamLastSeq(t, js, "S"); n != 2 || last != 3 {
		t.Errorf("after a deletion: StreamMsgs = %d, StreamLastSeq = %d; want 2 and 3", n, last)
	}
}

func TestKeyValueNamesBuckets(t *testing.T) {
	t.Parallel()
	a := shared.KeyValue(t, jetstream.KeyValueConfig{})
	b := shared.KeyValue(t, jetstream.KeyValueConfig{})
	if a.Bucket() == b.Bucket() {
		t.Errorf("two buckets named %s", a.Bucket())
	}
	named := brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: "state", History: 1})
	if named.Bucket() != "state" {
		t.Errorf("Bucket() = %s, want state", named.Bucket())
	}
}

func TestStartNATSDefaults(t *testing.T) {
	t.Parallel()
	opts := &server.Options{JetStream: true, Authorization: "t0ken"}
	ns := brokertest.StartNATS(t, opts)
	if opts.Host != "127.0.0.1" || opts.StoreDir == "" || !opts.NoLog || !opts.NoSigs {
		t.Errorf("options not defaulted: host %q, store %q, NoLog %v, NoSigs %v", opts.Host, opts.StoreDir, opts.NoLog, opts.NoSigs)
	}
	if ns.Addr() == nil || ns.ClientURL() == "nats://127.0.0.1:4222" {
		t.Errorf("ClientURL() = %s; want a free port", ns.ClientURL())
	}
}
