package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// exampleWorkflows is the documented example workflows file.
const exampleWorkflows = "../../examples/workflows.yaml"

// enqueueWorkflow publishes one job of workflow per key in a batch, with fresh message ids.
func (e *e2e) enqueueWorkflow(batch, workflow string, keys []string) {
	e.t.Helper()
	all := make([]*jobs.Job, len(keys))
	for i, k := range keys {
		all[i] = &jobs.Job{ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: workflow, Target: "jobadder", SourceKey: e.source, ProfileKey: k, BatchID: batch}
		all[i].DedupKey = all[i].ID
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
	if err := jobs.PublishBatch(e.t.Context(), e.js, &jobs.Batch{ID: batch, WorkflowID: workflow, Target: "jobadder", Total: stored}); err != nil {
		e.t.Fatal(err)
	}
}

// report follows a batch to its end from a connection of its own, as `enqueue status` does
// from another process.
func (e *e2e) report(batch string) *jobs.Report {
	e.t.Helper()
	nc, err := nats.Connect(e.natsURL, nats.Name("report-reader"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	r, err := jobs.FollowBatch(ctx, js, batch, true, func(r *jobs.Report) bool { return r.Done() < r.Batch.Total })
	if err != nil {
		e.t.Fatalf("batch %s: %v (report so far: %+v)", batch, err, r)
	}
	return r
}

// counts is what a report must say exactly.
type counts struct {
	Status                              string
	Created, Updated, Discarded, Failed int
	Events                              map[string]int
}

func countsOf(r *jobs.Report) counts {
	return counts{r.Status(), r.Created, r.Updated, r.Discarded, r.Failed, r.Events}
}

// summary prints a report the way `enqueue status` does, for the README.
func summary(r *jobs.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch %s  workflow %s  target %s\n", r.Batch.ID, r.Batch.WorkflowID, r.Batch.Target)
	fmt.Fprintf(&b, "  status     %s\n", r.Status())
	fmt.Fprintf(&b, "  jobs       %d done of %d\n", r.Done(), r.Batch.Total)
	fmt.Fprintf(&b, "  written    %d (created %d, updated %d)\n", r.Created+r.Updated, r.Created, r.Updated)
	fmt.Fprintf(&b, "  discarded  %d\n", r.Discarded)
	fmt.Fprintf(&b, "  failed     %d\n", r.Failed)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Events)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, r.Events[k]))
	}
	fmt.Fprintf(&b, "  events     %s\n", strings.Join(parts, " "))
	for _, f := range r.Failures[:min(3, len(r.Failures))] {
		fmt.Fprintf(&b, "  profile %s  job %s  %s: %s\n", f.ProfileKey, f.JobID, f.Event, f.Error)
	}
	return b.String()
}

