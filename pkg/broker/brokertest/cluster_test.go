package brokertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
)

// TestClusterSurvivesTheLossOfALeader: an R3 stream on a fresh 3-server cluster keeps
// taking messages after its leader is shut down, under another leader, and the server
// restarted catches up.
func TestClusterSurvivesTheLossOfALeader(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	js := c.JetStream(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var err error
	for { // the meta leader of a fresh cluster takes a few seconds
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.CreateStream(actx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3})
		acancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	leader := c.StreamLeader("S")
	if leader < 0 {
		t.Fatal("no stream leader after creation")
	}
	if _, err := js.Publish(ctx, "s.1", []byte("before")); err != nil {
		t.Fatal(err)
	}
	c.Shutdown(leader)
	for { // each attempt bounded: one sent while the stream has no leader gets no answer
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.Publish(actx, "s.2", []byte("after"), jetstream.WithRetryAttempts(20), jetstream.WithMsgID("after")) // stored once if an attempt that timed out was
		acancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("publish after the leader's loss: %v", err)
	}
	if now := c.StreamLeader("S"); now == leader || now < 0 {
		t.Errorf("stream leader after the loss: %d (was %d)", now, leader)
	}
	c.Restart(leader)
	if n := brokertest.StreamMsgs(t, js, "S"); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}
