package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// e2e is one end-to-end setup: an embedded JetStream server, a fake HrFlow with generated
// profiles, a fake JobAdder, and workers built by the same wiring as the binary (serve).
type e2e struct {
	t       testing.TB
	natsURL string
	js      jetstream.JetStream
	hrflow  *hrflowtest.Server
	ja      *jobaddertest.Server
	// bh is the fake Bullhorn; nil until useBullhorn, and then the workers enable Bullhorn.
	bh     *bullhorntest.Server
	source string
	keys   []string
	code   string
	// concurrency of the workers; default 8.
	concurrency int
	// workflowsFile is the workers' WORKFLOWS_FILE; default none.
	workflowsFile string
}

const (
	testSource = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	testKey    = "hrflow-test-key"
	testUser   = "ops@example.com"
)

func newE2E(t testing.TB, profiles int, ja jobaddertest.Config) *e2e {
	t.Helper()
	natsURL, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: testKey, UserEmail: testUser})
	t.Cleanup(hf.Close)
	fake := jobaddertest.NewServer(ja)
	t.Cleanup(fake.Close)
	return &e2e{
		t: t, natsURL: natsURL, js: js, hrflow: hf, ja: fake, source: testSource,
		keys: hf.Generate(testSource, profiles, 42), code: fake.IssueCode(),
	}
}

func (e *e2e) config() config {
	jc := e.ja.Config()
	return config{
		NATSURL:                   e.natsURL,
		HrFlowAPIURL:              e.hrflow.URL(),
		HrFlowAPISecret:           testKey,
		HrFlowAPIUser:             testUser,
		HrFlowDownloadAllow:       []string{"127.0.0.0/8"}, // the fake serves files there
		JobAdderAuthorizationURL:  e.ja.AuthURL(),
		JobAdderTokenURL:          e.ja.TokenURL(),
		JobAdderClientID:          jc.ClientID,
		JobAdderClientSecret:      secret.Value(jc.ClientSecret),
		JobAdderAuthorizationCode: secret.Value(e.code),
		JobAdderRedirectURI:       jc.RedirectURI,
		Concurrency:               cmp.Or(e.concurrency, 8),
		HTTPAddr:                  "off",
		RetryBudget:               3 * time.Second,
		ShutdownGrace:             5 * time.Second,
		WorkflowsFile:             e.workflowsFile,
		BullhornSessionTTL:        time.Hour,
		SecretsKey:                secret.Value(testSecretsKey),
	}
}

// worker runs serve until the returned stop func is called.
func (e *e2e) worker(name string) (stop func()) {
	e.t.Helper()
	cfg := e.config()
	e.bullhornConfig(&cfg)
	return e.run(name, cfg)
}

