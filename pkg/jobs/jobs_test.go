package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup starts an embedded JetStream server with the streams created.
func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return js
}

func newJob(i int, batch string) *jobs.Job {
	return &jobs.Job{
		ID: fmt.Sprintf("job-%d", i), WorkflowID: "wf", Target: "jobadder",
		SourceKey: "src", ProfileKey: fmt.Sprintf("p%03d", i), BatchID: batch,
	}
}

// startWorker runs a worker with fast timings and stops it at cleanup.
func startWorker(t *testing.T, js jetstream.JetStream, h jobs.Handler, mod func(*jobs.Config)) *jobs.Worker {
	t.Helper()
	cfg := jobs.Config{
		JetStream: js, Handlers: map[string]jobs.Handler{"jobadder": h}, Concurrency: 4,
		AckWait: 2 * time.Second, RetryBudget: 300 * time.Millisecond, MaxDeliveries: 3,
		RedeliveryDelay: 50 * time.Millisecond, PullExpiry: 200 * time.Millisecond,
		CredentialsPause: 50 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := jobs.NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return w
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, js, name)
}

func dlqEntries(t *testing.T, js jetstream.JetStream) []jobs.DeadLetter {
	t.Helper()
	n := streamMsgs(t, js, jobs.DLQStream)
	s, _ := js.Stream(t.Context(), jobs.DLQStream)
	var out []jobs.DeadLetter
	for seq := uint64(1); uint64(len(out)) < n; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var d jobs.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestDecode(t *testing.T) {
	t.Parallel()
	valid := `{"version":1,"id":"j1","workflow_id":"wf","target":"jobadder","source_key":"s","profile_key":"p","enqueued_at":"2026-11-23T10:00:00Z"}`
	tests := []struct {
		name, doc, wantErr string
	}{
		{"valid", valid, ""},
		{"not json", `{"version":1`, "not a JSON job document"},
		{"unknown version", strings.Replace(valid, `"version":1`, `"version":2`, 1), "version 2 is not supported"},
		{"missing profile", strings.Replace(valid, `"profile_key":"p",`, ``, 1), "profile_key is missing"},
		{"unknown target", strings.Replace(valid, `"jobadder"`, `"workday"`, 1), `target "workday" is unknown`},
		{"bad workflow id", strings.Replace(valid, `"wf"`, `"a.b c"`, 1), "workflow_id must match"},
		{"no enqueued_at", strings.Replace(valid, `,"enqueued_at":"2026-11-23T10:00:00Z"`, ``, 1), "enqueued_at is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := jobs.Decode([]byte(tt.doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if !errors.Is(err, jobs.ErrBadJob) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Decode error = %v, want ErrBadJob containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMsgIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := newJob(1, ""), newJob(1, "")
	b.ID = "another-id"
	if a.MsgID() != b.MsgID() {
		t.Errorf("same profile, different msg ids: %s %s", a.MsgID(), b.MsgID())
	}
	if c := newJob(2, ""); c.MsgID() == a.MsgID() {
		t.Errorf("different profiles share msg id %s", a.MsgID())
	}
	a.DedupKey = "mine"
	if a.MsgID() != "mine" {
		t.Errorf("MsgID = %s, want the dedup key", a.MsgID())
	}
}

func TestPublishDropsDuplicates(t *testing.T) {
	t.Parallel()
	js := setup(t)
	p := jobs.NewPublisher(js)
	var dups, ok atomic.Int32
	all := []*jobs.Job{newJob(1, ""), newJob(2, ""), newJob(1, "")}
	all[2].ID = "job-1-again"
	err := p.PublishAll(t.Context(), all, func(r jobs.PublishResult) {
		switch {
		case r.Err != nil:
			t.Errorf("publish %s: %v", r.Job.ID, r.Err)
		case r.Duplicate:
			dups.Add(1)
		default:
			ok.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 2 || dups.Load() != 1 {
		t.Errorf("stored %d, duplicates %d; want 2 and 1", ok.Load(), dups.Load())
	}
	if n := streamMsgs(t, js, jobs.JobsStream); n != 2 {
		t.Errorf("jobs stream holds %d, want 2", n)
	}
}

// TestWorkerOutcomes runs one batch whose jobs each meet a different fate and checks where
// every one ends: acked, dead-lettered with its reason, and the batch report.
func TestWorkerOutcomes(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var calls sync.Map // profile key → *atomic.Int32
	count := func(key string) int32 {
		v, _ := calls.LoadOrStore(key, new(atomic.Int32))
		return v.(*atomic.Int32).Add(1)
	}
	h := jobs.HandlerFunc(func(ctx context.Context, job *jobs.Job) (jobs.Result, error) {
		n := count(job.ProfileKey)
		switch job.ProfileKey {
		case "flaky": // fails twice in process, then works
			if n <= 2 {
				return jobs.Result{}, errors.New("503 from the ATS")
			}
		case "down": // never works: exhausts the deliveries
			return jobs.Result{}, errors.New("connection refused")
		case "invalid":
			return jobs.Result{}, jobs.WithReason("write_failure", &targets.ErrorResponse{Target: "jobadder", StatusCode: 422, Message: "email is invalid"})
		case "throttled":
			if n == 1 {
				return jobs.Result{}, &targets.RateLimitError{ErrorResponse: &targets.ErrorResponse{StatusCode: 429}, Wait: 50 * time.Millisecond}
			}
		case "panics":
			panic("format exploded")
		case "dropped":
			return jobs.Result{Outcome: jobs.Discarded}, nil
		case "known":
			return jobs.Result{Outcome: jobs.Updated, ATSID: "7"}, nil
		}
		return jobs.Result{Outcome: jobs.Created, ATSID: "1"}, nil
	})
	keys := []string{"ok", "flaky", "down", "invalid", "throttled", "panics", "dropped", "known"}
	batch := &jobs.Batch{ID: "b1", WorkflowID: "wf", Target: "jobadder", Total: len(keys) + 1}
	if err := jobs.PublishBatch(t.Context(), js, batch); err != nil {
		t.Fatal(err)
	}
	p := jobs.NewPublisher(js)
	for i, k := range keys {
		j := newJob(i, "b1")
		j.ProfileKey = k
		if _, err := p.Publish(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	// Two bad jobs from a foreign producer: a future version that names the batch, and
	// truncated JSON that cannot name it (its event goes to hrpush.events.none).
	for _, doc := range []string{
		`{"version":2,"id":"v2","workflow_id":"wf","target":"jobadder","batch_id":"b1"}`,
		`{"version":1,"id":"bad","batch_id":"b1"`,
	} {
		if _, err := js.Publish(t.Context(), jobs.SubjectPrefix+"jobadder", []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	startWorker(t, js, h, nil)

	waitFor(t, "jobs stream to drain", func() bool { return streamMsgs(t, js, jobs.JobsStream) == 0 })
	report, err := jobs.FollowBatch(t.Context(), js, "b1", false, func(*jobs.Report) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if report.Created != 3 || report.Updated != 1 || report.Discarded != 1 || report.Failed != 4 {
		t.Errorf("report created=%d updated=%d discarded=%d failed=%d; want 3 1 1 4 (events %v)",
			report.Created, report.Updated, report.Discarded, report.Failed, report.Events)
	}
	if got := report.Status(); got != jobs.StatusSuccessWithFailures {
		t.Errorf("status = %s", got)
	}
	reasons := map[string]jobs.DeadLetter{}
	for _, d := range dlqEntries(t, js) {
		reasons[d.ProfileKey] = d
	}
	want := map[string]string{"down": "write_failure", "invalid": "write_failure", "panics": jobs.ReasonPanic, "": jobs.ReasonBadJob}
	if n := streamMsgs(t, js, jobs.DLQStream); n != 5 {
		t.Errorf("DLQ holds %d entries, want 5", n)
	}
	for key, reason := range want {
		d, ok := reasons[key]
		if !ok || d.Reason != reason {
			t.Errorf("DLQ entry for %q = %+v, want reason %s", key, d, reason)
		}
	}
	if d := reasons["down"]; d.Class != "exhausted" || d.Attempts != 3 || !strings.Contains(d.Error, "connection refused") {
		t.Errorf("exhausted entry = %+v, want 3 attempts and the last error", d)
	}
	var raw, versioned int
	for _, d := range dlqEntries(t, js) {
		switch {
		case d.Reason == jobs.ReasonBadJob && d.RawJob != "" && d.Job == nil:
			raw++
		case d.Reason == jobs.ReasonBadJob && d.JobID == "v2" && strings.Contains(d.Error, "version 2"):
			versioned++
		}
	}
	if raw != 1 || versioned != 1 {
		t.Errorf("bad jobs in the DLQ: %d raw, %d future version; want 1 and 1", raw, versioned)
	}
	if d := reasons["invalid"]; d.Attempts != 1 || !strings.Contains(d.Error, "email is invalid") {
		t.Errorf("permanent entry = %+v, want 1 attempt with the ATS message", d)
	}
}

// TestWorkerDeadLettersPastBudget: a job whose last permitted delivery never finished (the
// worker died) is dead-lettered on its next delivery instead of looping.
func TestWorkerDeadLettersPastBudget(t *testing.T) {
	t.Parallel()
	js := setup(t)
	if _, err := jobs.NewPublisher(js).Publish(t.Context(), newJob(1, "")); err != nil {
		t.Fatal(err)
	}
	// Play a worker that dies three times: fetch without acking, with a short AckWait.
	cons, err := js.CreateOrUpdateConsumer(t.Context(), jobs.JobsStream, jetstream.ConsumerConfig{
		Durable: jobs.ConsumerPrefix + "jobadder", FilterSubject: jobs.SubjectPrefix + "jobadder",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 100 * time.Millisecond, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var handled atomic.Int32
	startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		handled.Add(1)
		return jobs.Result{Outcome: jobs.Created}, nil
	}), nil)
	waitFor(t, "the DLQ entry", func() bool { return streamMsgs(t, js, jobs.DLQStream) == 1 })
	if d := dlqEntries(t, js)[0]; d.Reason != jobs.ReasonExhausted || d.Attempts != 4 {
		t.Errorf("entry = %+v", d)
	}
	if handled.Load() != 0 {
		t.Errorf("handler ran %d times on a job past its budget", handled.Load())
	}
}

// TestWorkerCredentialsPauseTarget: refused credentials pause the target and never
// dead-letter; once they are accepted again the backlog flows.
func TestWorkerCredentialsPauseTarget(t *testing.T) {
	t.Parallel()
	js := setup(t)
	var refused atomic.Bool
	refused.Store(true)
	var done atomic.Int32
	w := startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
		if refused.Load() {
			return jobs.Result{}, &targets.CredentialsError{Target: "jobadder", Reason: "refresh token refused"}
		}
		done.Add(1)
		return jobs.Result{Outcome: jobs.Created}, nil
	}), func(c *jobs.Config) { c.MaxDeliveries = 50 })
	p := jobs.NewPublisher(js)
	for i := range 5 {
		if _, err := p.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "not ready", func() bool { return w.Ready() != nil })
	if err := w.Ready(); !strings.Contains(err.Error(), "refresh token refused") {
		t.Errorf("Ready() = %v", err)
	}
	refused.Store(false)
	waitFor(t, "all jobs done", func() bool { return done.Load() == 5 })
	waitFor(t, "ready", func() bool { return w.Ready() == nil })
	if n := streamMsgs(t, js, jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d jobs; credentials failures must not dead-letter", n)
	}
}

// TestWorkerStopPutsBackRunningJobs: a job still running when the grace period ends is
// cancelled with ErrShutdown and put back, and another worker finishes it. On the job's last
// permitted delivery too (a deploy, or the restart that brings new credentials): the shutdown
// is not the job's failure, so the next delivery does not dead-letter it.
func TestWorkerStopPutsBackRunningJobs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name          string
		maxDeliveries int
	}{{"with deliveries left", 3}, {"on the last delivery", 1}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := setup(t)
			started := make(chan struct{})
			var once sync.Once
			w := startWorker(t, js, jobs.HandlerFunc(func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
				once.Do(func() { close(started) })
				<-ctx.Done()
				return jobs.Result{}, ctx.Err()
			}), func(c *jobs.Config) { c.MaxDeliveries = tt.maxDeliveries; c.ShutdownGrace = 100 * time.Millisecond })
			if _, err := jobs.NewPublisher(js).Publish(t.Context(), newJob(1, "")); err != nil {
				t.Fatal(err)
			}
			<-started
			if err := w.Stop(t.Context()); err == nil {
				t.Error("Stop returned nil although it had to cancel a job")
			}
			var got atomic.Int32
			startWorker(t, js, jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
				got.Add(1)
				return jobs.Result{Outcome: jobs.Created}, nil
			}), func(c *jobs.Config) { c.MaxDeliveries = tt.maxDeliveries })
			waitFor(t, "the job done by the second worker, or dead-lettered", func() bool {
				return got.Load() == 1 || streamMsgs(t, js, jobs.DLQStream) > 0
			})
			for _, d := range dlqEntries(t, js) {
				t.Errorf("dead-lettered after a shutdown: %s (%s): %s", d.Reason, d.Class, d.Error)
			}
		})
	}
}
