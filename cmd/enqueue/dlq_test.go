package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// natsServer starts an embedded JetStream server with the streams, and returns its URL and a
// JetStream context on it.
func natsServer(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	url, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return url, js
}

// runCLI runs enqueue with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// dlqEntry is the entry a worker writes for a job of target that failed with reason.
func dlqEntry(t *testing.T, n int, target, reason, class string) *jobs.DeadLetter {
	t.Helper()
	at := time.Date(2026, 11, 23, 10, 0, n, 0, time.UTC)
	job := &jobs.Job{
		Version: jobs.Version, ID: fmt.Sprintf("job-%d", n), WorkflowID: "wf", Target: target,
		SourceKey: "src", ProfileKey: fmt.Sprintf("p%03d", n), BatchID: "b1", EnqueuedAt: at,
	}
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.DeadLetter{
		Job: data, JobID: job.ID, WorkflowID: job.WorkflowID, Target: target, SourceKey: job.SourceKey,
		ProfileKey: job.ProfileKey, BatchID: job.BatchID, Reason: reason, Class: class,
		Error:    reason + ": jobadder: 422 Unprocessable Entity: the email address is not valid and the candidate cannot be saved",
		Errors:   []string{"first attempt failed"},
		Attempts: 3, EnqueuedAt: at, FirstAttemptAt: at.Add(time.Second), LastAttemptAt: at.Add(time.Minute),
		Subject: job.Subject(), StreamSeq: uint64(n),
	}
}

// seedDLQ stores d as a worker does and returns its DLQ sequence.
func seedDLQ(t *testing.T, js jetstream.JetStream, d *jobs.DeadLetter) uint64 {
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
		jetstream.WithMsgID("dlq-"+strconv.FormatUint(d.StreamSeq, 10)))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func msgCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, js, stream)
}

// tableSeqs reads the SEQ column of a dlq list table.
func tableSeqs(t *testing.T, out string) []uint64 {
	t.Helper()
	var seqs []uint64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " shown)") { // the footer
			continue
		}
		field, _, _ := strings.Cut(sc.Text(), " ")
		if n, err := strconv.ParseUint(field, 10, 64); err == nil {
			seqs = append(seqs, n)
		}
	}
	return seqs
}