// TestE2EWorkflowsMixedBatch runs the documented example workflows file on a batch of 200 jobs
// with known outcomes: profiles without email (discarded by a logic), profiles whose date of
// birth the custom jq format cannot read (format_failure), and keys of profiles that do not
// exist (read_failure). The report, read from a connection of its own, must match exactly.
func TestE2EWorkflowsMixedBatch(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 185, jobaddertest.Config{})
	e.workflowsFile = exampleWorkflows

	// Make some profiles fail the format and some be discarded.
	badDate, noEmail, withEmail := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, key := range e.keys {
		raw, ok := e.hrflow.Profile(e.source, key)
		if !ok {
			t.Fatalf("profile %s missing", key)
		}
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		info := p["info"].(map[string]any)
		switch {
		case i%9 == 1 && len(badDate) < 20:
			info["date_birth"] = "31/02/1990" // HrFlow kept what the resume said
			badDate[key] = true
		case i%7 == 3 && len(noEmail) < 25:
			info["email"] = nil
		}
		if email, _ := info["email"].(string); email == "" {
			noEmail[key] = true
		} else {
			withEmail[key] = true
		}
		changed, _ := json.Marshal(p)
		if _, err := e.hrflow.AddProfile(e.source, changed); err != nil {
			t.Fatal(err)
		}
	}
	keys := slices.Clone(e.keys)
	for i := range 15 {
		keys = append(keys, fmt.Sprintf("%040x", i+1)) // no such profile
	}
	if len(keys) != 200 || len(badDate) != 20 {
		t.Fatalf("setup: %d jobs, %d bad dates", len(keys), len(badDate))
	}
	discarded := 0
	for k := range noEmail {
		if !badDate[k] {
			discarded++
		}
	}
	written := len(e.keys) - len(badDate) - discarded
	t.Logf("expect: %d written, %d discarded (no email), 20 format_failure, 15 read_failure", written, discarded)

	e.worker("w1")
	e.worker("w2")

	// 1. The custom format (incremental): a first run pushes every profile it can.
	e.enqueueWorkflow("custom-1", "custom-format-to-jobadder", keys)
	r := e.report("custom-1")
	t.Logf("report:\n%s", summary(r))
	want := counts{
		Status: jobs.StatusSuccessWithFailures, Created: written, Discarded: discarded, Failed: 35,
		Events: map[string]int{"written": written, "logics_discard": discarded, "format_failure": 20, "read_failure": 15},
	}
	if diff := cmp.Diff(want, countsOf(r)); diff != "" {
		t.Fatalf("first run (-want +got):\n%s", diff)
	}
	for _, f := range r.Failures {
		switch {
		case badDate[f.ProfileKey]:
			if want := `format (@jobadder-format.jq): to_date: cannot parse "31/02/1990" as a date`; f.Event != "format_failure" || f.Error != want {
				t.Errorf("failure of %s: %s %q, want %q", f.ProfileKey, f.Event, f.Error, want)
			}
		case f.Event != "read_failure":
			t.Errorf("unexpected failure of %s: %s %s", f.ProfileKey, f.Event, f.Error)
		}
	}
	e.checkExactlyOnce(written)
	withCountry := 0
	for _, c := range e.ja.Candidates() {
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body["source"] != "HrFlow" || body["email"] == nil || body["firstName"] == nil {
			t.Errorf("candidate %d was not written by the jq format: %s", c.ID, c.Body)
		}
		// The jq format sets no social links nor current employment, which the built-in does.
		if _, ok := body["social"]; ok {
			t.Errorf("candidate %d has social links: the jq format sets none", c.ID)
		}
		address, _ := body["address"].(map[string]any)
		if cc, ok := address["countryCode"].(string); ok {
			withCountry++
			if len(cc) != 2 {
				t.Errorf("candidate %d: countryCode %q is not alpha-2 (jq alpha2)", c.ID, cc)
			}
		}
	}
	if withCountry == 0 {
		t.Error("no candidate has a countryCode: jq alpha2 mapped no HrFlow country")
	}

	// 2. Run again: unchanged profiles are skipped; the rest fails or is discarded again.
	e.enqueueWorkflow("custom-2", "custom-format-to-jobadder", keys)
	r = e.report("custom-2")
	t.Logf("report:\n%s", summary(r))
	want = counts{
		Status: jobs.StatusSuccessWithFailures, Discarded: written + discarded, Failed: 35,
		Events: map[string]int{"skipped_unchanged": written, "logics_discard": discarded, "format_failure": 20, "read_failure": 15},
	}
	if diff := cmp.Diff(want, countsOf(r)); diff != "" {
		t.Fatalf("second run (-want +got):\n%s", diff)
	}

	// 3. The built-in format with logics: the bad dates do not matter to it, so those profiles
	// are created; every candidate is tagged, the salary expectation goes to custom field 3.
	badWithEmail := 0
	for k := range badDate {
		if withEmail[k] {
			badWithEmail++
		}
	}
	e.enqueueWorkflow("builtin-1", "engineers-to-jobadder", keys)
	r = e.report("builtin-1")
	t.Logf("report:\n%s", summary(r))
	want = counts{
		Status: jobs.StatusSuccessWithFailures, Created: badWithEmail, Updated: written, Discarded: len(noEmail), Failed: 15,
		Events: map[string]int{"written": written + badWithEmail, "logics_discard": len(noEmail), "read_failure": 15},
	}
	if diff := cmp.Diff(want, countsOf(r)); diff != "" {
		t.Fatalf("built-in run (-want +got):\n%s", diff)
	}
	e.checkExactlyOnce(written + badWithEmail)
	withSalary := 0
	for _, c := range e.ja.Candidates() {
		var body struct {
			SkillTags []string `json:"skillTags"`
			Custom    []struct {
				FieldID int    `json:"fieldId"`
				Value   string `json:"value"`
			} `json:"custom"`
		}
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(body.SkillTags, "from-hrflow") {
			t.Errorf("candidate %d is not tagged: %v", c.ID, body.SkillTags)
		}
		if len(body.Custom) > 0 {
			withSalary++
			if body.Custom[0].FieldID != 3 || body.Custom[0].Value == "" {
				t.Errorf("candidate %d custom fields: %+v", c.ID, body.Custom)
			}
		}
	}
	if withSalary == 0 {
		t.Error("no candidate got the salary expectation custom field")
	}
}

// TestE2EUnknownWorkflowIsBadJob checks that with a workflows file, a job naming a workflow
// the file does not declare is dead-lettered as bad_job.
func TestE2EUnknownWorkflowIsBadJob(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 3, jobaddertest.Config{})
	e.workflowsFile = exampleWorkflows
	e.worker("w1")
	e.enqueueWorkflow("unknown", "nosuch-workflow", e.keys)
	r := e.report("unknown")
	want := counts{Status: jobs.StatusFatal, Failed: 3, Events: map[string]int{"bad_job": 3}}
	if diff := cmp.Diff(want, countsOf(r)); diff != "" {
		t.Fatalf("report (-want +got):\n%s", diff)
	}
	if got := r.Failures[0].Error; !strings.Contains(got, `workflow "nosuch-workflow" is not declared in `+exampleWorkflows) {
		t.Errorf("error = %s", got)
	}
}

// TestBrokenWorkflowsFileStopsTheWorker checks that the worker refuses to start with a broken
// workflows file, naming the file, the workflow and the problem, before connecting anywhere.
func TestBrokenWorkflowsFileStopsTheWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "workflows.yaml")
	content := `
workflows:
  engineers-to-jobadder:
    target: jobadder
    logics:
      - '.email'
      - 'if .email then'
  to-workday:
    target: workday
`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config{NATSURL: "nats://127.0.0.1:1", WorkflowsFile: file, HTTPAddr: "off"}
	err := serve(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ce *envconf.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a configuration error", err)
	}
	want := file + `: workflow "engineers-to-jobadder": logics[1]: compile: unexpected EOF (line 1, column 15)` + "\n" +
		file + `: workflow "to-workday": target: unknown target "workday" (want one of jobadder, bullhorn)`
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
}
