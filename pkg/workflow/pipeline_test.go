package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

const testSource = "src"

// profileJSON is a profile as HrFlow sends it, with the given key, email and updated_at.
func profileJSON(key, email, updatedAt string) string {
	return fmt.Sprintf(`{
  "key": %q, "source_key": "src", "updated_at": %q, "id": 9007199254740993, "score": 12345678901234567890,
  "info": {"full_name": "Harry Potter", "first_name": "Harry", "last_name": "Potter", "email": %q,
           "date_birth": "1990-08-09T00:00:00+0000", "location": {"text": "Paris", "fields": []}},
  "skills": [{"name": "magic", "type": "hard", "value": null}],
  "tags": [{"name": "salary_expectation", "value": "55000"}, {"name": "remote", "value": true}],
  "attachments": []
}`, key, updatedAt, email)
}

// notFound is the error the fake HrFlow returns for a missing profile: permanent, as hrflow's.
type notFound struct{ key string }

func (e *notFound) Error() string   { return "hrflow: profile " + e.key + " not found" }
func (e *notFound) Permanent() bool { return true }

// fakeProfiles serves profiles by key; a key "down" fails with a transient error.
type fakeProfiles struct {
	mu       sync.Mutex
	profiles map[string]string
}

func (f *fakeProfiles) set(key, raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[key] = raw
}

func (f *fakeProfiles) Get(_ context.Context, _, key string) (*hrflow.Profile, *hrflow.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == "down" {
		return nil, nil, errors.New("hrflow: 503 service unavailable")
	}
	raw, ok := f.profiles[key]
	if !ok {
		return nil, nil, &notFound{key}
	}
	var p hrflow.Profile
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, nil, err
	}
	p.Raw = json.RawMessage(raw)
	return &p, nil, nil
}

type noDownloads struct{}

func (noDownloads) Download(context.Context, string) (io.ReadCloser, string, error) {
	return nil, "", errors.New("no downloads in this test")
}

// fakeTarget records the items pushed; a payload with "fail" fails permanently.
type fakeTarget struct {
	mu    sync.Mutex
	items []*targets.Item
}

type refused struct{}

func (refused) Error() string   { return "fake: 422 refused" }
func (refused) Permanent() bool { return true }

func (f *fakeTarget) Name() string { return "jobadder" }

func (f *fakeTarget) Push(_ context.Context, item *targets.Item) (*targets.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := item.Payload["fail"]; ok {
		return nil, refused{}
	}
	if _, ok := item.Payload["private_resume"]; ok {
		return nil, fmt.Errorf("fake: open resume: %w", &transport.RefusedError{Host: "169.254.169.254", Rule: "link-local (cloud metadata) address 169.254.169.254"})
	}
	f.items = append(f.items, item)
	action := targets.Created
	if len(f.items) > 1 {
		action = targets.Updated
	}
	return &targets.Result{Action: action, ID: fmt.Sprint(len(f.items))}, nil
}

func (f *fakeTarget) pushed() []*targets.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*targets.Item(nil), f.items...)
}

// bundle is a pipeline with its fakes.
type bundle struct {
	pipeline *Pipeline
	profiles *fakeProfiles
	target   *fakeTarget
}

