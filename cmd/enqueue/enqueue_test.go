package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// runWithStdin runs enqueue with args and stdin.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// startWorker runs the worker runtime with a handler that fails the profiles in fail.
func startWorker(t *testing.T, js jetstream.JetStream, fail map[string]bool) {
	t.Helper()
	w, err := jobs.NewWorker(jobs.Config{
		JetStream: js,
		Handlers: map[string]jobs.Handler{"jobadder": jobs.HandlerFunc(func(_ context.Context, j *jobs.Job) (jobs.Result, error) {
			if fail[j.ProfileKey] {
				return jobs.Result{}, jobs.WithReason("read_failure", jobs.Permanent(errors.New("hrflow: profile not found")))
			}
			return jobs.Result{Outcome: jobs.Created, ATSID: "1"}, nil
		})},
		PullExpiry: 200 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
}

func TestUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"--help"}, exitOK, "enqueue bulk"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"push", "--help"}, exitOK, "--profile-key"},
		{[]string{"bulk", "--help"}, exitOK, "--wait"},
		{[]string{"push", "--target", "jobadder", "--source-key", "s", "--profile-key", "p"}, exitUsage, "--workflow-id is required"},
		{[]string{"push", "--workflow-id", "w", "--source-key", "s", "--profile-key", "p"}, exitUsage, "--target is required"},
		{[]string{"push", "--workflow-id", "w", "--target", "workday", "--source-key", "s", "--profile-key", "p"}, exitUsage, `target "workday" is unknown`},
		{[]string{"push", "--workflow-id", "w", "--target", "jobadder", "--source-key", "s", "--profile-key", "p", "--nats-url", "nats://127.0.0.1:1"}, exitUsage, "cannot connect to NATS"},
		{[]string{"status", "--batch", "b"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.contains) {
				t.Errorf("output lacks %q:\n%s%s", tt.contains, stdout, stderr)
			}
		})
	}
}

