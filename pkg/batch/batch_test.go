package batch_test

import (
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

func TestEnqueue(t *testing.T) {
	js := brokertest.Start(t).JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	pub := jobs.NewPublisher(js)
	now := time.Now()
	spec := batch.Spec{ID: "b1", WorkflowID: "wf", Target: "jobadder", SourceKey: "s"}
	keys := make([]string, 250)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	var pages []batch.Counts
	c, err := batch.Enqueue(t.Context(), pub, spec, now, batch.Keys(keys), batch.Options{Progress: func(c batch.Counts) { pages = append(pages, c) }})
	if err != nil || c.Stored != 250 || c.Duplicates != 0 || len(c.Failures) != 0 {
		t.Fatalf("%+v %v", c, err)
	}
	if len(pages) != 3 || pages[0].Stored != 100 || pages[2].Stored != 250 {
		t.Fatalf("progress by pages of %d: %+v", batch.PageSize, pages)
	}
	// Again: duplicates; forced: stored again; More stops after 10.
	if c, _ := batch.Enqueue(t.Context(), pub, spec, now, batch.Keys(keys), batch.Options{PageSize: batch.KeysPageSize}); c.Duplicates != 250 {
		t.Fatalf("again: %+v", c)
	}
	forced := spec
	forced.Force = true
	n := 0
	c, _ = batch.Enqueue(t.Context(), pub, forced, now, batch.Keys(keys), batch.Options{More: func(batch.Item) bool { n++; return n <= 10 }})
	if c.Stored != 10 {
		t.Fatalf("forced and limited: %+v", c)
	}
	// Versioned: a newer version of a profile is stored again, the same one is not.
	versions := func(at time.Time) iter.Seq2[batch.Item, error] {
		return func(yield func(batch.Item, error) bool) { yield(batch.Item{Key: "k000", UpdatedAt: at}, nil) }
	}
	for _, tc := range []struct {
		at     time.Time
		stored int
	}{{now, 1}, {now, 0}, {now.Add(time.Hour), 1}} {
		if c, _ := batch.Enqueue(t.Context(), pub, spec, now, versions(tc.at), batch.Options{Versioned: true}); c.Stored != tc.stored {
			t.Errorf("versioned at %s: %+v", tc.at, c)
		}
	}
	// A listing error ends the batch with what was done.
	failing := func(yield func(batch.Item, error) bool) {
		if yield(batch.Item{Key: "x1"}, nil) {
			yield(batch.Item{}, errors.New("hrflow: 503"))
		}
	}
	if c, err := batch.Enqueue(t.Context(), pub, spec, now, failing, batch.Options{}); err == nil || c.Stored != 0 {
		t.Errorf("listing error: %+v %v", c, err)
	}
	if got := brokertest.StreamMsgs(t, js, jobs.JobsStream); got != 250+10+2 {
		t.Errorf("stream holds %d jobs, want %d", got, 262)
	}
}

func TestSummary(t *testing.T) {
	r := jobs.NewReport(jobs.Batch{ID: "b", Total: 2, State: jobs.BatchEnqueued})
	r.Add(jobs.Event{JobID: "1", Outcome: jobs.Created, Event: "written"})
	s := batch.NewSummary(r, 0)
	if s.Status != jobs.StatusRunning || s.Done != 1 {
		t.Fatalf("%+v", s)
	}
	r.Add(jobs.Event{JobID: "2", Outcome: jobs.Failed, Event: "read_failure"})
	if s := batch.NewSummary(r, time.Second); s.Status != jobs.StatusSuccessWithFailures || s.Took != 1 {
		t.Fatalf("%+v", s)
	}
	r.Batch.State = jobs.BatchEnqueuing
	if s := batch.NewSummary(r, 0); s.Status != jobs.StatusRunning {
		t.Fatalf("still enqueuing: %+v", s)
	}
}
