package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// BenchmarkPush measures a bulk run end to end — enqueue, worker, fake HrFlow, fake JobAdder
// (every request validated against the OpenAPI document), events — and, in the same run and on
// the same embedded JetStream server, the queue's own ceiling: the same number of jobs through
// the same worker runtime with a handler that does nothing. It reports jobs/s for both and their
// ratio, so figures from different machines can be compared. Run with `make bench`.
func BenchmarkPush(b *testing.B) {
	cases := []struct {
		name        string
		profiles    int
		concurrency int
		latency     time.Duration
	}{
		{"latency=0/concurrency=16", 2000, 16, 0},
		{"latency=50ms/concurrency=8", 400, 8, 50 * time.Millisecond},
		{"latency=50ms/concurrency=32", 400, 32, 50 * time.Millisecond},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				e := newE2E(b, tc.profiles, jobaddertest.Config{Latency: tc.latency})
				e.concurrency = tc.concurrency
				ceiling := e.ceiling(fmt.Sprintf("ceiling-%d", i), tc.profiles, tc.concurrency)

				stop := e.worker("bench")
				start := time.Now()
				e.enqueue(fmt.Sprintf("push-%d", i), e.keys)
				r := e.wait(fmt.Sprintf("push-%d", i), nil)
				took := time.Since(start)
				stop()
				if r.Created != tc.profiles {
					b.Fatalf("created %d of %d", r.Created, tc.profiles)
				}
				push := float64(tc.profiles) / took.Seconds()
				b.ReportMetric(push, "jobs/s")
				b.ReportMetric(ceiling, "ceiling-jobs/s")
				b.ReportMetric(push/ceiling, "ratio")
				calls := 0
				for _, n := range e.ja.State().Requests {
					calls += n
				}
				b.ReportMetric(float64(calls)/float64(tc.profiles), "jobadder-calls/job")
			}
		})
	}
}

// ceiling runs n jobs through the worker runtime with a no-op handler and returns jobs/s.
func (e *e2e) ceiling(batch string, n, concurrency int) float64 {
	e.t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("noop-%d", i)
	}
	w, err := jobs.NewWorker(jobs.Config{
		JetStream:   e.js,
		Handlers:    map[string]jobs.Handler{"jobadder": jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Outcome: jobs.Created}, nil })},
		Concurrency: concurrency,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Start(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	start := time.Now()
	e.enqueue(batch, keys)
	e.wait(batch, nil)
	took := time.Since(start)
	if err := w.Stop(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return float64(n) / took.Seconds()
}
