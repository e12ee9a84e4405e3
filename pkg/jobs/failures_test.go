package jobs_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

// The failures of the README table "How jobs end" that the runtime decides on its own. The
// end-to-end rows are in cmd/worker/failures_e2e_test.go; the panic row is "panics" in
// TestWorkerOutcomes, and a worker dying during the last delivery is
// TestWorkerDeadLettersPastBudget.

// TestWorkerPausesOutlastTheBudget: a target whose credentials stay refused, or that stays down,
// for more deliveries than the budget allows keeps its backlog (paused, not ready). Every
// failed delivery counts in JetStream's delivery count, so a job put back on its last permitted
// delivery is requeued as a fresh message instead of being dead-lettered on the next one. Once
// the target is back, every job is written exactly once.
func TestWorkerPausesOutlastTheBudget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		err   func() error
		ready string // in Ready's error while paused
		// n is the number of jobs. While credentials are refused, each pause ends with one
		// probe, most often by another job than the last (the others were put back a little
		// earlier), and the pause doubles: a job fails past its budget of 3 after up to 3n+1
		// probes, so n stays small (2: at most 7 probes, the last pause 1.3 s; with 5, up to 16
		// probes and pauses of minutes, and the test timed out about one run in four). A target
		// is down after 3 jobs failed, so that case needs more.
		n int
	}{
		{"credentials refused", func() error {
			return &targets.CredentialsError{Target: "jobadder", Reason: "refresh token refused"}
		}, "jobadder paused: jobadder: credentials refused: refresh token refused", 2},
		{"target down", unavailable, "jobadder paused: unreachable: jobadder: POST https://ats.example/candidates: 503", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := setup(t)
			const budget = 3
			n := tt.n
			var mu sync.Mutex
			calls := map[string]int{}
			var failing atomic.Bool
			failing.Store(true)
			var done atomic.Int32
			w := startWorker(t, js, jobs.HandlerFunc(func(_ context.Context, job *jobs.Job) (jobs.Result, error) {
				mu.Lock()
				calls[job.ID]++
				mu.Unlock()
				if failing.Load() {
					return jobs.Result{}, tt.err()
				}
				done.Add(1)
				return jobs.Result{Outcome: jobs.Created}, nil
			}), func(c *jobs.Config) { c.MaxDeliveries = budget; c.CredentialsPause = 20 * time.Millisecond })
			p := jobs.NewPublisher(js)
			for i := range n {
				if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "not ready", func() bool { err := w.Ready(); return err != nil && strings.Contains(err.Error(), tt.ready) })
			// Keep failing until a job failed more often than its budget, or was put back on its
			// last permitted delivery (requeued: the stream holds a message past the n
			// published; while paused, the jobs but one per probe are put back without a call)
			// (or, the bug, was dead-lettered when its delivery past the budget came).
			waitFor(t, "a job failed past its budget", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range calls {
					if c > budget {
						return true
					}
				}
				s, err := js.Stream(t.Context(), jobs.JobsStream)
				return streamMsgs(t, js, jobs.DLQStream) > 0 || err == nil && s.CachedInfo().State.LastSeq > uint64(n)
			})
			failing.Store(false)
			waitFor(t, "every job done, or dead-lettered", func() bool {
				return int(done.Load())+int(streamMsgs(t, js, jobs.DLQStream)) >= n
			})
			for _, d := range dlqEntries(t, js) {
				t.Errorf("dead-lettered while paused: job %s, %s (%s) after %d deliveries: %s", d.JobID, d.Reason, d.Class, d.Attempts, d.Error)
			}
			waitFor(t, "ready", func() bool { return w.Ready() == nil })
			waitFor(t, "the jobs stream to drain", func() bool { return streamMsgs(t, js, jobs.JobsStream) == 0 })
			if got := int(done.Load()); got != n {
				t.Errorf("%d jobs done, want %d (each exactly once)", got, n)
			}
		})
	}
}