func TestDLQList(t *testing.T) {
	t.Parallel()
	url, js := natsServer(t)
	s1 := seedDLQ(t, js, dlqEntry(t, 1, "jobadder", "write_failure", "permanent"))
	d2 := dlqEntry(t, 2, "bullhorn", jobs.ReasonExhausted, "exhausted")
	d2.WorkflowID, d2.BatchID = "wf2", "b2"
	s2 := seedDLQ(t, js, d2)
	stream, err := js.Stream(t.Context(), jobs.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(t.Context(), s2)
	if err != nil {
		t.Fatal(err)
	}
	cut := m.Time.Add(time.Nanosecond) // after s2 was stored, before s3 and s4
	for !time.Now().After(cut) {
		time.Sleep(time.Millisecond) // the next entries must be stored after cut
	}
	s3 := seedDLQ(t, js, dlqEntry(t, 3, "jobadder", "read_failure", "exhausted"))
	s4 := seedDLQ(t, js, &jobs.DeadLetter{RawJob: "{truncated", Reason: jobs.ReasonBadJob, Class: "permanent", Error: "jobs: bad job: not a JSON job document", Attempts: 1, StreamSeq: 4})

	tests := []struct {
		name string
		args []string
		want []uint64
	}{
		{"all", nil, []uint64{s1, s2, s3, s4}},
		{"target", []string{"--target", "jobadder"}, []uint64{s1, s3}},
		{"unknown target", []string{"--target", "unknown"}, []uint64{s4}},
		{"reason", []string{"--reason", "write_failure"}, []uint64{s1}},
		{"class", []string{"--reason", "exhausted"}, []uint64{s2, s3}},
		{"workflow", []string{"--workflow-id", "wf2"}, []uint64{s2}},
		{"batch", []string{"--batch", "b1", "--reason", "permanent"}, []uint64{s1}},
		{"since time", []string{"--since", cut.Format(time.RFC3339Nano)}, []uint64{s3, s4}},
		{"since duration", []string{"--since", "1h"}, []uint64{s1, s2, s3, s4}},
		{"seq list", []string{"--seq", fmt.Sprintf("%d,%d", s3, s1)}, []uint64{s1, s3}},
		{"seq repeated", []string{"--seq", strconv.FormatUint(s4, 10), "--seq", strconv.FormatUint(s2, 10)}, []uint64{s2, s4}},
		{"nothing", []string{"--target", "bullhorn", "--reason", "bad_job"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, append([]string{"dlq", "list", "--nats-url", url}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			if diff := cmp.Diff(tt.want, tableSeqs(t, out)); diff != "" {
				t.Errorf("rows (-want +got):\n%s\n%s", diff, out)
			}
			footer := fmt.Sprintf("%s (%d shown)\n", plural(len(tt.want), "entry", "entries"), len(tt.want))
			if !strings.HasSuffix(out, footer) {
				t.Errorf("output does not end with %q:\n%s", footer, out)
			}
		})
	}

	t.Run("table", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runCLI(t, "dlq", "list", "--nats-url", url, "--seq", strconv.FormatUint(s1, 10))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != exitOK || len(lines) != 3 {
			t.Fatalf("exit %d, output:\n%s", code, out)
		}
		if got := strings.Fields(lines[0]); !cmp.Equal(got, []string{"SEQ", "JOB", "WORKFLOW", "TARGET", "PROFILE", "REASON", "CLASS", "ATTEMPTS", "FIRST", "LAST", "ERROR"}) {
			t.Errorf("header = %q", lines[0])
		}
		row := strings.Fields(lines[1])
		want := []string{strconv.FormatUint(s1, 10), "job-1", "wf", "jobadder", "p001", "write_failure", "permanent", "3", "2026-11-23T10:00:02Z", "2026-11-23T10:01:01Z"}
		if diff := cmp.Diff(want, row[:len(want)]); diff != "" {
			t.Errorf("row (-want +got):\n%s", diff)
		}
		errCol := lines[1][strings.Index(lines[0], "ERROR"):]
		if !strings.HasPrefix(errCol, "write_failure: jobadder: 422") || !strings.HasSuffix(errCol, "…") || len([]rune(errCol)) != maxErrorWidth {
			t.Errorf("error column = %q; want the error cut to %d characters", errCol, maxErrorWidth)
		}
	})

	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		_, out, _ := runCLI(t, "dlq", "list", "--nats-url", url, "--limit", "2")
		if got := tableSeqs(t, out); !cmp.Equal(got, []uint64{s1, s2}) || !strings.HasSuffix(out, "4 entries (2 shown)\n") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runCLI(t, "dlq", "list", "--nats-url", url, "--json", "--target", "jobadder")
		if code != exitOK {
			t.Fatalf("exit %d", code)
		}
		var got []jobs.DLQEntry
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var e jobs.DLQEntry
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("%v in:\n%s", err, out)
			}
			got = append(got, e)
		}
		if len(got) != 2 || got[0].Seq != s1 || got[1].Seq != s3 {
			t.Fatalf("entries = %+v", got)
		}
		if e := got[0]; e.Subject != jobs.DLQSubjectPrefix+"jobadder" || e.Error != dlqEntry(t, 1, "jobadder", "write_failure", "").Error ||
			len(e.Errors) != 1 || e.Time.IsZero() || len(e.Job) == 0 {
			t.Errorf("entry = %+v; want it whole", e)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"--target", "workday"}, {"--since", "yesterday"}, {"--since", "-2h"}, {"--seq", "x"}, {"extra"},
		} {
			code, _, errOut := runCLI(t, append([]string{"dlq", "list", "--nats-url", url}, args...)...)
			if code != exitUsage || errOut == "" {
				t.Errorf("dlq list %v: exit %d, stderr %q; want 2 with a message", args, code, errOut)
			}
		}
	})

	t.Run("unknown reason is noted", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "dlq", "list", "--nats-url", url, "--reason", "write_failures")
		if code != exitOK || !strings.Contains(errOut, `--reason "write_failures" is none of`) || !strings.HasSuffix(out, "0 entries (0 shown)\n") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("missing seq is noted", func(t *testing.T) {
		t.Parallel()
		_, _, errOut := runCLI(t, "dlq", "list", "--nats-url", url, "--seq", "999")
		if !strings.Contains(errOut, "no matching entry with seq 999") {
			t.Errorf("stderr %q", errOut)
		}
	})
}

