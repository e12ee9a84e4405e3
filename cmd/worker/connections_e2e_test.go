package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// testSecretsKey seals the stored connections' secrets in the tests.
var testSecretsKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// TestE2EConnections: one worker serves the default Bullhorn account of its environment and a
// second account stored as the connection "acme" (its password sealed in NATS), with no
// restart: each job lands in its own account, a job for an unknown connection is a bad job,
// and pausing acme holds its jobs back while the default account's go on, until it is resumed.
func TestE2EConnections(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 60, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	acme := bullhorntest.NewServer(bullhorntest.Config{CallsPerMinute: 100000, Username: "acme.api", Password: "acme-s3cr3t-pw"})
	t.Cleanup(acme.Close)

	buckets, err := jobs.EnsureStreams(t.Context(), e.js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	store := connections.NewStore(buckets.Connections)
	keyring, err := connections.NewKeyring(testSecretsKey)
	if err != nil {
		t.Fatal(err)
	}
	e.worker("w1") // started before the connection exists: it is picked up without a restart
	ac := acme.Config()
	c := &connections.Connection{Name: "acme", Target: "bullhorn", Settings: map[string]string{
		"client_id": ac.ClientID, "username": ac.Username, "login_info_url": acme.LoginInfoURL(),
	}}
	if c.Secrets, err = keyring.Seal("bullhorn", "acme", map[string]string{"client_secret": ac.ClientSecret, "password": ac.Password}); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(t.Context(), c); err != nil {
		t.Fatal(err)
	}

	p := jobs.NewPublisher(e.js)
	publish := func(batch, connection string, keys []string) {
		t.Helper()
		for i, k := range keys {
			j := &jobs.Job{Version: jobs.Version, ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: "conn", Target: "bullhorn",
				SourceKey: e.source, ProfileKey: k, BatchID: batch, Connection: connection, EnqueuedAt: time.Now().UTC()}
			if _, err := p.Publish(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("dflt", "", e.keys[:20])
	publish("acme", "acme", e.keys[:20]) // the same profiles, in the other account
	publish("lost", "nosuch", e.keys[:1])
	waitUntil(t, "both accounts to hold their 20 candidates", 60*time.Second, func() bool {
		return e.bh.State().Candidates == 20 && acme.State().Candidates == 20
	})
	waitUntil(t, "the unknown connection's job in the DLQ", 30*time.Second, func() bool { return e.streamMsgs(jobs.DLQStream) == 1 })
	dlq, err := e.js.Stream(t.Context(), jobs.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := dlq.GetMsg(t.Context(), 1); err != nil || !strings.Contains(string(m.Data), `"reason":"bad_job"`) || !strings.Contains(string(m.Data), `bullhorn connection \"nosuch\"`) {
		t.Errorf("DLQ entry of the job for an unknown connection: %v", err)
	}

	if _, err := store.Update(t.Context(), "bullhorn", "acme", func(c *connections.Connection) error { c.Paused = "maintenance"; return nil }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the watch reaches the worker
	publish("acme2", "acme", e.keys[20:30])
	publish("dflt2", "", e.keys[20:30])
	waitUntil(t, "the default account's next 10", 60*time.Second, func() bool { return e.bh.State().Candidates == 30 })
	if n := acme.State().Candidates; n != 20 {
		t.Errorf("the paused connection received %d candidates, want 20", n)
	}
	if _, err := store.Update(t.Context(), "bullhorn", "acme", func(c *connections.Connection) error { c.Paused = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the resumed connection's 10", 90*time.Second, func() bool { return acme.State().Candidates == 30 })
	if n := e.streamMsgs(jobs.DLQStream); n != 1 {
		t.Errorf("DLQ holds %d entries, want the unknown connection's only", n)
	}
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
