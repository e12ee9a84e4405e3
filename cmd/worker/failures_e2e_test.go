package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// failureWorkflows is the workflows file of the rows that need one. "e2e" and "e2e-bullhorn"
// are the healthy jobs' workflows, in every row (without a file any workflow id is accepted).
const failureWorkflows = `
timeout: 1s
workflows:
  e2e:
    target: jobadder
  e2e-bullhorn:
    target: bullhorn
  e2e-incremental:
    target: jobadder
    read_mode: incremental
  guarded:
    description: fails the format, or a logic, of the profiles tagged for it
    target: jobadder
    format: |
      if any($profile.tags[]?; .name == "hrpush_test" and .value == "format_fails")
      then error("this profile is tagged format_fails")
      else {firstName: .info.first_name, lastName: .info.last_name, email: .info.email} | compact
      end
    logics:
      - 'if any($profile.tags[]?; .name == "hrpush_test" and .value == "logic_fails") then error("this profile is tagged logic_fails") else . end'
  invalid-jobadder:
    description: a payload JobAdder refuses (AddCandidateCommand has no such property)
    target: jobadder
    format: '{firstName: .info.first_name, lastName: .info.last_name, favouriteColour: "blue"}'
  invalid-bullhorn:
    description: a payload Bullhorn refuses (Candidate has no such field)
    target: bullhorn
    format: '{firstName: .info.first_name, lastName: .info.last_name, name: .info.full_name, email: .info.email, favouriteColour: "blue"}'
  duplicates-allowed:
    target: jobadder
    options:
      allow_duplicates: true
`

// ending is where a failing job must end: a DLQ entry with this reason and class, after this
// many deliveries, with an error containing errorHas.
type ending struct {
	reason, class, errorHas string
	attempts                int
}

// failureRow is one row of the README table "How jobs end". A row either injects one failure
// next to a running worker (inject, want, check), or runs phases of its own (run).
type failureRow struct {
	name      string
	ja        jobaddertest.Config
	bullhorn  bool // run the fake Bullhorn too, and enable the Bullhorn target
	workflows bool // give the workers failureWorkflows
	// tune sets the row's worker configuration over the rows' short timings.
	tune func(*config)
	// inject publishes the failure and returns the stream sequence of the failing job.
	inject func(t *testing.T, f *failureRun) uint64
	want   ending
	// healthy is the target of the job enqueued alongside, which must succeed; default jobadder.
	healthy string
	check   func(t *testing.T, f *failureRun, d jobs.DLQEntry)
	run     func(t *testing.T, f *failureRun)
}

