package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/jobs"
)

// seedDeadLetter stores d in the DLQ as a worker does, and returns the entry's sequence.
func seedDeadLetter(t *testing.T, js jetstream.JetStream, d *jobs.DeadLetter) uint64 {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	target := d.Target
	if target == "" {
		target = "unknown"
	}
	ack, err := js.Publish(t.Context(), jobs.DLQSubjectPrefix+target, data,
		jetstream.WithMsgID("dlq-"+strconv.FormatUint(d.StreamSeq, 10)), jetstream.WithExpectStream(jobs.DLQStream))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Duplicate {
		t.Fatalf("dead letter of stream seq %d stored twice", d.StreamSeq)
	}
	return ack.Sequence
}

// deadLetterOf is the entry a worker writes for job after a failure.
func deadLetterOf(t *testing.T, job *jobs.Job, streamSeq uint64, reason, class string) *jobs.DeadLetter {
	t.Helper()
	job.Version = jobs.Version
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	}
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.DeadLetter{
		Job: data, JobID: job.ID, WorkflowID: job.WorkflowID, Target: job.Target, SourceKey: job.SourceKey,
		ProfileKey: job.ProfileKey, BatchID: job.BatchID, Reason: reason, Class: class,
		Error: reason + ": 422 email is invalid", Attempts: 1, EnqueuedAt: job.EnqueuedAt,
		FirstAttemptAt: job.EnqueuedAt.Add(time.Second), LastAttemptAt: job.EnqueuedAt.Add(time.Minute),
		Subject: job.Subject(), StreamSeq: streamSeq,
	}
}

// storedAfter waits until the clock has passed t, so the next entry is stored strictly later.
func storedAfter(t *testing.T, at time.Time) {
	t.Helper()
	waitFor(t, "the clock to pass "+at.String(), func() bool { return time.Now().After(at) })
}