// setup builds a pipeline with the workflows file content (none when empty) and one profile
// "p1" with an email and "p2" without one.
func setup(t *testing.T, file string, state jetstream.KeyValue) *bundle {
	t.Helper()
	b := &bundle{
		profiles: &fakeProfiles{profiles: map[string]string{
			"p1": profileJSON("p1", "harry@example.com", "2020-09-11T10:26:36+0000"),
			"p2": profileJSON("p2", "", "2020-09-11T10:26:36+0000"),
		}},
		target: &fakeTarget{},
	}
	reg := testRegistry()
	cfg := PipelineConfig{
		Profiles:   b.profiles,
		Downloader: noDownloads{},
		Destinations: map[string]Destination{"jobadder": {Target: b.target, Format: func(p *hrflow.Profile) (map[string]any, error) {
			return map[string]any{"email": p.Info.Email, "firstName": p.Info.FirstName, "source": "builtin"}, nil
		}}},
		State: state,
	}
	if file != "" {
		set, err := Parse("test.yaml", []byte(file), reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Workflows = set
	}
	p, err := NewPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.pipeline = p
	return b
}

func job(workflow, key string) *jobs.Job {
	return &jobs.Job{Version: 1, ID: "job-" + key, WorkflowID: workflow, Target: "jobadder", SourceKey: testSource, ProfileKey: key, EnqueuedAt: time.Now()}
}

// outcome summarises what Handle returned: the result, or the failure's reason and class.
type outcome struct {
	Outcome jobs.Outcome
	Event   string
	Reason  string
	Class   string // permanent or transient
	Error   string
}

func describeOutcome(res jobs.Result, err error) outcome {
	if err == nil {
		return outcome{Outcome: res.Outcome, Event: res.Event}
	}
	o := outcome{Class: "transient", Error: err.Error()}
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		o.Reason = r.Reason()
	}
	var p interface{ Permanent() bool }
	if errors.As(err, &p) && p.Permanent() {
		o.Class = "permanent"
	}
	return o
}

// logicFile is a workflows file whose one workflow "w" has the given logics (YAML list items).
func logicFile(logics ...string) string {
	var b strings.Builder
	b.WriteString("timeout: 100ms\nworkflows:\n  w:\n    target: jobadder\n    logics:\n")
	for _, l := range logics {
		fmt.Fprintf(&b, "      - %s\n", l)
	}
	return b.String()
}