// TestE2EFailures runs every row of the README table "How jobs end" against the worker's own
// wiring (serve) and the fakes, with short timings: each failure ends where the table says,
// and a healthy job enqueued alongside still succeeds.
func TestE2EFailures(t *testing.T) {
	t.Parallel()
	rows := []failureRow{{
		name: "malformed JSON",
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishRaw(jobs.SubjectPrefix+"jobadder", []byte(`{"version":1,"id":"half`))
		},
		want: ending{jobs.ReasonBadJob, "permanent", "not a JSON job document", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if d.RawJob != `{"version":1,"id":"half` || d.Job != nil {
				t.Errorf("entry keeps raw_job %q and job %s; want the bytes received as raw_job", d.RawJob, d.Job)
			}
			if _, err := jobs.Replay(t.Context(), f.e.js, d); !errors.Is(err, jobs.ErrNotReplayable) {
				t.Errorf("replaying a bad job: %v, want ErrNotReplayable", err)
			}
		},
	}, {
		name: "unknown version",
		inject: func(t *testing.T, f *failureRun) uint64 {
			doc := f.jobDoc("v2", "e2e", "jobadder", f.e.keys[0])
			doc["version"] = 2
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", doc)
		},
		want: ending{jobs.ReasonBadJob, "permanent", "version 2 is not supported (want 1)", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if d.JobID != "v2" || len(d.Job) == 0 {
				t.Errorf("entry job id %q, job %s; want the document kept whole", d.JobID, d.Job)
			}
		},
	}, {
		name: "missing fields",
		inject: func(t *testing.T, f *failureRun) uint64 {
			doc := f.jobDoc("no-profile", "e2e", "jobadder", "")
			delete(doc, "profile_key")
			delete(doc, "enqueued_at")
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", doc)
		},
		want: ending{jobs.ReasonBadJob, "permanent", "profile_key is missing; enqueued_at is missing", 1},
	}, {
		name: "oversized message",
		inject: func(t *testing.T, f *failureRun) uint64 {
			// More than 1 MiB, the server's max_payload: the producer's publish is refused.
			huge := f.jobDoc("huge", "e2e", "jobadder", f.e.keys[0])
			huge["padding"] = strings.Repeat("x", 1<<20)
			data, _ := json.Marshal(huge)
			if _, err := f.e.js.Publish(t.Context(), jobs.SubjectPrefix+"jobadder", data); !errors.Is(err, nats.ErrMaxPayload) {
				t.Errorf("publishing %d bytes: %v, want nats.ErrMaxPayload", len(data), err)
			}
			// More than the 64 KiB a job may have, within max_payload: dead-lettered.
			big := f.jobDoc("big", "e2e", "jobadder", f.e.keys[0])
			big["padding"] = strings.Repeat("x", 70<<10)
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", big)
		},
		want: ending{jobs.ReasonBadJob, "permanent", "more than 65536", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if d.JobID != "big" || d.Job != nil || len(d.RawJob) > 4<<10+len("…") {
				t.Errorf("entry: job id %q, job %d bytes, raw_job %d bytes; want the id and at most 4 KiB of the raw bytes",
					d.JobID, len(d.Job), len(d.RawJob))
			}
		},
	}, {
		name:      "unknown workflow",
		workflows: true,
		inject: func(t *testing.T, f *failureRun) uint64 {
			// A workflow of another target fails the same way.
			other := f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("other-target", "e2e-bullhorn", "jobadder", f.e.keys[0]))
			d := f.deadLetter(other)
			if d.Reason != jobs.ReasonBadJob || !strings.Contains(d.Error, `workflow "e2e-bullhorn" pushes to bullhorn, not jobadder`) {
				t.Errorf("job of another target's workflow: %s: %s", d.Reason, d.Error)
			}
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("nosuch", "nosuch-workflow", "jobadder", f.e.keys[0]))
		},
		want: ending{jobs.ReasonBadJob, "permanent", `workflow "nosuch-workflow" is not declared in`, 1},
	}, {
		name: "unknown target",
		inject: func(t *testing.T, f *failureRun) uint64 {
			// No stream takes hrpush.push.workday: the producer's publish fails.
			if _, err := f.e.js.Publish(t.Context(), jobs.SubjectPrefix+"workday", f.jobJSON(f.jobDoc("wd", "e2e", "workday", f.e.keys[0]))); !errors.Is(err, jetstream.ErrNoStreamResponse) {
				t.Errorf("publishing on %sworkday: %v, want jetstream.ErrNoStreamResponse", jobs.SubjectPrefix, err)
			}
			// A target the contract does not know, on a known subject.
			unknown := f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("workday", "e2e", "workday", f.e.keys[0]))
			if d := f.deadLetter(unknown); d.Reason != jobs.ReasonBadJob || !strings.Contains(d.Error, `target "workday" is unknown`) {
				t.Errorf("job for workday: %s: %s", d.Reason, d.Error)
			}
			// A known target that no worker enables waits in the stream for one.
			f.publishDoc(jobs.SubjectPrefix+"bullhorn", f.jobDoc("waits", "e2e-bullhorn", "bullhorn", f.e.keys[0]))
			// A target that does not match the subject.
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("mismatch", "e2e", "bullhorn", f.e.keys[0]))
		},
		want: ending{jobs.ReasonBadJob, "permanent", `target "bullhorn" does not match subject hrpush.push.jobadder`, 1},
		check: func(t *testing.T, f *failureRun, _ jobs.DLQEntry) {
			if n := f.subjectMsgs(jobs.SubjectPrefix + "bullhorn"); n != 1 {
				t.Errorf("%d jobs wait on %sbullhorn, want 1", n, jobs.SubjectPrefix)
			}
		},
	}, {
		name: "profile not found",
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("missing", "e2e", "jobadder", strings.Repeat("0", 40)))
		},
		want: ending{"read_failure", "permanent", "Unable to find object", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			// The profile is indexed later: replaying the entry (enqueue dlq replay) pushes it.
			p := f.profile(1)
			p["key"] = d.ProfileKey
			raw, _ := json.Marshal(p)
			if _, err := f.e.hrflow.AddProfile(f.e.source, raw); err != nil {
				t.Fatal(err)
			}
			if _, err := jobs.Replay(t.Context(), f.e.js, d); err != nil {
				t.Fatal(err)
			}
			f.waitFor("the replayed job to be written", 30*time.Second, func() bool {
				return f.e.ja.State().Candidates == 2 && f.e.streamMsgs(jobs.DLQStream) == 0
			})
		},
	}, {
		name:      "format failure",
		workflows: true,
		inject: func(t *testing.T, f *failureRun) uint64 {
			key := f.variant(0, "f0", func(p map[string]any) { tag(p, "format_fails") })
			f.healthyWorkflow = "guarded" // the same workflow succeeds for other profiles
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("format", "guarded", "jobadder", key))
		},
		want: ending{"format_failure", "permanent", "format: error: this profile is tagged format_fails", 1},
	}, {
		name:      "logic failure",
		workflows: true,
		inject: func(t *testing.T, f *failureRun) uint64 {
			key := f.variant(0, "10", func(p map[string]any) { tag(p, "logic_fails") })
			f.healthyWorkflow = "guarded"
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("logic", "guarded", "jobadder", key))
		},
		want: ending{"logics_failure", "permanent", "logics[0]: error: this profile is tagged logic_fails", 1},
	}, {
		name:      "target validation error: JobAdder 422",
		workflows: true,
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("invalid", "invalid-jobadder", "jobadder", f.e.keys[0]))
		},
		want: ending{"write_failure", "permanent", "/v2/candidates: 422 Validation error (favouriteColour: property \"favouriteColour\" is unsupported)", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if !strings.Contains(d.Error, "favouriteColour") {
				t.Errorf("the entry does not name the refused field: %s", d.Error)
			}
			if n := f.e.ja.State().ValidationFailures; n != 1 {
				t.Errorf("JobAdder refused %d requests, want 1 (no retry of a 422)", n)
			}
		},
	}, {
		name:      "target validation error: Bullhorn 400",
		workflows: true,
		bullhorn:  true,
		healthy:   "bullhorn",
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishDoc(jobs.SubjectPrefix+"bullhorn", f.jobDoc("invalid", "invalid-bullhorn", "bullhorn", f.withEmail(0)))
		},
		want: ending{"write_failure", "permanent", ": 400", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if !strings.Contains(d.Error, "favouriteColour") {
				t.Errorf("the entry does not name the refused field: %s", d.Error)
			}
		},
	}, {
		name:      "duplicate conflict",
		workflows: true,
		run:       duplicateConflict,
	}, {
		name:    "throttled longer than the delivery budget",
		ja:      jobaddertest.Config{RateLimitRate: 1, RetryAfter: 3 * time.Second},
		tune:    func(c *config) { c.RetryBudget = time.Second },
		healthy: "bullhorn", // every JobAdder call is throttled
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("throttled", "e2e", "jobadder", f.e.keys[0]))
		},
		want: ending{"write_failure", "exhausted", "/v2/candidates: 429 Too many requests (retry after 3s)", 3},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			// Each delivery waits the Retry-After, not the shorter redelivery delay.
			if took := d.LastAttemptAt.Sub(d.FirstAttemptAt); took < 6*time.Second {
				t.Errorf("three deliveries took %s; each should wait the 3 s Retry-After", took)
			}
			if st := f.e.ja.State(); st.Requests["POST /v2/candidates 429"] != 3 {
				t.Errorf("JobAdder answered %v; want three 429 (one call per delivery)", st.Requests)
			}
		},
	}, {
		name:    "5xx on every call of one job",
		ja:      jobaddertest.Config{ErrorRate: 1},
		tune:    func(c *config) { c.RetryBudget = time.Second },
		healthy: "bullhorn",
		inject: func(t *testing.T, f *failureRun) uint64 {
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("down", "e2e", "jobadder", f.e.keys[0]))
		},
		want: ending{"write_failure", "exhausted", "/v2/candidates: 50", 3},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			// In process: retried with backoff for the retry budget. Across deliveries: delays
			// of 2 s then 4 s (±20 %).
			if len(d.Errors) < 2 {
				t.Errorf("the last delivery recorded %d attempts (%q); want its in-process retries", len(d.Errors), d.Errors)
			}
			if took := d.LastAttemptAt.Sub(d.FirstAttemptAt); took < 5*time.Second {
				t.Errorf("three deliveries took %s; want at least the two redelivery delays (2 s + 4 s, -20 %%)", took)
			}
		},
	}, {
		name: "resume link to an internal address",
		inject: func(t *testing.T, f *failureRun) uint64 {
			// An internal service on the IPv6 loopback (the workers allow 127.0.0.0/8 only);
			// the link carries a token in its query, which must not show anywhere.
			internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				t.Error("the internal service was reached")
				fmt.Fprint(w, "internal data")
			}))
			ln, err := net.Listen("tcp", "[::1]:0")
			if err != nil {
				t.Skipf("no IPv6 loopback: %v", err)
			}
			internal.Listener = ln
			internal.Start()
			t.Cleanup(internal.Close)
			key := f.variant(0, "5e", func(p map[string]any) {
				p["attachments"] = []any{map[string]any{"type": "resume", "alt": "5e5e", "file_name": "resume", "extension": ".pdf", "file_size": 13}}
			})
			if !f.e.hrflow.SetPublicURL(f.e.source, key, "resume", "https://"+ln.Addr().String()+"/latest/meta-data?token=s3cr3t-t0ken") {
				t.Fatal("no resume to point elsewhere")
			}
			return f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("ssrf", "e2e", "jobadder", key))
		},
		want: ending{workflow.EventDownloadRefused, "permanent", "download from ::1 refused: loopback address ::1", 1},
		check: func(t *testing.T, f *failureRun, d jobs.DLQEntry) {
			if strings.Contains(d.Error, "s3cr3t") || strings.Contains(f.logs.String(), "s3cr3t") {
				t.Errorf("the link's query shows in the DLQ entry or the logs: %s", d.Error)
			}
			total := 0
			for _, n := range f.e.ja.State().Attachments {
				total += n
			}
			if total > 1 {
				t.Errorf("JobAdder holds %d attachments, want at most the healthy job's", total)
			}
		},
	}, {
		name: "target down for an hour",
		run:  targetDown,
	}, {
		name: "revoked credentials: HrFlow key",
		run:  revokedHrFlow,
	}, {
		name: "revoked credentials: JobAdder",
		run:  revokedJobAdder,
	}, {
		name: "revoked credentials: Bullhorn",
		run:  revokedBullhorn,
	}, {
		name:      "panic in a format or a logic",
		workflows: true,
		run:       panics,
	}, {
		name: "job outlives AckWait",
		ja:   jobaddertest.Config{Latency: 5 * time.Second},
		run:  outlivesAckWait,
	}, {
		name: "worker dies during the last permitted delivery",
		tune: func(c *config) { c.MaxDeliveries = 2 },
		run:  diesDuringLastDelivery,
	}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			f := newFailureRun(t, row)
			if row.run != nil {
				row.run(t, f)
				return
			}
			f.start("w1", nil)
			seq := row.inject(t, f)
			if row.healthy != "none" {
				f.checkHealthy(cmp.Or(row.healthy, "jobadder"))
			}
			d := f.deadLetter(seq)
			t.Logf("DLQ entry: %s (%s) after %d deliveries: %.300s", d.Reason, d.Class, d.Attempts, d.Error)
			got := ending{d.Reason, d.Class, row.want.errorHas, d.Attempts}
			if got != row.want || !strings.Contains(d.Error, row.want.errorHas) {
				t.Errorf("DLQ entry %s (%s) after %d deliveries: %s\nwant %s (%s) after %d, error containing %q",
					d.Reason, d.Class, d.Attempts, d.Error, row.want.reason, row.want.class, row.want.attempts, row.want.errorHas)
			}
			if row.check != nil {
				row.check(t, f, d)
			}
			f.checkNothingLeft()
		})
	}
}

