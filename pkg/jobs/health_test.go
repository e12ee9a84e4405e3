package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
)

// TestStalledWhenThePullLoopStopsTurning: an idle worker's pull loop goes round every pull
// expiry, so it is not stalled now, but it would be if the clock showed a minute later with no
// turn since. A worker whose only slot is held by a job that ignores its cancellation cannot
// pull again: it is reported stalled once JobTimeout and three pull expiries have passed, the
// loop of the job's connection too. A stopped worker is not stalled.
func TestStalledWhenThePullLoopStopsTurning(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		js := setup(t)
		w := startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Outcome: jobs.Created}, nil
		}), func(c *jobs.Config) { c.PullExpiry = 2 * time.Second })
		waitFor(t, "the loop late a minute later", func() bool {
			err := w.Stalled(time.Now().Add(time.Minute))
			return err != nil && strings.Contains(err.Error(), "jobadder: the pull loop is")
		})
		if err := w.Stalled(time.Now()); err != nil {
			t.Errorf("an idle worker is stalled: %v", err)
		}
		if err := w.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := w.Stalled(time.Now().Add(time.Hour)); err != nil {
			t.Errorf("a stopped worker is stalled: %v", err)
		}
	})
	for _, tt := range []struct{ name, connection, want string }{
		{"slot held by a job ignoring its cancellation", "", "jobadder: the pull loop is"},
		{"a connection's loop too", "b", "jobadder connection b: the pull loop is"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := setup(t)
			release := make(chan struct{})
			started := make(chan struct{}, 1)
			w := startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
				started <- struct{}{}
				<-release // ignores its context, past JobTimeout
				return jobs.Result{Outcome: jobs.Created}, nil
			}), func(c *jobs.Config) {
				c.Concurrency, c.JobTimeout, c.ScanInterval = 1, 500*time.Millisecond, 50*time.Millisecond
				c.Partition = func(j *jobs.Job) string { return j.Connection }
			})
			t.Cleanup(func() { close(release) }) // before the worker's Stop (cleanups run last first)
			j := newJob(1, "")
			j.Connection = tt.connection
			if _, err := jobs.NewPublisher(js).Publish(t.Context(), j); err != nil {
				t.Fatal(err)
			}
			<-started
			waitFor(t, "the worker reported stalled", func() bool {
				err := w.Stalled(time.Now())
				return err != nil && strings.Contains(err.Error(), tt.want)
			})
		})
	}
}
