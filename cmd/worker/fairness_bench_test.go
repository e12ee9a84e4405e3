package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// BenchmarkFairness measures how long 50 jobs of connection b take on one worker (16 slots,
// 20 ms per JobAdder and HrFlow call): alone, then enqueued 3 s after a backlog of 20,000 jobs
// of connection a (two JobAdder accounts behind one identity server); a-writes is how many of
// a's jobs were done by the time b's were. ratio is beside / alone:
// the goal is at most 2, as b then keeps about half the slots however large a's backlog is.
// Both times start with b idle, so both include the wait for the worker's scan to see b's
// jobs (at most ScanInterval).
func BenchmarkFairness(b *testing.B) {
	const (
		small   = 50
		backlog = 20000
		latency = 20 * time.Millisecond
	)
	for i := 0; b.Loop(); i++ {
		e := newE2E(b, 2*small+100, jobaddertest.Config{Latency: latency})
		e.concurrency = 16
		accounts := map[string]*jobaddertest.Server{}
		for _, name := range []string{"a", "b"} {
			acc := e.ja.AddAccount(jobaddertest.Config{Latency: latency})
			b.Cleanup(acc.Close)
			accounts[name] = acc
			e.addConnection(&connections.Connection{Name: name, Target: "jobadder"}, nil)
			e.connectJobAdder(acc, name)
		}
		stop := e.worker("bench")
		p := jobs.NewPublisher(e.js)
		publish := func(phase, connection string, n int, keys []string) {
			all := make([]*jobs.Job, 0, n)
			for k := range n {
				id := fmt.Sprintf("%d-%s-%s-%d", i, phase, connection, k)
				all = append(all, &jobs.Job{Version: jobs.Version, ID: id, WorkflowID: "fair", Target: "jobadder", SourceKey: e.source,
					ProfileKey: keys[k%len(keys)], Connection: connection, DedupKey: id, EnqueuedAt: time.Now().UTC()})
			}
			if err := p.PublishAll(b.Context(), all, func(r jobs.PublishResult) {
				if r.Err != nil {
					b.Error(r.Err)
				}
			}); err != nil {
				b.Fatal(err)
			}
		}
		// writes counts the candidates an account created or updated: one per job.
		writes := func(acc *jobaddertest.Server) int {
			r := acc.State().Requests
			return r["POST /v2/candidates 201"] + r["PUT /v2/candidates/{candidateId} 200"]
		}
		timeB := func(phase string, keys []string, want int) time.Duration {
			start := time.Now()
			publish(phase, "b", small, keys)
			for writes(accounts["b"]) < want {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("connection b wrote %d of %d candidates in 5 minutes", writes(accounts["b"]), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
			return time.Since(start)
		}
		// A first, untimed run of b creates its candidates and builds the connection; the timed
		// ones update the same candidates.
		timeB("warm-up", e.keys[:small], small)
		time.Sleep(3 * time.Second) // b idle again, as before the run beside a
		alone := timeB("alone", e.keys[:small], 2*small)
		publish("backlog", "a", backlog, e.keys[2*small:])
		time.Sleep(3 * time.Second)
		beside := timeB("beside", e.keys[:small], 3*small)
		doneA := writes(accounts["a"])
		stop()
		if doneA >= backlog {
			b.Fatalf("a's whole backlog was done before b's jobs: the run measures nothing")
		}
		b.ReportMetric(alone.Seconds(), "b-alone-s")
		b.ReportMetric(beside.Seconds(), "b-beside-a-s")
		b.ReportMetric(beside.Seconds()/alone.Seconds(), "ratio")
		b.ReportMetric(float64(doneA), "a-writes")
	}
}