func TestPushDropsADuplicateUnlessForced(t *testing.T) {
	t.Parallel()
	url, js := natsServer(t)
	args := []string{"push", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s", "--profile-key", "p1"}
	code, out, _ := runCLI(t, args...)
	if code != exitOK || !strings.Contains(out, "enqueued job") {
		t.Fatalf("first push: %d %s", code, out)
	}
	code, out, _ = runCLI(t, args...)
	if code != exitOK || !strings.Contains(out, "already enqueued") {
		t.Errorf("second push: %d %s", code, out)
	}
	code, out, _ = runCLI(t, append(args, "--force")...)
	if code != exitOK || !strings.Contains(out, "enqueued job") {
		t.Errorf("forced push: %d %s", code, out)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != 2 {
		t.Errorf("jobs stream holds %d jobs, want 2", n)
	}
}

func TestBulkWaitReportsAndExitsOneOnFailures(t *testing.T) {
	t.Parallel()
	url, js := natsServer(t)
	startWorker(t, js, map[string]bool{"p3": true})
	keys := "# profiles to push\np1\n\np2\np3  # this one is missing at HrFlow\np1\n"
	code, out, errOut := runWithStdin(t, keys, "bulk", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder",
		"--source-key", "s", "--batch-id", "b1", "--wait")
	if code != exitFailed {
		t.Errorf("exit code %d, want 1 (a job failed)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"batch b1: 3 jobs enqueued", "1 repeated keys in the input ignored",
		"status     success_with_failures", "written    2 (created 2, updated 0)", "failed     1",
		"profile p3", "read_failure",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "3/3 100%") {
		t.Errorf("no final progress line on stderr:\n%s", errOut)
	}

	// Any process can read the same report afterwards.
	code, out, _ = runCLI(t, "status", "--nats-url", url, "--batch", "b1", "--json")
	if code != exitFailed || !strings.Contains(out, `"status": "success_with_failures"`) || !strings.Contains(out, `"created": 2`) {
		t.Errorf("status --json: %d\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "status", "--nats-url", url, "--batch", "nope")
	if code != exitUsage || !strings.Contains(errOut, "batch nope not found") {
		t.Errorf("status of an unknown batch: %d %s", code, errOut)
	}
}

func TestBulkWaitAllGood(t *testing.T) {
	t.Parallel()
	url, js := natsServer(t)
	startWorker(t, js, nil)
	code, out, errOut := runWithStdin(t, "a\nb\nc\n", "bulk", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder",
		"--source-key", "s", "--wait")
	if code != exitOK || !strings.Contains(out, "status     success") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestBulkRejectsEmptyInput(t *testing.T) {
	t.Parallel()
	code, _, errOut := runWithStdin(t, "# nothing\n\n", "bulk", "--workflow-id", "w", "--target", "jobadder", "--source-key", "s")
	if code != exitUsage || !strings.Contains(errOut, "no profile keys in standard input") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestSourceEnqueuesEveryProfile lists a fake HrFlow source (three pages) and enqueues a job
// per profile. Not parallel: it sets the HrFlow credentials in the environment.
func TestSourceEnqueuesEveryProfile(t *testing.T) {
	url, js := natsServer(t)
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: "k", UserEmail: "u@example.com"})
	t.Cleanup(hf.Close)
	const source = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	keys := hf.Generate(source, 250, 3)
	t.Setenv("HRFLOW_API_SECRET", "k")
	t.Setenv("HRFLOW_API_USER", "u@example.com")
	code, out, errOut := runCLI(t, "source", "--nats-url", url, "--hrflow-api-url", hf.URL(), "--workflow-id", "w",
		"--target", "jobadder", "--source-key", source, "--batch-id", "src")
	if code != exitOK || !strings.Contains(out, "batch src: 250 jobs enqueued") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != uint64(len(keys)) {
		t.Errorf("jobs stream holds %d jobs, want %d", n, len(keys))
	}
	t.Setenv("HRFLOW_API_SECRET", "wrong")
	code, _, errOut = runCLI(t, "source", "--nats-url", url, "--hrflow-api-url", hf.URL(), "--workflow-id", "w",
		"--target", "jobadder", "--source-key", source)
	if code != exitUsage || !strings.Contains(errOut, "401") || strings.Contains(errOut, "wrong") {
		t.Errorf("wrong key: exit %d: %s", code, errOut)
	}
}

// TestNewIDUnique: the ids of one bulk run (same second) never repeat.
func TestNewIDUnique(t *testing.T) {
	now := time.Now()
	seen := make(map[string]bool, 100_000)
	for range 100_000 {
		id := batch.NewID(now)
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
	}
}

// TestNumbersChecked: every numeric flag out of range, or not a number, exits 2 naming the
// flag, before anything is enqueued or changed (no NATS server listens on the URL given).
func TestNumbersChecked(t *testing.T) {
	t.Parallel()
	const url = "nats://127.0.0.1:1"
	job := []string{"--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s"}
	tests := [][]string{
		{"dlq", "list", "--limit", "-1"},
		{"dlq", "list", "--limit", "ten"},
		{"dlq", "replay", "--limit", "-1"},
		{"dlq", "replay", "--rate", "0"},
		{"dlq", "replay", "--rate", "-5"},
		{"dlq", "list", "--seq", "0"},
		{"dlq", "list", "--since", "-2h"},
		append([]string{"source", "--limit", "-1"}, job...),
		append([]string{"source", "--incremental", "--every", "10ms"}, job...),
		append([]string{"source", "--incremental", "--every", "-5m"}, job...),
		append([]string{"source", "--incremental", "--overlap", "-1m"}, job...),
		{"connections", "add", "acme", "--target", "bullhorn", "--max-in-flight", "-1"},
		{"connections", "add", "acme", "--target", "bullhorn", "--calls-per-minute", "-100"},
		{"connections", "add", "acme", "--target", "bullhorn", "--max-in-flight", "many"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			if args[0] != "source" {
				args = append(args, "--nats-url", url)
			}
			code, out, errOut := runCLI(t, args...)
			// The flag under test: the first but --incremental and --target.
			var name string
			for _, a := range args {
				if strings.HasPrefix(a, "--") && a != "--incremental" && a != "--target" {
					name = a
					break
				}
			}
			// The flag package names it with one dash, enqueue with two.
			if code != exitUsage || !strings.Contains(errOut, strings.TrimPrefix(name, "-")) {
				t.Errorf("exit %d, want 2 naming %s:\n%s%s", code, name, out, errOut)
			}
			if strings.Contains(errOut, "cannot connect") {
				t.Errorf("checked only after connecting:\n%s", errOut)
			}
		})
	}
}