// run runs serve with cfg, named name, until the returned stop func is called.
func (e *e2e) run(name string, cfg config) (stop func()) {
	e.t.Helper()
	cfg.Name = name
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if ctx.Err() != nil {
			err = nil // stopped, possibly while starting
		}
		done <- err
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("worker %s: %v", name, err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// enqueue publishes one job per key in a batch and returns the batch id.
// useBullhorn starts a fake Bullhorn with cfg and enables the Bullhorn target in the workers
// started afterwards.
func (e *e2e) useBullhorn(cfg bullhorntest.Config) {
	e.t.Helper()
	e.bh = bullhorntest.NewServer(cfg)
	e.t.Cleanup(e.bh.Close)
}

// bullhornConfig sets the Bullhorn variables of cfg when the fake runs.
func (e *e2e) bullhornConfig(cfg *config) {
	if e.bh == nil {
		return
	}
	bc := e.bh.Config()
	cfg.BullhornLoginInfoURL = e.bh.LoginInfoURL()
	cfg.BullhornClientID = bc.ClientID
	cfg.BullhornClientSecret = secret.Value(bc.ClientSecret)
	cfg.BullhornUsername = bc.Username
	cfg.BullhornPassword = secret.Value(bc.Password)
	cfg.BullhornCallsPerMinute = 100000
}

// enqueue publishes one JobAdder job per key in a batch.
func (e *e2e) enqueue(batch string, keys []string) { e.enqueueTo("jobadder", batch, keys) }

// enqueueTo publishes one job per key for target in a batch.
func (e *e2e) enqueueTo(target, batch string, keys []string) {
	e.t.Helper()
	all := make([]*jobs.Job, len(keys))
	for i, k := range keys {
		all[i] = &jobs.Job{ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: "e2e", Target: target, SourceKey: e.source, ProfileKey: k, BatchID: batch}
	}
	var stored int
	err := jobs.NewPublisher(e.js).PublishAll(e.t.Context(), all, func(r jobs.PublishResult) {
		if r.Err != nil {
			e.t.Errorf("publish: %v", r.Err)
		}
		if !r.Duplicate {
			stored++
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := jobs.PublishBatch(e.t.Context(), e.js, &jobs.Batch{ID: batch, WorkflowID: "e2e", Target: target, Total: stored}); err != nil {
		e.t.Fatal(err)
	}
}

// wait follows the batch until every job has an outcome (or calls at each event).
func (e *e2e) wait(batch string, each func(*jobs.Report)) *jobs.Report {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 3*time.Minute)
	defer cancel()
	r, err := jobs.FollowBatch(ctx, e.js, batch, true, func(r *jobs.Report) bool {
		if each != nil {
			each(r)
		}
		return r.Done() < r.Batch.Total
	})
	if err != nil {
		e.t.Fatalf("batch %s: %v (report so far: %+v)", batch, err, r)
	}
	return r
}

// checkExactlyOnce asserts that every profile with an email is one candidate, and that there
// are as many candidates as profiles.
func (e *e2e) checkExactlyOnce(want int) jobaddertest.State {
	e.t.Helper()
	st := e.ja.State()
	if st.Candidates != want {
		e.t.Errorf("JobAdder holds %d candidates, want %d", st.Candidates, want)
	}
	if len(st.Duplicates) > 0 {
		e.t.Errorf("duplicate candidates for %v", st.Duplicates)
	}
	for id, n := range st.Attachments {
		if n != 1 {
			e.t.Errorf("candidate %d has %d attachments, want 1", id, n)
		}
	}
	if n := st.Exchanges(e.code); n != 1 {
		e.t.Errorf("authorization code sent %d times, want exactly 1", n)
	}
	if st.ValidationFailures > 0 {
		e.t.Errorf("JobAdder refused %d requests as invalid: %+v", st.ValidationFailures, st.RecentFailures)
	}
	return st
}

func (e *e2e) streamMsgs(name string) uint64 {
	e.t.Helper()
	return brokertest.StreamMsgs(e.t, e.js, name)
}

func TestE2EPushesEveryProfileOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 300, jobaddertest.Config{})
	e.worker("w1")
	e.enqueue("clean", e.keys)
	r := e.wait("clean", nil)
	if r.Created != 300 || r.Failed != 0 || r.Status() != jobs.StatusSuccess {
		t.Errorf("report: created %d updated %d failed %d status %s", r.Created, r.Updated, r.Failed, r.Status())
	}
	st := e.checkExactlyOnce(300)
	if got := len(st.Attachments); got == 0 {
		t.Error("no resume was uploaded")
	}
	// A worker records a job's outcome before it acks it: the last acks may still be on the way.
	deadline := time.Now().Add(10 * time.Second)
	for e.streamMsgs(jobs.JobsStream) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.streamMsgs(jobs.JobsStream); n != 0 {
		t.Errorf("jobs stream still holds %d jobs", n)
	}

	// Pushing the same profiles again (a new run) updates them: still 300 candidates.
	e.enqueueForced("again", e.keys)
	r = e.wait("again", nil)
	if r.Updated != 300 || r.Created != 0 {
		t.Errorf("second run: created %d updated %d, want 0 and 300", r.Created, r.Updated)
	}
	e.checkExactlyOnce(300)
}

// enqueueForced enqueues with fresh message ids (a re-run inside the duplicates window).
func (e *e2e) enqueueForced(batch string, keys []string) {
	e.t.Helper()
	for i, k := range keys {
		j := &jobs.Job{ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: "e2e", Target: "jobadder", SourceKey: e.source, ProfileKey: k, BatchID: batch}
		j.DedupKey = j.ID
		if _, err := jobs.NewPublisher(e.js).Publish(e.t.Context(), j); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := jobs.PublishBatch(e.t.Context(), e.js, &jobs.Batch{ID: batch, WorkflowID: "e2e", Target: "jobadder", Total: len(keys)}); err != nil {
		e.t.Fatal(err)
	}
}

func TestE2EWithFaults(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 300, jobaddertest.Config{ErrorRate: 0.2, RateLimitRate: 0.1, Seed: 7})
	e.worker("w1")
	e.worker("w2")
	e.enqueue("faults", e.keys)
	r := e.wait("faults", nil)
	// Retries of a job that created its candidate report it created, not updated.
	if r.Created != 300 || r.Failed != 0 {
		t.Errorf("report: created %d updated %d failed %d; failures %+v", r.Created, r.Updated, r.Failed, r.Failures)
	}
	st := e.checkExactlyOnce(300)
	if st.Faults == 0 {
		t.Error("the fake injected no faults: the test proves nothing")
	}
	t.Logf("faults injected: %d; requests: %v", st.Faults, st.Requests)
}

func TestE2EWorkerRestartedMidRun(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 300, jobaddertest.Config{Latency: 20 * time.Millisecond})
	stop := e.worker("first")
	e.enqueue("restart", e.keys)
	stopped := false
	e.wait("restart", func(r *jobs.Report) {
		if !stopped && r.Done() >= 100 {
			stopped = true
			stop() // graceful: running jobs finish, the rest stays queued
			if r.Done() >= 300 {
				t.Error("the first worker finished everything before it was stopped")
			}
			e.worker("second")
		}
	})
	if !stopped {
		t.Fatal("the worker was never stopped")
	}
	e.checkExactlyOnce(300)
}

func TestE2EBadJobsGoToTheDLQ(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 20, jobaddertest.Config{})
	e.worker("w1")
	keys := append(append([]string{}, e.keys...), "0000000000000000000000000000000000000000")
	e.enqueue("bad", keys)
	// A malformed job from a foreign producer.
	if _, err := e.js.Publish(t.Context(), jobs.SubjectPrefix+"jobadder", []byte(`{"version":1,"id":"broken","target":"jobadder"}`)); err != nil {
		t.Fatal(err)
	}
	r := e.wait("bad", nil)
	if r.Created != 20 || r.Failed != 1 || r.Events["read_failure"] != 1 {
		t.Errorf("report: created %d failed %d events %v", r.Created, r.Failed, r.Events)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.streamMsgs(jobs.DLQStream) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := e.js.Stream(t.Context(), jobs.DLQStream)
	reasons := map[string]string{}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var d jobs.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		reasons[d.JobID] = d.Reason + ": " + d.Error
	}
	t.Logf("DLQ: %v", reasons)
	if got := reasons["bad-20"]; got == "" || !strings.Contains(got, "read_failure") || !strings.Contains(got, "Unable to find object: profile") {
		t.Errorf("missing profile entry = %q", got)
	}
	if got := reasons["broken"]; !strings.Contains(got, "bad_job") || !strings.Contains(got, "workflow_id is missing") {
		t.Errorf("malformed job entry = %q", got)
	}
	e.checkExactlyOnce(20)
}