// failureRun is one row's environment: the e2e setup, its logs, and the worker's health
// endpoints.
type failureRun struct {
	t   *testing.T
	row failureRow
	e   *e2e
	// logs receives every worker's logs, JSON at debug level.
	logs *syncBuffer
	// httpAddr is where the last worker started serves /readyz and /metrics; maxDeliveries
	// is its delivery budget.
	httpAddr      string
	maxDeliveries int
	// healthyWorkflow is the workflow of the healthy JobAdder job; default e2e.
	healthyWorkflow string
	// seq numbers the jobs enqueued by this run.
	seq int
}

func newFailureRun(t *testing.T, row failureRow) *failureRun {
	t.Helper()
	e := newE2E(t, 12, row.ja)
	if row.bullhorn || row.healthy == "bullhorn" {
		e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	}
	if row.workflows {
		e.workflowsFile = filepath.Join(t.TempDir(), "workflows.yaml")
		if err := os.WriteFile(e.workflowsFile, []byte(failureWorkflows), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := &failureRun{t: t, row: row, e: e, logs: &syncBuffer{}}
	t.Cleanup(f.logOnFailure)
	return f
}

// logOnFailure prints the end of the workers' logs when the test failed.
func (f *failureRun) logOnFailure() {
	if f.t.Failed() {
		logs := f.logs.String()
		f.t.Logf("workers' logs (last 6 KiB):\n%s", logs[max(0, len(logs)-6<<10):])
	}
}

// config is the rows' worker configuration: short timings, health endpoints on a free port,
// then the row's own tuning.
func (f *failureRun) config(name string) config {
	f.t.Helper()
	cfg := f.e.config()
	f.e.bullhornConfig(&cfg)
	cfg.Name = name
	cfg.Concurrency = 4
	cfg.AckWait = 10 * time.Second // generous: other tests may load the machine
	cfg.RetryBudget = time.Second
	cfg.MaxDeliveries = 3
	cfg.ShutdownGrace = 2 * time.Second
	cfg.HTTPAddr = freeAddr(f.t)
	if f.row.tune != nil {
		f.row.tune(&cfg)
	}
	return cfg
}

// start runs serve with the row's configuration, changed by mod, until the returned func is
// called (or the test ends).
func (f *failureRun) start(name string, mod func(*config)) (stop func()) {
	f.t.Helper()
	cfg := f.config(name)
	if mod != nil {
		mod(&cfg)
	}
	f.httpAddr, f.maxDeliveries = cfg.HTTPAddr, cfg.MaxDeliveries
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test_worker", name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := serve(ctx, cfg, log)
		if ctx.Err() != nil {
			err = nil
		}
		done <- err
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("worker %s: %v", name, err)
			}
		})
	}
	f.t.Cleanup(stop)
	f.waitFor("worker "+name+" to serve /healthz", time.Minute, func() bool {
		select {
		case err := <-done:
			done <- err
			f.t.Fatalf("worker %s stopped while starting: %v", name, err)
		default:
		}
		code, _ := f.get("/healthz")
		return code == http.StatusOK
	})
	return stop
}