func collect(t *testing.T, js jetstream.JetStream, f jobs.DLQFilter) []uint64 {
	t.Helper()
	var seqs []uint64
	for e, err := range jobs.DeadLetters(t.Context(), js, f) {
		if err != nil {
			t.Fatalf("DeadLetters(%+v): %v", f, err)
		}
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

func getEntry(t *testing.T, js jetstream.JetStream, seq uint64) jobs.DLQEntry {
	t.Helper()
	for e, err := range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{Seqs: []uint64{seq}}) {
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	t.Fatalf("no DLQ entry %d", seq)
	return jobs.DLQEntry{}
}

func TestDeadLettersFilters(t *testing.T) {
	t.Parallel()
	js := setup(t)
	a := newJob(1, "b1")
	b := newJob(2, "b2")
	b.Target = "bullhorn"
	c := newJob(3, "b1")
	c.WorkflowID = "wf2"
	s1 := seedDeadLetter(t, js, deadLetterOf(t, a, 11, "write_failure", "permanent"))
	s2 := seedDeadLetter(t, js, deadLetterOf(t, b, 12, jobs.ReasonExhausted, "exhausted"))
	cut := getEntry(t, js, s2).Time
	storedAfter(t, cut)
	s3 := seedDeadLetter(t, js, deadLetterOf(t, c, 13, "read_failure", "exhausted"))
	s4 := seedDeadLetter(t, js, &jobs.DeadLetter{RawJob: "{truncated", Reason: jobs.ReasonBadJob, Class: "permanent", StreamSeq: 14})

	tests := []struct {
		name string
		f    jobs.DLQFilter
		want []uint64
	}{
		{"all", jobs.DLQFilter{}, []uint64{s1, s2, s3, s4}},
		{"target", jobs.DLQFilter{Target: "jobadder"}, []uint64{s1, s3}},
		{"unknown target", jobs.DLQFilter{Target: "unknown"}, []uint64{s4}},
		{"reason", jobs.DLQFilter{Reason: "write_failure"}, []uint64{s1}},
		{"class", jobs.DLQFilter{Reason: "exhausted"}, []uint64{s2, s3}},
		{"workflow and batch", jobs.DLQFilter{WorkflowID: "wf", BatchID: "b1"}, []uint64{s1}},
		{"since", jobs.DLQFilter{Since: cut.Add(time.Nanosecond)}, []uint64{s3, s4}},
		{"since and target", jobs.DLQFilter{Since: cut.Add(time.Nanosecond), Target: "bullhorn"}, nil},
		{"since in the future", jobs.DLQFilter{Since: time.Now().Add(time.Hour)}, nil},
		{"seqs", jobs.DLQFilter{Seqs: []uint64{s3, s1, s3, 999}}, []uint64{s1, s3}},
		{"seqs and reason", jobs.DLQFilter{Seqs: []uint64{s1, s2}, Reason: "exhausted"}, []uint64{s2}},
		{"nothing matches", jobs.DLQFilter{Target: "bullhorn", Reason: jobs.ReasonBadJob}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, collect(t, js, tt.f)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("entry fields", func(t *testing.T) {
		t.Parallel()
		e := getEntry(t, js, s2)
		if e.Subject != jobs.DLQSubjectPrefix+"bullhorn" || e.JobID != "job-2" || e.DeadLetter.Subject != jobs.SubjectPrefix+"bullhorn" || e.StreamSeq != 12 || e.Time.IsZero() {
			t.Errorf("entry = %+v", e)
		}
	})
	t.Run("bad target", func(t *testing.T) {
		t.Parallel()
		for _, err := range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{Target: "a.>"}) {
			if err == nil {
				t.Fatal("DeadLetters with target a.> yielded no error")
			}
		}
	})
}

func TestDeadLettersEmptyAndSnapshot(t *testing.T) {
	t.Parallel()
	js := setup(t)
	if got := collect(t, js, jobs.DLQFilter{}); len(got) != 0 {
		t.Fatalf("empty DLQ yielded %v", got)
	}
	for i := range 3 {
		seedDeadLetter(t, js, deadLetterOf(t, newJob(i, ""), uint64(i+1), "write_failure", "permanent"))
	}
	// Entries stored while reading (a replayed job that fails again) are not read.
	n := 0
	for _, err := range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		seedDeadLetter(t, js, deadLetterOf(t, newJob(100+n, ""), uint64(100+n), "write_failure", "permanent"))
	}
	if n != 3 {
		t.Errorf("read %d entries, want the 3 stored before the call", n)
	}
	// Stopping early releases the consumer (goleak checks the goroutines).
	for range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{}) {
		break
	}
}

func TestDeadLettersYieldsForeignMessages(t *testing.T) {
	t.Parallel()
	js := setup(t)
	if _, err := js.Publish(t.Context(), jobs.DLQSubjectPrefix+"jobadder", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	good := seedDeadLetter(t, js, deadLetterOf(t, newJob(1, ""), 1, "write_failure", "permanent"))
	var bad, ok int
	for e, err := range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{}) {
		switch {
		case errors.Is(err, jobs.ErrBadDeadLetter) && e.Seq == 1:
			bad++
		case err == nil && e.Seq == good:
			ok++
		default:
			t.Errorf("unexpected entry %d: %v", e.Seq, err)
		}
	}
	if bad != 1 || ok != 1 {
		t.Errorf("got %d foreign and %d good entries; want 1 and 1", bad, ok)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()

	t.Run("new message id while the original's is in the duplicates window", func(t *testing.T) {
		t.Parallel()
		js := setup(t)
		job := newJob(1, "b1")
		p := jobs.NewPublisher(js)
		res, err := p.Publish(t.Context(), job)
		if err != nil || res.Duplicate {
			t.Fatalf("publish = %+v, %v", res, err)
		}
		jobsStream, err := js.Stream(t.Context(), jobs.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		// The worker terminated it: gone from the queue, its id still in the window.
		if err := jobsStream.DeleteMsg(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		seq := seedDeadLetter(t, js, deadLetterOf(t, job, 1, "write_failure", "permanent"))

		got, err := jobs.Replay(t.Context(), js, getEntry(t, js, seq))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != job.ID || got.BatchID != "b1" {
			t.Errorf("replayed job = %+v; want the same id and batch", got)
		}
		m, err := jobsStream.GetMsg(t.Context(), 2)
		if err != nil {
			t.Fatalf("replayed job not in %s: %v", jobs.JobsStream, err)
		}
		wantID := fmt.Sprintf("replay-%s-%d", job.MsgID(), seq)
		if id := m.Header.Get(jetstream.MsgIDHeader); id != wantID {
			t.Errorf("Nats-Msg-Id = %q, want %q", id, wantID)
		}
		if d, err := jobs.Decode(m.Data); err != nil || d.ID != job.ID {
			t.Errorf("replayed document = %s (%v)", m.Data, err)
		}
		if n := streamMsgs(t, js, jobs.DLQStream); n != 0 {
			t.Errorf("DLQ holds %d entries after the replay, want 0", n)
		}
		// The original id is still remembered: enqueueing the job the normal way is dropped.
		if res, err := p.Publish(t.Context(), newJob(1, "b1")); err != nil || !res.Duplicate {
			t.Errorf("publish of the original again = %+v, %v; want a duplicate", res, err)
		}
	})

	t.Run("bad jobs are refused and kept", func(t *testing.T) {
		t.Parallel()
		js := setup(t)
		raw := seedDeadLetter(t, js, &jobs.DeadLetter{RawJob: `{"version":1,"id":"x"`, Reason: jobs.ReasonBadJob, Class: "permanent", StreamSeq: 1})
		v2 := &jobs.DeadLetter{
			Job:   json.RawMessage(`{"version":2,"id":"v2","workflow_id":"wf","target":"jobadder"}`),
			JobID: "v2", Target: "jobadder", Reason: jobs.ReasonBadJob, Class: "permanent", StreamSeq: 2,
		}
		future := seedDeadLetter(t, js, v2)
		for _, seq := range []uint64{raw, future} {
			e := getEntry(t, js, seq)
			if _, err := e.Replayable(); !errors.Is(err, jobs.ErrNotReplayable) {
				t.Errorf("Replayable(seq %d) = %v, want ErrNotReplayable", seq, err)
			}
			job, err := jobs.Replay(t.Context(), js, e)
			if !errors.Is(err, jobs.ErrNotReplayable) || job != nil {
				t.Errorf("Replay(seq %d) = %v, %v; want ErrNotReplayable", seq, job, err)
			}
		}
		if _, err := jobs.Replay(t.Context(), js, getEntry(t, js, future)); !errors.Is(err, jobs.ErrBadJob) {
			t.Errorf("Replay of a v2 job = %v; want it to wrap ErrBadJob", err)
		}
		if n := streamMsgs(t, js, jobs.DLQStream); n != 2 {
			t.Errorf("DLQ holds %d entries, want both bad jobs kept", n)
		}
		if n := streamMsgs(t, js, jobs.JobsStream); n != 0 {
			t.Errorf("jobs stream holds %d, want 0", n)
		}
	})

	t.Run("entry kept when the stream refuses the job", func(t *testing.T) {
		t.Parallel()
		js := setup(t)
		s, err := js.Stream(t.Context(), jobs.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.MaxMsgs = 1
		if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.NewPublisher(js).Publish(t.Context(), newJob(1, "")); err != nil {
			t.Fatal(err)
		}
		seq := seedDeadLetter(t, js, deadLetterOf(t, newJob(2, ""), 2, "write_failure", "permanent"))
		job, err := jobs.Replay(t.Context(), js, getEntry(t, js, seq))
		if err == nil || job != nil || errors.Is(err, jobs.ErrDeadLetterKept) {
			t.Fatalf("Replay into a full stream = %v, %v; want a publish error", job, err)
		}
		if n := streamMsgs(t, js, jobs.DLQStream); n != 1 {
			t.Errorf("DLQ holds %d entries, want the entry kept", n)
		}
	})

	t.Run("twice stores the job once", func(t *testing.T) {
		t.Parallel()
		js := setup(t)
		seq := seedDeadLetter(t, js, deadLetterOf(t, newJob(1, ""), 1, "write_failure", "permanent"))
		e := getEntry(t, js, seq)
		for range 2 { // the second time, the entry is gone and the publish is a duplicate
			if _, err := jobs.Replay(t.Context(), js, e); err != nil {
				t.Fatal(err)
			}
		}
		if n := streamMsgs(t, js, jobs.JobsStream); n != 1 {
			t.Errorf("jobs stream holds %d, want 1", n)
		}
	})
}

func TestPurgeDeadLetter(t *testing.T) {
	t.Parallel()
	js := setup(t)
	s1 := seedDeadLetter(t, js, deadLetterOf(t, newJob(1, ""), 1, "write_failure", "permanent"))
	s2 := seedDeadLetter(t, js, deadLetterOf(t, newJob(2, ""), 2, "write_failure", "permanent"))
	if err := jobs.PurgeDeadLetter(t.Context(), js, s1); err != nil {
		t.Fatal(err)
	}
	if err := jobs.PurgeDeadLetter(t.Context(), js, s1); !errors.Is(err, jobs.ErrDeadLetterNotFound) {
		t.Errorf("second purge = %v, want ErrDeadLetterNotFound", err)
	}
	if diff := cmp.Diff([]uint64{s2}, collect(t, js, jobs.DLQFilter{})); diff != "" {
		t.Errorf("entries left (-want +got):\n%s", diff)
	}
}

// TestReplayTurnsFailureIntoSuccess: a job dead-lettered in a batch and replayed once its
// cause is fixed counts in the batch report with its new outcome. The worker's event ids
// include the outcome (evt-<job>-failed, evt-<job>-created), so the second event is not
// dropped by the events stream's duplicates window, and the report keeps the latest per job.
func TestReplayTurnsFailureIntoSuccess(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var broken atomic.Bool
	broken.Store(true)
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		if broken.Load() {
			return jobs.Result{}, jobs.Permanent(jobs.WithReason("write_failure", errors.New("422 email is invalid")))
		}
		return jobs.Result{Outcome: jobs.Created, ATSID: "42"}, nil
	}), nil)
	if err := jobs.PublishBatch(t.Context(), js, &jobs.Batch{ID: "b1", WorkflowID: "wf", Target: "jobadder", Total: 2}); err != nil {
		t.Fatal(err)
	}
	p := jobs.NewPublisher(js)
	for i := range 2 {
		if _, err := p.Publish(t.Context(), newJob(i, "b1")); err != nil {
			t.Fatal(err)
		}
	}
	report := func() *jobs.Report {
		r, err := jobs.FollowBatch(t.Context(), js, "b1", false, func(*jobs.Report) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	waitFor(t, "both jobs to fail", func() bool { return report().Failed == 2 })
	if got := report().Status(); got != jobs.StatusFatal {
		t.Errorf("status before replay = %s", got)
	}

	broken.Store(false)
	var replayed int
	for e, err := range jobs.DeadLetters(t.Context(), js, jobs.DLQFilter{BatchID: "b1"}) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Replay(t.Context(), js, e); err != nil {
			t.Fatal(err)
		}
		replayed++
	}
	if replayed != 2 {
		t.Fatalf("replayed %d entries, want 2", replayed)
	}
	waitFor(t, "the replayed jobs to be created", func() bool { return report().Created == 2 })
	r := report()
	if r.Failed != 0 || r.Done() != 2 || r.Status() != jobs.StatusSuccess {
		t.Errorf("report after replay: created %d failed %d done %d status %s; want 2 0 2 success", r.Created, r.Failed, r.Done(), r.Status())
	}
	if n := streamMsgs(t, js, jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d entries after the replays", n)
	}
}