func TestLogics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		logics  []string
		key     string
		want    outcome
		payload map[string]any // pushed payload, when written
	}{
		{
			name: "keep", logics: []string{`'.'`}, key: "p1",
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"email": "harry@example.com", "firstName": "Harry"},
		},
		{
			name: "change", logics: []string{`'.skillTags += ["from-hrflow"]'`, `'del(.source)'`}, key: "p1",
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"email": "harry@example.com", "firstName": "Harry", "skillTags": []any{"from-hrflow"}},
		},
		{
			name: "discard with null", logics: []string{`'if (.email // "") == "" then null else . end'`}, key: "p2",
			want: outcome{Outcome: jobs.Discarded, Event: EventLogicsDiscard},
		},
		{
			name: "discard with empty", logics: []string{`'select(.email != "")'`, `'error("not reached")'`}, key: "p2",
			want: outcome{Outcome: jobs.Discarded, Event: EventLogicsDiscard},
		},
		{
			name: "filter keeps", logics: []string{`'if (.email // "") == "" then null else . end'`}, key: "p1",
			want: outcome{Outcome: jobs.Created, Event: EventWritten},
		},
		{
			name: "error", logics: []string{`'.'`, `'error("no salary")'`}, key: "p1",
			want: outcome{Reason: EventLogicsFailure, Class: "permanent", Error: "logics[1]: error: no salary"},
		},
		{
			name: "timeout", logics: []string{`'def loop: loop; loop'`}, key: "p1",
			want: outcome{Reason: EventLogicsFailure, Class: "permanent", Error: "logics[0]: timed out after 100ms"},
		},
		{
			name: "not an object", logics: []string{`'.email'`}, key: "p1",
			want: outcome{Reason: EventLogicsFailure, Class: "permanent", Error: `logics[0]: the logic produced string ("harry@example.com"), want an object or null`},
		},
		{
			name: "two outputs", logics: []string{`'., .'`}, key: "p1",
			want: outcome{Reason: EventLogicsFailure, Class: "permanent", Error: "logics[0]: " + errMultipleOutputs.Error()},
		},
		{
			name: "profile visible", logics: []string{`'.salary = ($profile.tags[] | select(.name == "salary_expectation") | .value) | .id = $profile.id'`}, key: "p1",
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"email": "harry@example.com", "firstName": "Harry", "salary": "55000", "id": json.Number("9007199254740993")},
		},
		{
			name: "go logic from the file", logics: []string{`go:has-email`}, key: "p2",
			want: outcome{Outcome: jobs.Discarded, Event: EventLogicsDiscard},
		},
		{
			name: "write failure", logics: []string{`'.fail = true'`}, key: "p1",
			want: outcome{Reason: EventWriteFailure, Class: "permanent", Error: "fake: 422 refused"},
		},
		{
			name: "download refused", logics: []string{`'.private_resume = true'`}, key: "p1",
			want: outcome{Reason: EventDownloadRefused, Class: "permanent", Error: "fake: open resume: download from 169.254.169.254 refused: link-local (cloud metadata) address 169.254.169.254"},
		},
		{
			name: "read failure not found", logics: []string{`'.'`}, key: "nosuch",
			want: outcome{Reason: EventReadFailure, Class: "permanent", Error: "hrflow: profile nosuch not found"},
		},
		{
			name: "read failure transient", logics: []string{`'.'`}, key: "down",
			want: outcome{Reason: EventReadFailure, Class: "transient", Error: "hrflow: 503 service unavailable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, logicFile(tt.logics...), nil)
			got := describeOutcome(b.pipeline.Handle(t.Context(), job("w", tt.key)))
			if tt.want.Error == "" {
				got.Error = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("outcome (-want +got):\n%s", diff)
			}
			if tt.payload != nil {
				items := b.target.pushed()
				if len(items) != 1 {
					t.Fatalf("%d items pushed", len(items))
				}
				if diff := cmp.Diff(tt.payload, items[0].Payload); diff != "" {
					t.Errorf("payload (-want +got):\n%s", diff)
				}
			}
			if got.Outcome != jobs.Created && len(b.target.pushed()) > 0 {
				t.Error("an item was pushed")
			}
		})
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format string
		want         outcome
		payload      map[string]any
	}{
		{
			name: "builtin", format: "builtin",
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"email": "harry@example.com", "firstName": "Harry"},
		},
		{
			name: "jq replaces the built-in", format: `'{firstName: .info.first_name | truncate(3), dob: (.info.date_birth | to_date), ms: (.updated_at | to_epoch_ms), same: (. == $profile)}'`,
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"firstName": "Har", "dob": "1990-08-09", "ms": 1599819996000, "same": true},
		},
		{
			name: "go format", format: "go:upper-name",
			want:    outcome{Outcome: jobs.Created, Event: EventWritten},
			payload: map[string]any{"name": "HARRY POTTER"},
		},
		{
			name: "jq error", format: `'error("unsupported profile")'`,
			want: outcome{Reason: EventFormatFailure, Class: "permanent", Error: "format: error: unsupported profile"},
		},
		{
			name: "jq not an object", format: `'.info.email'`,
			want: outcome{Reason: EventFormatFailure, Class: "permanent", Error: `format: the format produced string ("harry@example.com"), want an object`},
		},
		{
			name: "jq null", format: `'null'`,
			want: outcome{Reason: EventFormatFailure, Class: "permanent", Error: `format: the format produced null (null), want an object`},
		},
		{
			name: "jq no output", format: `'empty'`,
			want: outcome{Reason: EventFormatFailure, Class: "permanent", Error: "format: the format produced no output"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := "workflows:\n  w:\n    target: jobadder\n    format: " + tt.format + "\n"
			b := setup(t, file, nil)
			got := describeOutcome(b.pipeline.Handle(t.Context(), job("w", "p1")))
			if tt.want.Error == "" {
				got.Error = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("outcome (-want +got):\n%s", diff)
			}
			if tt.payload != nil {
				if diff := cmp.Diff(tt.payload, b.target.pushed()[0].Payload); diff != "" {
					t.Errorf("payload (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestGoFunctionsFail(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	reg.Format("jobadder", func(*hrflow.Profile) (map[string]any, error) { return map[string]any{"a": 1}, nil })
	reg.Format("panics", func(*hrflow.Profile) (map[string]any, error) { panic("boom") })
	reg.Format("nothing", func(*hrflow.Profile) (map[string]any, error) { return nil, nil })
	reg.Logic("panics", func(context.Context, map[string]any, *hrflow.Profile) (map[string]any, error) { panic("bang") })
	reg.Logic("fails", func(context.Context, map[string]any, *hrflow.Profile) (map[string]any, error) {
		return nil, errors.New("no luck")
	})
	reg.Logic("slow", func(ctx context.Context, item map[string]any, _ *hrflow.Profile) (map[string]any, error) {
		<-ctx.Done()
		return item, nil
	})
	reg.Logic("go-types", func(_ context.Context, item map[string]any, _ *hrflow.Profile) (map[string]any, error) {
		item["tags"] = []string{"x"}
		return item, nil
	})
	set, err := Parse("t.yaml", []byte(`
timeout: 50ms
workflows:
  format-panics: {target: jobadder, format: go:panics}
  format-nothing: {target: jobadder, format: go:nothing}
  logic-panics: {target: jobadder, logics: [go:panics]}
  logic-fails: {target: jobadder, logics: ['.', go:fails]}
  logic-slow: {target: jobadder, logics: [go:slow]}
  go-then-jq: {target: jobadder, logics: [go:go-types, '.tags += ["y"]']}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	profile := &hrflow.Profile{Key: "p"} // no Raw: $profile is encoded from the fields
	tests := map[string]string{
		"format-panics":  "format (go:panics): panic: boom",
		"format-nothing": "format (go:nothing): the format returned no payload",
		"logic-panics":   "logics[0] (go:panics): panic: bang",
		"logic-fails":    "logics[1] (go:fails): no luck",
		"logic-slow":     "logics[0] (go:slow): timed out after 50ms",
	}
	for id, want := range tests {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			w, _ := set.Workflow(id)
			_, err := w.Run(t.Context(), profile)
			var se *StepError
			if !errors.As(err, &se) || err.Error() != want {
				t.Fatalf("error = %v, want %q", err, want)
			}
		})
	}
	w, _ := set.Workflow("go-then-jq")
	item, err := w.Run(t.Context(), profile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"a": json.Number("1"), "tags": []any{"x", "y"}}, item); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}
}

func TestBadJobs(t *testing.T) {
	t.Parallel()
	file := "workflows:\n  to-bullhorn:\n    target: bullhorn\n    format: '{}'\n  w:\n    target: jobadder\n"
	b := setup(t, file, nil)
	bullhornJob := job("w", "p1")
	bullhornJob.Target = "bullhorn"
	tests := map[string]struct {
		job  *jobs.Job
		want string
	}{
		"undeclared workflow": {job("nosuch", "p1"), `workflow: workflow "nosuch" is not declared in test.yaml`},
		"target mismatch":     {job("to-bullhorn", "p1"), `workflow: workflow "to-bullhorn" pushes to bullhorn, not jobadder`},
		"no such destination": {bullhornJob, "workflow: no bullhorn target is configured on this worker"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := describeOutcome(b.pipeline.Handle(t.Context(), tt.job))
			want := outcome{Reason: jobs.ReasonBadJob, Class: "permanent", Error: tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWithoutFile checks that without a workflows file every workflow id is accepted with the
// target's built-in format, and no option is set (the target's connection decides).
func TestWithoutFile(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	for _, id := range []string{"anything", "e2e"} {
		got := describeOutcome(b.pipeline.Handle(t.Context(), job(id, "p2")))
		if got.Outcome == "" {
			t.Fatalf("workflow %s: %+v", id, got)
		}
	}
	items := b.target.pushed()
	if len(items) != 2 || items[0].Payload["source"] != "builtin" || len(items[0].Options) != 0 {
		t.Errorf("items = %+v", items)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	file := "workflows:\n  dups:\n    target: jobadder\n    options: {allow_duplicates: true}\n  plain:\n    target: jobadder\n"
	b := setup(t, file, nil)
	for _, id := range []string{"dups", "plain"} {
		if _, err := b.pipeline.Handle(t.Context(), job(id, "p1")); err != nil {
			t.Fatal(err)
		}
	}
	items := b.target.pushed()
	dups, plain := items[0].Options.Bool("allow_duplicates", false), items[1].Options.Bool("allow_duplicates", false)
	if !dups || plain {
		t.Errorf("allow duplicates: dups %v, plain %v", dups, plain)
	}
}

// TestInterrupted checks that a program stopped by the end of the job's context (shutdown,
// job timeout) is not a permanent failure.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	b := setup(t, logicFile(`'def loop: loop; loop'`), nil)
	ctx, cancel := context.WithCancelCause(t.Context())
	shutdown := errors.New("shutting down")
	time.AfterFunc(20*time.Millisecond, func() { cancel(shutdown) })
	got := describeOutcome(b.pipeline.Handle(ctx, job("w", "p1")))
	if got.Class != "transient" || !strings.Contains(got.Error, "shutting down") {
		t.Errorf("outcome = %+v", got)
	}
}

func TestNewPipelineChecks(t *testing.T) {
	t.Parallel()
	set, err := Parse("inc.yaml", []byte("workflows:\n  w: {target: jobadder, read_mode: incremental}\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dest := map[string]Destination{"jobadder": {Target: &fakeTarget{}, Format: func(*hrflow.Profile) (map[string]any, error) { return nil, nil }}}
	tests := map[string]struct {
		cfg  PipelineConfig
		want string
	}{
		"no profiles":     {PipelineConfig{Downloader: noDownloads{}, Destinations: dest}, "workflow: profiles and downloader are required"},
		"no destinations": {PipelineConfig{Profiles: &fakeProfiles{}, Downloader: noDownloads{}}, "workflow: at least one destination is required"},
		"no format": {PipelineConfig{Profiles: &fakeProfiles{}, Downloader: noDownloads{}, Destinations: map[string]Destination{"jobadder": {Target: &fakeTarget{}}}},
			"workflow: destination jobadder needs a target and a format"},
		"incremental without state": {PipelineConfig{Profiles: &fakeProfiles{}, Downloader: noDownloads{}, Destinations: dest, Workflows: set},
			"workflow: inc.yaml declares an incremental workflow but no state bucket is given"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := NewPipeline(tt.cfg)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// stateBucket starts an embedded JetStream server and returns a state bucket.
func stateBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: jobs.StateBucket, History: 1})
}

func TestIncremental(t *testing.T) {
	t.Parallel()
	kv := stateBucket(t)
	file := `
workflows:
  inc:
    target: jobadder
    read_mode: incremental
    logics: ['if (.email // "") == "" then null else . end']
  other-inc:
    target: jobadder
    read_mode: incremental
  sync:
    target: jobadder
`
	b := setup(t, file, kv)
	run := func(workflow, key string) outcome {
		t.Helper()
		got := describeOutcome(b.pipeline.Handle(t.Context(), job(workflow, key)))
		got.Error = ""
		return got
	}
	written := outcome{Outcome: jobs.Created, Event: EventWritten}
	updated := outcome{Outcome: jobs.Updated, Event: EventWritten}
	skipped := outcome{Outcome: jobs.Discarded, Event: EventSkippedUnchanged}
	discarded := outcome{Outcome: jobs.Discarded, Event: EventLogicsDiscard}

	steps := []struct {
		name     string
		workflow string
		key      string
		change   string // new updated_at of the profile before the step
		want     outcome
	}{
		{"first push", "inc", "p1", "", written},
		{"unchanged", "inc", "p1", "", skipped},
		{"another workflow has its own state", "other-inc", "p1", "", updated},
		{"sync always pushes", "sync", "p1", "", updated},
		{"older is unchanged", "inc", "p1", "2019-01-01T00:00:00+0000", skipped},
		{"newer is pushed", "inc", "p1", "2021-01-01T00:00:00+0000", updated},
		{"then unchanged again", "inc", "p1", "", skipped},
		{"discarded is not remembered", "inc", "p2", "", discarded},
		{"discarded again", "inc", "p2", "", discarded},
	}
	for _, s := range steps {
		if s.change != "" {
			email := "harry@example.com"
			if s.key == "p2" {
				email = ""
			}
			b.profiles.set(s.key, profileJSON(s.key, email, s.change))
		}
		if diff := cmp.Diff(s.want, run(s.workflow, s.key)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	entry, err := kv.Get(t.Context(), stateKey("inc", testSource, "p1"))
	if err != nil {
		t.Fatal(err)
	}
	var rec pushed
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC); !rec.UpdatedAt.Equal(want) || rec.JobID != "job-p1" {
		t.Errorf("state = %+v", rec)
	}
	if !strings.HasPrefix(entry.Key(), "inc.") || len(entry.Key()) != len("inc.")+32 {
		t.Errorf("key = %s", entry.Key())
	}
}