// jobDoc is a valid v1 job document, as a map so that rows can break it.
func (f *failureRun) jobDoc(id, workflowID, target, key string) map[string]any {
	return map[string]any{
		"version": 1, "id": id, "workflow_id": workflowID, "target": target,
		"source_key": f.e.source, "profile_key": key, "enqueued_at": time.Now().UTC().Format(time.RFC3339Nano),
	}
}

func (f *failureRun) jobJSON(doc map[string]any) []byte {
	data, err := json.Marshal(doc)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *failureRun) publishDoc(subject string, doc map[string]any) uint64 {
	f.t.Helper()
	return f.publishRaw(subject, f.jobJSON(doc))
}

// publishRaw publishes data as a foreign producer would and returns its stream sequence.
func (f *failureRun) publishRaw(subject string, data []byte) uint64 {
	f.t.Helper()
	ack, err := f.e.js.Publish(f.t.Context(), subject, data)
	if err != nil {
		f.t.Fatalf("publish on %s: %v", subject, err)
	}
	return ack.Sequence
}

// enqueue publishes one job per key in a new batch, as enqueue bulk does, and returns the
// batch id.
func (f *failureRun) enqueue(workflowID, target string, keys ...string) string {
	f.t.Helper()
	f.seq++
	batch := fmt.Sprintf("b%d-%s", f.seq, target)
	for i, k := range keys {
		j := &jobs.Job{ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: workflowID, Target: target, SourceKey: f.e.source, ProfileKey: k, BatchID: batch}
		j.DedupKey = j.ID
		if _, err := jobs.NewPublisher(f.e.js).Publish(f.t.Context(), j); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := jobs.PublishBatch(f.t.Context(), f.e.js, &jobs.Batch{ID: batch, WorkflowID: workflowID, Target: target, Total: len(keys)}); err != nil {
		f.t.Fatal(err)
	}
	return batch
}

// written waits for the batch's end and checks that every job was written.
func (f *failureRun) written(batch string) *jobs.Report {
	f.t.Helper()
	r := f.e.wait(batch, nil)
	if r.Failed != 0 || r.Created+r.Updated != r.Batch.Total {
		f.t.Errorf("batch %s: created %d updated %d failed %d of %d; failures %+v", batch, r.Created, r.Updated, r.Failed, r.Batch.Total, r.Failures)
	}
	return r
}

// checkHealthy enqueues a healthy job for target and waits until it is written.
func (f *failureRun) checkHealthy(target string) {
	f.t.Helper()
	wf := cmp.Or(f.healthyWorkflow, "e2e")
	key := f.withEmail(len(f.e.keys) - 1)
	if target == "bullhorn" {
		wf = "e2e-bullhorn"
	}
	f.written(f.enqueue(wf, target, key))
}

// deadLetter waits for the DLQ entry of the job stored at stream sequence seq.
func (f *failureRun) deadLetter(seq uint64) jobs.DLQEntry {
	f.t.Helper()
	var found *jobs.DLQEntry
	f.waitFor(fmt.Sprintf("the DLQ entry of job %d", seq), 90*time.Second, func() bool {
		for _, d := range f.deadLetters() {
			if d.StreamSeq == seq {
				found = &d
				return true
			}
		}
		return false
	})
	return *found
}

// deadLetters returns every DLQ entry.
func (f *failureRun) deadLetters() []jobs.DLQEntry {
	f.t.Helper()
	s, err := f.e.js.Stream(f.t.Context(), jobs.DLQStream)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := s.Info(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	var out []jobs.DLQEntry
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(f.t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			f.t.Fatal(err)
		}
		e := jobs.DLQEntry{Seq: m.Sequence, Subject: m.Subject, Time: m.Time}
		if err := json.Unmarshal(m.Data, &e.DeadLetter); err != nil {
			f.t.Fatalf("DLQ entry %d: %v", seq, err)
		}
		out = append(out, e)
	}
	return out
}

// checkNothingLeft checks that the jobs stream holds nothing but what waits for a target no
// worker enables.
func (f *failureRun) checkNothingLeft() {
	f.t.Helper()
	f.waitFor("the jobs stream to drain", 30*time.Second, func() bool {
		var waiting uint64 // jobs of a target no worker enables
		if f.e.bh == nil {
			waiting = f.subjectMsgs(jobs.SubjectPrefix + "bullhorn")
		}
		return f.e.streamMsgs(jobs.JobsStream) == waiting
	})
}

// checkResumed waits until /readyz says ready again after a pause, then checks that nothing
// was dead-lettered and nothing is left.
func (f *failureRun) checkResumed() {
	f.t.Helper()
	f.waitFor("/readyz ready", 60*time.Second, func() bool { c, _ := f.get("/readyz"); return c == http.StatusOK })
	if n := len(f.deadLetters()); n != 0 {
		f.t.Errorf("DLQ holds %d entries", n)
	}
	f.checkNothingLeft()
}

// subjectMsgs counts the jobs stored on subject.
func (f *failureRun) subjectMsgs(subject string) uint64 {
	f.t.Helper()
	s, err := f.e.js.Stream(f.t.Context(), jobs.JobsStream)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := s.Info(f.t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		f.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// profile returns the fake HrFlow's profile i, decoded.
func (f *failureRun) profile(i int) map[string]any {
	f.t.Helper()
	raw, ok := f.e.hrflow.Profile(f.e.source, f.e.keys[i])
	if !ok {
		f.t.Fatalf("profile %d missing", i)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// withEmail returns the key of the first profile from i on that has an email.
func (f *failureRun) withEmail(i int) string {
	f.t.Helper()
	for ; i < len(f.e.keys); i++ {
		if email, _ := f.profile(i)["info"].(map[string]any)["email"].(string); email != "" {
			return f.e.keys[i]
		}
	}
	f.t.Fatal("no profile with an email")
	return ""
}

// variant adds a copy of profile i under a new key (prefix, then the original's key) changed
// by change, and returns the key.
func (f *failureRun) variant(i int, prefix string, change func(map[string]any)) string {
	f.t.Helper()
	p := f.profile(i)
	key := prefix + f.e.keys[i][len(prefix):]
	p["key"] = key
	if change != nil {
		change(p)
	}
	raw, _ := json.Marshal(p)
	got, err := f.e.hrflow.AddProfile(f.e.source, raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// tag adds the tag hrpush_test=value to a profile.
func tag(p map[string]any, value string) {
	tags, _ := p["tags"].([]any)
	p["tags"] = append(tags, map[string]any{"name": "hrpush_test", "value": value})
}

// get fetches a path of the last started worker's health endpoints.
func (f *failureRun) get(path string) (int, string) {
	resp, err := http.Get("http://" + f.httpAddr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 50 ms until it holds or d passes.
func (f *failureRun) waitFor(what string, d time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logRecords returns the worker logs that have msg, decoded.
func (f *failureRun) logRecords(msg string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(f.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// checkPaused checks that target is paused and the other enabled one is not, in /readyz and
// /metrics, and that the pause was logged as an error.
// The ERROR logs of a job put back because its target is paused.
const (
	logCredentials = "target credentials refused; target paused, job put back"
	logUnreachable = "target unreachable; target paused, job put back"
	// the INFO log of a job put back without running, its connection being paused
	logConnectionPaused = "connection paused; job put back"
)

func (f *failureRun) checkPaused(target, other, reason, logMsg string) {
	f.t.Helper()
	f.waitFor(target+" paused in /readyz", 60*time.Second, func() bool {
		code, body := f.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, target+" paused")
	})
	_, body := f.get("/readyz")
	if !strings.Contains(body, reason) || other != "" && strings.Contains(body, other+" paused") {
		f.t.Errorf("/readyz = %q; want %s paused because %q, and %s not paused", body, target, reason, other)
	}
	_, metrics := f.get("/metrics")
	want := []string{`hrpush_target_paused{target="` + target + `"} 1`}
	if other != "" {
		want = append(want, `hrpush_target_paused{target="`+other+`"} 0`)
	}
	for _, want := range want {
		if !strings.Contains(metrics, want) {
			f.t.Errorf("/metrics lacks %s", want)
		}
	}
	refused := f.logRecords(logMsg)
	if len(refused) == 0 || refused[0]["level"] != "ERROR" || refused[0]["target"] != target {
		f.t.Errorf("logs %q: %v; want errors naming %s", logMsg, refused, target)
	}
}

// checkNotDeadLettered waits until a job of target was put back (logged logMsg) on a delivery
// past the delivery budget (its requeued copy's first), then checks the DLQ is empty: the
// backlog waits through any number of refused deliveries.
func (f *failureRun) checkNotDeadLettered(target, logMsg string) {
	f.t.Helper()
	var job string
	f.waitFor("a "+target+" job requeued on its last delivery", 90*time.Second, func() bool {
		for _, rec := range f.logRecords("job requeued as a new message: its delivery budget is not spent on what is not its failure") {
			if rec["target"] == target {
				job, _ = rec["job_id"].(string)
				return true
			}
		}
		return len(f.deadLetters()) > 0
	})
	f.waitFor("the requeued job put back again", 90*time.Second, func() bool {
		n := 0
		// A job is put back either as the probe that met the refusal (logMsg), or without
		// running, because another job's refusal paused its connection.
		for _, rec := range append(f.logRecords(logMsg), f.logRecords(logConnectionPaused)...) {
			if rec["job_id"] == job {
				n++
			}
		}
		return n > f.maxDeliveries || len(f.deadLetters()) > 0
	})
	for _, d := range f.deadLetters() {
		f.t.Errorf("dead-lettered while the target was paused: job %s %s (%s): %s", d.JobID, d.Reason, d.Class, d.Error)
	}
}

// revokedJobAdder: JobAdder revokes the tokens (the authorising user was removed). The
// JobAdder consumer pauses, /readyz and /metrics say so, Bullhorn jobs keep flowing, and
// the JobAdder backlog waits, however many deliveries it takes, until the app is authorised
// again and the workers restarted with the new code.
func revokedJobAdder(t *testing.T, f *failureRun) {
	f.row.tune = func(c *config) { c.MaxDeliveries = 2 }
	f.e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	stop := f.start("before", nil)
	f.written(f.enqueue("e2e", "jobadder", f.e.keys[0]))
	f.e.ja.RevokeAll()
	backlog := f.enqueue("e2e", "jobadder", f.e.keys[1:6]...)
	f.written(f.enqueue("e2e-bullhorn", "bullhorn", f.e.keys[6:11]...))
	f.checkPaused("jobadder", "bullhorn", "jobadder: credentials refused: ", logCredentials)
	f.checkNotDeadLettered("jobadder", logCredentials)
	f.written(f.enqueue("e2e-bullhorn", "bullhorn", f.e.keys[11]))
	if _, body := f.get("/readyz"); !strings.Contains(body, "jobadder paused") {
		t.Errorf("/readyz = %q; JobAdder should still be paused while Bullhorn flows", body)
	}

	stop()
	code := f.e.ja.IssueCode()
	f.start("after", func(c *config) { c.JobAdderAuthorizationCode = secret.Value(code) })
	f.written(backlog)
	f.checkResumed()
	if st := f.e.ja.State(); st.Candidates != 6 || st.Exchanges(code) != 1 {
		t.Errorf("JobAdder holds %d candidates, want 6; the new code was exchanged %d times, want 1", st.Candidates, st.Exchanges(code))
	}
}

// targetDown: JobAdder's API is down (503 on every call) for longer than the jobs' delivery
// budget. After a few jobs in a row fail so, the JobAdder consumer pauses (not ready,
// "unreachable"), the backlog waits however many deliveries it takes, Bullhorn jobs keep
// flowing, and once JobAdder is back every job is written once.
func targetDown(t *testing.T, f *failureRun) {
	f.row.tune = func(c *config) { c.MaxDeliveries = 2 }
	f.e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	f.start("w1", nil)
	f.written(f.enqueue("e2e", "jobadder", f.e.keys[0]))
	f.e.ja.SetDown(true)
	backlog := f.enqueue("e2e", "jobadder", f.e.keys[1:6]...)
	f.written(f.enqueue("e2e-bullhorn", "bullhorn", f.e.keys[6:11]...))
	f.checkPaused("jobadder", "bullhorn", "jobadder paused: unreachable: jobadder: ", logUnreachable)
	// A job requeued on its last delivery has outlived its budget; the doubling pauses (5 s,
	// 10 s, 20 s, ...) make waiting for more rounds slow, which the credentials rows cover.
	f.waitFor("a jobadder job requeued on its last delivery", 90*time.Second, func() bool {
		for _, rec := range f.logRecords("job requeued as a new message: its delivery budget is not spent on what is not its failure") {
			if rec["target"] == "jobadder" {
				return true
			}
		}
		return len(f.deadLetters()) > 0
	})
	for _, d := range f.deadLetters() {
		t.Errorf("dead-lettered while JobAdder was down: job %s %s (%s): %s", d.JobID, d.Reason, d.Class, d.Error)
	}
	f.e.ja.SetDown(false)
	f.written(backlog)
	f.checkResumed()
	if len(f.logRecords("target reachable again; target resumed")) == 0 {
		t.Error("no log says the target resumed")
	}
	if st := f.e.ja.State(); st.Candidates != 6 {
		t.Errorf("JobAdder holds %d candidates, want 6", st.Candidates)
	}
}

// revokedHrFlow: HrFlow refuses the API key (401). Reading is refused for every target: each
// target's consumer pauses, and the backlog waits for a worker with the right key.
func revokedHrFlow(t *testing.T, f *failureRun) {
	f.row.tune = func(c *config) { c.MaxDeliveries = 1 }
	stop := f.start("wrong-key", func(c *config) { c.HrFlowAPISecret = "not-the-key" })
	backlog := f.enqueue("e2e", "jobadder", f.e.keys[0:2]...)
	f.checkPaused("jobadder", "", "jobadder paused: hrflow: GET ", logCredentials)
	f.checkNotDeadLettered("jobadder", logCredentials)
	stop()
	f.start("right-key", nil)
	f.written(backlog)
	f.checkNothingLeft()
}

// revokedBullhorn: the Bullhorn API user's password was reset (every token and session
// revoked) and the workers still have the old one. The Bullhorn consumer pauses, JobAdder
// jobs keep flowing, and the Bullhorn backlog drains once the workers restart with the new
// password. Bullhorn records a refusal for a minute in the token bucket, so that workers do
// not retry a refused password at once: the backlog drains within about a minute.
func revokedBullhorn(t *testing.T, f *failureRun) {
	f.row.tune = func(c *config) { c.MaxDeliveries = 2 }
	f.e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	stop := f.start("before", nil)
	f.written(f.enqueue("e2e-bullhorn", "bullhorn", f.e.keys[0]))
	stop()
	f.e.bh.RevokeAll()
	stop = f.start("old-password", func(c *config) { c.BullhornPassword = "the-old-password" })
	backlog := f.enqueue("e2e-bullhorn", "bullhorn", f.e.keys[1:4]...)
	f.written(f.enqueue("e2e", "jobadder", f.e.keys[4:9]...))
	f.checkPaused("bullhorn", "jobadder", "the username or password was refused: check BULLHORN_USERNAME and BULLHORN_PASSWORD", logCredentials)
	f.checkNotDeadLettered("bullhorn", logCredentials)
	f.written(f.enqueue("e2e", "jobadder", f.e.keys[9]))
	if _, body := f.get("/readyz"); !strings.Contains(body, "bullhorn paused") {
		t.Errorf("/readyz = %q; Bullhorn should still be paused while JobAdder flows", body)
	}

	stop()
	f.start("new-password", nil)
	f.written(backlog)
	f.checkResumed()
	if st := f.e.bh.State(); st.Candidates != 4 {
		t.Errorf("Bullhorn holds %d candidates, want 4", st.Candidates)
	}
}

// duplicateConflict: a profile whose email a candidate already has (JobAdder answers 409)
// updates that candidate; with allow_duplicates, it creates a second one.
func duplicateConflict(t *testing.T, f *failureRun) {
	f.start("w1", nil)
	original := f.withEmail(0)
	first := f.written(f.enqueue("e2e", "jobadder", original))
	i := slices.Index(f.e.keys, original)
	twin := f.variant(i, "d1", nil)
	updated := f.written(f.enqueue("e2e", "jobadder", twin))
	forced := f.variant(i, "d2", nil)
	created := f.written(f.enqueue("duplicates-allowed", "jobadder", forced))
	if first.Created != 1 || updated.Updated != 1 || created.Created != 1 {
		t.Errorf("created %d, then updated %d, then with allow_duplicates created %d; want 1, 1, 1", first.Created, updated.Updated, created.Created)
	}
	st := f.e.ja.State()
	if st.Candidates != 2 || st.DuplicateConflicts != 2 || st.AllowedDuplicates != 1 || len(st.Duplicates) != 1 {
		t.Errorf("JobAdder: %d candidates, %d conflicts, %d allowed duplicates, duplicated emails %v; want 2, 2, 1, one email",
			st.Candidates, st.DuplicateConflicts, st.AllowedDuplicates, st.Duplicates)
	}
	f.checkHealthy("jobadder")
	if n := len(f.deadLetters()); n != 0 {
		t.Errorf("DLQ holds %d entries", n)
	}
}

// panics: the serve wiring registers no Go format of its own, so this row builds the same
// pieces (the targets of buildTargets, a pipeline, the jobs runtime) with a registry that has
// a panicking format and logic, and a target that panics for one profile. A panic in a format
// or a logic is recovered by the workflow (format_failure, logics_failure); a panic anywhere
// else in the handler by the runtime (reason panic). Each is dead-lettered at once, and the
// worker goes on. (pkg/jobs TestWorkerOutcomes has the runtime's own panic row.)
func panics(t *testing.T, f *failureRun) {
	registry := newRegistry()
	registry.Format("explode", func(*hrflow.Profile) (map[string]any, error) { panic("format exploded") })
	registry.Logic("explode", func(context.Context, map[string]any, *hrflow.Profile) (map[string]any, error) {
		panic("logic exploded")
	})
	file := filepath.Join(t.TempDir(), "workflows.yaml")
	content := failureWorkflows + `
  panic-format:
    target: jobadder
    format: go:explode
  panic-logic:
    target: jobadder
    logics: [go:explode]
`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := workflow.Load(file, registry)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config("w1")
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	buckets, err := jobs.EnsureStreams(t.Context(), f.e.js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	destinations, err := buildTargets(t.Context(), cfg, buckets, log)
	if err != nil {
		t.Fatal(err)
	}
	exploding := f.variant(1, "ee", nil)
	ja := destinations["jobadder"]
	ja.Target = panickingTarget{Target: ja.Target, key: exploding}
	destinations["jobadder"] = ja
	hf, err := hrflow.New(hrflow.WithBaseURL(cfg.HrFlowAPIURL), hrflow.WithAPISecret(cfg.HrFlowAPISecret), hrflow.WithUserEmail(cfg.HrFlowAPIUser))
	if err != nil {
		t.Fatal(err)
	}
	pipeline, err := workflow.NewPipeline(workflow.PipelineConfig{
		Profiles: hf.Profiles, Downloader: hf, Destinations: destinations, Workflows: set, State: buckets.State, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := jobs.NewWorker(jobs.Config{
		JetStream: f.e.js, Handlers: map[string]jobs.Handler{"jobadder": pipeline}, Concurrency: cfg.Concurrency,
		AckWait: cfg.AckWait, MaxDeliveries: cfg.MaxDeliveries, RetryBudget: cfg.RetryBudget, Name: "w1", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })

	want := map[uint64]ending{
		f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("format", "panic-format", "jobadder", f.e.keys[0])): {
			"format_failure", "permanent", "format (go:explode): panic: format exploded", 1},
		f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("logic", "panic-logic", "jobadder", f.e.keys[0])): {
			"logics_failure", "permanent", "logics[0] (go:explode): panic: logic exploded", 1},
		f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("target", "e2e", "jobadder", exploding)): {
			jobs.ReasonPanic, "permanent", "handler panicked: target exploded", 1},
	}
	f.checkHealthy("jobadder")
	for seq, w := range want {
		d := f.deadLetter(seq)
		if got := (ending{d.Reason, d.Class, w.errorHas, d.Attempts}); got != w || !strings.Contains(d.Error, w.errorHas) {
			t.Errorf("job %s: %s (%s) after %d: %.200s; want %+v", d.JobID, d.Reason, d.Class, d.Attempts, d.Error, w)
		}
	}
	f.checkNothingLeft()
}

// panickingTarget panics when it pushes the profile key.
type panickingTarget struct {
	targets.Target
	key string
}

func (p panickingTarget) Push(ctx context.Context, item *targets.Item) (*targets.Result, error) {
	if item.ProfileKey == p.key {
		panic("target exploded")
	}
	return p.Target.Push(ctx, item)
}

// outlivesAckWait: every JobAdder call takes 5 s, so a job (a creation, then most often a
// resume upload) takes longer than the 4 s AckWait. The worker's InProgress heartbeats (every
// AckWait/3) keep the message: each job is delivered once, written once, acked once. (The
// margins are wide: the embedded server runs in the test process, and a loaded machine can
// delay its handling of the heartbeats.)
func outlivesAckWait(t *testing.T, f *failureRun) {
	const ackWait = 4 * time.Second
	f.start("w1", func(c *config) { c.AckWait = ackWait; c.RetryBudget = time.Second })
	batch := f.enqueue("e2e", "jobadder", f.withEmail(0), f.withEmail(len(f.e.keys)-1))
	r := f.written(batch)
	if r.Created != 2 {
		t.Errorf("created %d, want 2", r.Created)
	}
	st := f.e.ja.State()
	if n := st.Requests["POST /v2/candidates 201"]; n != 2 || st.Candidates != 2 || st.DuplicateConflicts != 0 {
		t.Errorf("JobAdder: %d creations, %d candidates, %d conflicts; want 2, 2, 0 (requests %v)", n, st.Candidates, st.DuplicateConflicts, st.Requests)
	}
	cons, err := f.e.js.Consumer(t.Context(), jobs.JobsStream, jobs.ConsumerPrefix+"jobadder")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 2 || info.NumRedelivered != 0 {
		t.Errorf("consumer delivered %d messages, %d redelivered; want 2 and 0", info.Delivered.Consumer, info.NumRedelivered)
	}
	// The outcome is recorded before the ack, and "job done" logged after it.
	f.waitFor("both jobs logged done", 30*time.Second, func() bool { return len(f.logRecords("job done")) >= 2 })
	for _, rec := range f.logRecords("job done") {
		if d, _ := rec["duration"].(float64); time.Duration(d) <= ackWait {
			t.Errorf("job %v took %s, not longer than AckWait: the test proves nothing", rec["job_id"], time.Duration(d))
		}
	}
}

// diesDuringLastDelivery: a worker takes the job's last permitted delivery and vanishes
// (played here by a consumer that fetches and never acks). The next delivery is past the
// budget: the next worker dead-letters it without running it.
func diesDuringLastDelivery(t *testing.T, f *failureRun) {
	key := f.withEmail(0)
	seq := f.publishDoc(jobs.SubjectPrefix+"jobadder", f.jobDoc("orphan", "e2e", "jobadder", key))
	cons, err := f.e.js.CreateOrUpdateConsumer(t.Context(), jobs.JobsStream, jetstream.ConsumerConfig{
		Durable: jobs.ConsumerPrefix + "jobadder", FilterSubject: jobs.SubjectPrefix + "jobadder",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 300 * time.Millisecond, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // MaxDeliveries
		if _, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	f.start("w1", nil)
	f.checkHealthy("jobadder")
	d := f.deadLetter(seq)
	if d.Reason != jobs.ReasonExhausted || d.Class != "exhausted" || d.Attempts != 3 || !strings.Contains(d.Error, "delivery 3 is past the budget of 2") {
		t.Errorf("entry %s (%s) after %d: %s", d.Reason, d.Class, d.Attempts, d.Error)
	}
	if st := f.e.ja.State(); st.Candidates != 1 {
		t.Errorf("JobAdder holds %d candidates; the orphan must not be written", st.Candidates)
	}
	f.checkNothingLeft()
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (the worker's goroutines).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
