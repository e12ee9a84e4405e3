package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

// unavailable is what a target returns while its ATS answers 503.
func unavailable() error {
	return &targets.ErrorResponse{Target: "jobadder", Method: "POST", URL: "https://ats.example/candidates", StatusCode: 503}
}

// TestWorkerUnreachableAloneIsNotAnOutage: one job that keeps failing with 503 while others
// succeed, and jobs that keep failing with 500, do not pause the target: they spend their
// budget and end in the DLQ.
func TestWorkerUnreachableAloneIsNotAnOutage(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var done atomic.Int32
	w := startWorker(t, js, jobs.HandlerFunc(func(_ context.Context, job *jobs.Job) (jobs.Result, error) {
		switch job.ProfileKey {
		case "p000":
			return jobs.Result{}, unavailable()
		case "p001", "p002", "p003":
			return jobs.Result{}, &targets.ErrorResponse{Target: "jobadder", StatusCode: 500}
		}
		done.Add(1)
		return jobs.Result{Outcome: jobs.Created}, nil
	}), nil)
	p := jobs.NewPublisher(js)
	for i := range 8 {
		if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "four jobs dead-lettered", func() bool { return streamMsgs(t, js, jobs.DLQStream) >= 4 })
	for _, d := range dlqEntries(t, js) {
		if d.Class != "exhausted" || d.Attempts != 3 {
			t.Errorf("job %s: %s after %d deliveries, want exhausted after 3", d.ProfileKey, d.Class, d.Attempts)
		}
	}
	if err := w.Ready(); err != nil {
		t.Errorf("Ready = %v, want nil: no outage", err)
	}
	if got := done.Load(); got != 4 {
		t.Errorf("%d jobs done, want 4", got)
	}
}

// TestWorkerOutageNotEndedByADiscard: a job a logic discards never reached the target, so it
// does not end the outage.
func TestWorkerOutageNotEndedByADiscard(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var worker atomic.Pointer[jobs.Worker]
	readyAtDiscard := make(chan error, 1)
	w := startWorker(t, js, jobs.HandlerFunc(func(_ context.Context, job *jobs.Job) (jobs.Result, error) {
		if job.ProfileKey == "p000" {
			return jobs.Result{Outcome: jobs.Discarded}, nil
		}
		return jobs.Result{}, unavailable()
	}), func(c *jobs.Config) {
		// More slots than failing jobs: their redeliveries, which JetStream serves first, do not
		// keep the discarded job out of every fetch.
		c.Concurrency = 8
		c.Observe = func(ev jobs.Event) {
			if ev.Outcome == jobs.Discarded {
				readyAtDiscard <- worker.Load().Ready()
			}
		}
	})
	worker.Store(w)
	p := jobs.NewPublisher(js)
	for i := 1; i <= 4; i++ {
		if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "not ready", func() bool { return w.Ready() != nil })
	if _, err := p.Publish(t.Context(), newJob(0, "")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readyAtDiscard:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Ready right after a discarded job = %v; want the outage still on", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the discarded job never ran")
	}
}
