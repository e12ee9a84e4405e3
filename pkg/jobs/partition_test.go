package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

// TestWorkerPartitionsAreIsolated: one connection whose credentials are refused and another
// throttled for longer than the retry budget do not slow a third: its jobs all run while theirs
// wait, none is dead-lettered, and the refused one resumes alone once its credentials work.
func TestWorkerPartitionsAreIsolated(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var refused atomic.Bool
	refused.Store(true)
	var doneA, doneB, throttledCalls atomic.Int32
	w := startWorker(t, js, jobs.HandlerFunc(func(_ context.Context, j *jobs.Job) (jobs.Result, error) {
		switch j.Connection {
		case "a":
			if refused.Load() {
				return jobs.Result{}, &targets.CredentialsError{Target: "jobadder", Reason: "refresh token refused"}
			}
			doneA.Add(1)
		case "t":
			throttledCalls.Add(1)
			return jobs.Result{}, jobs.RetryAfter(context.DeadlineExceeded, time.Hour)
		default:
			doneB.Add(1)
		}
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.MaxDeliveries = 50
		c.Concurrency = 2
		c.Partition = func(j *jobs.Job) string { return j.Connection }
	})
	p := jobs.NewPublisher(js)
	publish := func(from, n int, conn string) {
		for i := from; i < from+n; i++ {
			j := newJob(i, "")
			j.Connection = conn
			if _, err := p.Publish(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 20, "a")
	publish(100, 20, "t")
	waitFor(t, "connection a paused", func() bool { return w.Ready() != nil })
	publish(200, 40, "b")
	waitFor(t, "every job of connection b", func() bool { return doneB.Load() == 40 })

	err := w.Ready()
	if err == nil || !strings.Contains(err.Error(), "connection a: ") || strings.Contains(err.Error(), "connection b") {
		t.Errorf("Ready() = %v; want connection a paused, b not", err)
	}
	if n := throttledCalls.Load(); n > 2 {
		t.Errorf("the throttled connection was called %d times; its hour-long Retry-After must hold its jobs back", n)
	}
	refused.Store(false)
	waitFor(t, "every job of connection a", func() bool { return doneA.Load() == 20 })
	var paused []string
	for _, st := range w.Status() {
		for _, ps := range st.Partitions {
			if ps.Paused {
				paused = append(paused, ps.Name)
			}
		}
	}
	if strings.Join(paused, ",") != "" {
		t.Errorf("partitions still blocked after a succeeded: %v", paused)
	}
	if n := streamMsgs(t, js, jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d jobs; pauses must not dead-letter", n)
	}
}

func TestMsgIDPerConnection(t *testing.T) {
	t.Parallel()
	a, b := newJob(1, ""), newJob(1, "")
	b.Connection = "acme"
	if a.MsgID() == b.MsgID() {
		t.Error("the same profile for two connections has one dedup id: the second would be dropped")
	}
	if a.MsgID() != "push-"+a.MsgID()[5:] || len(a.MsgID()) != 37 {
		t.Errorf("MsgID %s changed shape", a.MsgID())
	}
}

// TestWorkerSharesSlotsBetweenConnections: a connection with a large backlog does not starve
// one that enqueues a few jobs after it: the small batch's jobs get their share of the slots at
// once, so they are done while most of the backlog still waits (counted in jobs, not time).
func TestWorkerSharesSlotsBetweenConnections(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var doneA, doneB atomic.Int32
	w := startWorker(t, js, jobs.HandlerFunc(func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		time.Sleep(5 * time.Millisecond) // an ATS call
		if j.Connection == "a" {
			doneA.Add(1)
		} else {
			doneB.Add(1)
		}
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.Concurrency = 4
		c.ScanInterval = 50 * time.Millisecond
		c.Partition = func(j *jobs.Job) string { return j.Connection }
		c.MaxInFlight = func(_, conn string) int {
			if conn == "b" {
				return 7
			}
			return 0
		}
	})
	p := jobs.NewPublisher(js)
	batch := func(conn string, from, n int) []*jobs.Job {
		var all []*jobs.Job
		for i := from; i < from+n; i++ {
			j := newJob(i, "")
			j.Connection = conn
			all = append(all, j)
		}
		return all
	}
	const backlog = 2000
	if err := p.PublishAll(t.Context(), batch("a", 0, backlog), func(r jobs.PublishResult) {
		if r.Err != nil {
			t.Error(r.Err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection a's backlog to start", func() bool { return doneA.Load() >= 20 })
	queuedA := func() uint64 { return w.Queued()[jobs.Queue{Target: "jobadder", Connection: "a"}] }
	waitFor(t, "the scan to see connection a's backlog", func() bool { return queuedA() > 0 })
	if n := queuedA(); n > backlog {
		t.Errorf("Queued() reports %d jobs of connection a, more than its %d", n, backlog)
	}
	atStart := doneA.Load()
	if err := p.PublishAll(t.Context(), batch("b", backlog, 50), func(r jobs.PublishResult) {
		if r.Err != nil {
			t.Error(r.Err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection b's 50 jobs", func() bool { return doneB.Load() == 50 })
	meanwhile := doneA.Load() - atStart
	t.Logf("while b's 50 jobs ran, a did %d of its %d", meanwhile, backlog)
	if meanwhile > backlog/3 {
		t.Errorf("a did %d jobs while b's 50 waited: b did not get its share of the slots", meanwhile)
	}
	waitFor(t, "connection a's backlog", func() bool { return doneA.Load() == backlog })
	for conn, want := range map[string]int{"a": 64, "b": 7} {
		cons, err := js.Consumer(t.Context(), jobs.JobsStream, jobs.ConsumerPrefix+"jobadder-"+conn)
		if err != nil {
			t.Fatal(err)
		}
		if got := cons.CachedInfo().Config.MaxAckPending; got != want {
			t.Errorf("connection %s: its consumer lets %d jobs in flight, want %d", conn, got, want)
		}
	}
}

// TestWorkerRecreatesAConnectionsConsumer: a connection's consumer removed by the server (an
// hour unused) or by an operator is created again at the connection's next jobs.
func TestWorkerRecreatesAConnectionsConsumer(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var mu sync.Mutex
	done := map[string]bool{}
	ran := func(from, to int) bool {
		mu.Lock()
		defer mu.Unlock()
		for i := from; i < to; i++ {
			if !done[fmt.Sprintf("p%03d", i)] {
				return false
			}
		}
		return true
	}
	startWorker(t, js, jobs.HandlerFunc(func(_ context.Context, j *jobs.Job) (jobs.Result, error) {
		mu.Lock()
		done[j.ProfileKey] = true // a job whose ack the removal cut off runs again: at least once
		mu.Unlock()
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.ScanInterval = 50 * time.Millisecond
		c.Partition = func(j *jobs.Job) string { return j.Connection }
	})
	p := jobs.NewPublisher(js)
	publish := func(from int) {
		for i := from; i < from+5; i++ {
			j := newJob(i, "")
			j.Connection = "c"
			if _, err := p.Publish(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0)
	waitFor(t, "the first jobs", func() bool { return ran(0, 5) })
	if err := js.DeleteConsumer(t.Context(), jobs.JobsStream, jobs.ConsumerPrefix+"jobadder-c"); err != nil {
		t.Fatal(err)
	}
	publish(5)
	waitFor(t, "the jobs after the consumer was removed", func() bool { return ran(5, 10) })
}

// TestWorkerIdleFeedHoldsOneSlot: the target's own feed, idle, waits for jobs with one slot,
// not all of them: a connection's jobs then run at once, up to the connection's share, without
// waiting for that feed's pull to expire (15 s here; it held every slot for as long).
func TestWorkerIdleFeedHoldsOneSlot(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var running, most atomic.Int32
	release := make(chan struct{})
	startWorker(t, js, jobs.HandlerFunc(func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.Concurrency = 4
		c.PullExpiry = 15 * time.Second // Stop waits for the last pull to expire
		c.ScanInterval = 50 * time.Millisecond
		c.Partition = func(j *jobs.Job) string { return j.Connection }
	})
	t.Cleanup(func() { close(release) }) // before the worker's Stop
	time.Sleep(300 * time.Millisecond)   // the target's own feed pulls its empty subject
	p := jobs.NewPublisher(js)
	for i := range 4 {
		j := newJob(i, "")
		j.Connection = "b"
		if _, err := p.Publish(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	// b's share with the target's own feed also pulling: 4 slots / 2 feeds; well before the
	// target's own pull expires.
	deadline := time.Now().Add(10 * time.Second)
	for most.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of connection b's jobs ran at once while the target's own feed waited for jobs, want 2", most.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkerIdleFeedLeavesTheSlotToOthers: on a one-slot worker, the target's own feed, idle,
// does not hold the slot for a pull expiry between a connection's jobs (each job waited 3 s
// here, as long as a pull): it looks for its jobs without the slot while the connection's run.
func TestWorkerIdleFeedLeavesTheSlotToOthers(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var done atomic.Int32
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		done.Add(1)
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.Concurrency, c.PullExpiry, c.ScanInterval = 1, 3*time.Second, 50*time.Millisecond
		c.Partition = func(j *jobs.Job) string { return j.Connection }
	})
	p := jobs.NewPublisher(js)
	const n = 10
	for i := range n {
		j := newJob(i, "")
		j.Connection = "b"
		if _, err := p.Publish(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	// At most one pull expiry for the pull the target's own feed started before b's jobs came,
	// then the jobs: well within waitFor's 20 s, where a pull expiry per job takes 30 s.
	waitFor(t, "connection b's jobs on the one slot", func() bool { return done.Load() == n })
}
