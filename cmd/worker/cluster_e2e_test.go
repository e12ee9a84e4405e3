package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// TestE2EClusterLeaderLost runs on a fresh 3-server cluster with R3 streams and buckets: two
// workers and a producer start together (none created the streams before), and the server
// leading the jobs stream is shut down mid-run. Every profile is pushed exactly once and
// nothing is dead-lettered.
func TestE2EClusterLeaderLost(t *testing.T) {
	t.Parallel()
	const profiles = 300
	c := brokertest.StartCluster(t, 3)
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: testKey, UserEmail: testUser})
	t.Cleanup(hf.Close)
	fake := jobaddertest.NewServer(jobaddertest.Config{Latency: 10 * time.Millisecond})
	t.Cleanup(fake.Close)
	e := &e2e{
		t: t, natsURL: c.URL(), js: c.JetStream(t), hrflow: hf, ja: fake, source: testSource,
		keys: hf.Generate(testSource, profiles, 42), code: fake.IssueCode(),
	}
	streams := jobs.StreamConfig{Replicas: 3}

	// Workers and producer together, as a rollout with its enqueue Job.
	var started sync.WaitGroup
	for i := range 2 {
		started.Go(func() {
			cfg := e.config()
			cfg.Streams = streams
			e.run(fmt.Sprintf("w%d", i+1), cfg)
		})
	}
	if _, err := jobs.EnsureStreams(t.Context(), e.js, streams); err != nil {
		t.Fatalf("producer's setup on a fresh cluster: %v", err)
	}
	e.enqueue("cluster", e.keys)
	started.Wait()
	for _, name := range []string{jobs.JobsStream, jobs.EventsStream, "KV_" + jobs.IDsBucket} {
		s, err := e.js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s has %d replicas, want 3", name, r)
		}
	}

	killed := -1
	r := e.wait("cluster", func(r *jobs.Report) {
		if killed < 0 && r.Done() >= profiles/3 {
			killed = c.StreamLeader(jobs.JobsStream)
			if killed < 0 {
				return // between leaders: try at the next event
			}
			t.Logf("shutting down n%d, the jobs stream's leader, after %d of %d jobs", killed+1, r.Done(), profiles)
			go c.Shutdown(killed)
		}
	})
	if killed < 0 {
		t.Error("no leader was shut down")
	}
	if r.Created != profiles || r.Failed != 0 {
		t.Errorf("report: created %d updated %d failed %d; failures %+v", r.Created, r.Updated, r.Failed, r.Failures)
	}
	e.checkExactlyOnce(profiles)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for ctx.Err() == nil && e.streamMsgs(jobs.JobsStream) != 0 {
		time.Sleep(50 * time.Millisecond) // the last acks may still be on their way
	}
	if n := e.streamMsgs(jobs.JobsStream); n != 0 {
		t.Errorf("jobs stream holds %d jobs at the end", n)
	}
	if n := e.streamMsgs(jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d entries, want none", n)
	}
}
