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