// TestWorkerCredentialsPauseDoublesPerProbe: the jobs refused together, because they were
// running when the credentials were refused, are one probe: the pause doubles once per probe,
// not once per job (with 8 jobs running, a 5 s pause would otherwise start at 5 minutes).
func TestWorkerCredentialsPauseDoublesPerProbe(t *testing.T) {
	t.Parallel()
	js := setup(t)
	const pause = 300 * time.Millisecond
	var (
		mu    sync.Mutex
		times []time.Time
	)
	release := make(chan struct{})
	var once sync.Once
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 4 {
			once.Do(func() { close(release) })
		}
		if n <= 4 {
			<-release // the four jobs are refused together
			return jobs.Result{}, &targets.CredentialsError{Target: "jobadder", Reason: "password refused"}
		}
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) { c.CredentialsPause = pause; c.Concurrency = 4 })
	p := jobs.NewPublisher(js)
	for i := range 4 {
		if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the second probe", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) > 4 })
	mu.Lock()
	gap := times[4].Sub(times[3])
	mu.Unlock()
	// One probe: the next one after about one pause (plus a pull). Four doublings: 16 pauses.
	if gap > 6*pause {
		t.Errorf("the second probe came %s after the first; want about %s (one pause per probe)", gap, pause)
	}
	waitFor(t, "the jobs stream to drain", func() bool { return streamMsgs(t, js, jobs.JobsStream) == 0 })
}

// TestWorkerThrottledPastTheBudget: a target that answers 429 with a Retry-After longer than
// the retry budget on every call. Each delivery pauses the target and puts the job back for
// at least the Retry-After; throttling counts against the delivery budget (unlike refused
// credentials): after MaxDeliveries the job is dead-lettered with class exhausted, the 429
// as its error, and can be replayed.
func TestWorkerThrottledPastTheBudget(t *testing.T) {
	t.Parallel()
	js := setup(t)
	const retryAfter = 400 * time.Millisecond
	var calls atomic.Int32
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		calls.Add(1)
		return jobs.Result{}, jobs.WithReason("write_failure", &targets.RateLimitError{
			ErrorResponse: &targets.ErrorResponse{Target: "jobadder", Method: "POST", URL: "/v2/candidates", StatusCode: 429},
			Wait:          retryAfter,
		})
	}), nil) // MaxDeliveries 3, RetryBudget 300 ms < Retry-After
	if _, err := jobs.NewPublisher(js).Publish(t.Context(), newJob(1, "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the DLQ entry", func() bool { return streamMsgs(t, js, jobs.DLQStream) == 1 })
	d := dlqEntries(t, js)[0]
	if d.Reason != "write_failure" || d.Class != "exhausted" || d.Attempts != 3 || !strings.Contains(d.Error, "429") {
		t.Errorf("entry = %+v; want write_failure, exhausted, 3 attempts, the 429", d)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("handler ran %d times; want 3: one call per delivery, the Retry-After not waited in process", n)
	}
	if took := d.LastAttemptAt.Sub(d.FirstAttemptAt); took < 2*retryAfter {
		t.Errorf("three deliveries took %s; each must wait the Retry-After (%s)", took, retryAfter)
	}
}

// TestWorkerFetchesNothingIntoAPause: while a target is paused, its worker fetches no job. A
// job fetched into a pause would wait it out in process, running down its timeout, and fail
// with "context deadline exceeded" once the pause outgrows WORKER_JOB_TIMEOUT.
func TestWorkerFetchesNothingIntoAPause(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var refused atomic.Bool
	refused.Store(true)
	var calls, done atomic.Int32
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		calls.Add(1)
		if refused.Load() {
			return jobs.Result{}, &targets.CredentialsError{Target: "jobadder", Reason: "password refused"}
		}
		done.Add(1)
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) {
		c.Concurrency, c.MaxDeliveries = 1, 1
		c.CredentialsPause, c.JobTimeout = 500*time.Millisecond, 200*time.Millisecond
	})
	p := jobs.NewPublisher(js)
	for i := range 3 {
		if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three probes", func() bool { return calls.Load() >= 3 || streamMsgs(t, js, jobs.DLQStream) > 0 })
	refused.Store(false)
	waitFor(t, "every job done, or dead-lettered", func() bool {
		return int(done.Load())+int(streamMsgs(t, js, jobs.DLQStream)) >= 3
	})
	for _, d := range dlqEntries(t, js) {
		t.Errorf("dead-lettered during a pause: job %s %s (%s): %s", d.JobID, d.Reason, d.Class, d.Error)
	}
}
