package main

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// TestSetupAndAFullJobsStream: enqueue creates the streams on a fresh server; setup shows a
// changed limit without applying it, --apply applies it; a bulk run that fills the jobs stream
// exits 2 saying so once, with what to do.
func TestSetupAndAFullJobsStream(t *testing.T) {
	url, js := brokertest.JetStream(t)
	t.Setenv("HRPUSH_JOBS_MAX_MSGS", "")

	code, stdout, stderr := runWithStdin(t, "p1\n", "bulk", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s")
	if code != exitOK || !strings.Contains(stderr, "NATS stream created") {
		t.Fatalf("bulk on a fresh server: exit %d\n%s%s", code, stdout, stderr)
	}

	t.Setenv("HRPUSH_JOBS_MAX_MSGS", "3")
	code, stdout, stderr = runCLI(t, "setup", "--nats-url", url)
	if code != exitOK || !strings.Contains(stdout, "would do: stream PUSH_PROFILES: max_msgs unlimited → 3") ||
		!strings.Contains(stdout, "enqueue setup --apply") {
		t.Fatalf("setup: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runWithStdin(t, "p2\n", "bulk", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s")
	if code != exitOK || !strings.Contains(stderr, "differs from the settings") {
		t.Fatalf("bulk with other settings: exit %d, want 0 and a warning\n%s%s", code, stdout, stderr)
	}
	if got := streamConfig(t, js).MaxMsgs; got != -1 {
		t.Fatalf("bulk changed max_msgs to %d", got)
	}
	code, stdout, stderr = runCLI(t, "setup", "--nats-url", url, "--apply")
	if code != exitOK || !strings.Contains(stdout, "done: stream PUSH_PROFILES: max_msgs unlimited → 3") {
		t.Fatalf("setup --apply: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := streamConfig(t, js).MaxMsgs; got != 3 {
		t.Fatalf("after setup --apply, max_msgs %d", got)
	}

	code, stdout, stderr = runWithStdin(t, "p3\np4\np5\n", "bulk", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s")
	if code != exitUsage || strings.Count(stderr, "jobs stream is full") != 1 || !strings.Contains(stderr, "2 of 3 jobs not enqueued") ||
		!strings.Contains(stderr, "HRPUSH_JOBS_MAX_MSGS") {
		t.Fatalf("bulk into a full stream: exit %d, want 2 and one message\n%s%s", code, stdout, stderr)
	}
	if n := brokertest.StreamMsgs(t, js, jobs.JobsStream); n != 3 {
		t.Errorf("jobs stream holds %d, want 3", n)
	}
}

func streamConfig(t *testing.T, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(t.Context(), jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}