func TestDLQReplay(t *testing.T) {
	t.Parallel()

	t.Run("replays with a new message id and removes the entries", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		d := dlqEntry(t, 1, "jobadder", "write_failure", "permanent")
		orig, err := jobs.Decode(d.Job)
		if err != nil {
			t.Fatal(err)
		}
		// The original was enqueued moments ago: its id is in the duplicates window.
		if _, err := jobs.NewPublisher(js).Publish(t.Context(), orig); err != nil {
			t.Fatal(err)
		}
		jobsStream, err := js.Stream(t.Context(), jobs.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		if err := jobsStream.DeleteMsg(t.Context(), 1); err != nil { // the worker terminated it
			t.Fatal(err)
		}
		seq := seedDLQ(t, js, d)
		seedDLQ(t, js, dlqEntry(t, 2, "bullhorn", "write_failure", "permanent"))

		code, out, errOut := runCLI(t, "dlq", "replay", "--nats-url", url, "--target", "jobadder")
		if code != exitOK {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
		want := fmt.Sprintf("replayed seq %d job job-1 profile p001 → hrpush.push.jobadder\nreplayed 1 job\n", seq)
		if out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
		m, err := jobsStream.GetMsg(t.Context(), 2)
		if err != nil {
			t.Fatalf("the replayed job is not in the jobs stream: %v", err)
		}
		if got, want := m.Header.Get(jetstream.MsgIDHeader), fmt.Sprintf("replay-%s-%d", orig.MsgID(), seq); got != want {
			t.Errorf("Nats-Msg-Id = %q, want %q", got, want)
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 1 {
			t.Errorf("DLQ holds %d entries; want only the bullhorn one left", n)
		}
	})

	t.Run("bad jobs are skipped and kept", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		good := seedDLQ(t, js, dlqEntry(t, 1, "jobadder", "write_failure", "permanent"))
		bad := seedDLQ(t, js, &jobs.DeadLetter{RawJob: "{truncated", Reason: jobs.ReasonBadJob, Class: "permanent", StreamSeq: 2})
		code, out, _ := runCLI(t, "dlq", "replay", "--nats-url", url)
		if code != exitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		for _, want := range []string{
			fmt.Sprintf("replayed seq %d job job-1", good),
			fmt.Sprintf("skipped seq %d: jobs: cannot replay a bad job", bad),
			"replayed 1 job, 1 entry cannot be replayed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 1 {
			t.Errorf("DLQ holds %d entries, want the bad job kept", n)
		}
	})

	t.Run("entry kept when the stream refuses the job", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		s, err := js.Stream(t.Context(), jobs.JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.MaxMsgs = 1
		if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.NewPublisher(js).Publish(t.Context(), &jobs.Job{ID: "filler", WorkflowID: "wf", Target: "jobadder", SourceKey: "s", ProfileKey: "x"}); err != nil {
			t.Fatal(err)
		}
		seq := seedDLQ(t, js, dlqEntry(t, 1, "jobadder", "write_failure", "permanent"))
		code, out, _ := runCLI(t, "dlq", "replay", "--nats-url", url)
		if code != exitFailed || !strings.Contains(out, fmt.Sprintf("failed seq %d:", seq)) || !strings.Contains(out, "the entry is kept") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 1 {
			t.Errorf("DLQ holds %d entries, want the entry kept", n)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		s1 := seedDLQ(t, js, dlqEntry(t, 1, "jobadder", "write_failure", "permanent"))
		seedDLQ(t, js, dlqEntry(t, 2, "bullhorn", "write_failure", "permanent"))
		code, out, _ := runCLI(t, "dlq", "replay", "--nats-url", url, "--dry-run")
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
		for _, want := range []string{
			fmt.Sprintf("would replay seq %d job job-1 profile p001 → hrpush.push.jobadder\n", s1),
			"dry run: would replay 2 jobs; nothing changed\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 2 {
			t.Errorf("DLQ holds %d entries after a dry run, want 2", n)
		}
		if n := msgCount(t, js, jobs.JobsStream); n != 0 {
			t.Errorf("jobs stream holds %d after a dry run, want 0", n)
		}
	})

	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		for i := 1; i <= 3; i++ {
			seedDLQ(t, js, dlqEntry(t, i, "jobadder", "write_failure", "permanent"))
		}
		code, out, _ := runCLI(t, "dlq", "replay", "--nats-url", url, "--limit", "2")
		if code != exitOK || !strings.HasSuffix(out, "replayed 2 jobs, 1 more matching beyond --limit 2\n") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 1 {
			t.Errorf("DLQ holds %d entries, want 1", n)
		}
		if n := msgCount(t, js, jobs.JobsStream); n != 2 {
			t.Errorf("jobs stream holds %d, want 2", n)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		t.Parallel()
		url, _ := natsServer(t)
		for _, args := range [][]string{{"--rate", "0"}, {"--limit", "-1"}, {"--target", "x.y"}} {
			if code, _, _ := runCLI(t, append([]string{"dlq", "replay", "--nats-url", url}, args...)...); code != exitUsage {
				t.Errorf("dlq replay %v: exit %d, want 2", args, code)
			}
		}
	})
}

// fakeClock is a clock whose sleeps only move its time.
type fakeClock struct {
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

// TestDLQReplayRate: n replays at rate r are spread over at least (n-1)/r, measured on a fake
// clock so the test does not depend on the machine's speed.
func TestDLQReplayRate(t *testing.T) {
	t.Parallel()
	url, js := natsServer(t)
	const n, rate = 5, 2.0
	for i := 1; i <= n; i++ {
		seedDLQ(t, js, dlqEntry(t, i, "jobadder", "write_failure", "permanent"))
	}
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, natsURL: url, js: js}
	clock := &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	start := clock.t
	code := replayDeadLetters(t.Context(), a, &dlqFlags{}, jobs.DLQFilter{}, replayOptions{rate: rate, now: clock.now, sleep: clock.sleep})
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if got := msgCount(t, js, jobs.JobsStream); got != n {
		t.Fatalf("jobs stream holds %d, want %d", got, n)
	}
	want := time.Duration(float64(n-1) / rate * float64(time.Second))
	if elapsed := clock.t.Sub(start); elapsed < want {
		t.Errorf("%d replays at %g/s took %s on the clock, want at least %s (sleeps %v)", n, rate, elapsed, want, clock.sleeps)
	}
	if len(clock.sleeps) != n-1 {
		t.Errorf("slept %d times, want %d (none before the first)", len(clock.sleeps), n-1)
	}
}

func TestPacer(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(0, 0)}
	p := newPacer(4, clock.now, clock.sleep)
	for range 3 {
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	clock.t = clock.t.Add(time.Second) // slow work: the next call is already due
	if err := p.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{250 * time.Millisecond, 250 * time.Millisecond}, clock.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestDLQPurge(t *testing.T) {
	t.Parallel()

	seed := func(t *testing.T, js jetstream.JetStream) {
		t.Helper()
		seedDLQ(t, js, dlqEntry(t, 1, "jobadder", "write_failure", "permanent"))
		seedDLQ(t, js, dlqEntry(t, 2, "bullhorn", "write_failure", "permanent"))
		seedDLQ(t, js, dlqEntry(t, 3, "jobadder", jobs.ReasonExhausted, "exhausted"))
	}

	t.Run("without --yes purges nothing", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		seed(t, js)
		code, out, errOut := runCLI(t, "dlq", "purge", "--nats-url", url, "--target", "jobadder")
		if code != exitUsage || out != "would purge 2 entries matching target jobadder\n" || !strings.Contains(errOut, "add --yes") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, _ = runCLI(t, "dlq", "purge", "--nats-url", url)
		if code != exitUsage || out != "would purge ALL 3 entries of the DLQ (no filter given)\n" {
			t.Errorf("without filters: exit %d, stdout %q", code, out)
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 3 {
			t.Errorf("DLQ holds %d entries, want 3", n)
		}
	})

	t.Run("with --yes purges the matching ones only", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		seed(t, js)
		code, out, _ := runCLI(t, "dlq", "purge", "--nats-url", url, "--target", "jobadder", "--reason", "write_failure", "--yes")
		if code != exitOK || out != "purged 1 entry matching target jobadder, reason write_failure\n" {
			t.Errorf("exit %d, stdout %q", code, out)
		}
		_, list, _ := runCLI(t, "dlq", "list", "--nats-url", url)
		if got := tableSeqs(t, list); !cmp.Equal(got, []uint64{2, 3}) {
			t.Errorf("left %v, want [2 3]:\n%s", got, list)
		}
	})

	t.Run("everything, foreign messages included", func(t *testing.T) {
		t.Parallel()
		url, js := natsServer(t)
		seed(t, js)
		if _, err := js.Publish(t.Context(), jobs.DLQSubjectPrefix+"jobadder", []byte("not json")); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI(t, "dlq", "purge", "--nats-url", url, "--yes")
		if code != exitOK || out != "purged ALL 4 entries of the DLQ (no filter given)\n" {
			t.Errorf("exit %d, stdout %q", code, out)
		}
		if n := msgCount(t, js, jobs.DLQStream); n != 0 {
			t.Errorf("DLQ holds %d entries, want 0", n)
		}
	})
}

func TestDLQHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{[]string{"--help"}, exitOK, "enqueue dlq    list|replay|purge", ""},
		{[]string{"dlq"}, exitUsage, "enqueue dlq list", ""},
		{[]string{"dlq", "--help"}, exitOK, "--reason R        bad_job, read_failure", ""},
		{[]string{"dlq", "frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"dlq", "list", "--help"}, exitOK, "", "deliveries_exhausted, panic) or class (permanent, exhausted)"},
		{[]string{"dlq", "replay", "--help"}, exitOK, "", "enqueue at most R jobs per second (default 50)"},
		{[]string{"dlq", "purge", "--help"}, exitOK, "", "Without --yes it only counts them"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.inErr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2h", now.Add(-2 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.AddDate(0, 0, -7), false},
		{"2026-11-23T10:00:00Z", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-23T11:00:00+01:00", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), false},
		{"0s", time.Time{}, true},
		{"-1h", time.Time{}, true},
		{"0d", time.Time{}, true},
		{"last week", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error %t)", tt.in, got, err, tt.want, tt.err)
		}
	}
}
