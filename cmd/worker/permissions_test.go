package main

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// TestWorkerWithShippedPermissions runs the worker (serve, as the binary) as hrpush-worker
// against a server started from deployments/nats/nats-server.conf, on a fresh server (it
// creates the streams and buckets), with JobAdder (a code to exchange, the token stored) and
// Bullhorn (a session stored); the jobs come from hrpush-enqueue. Every job must be written.
// cmd/enqueue's TestShippedPermissions runs the enqueue commands. Not parallel: it sets the
// environment.
func TestWorkerWithShippedPermissions(t *testing.T) {
	ns := brokertest.StartConfigFile(t, "../../deployments/nats/nats-server.conf", map[string]string{
		"SERVER_NAME": "nats-0", "HRPUSH_WORKER_PASSWORD": "worker-pw", "HRPUSH_ENQUEUE_PASSWORD": "enqueue-pw",
		"HRPUSH_OPERATOR_PASSWORD": "operator-pw", "HRPUSH_GATEWAY_PASSWORD": "gateway-pw",
	})
	e := newE2E(t, 5, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	producer, err := broker.Connect(broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-enqueue", Password: "enqueue-pw", InboxPrefix: broker.EnqueueInboxPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	if e.js, err = jetstream.New(producer); err != nil {
		t.Fatal(err)
	}
	e.natsURL = ns.ClientURL()
	cfg := e.config()
	e.bullhornConfig(&cfg)
	cfg.NATSUser, cfg.NATSPassword = "hrpush-worker", "worker-pw"
	e.run("w1", cfg)
	waitUntil(t, "the worker's streams", 30*time.Second, func() bool {
		_, err := e.js.Stream(t.Context(), jobs.EventsStream)
		return err == nil
	})
	e.enqueue("ja", e.keys)
	e.enqueueTo("bullhorn", "bh", e.keys)
	for _, batch := range []string{"ja", "bh"} {
		if r := e.wait(batch, nil); r.Failed != 0 || r.Done() != len(e.keys) {
			t.Errorf("batch %s: %+v", batch, r)
		}
	}
	e.checkExactlyOnce(len(e.keys))
	e.checkBullhorn(len(e.keys), e.keys)
}
