package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

const incrSource = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"

// incrementalSetup starts NATS and a fake HrFlow holding n profiles in incrSource, sets the
// HrFlow credentials in the environment (callers are not parallel), and returns a func that
// runs enqueue source with the args after the common ones.
func incrementalSetup(t *testing.T, n int) (string, jetstream.JetStream, *hrflowtest.Server, []string, func(args ...string) (int, string, string)) {
	t.Helper()
	url, js := natsServer(t)
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: "k", UserEmail: "u@example.com"})
	t.Cleanup(hf.Close)
	keys := hf.Generate(incrSource, n, 4)
	t.Setenv("HRFLOW_API_SECRET", "k")
	t.Setenv("HRFLOW_API_USER", "u@example.com")
	return url, js, hf, keys, func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append([]string{"source", "--nats-url", url, "--hrflow-api-url", hf.URL(), "--workflow-id", "w",
			"--target", "jobadder", "--source-key", incrSource}, args...)...)
	}
}

// summary is what enqueue source --json prints.
type summary struct {
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	Errors     int `json:"errors"`
}

// runIncremental runs one incremental run and returns its summary.
func runIncremental(t *testing.T, source func(args ...string) (int, string, string)) summary {
	t.Helper()
	code, out, errOut := source("--incremental", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	return s
}

// streamProfiles returns the profile keys of the jobs stored in the jobs stream from seq on.
func streamProfiles(t *testing.T, js jetstream.JetStream, from uint64) map[string]int {
	t.Helper()
	s, err := js.Stream(t.Context(), jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for seq, last := from, brokertest.StreamLastSeq(t, js, jobs.JobsStream); seq <= last; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		j, err := jobs.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[j.ProfileKey]++
	}
	return got
}

// TestSourceIncremental: a first incremental run enqueues all 300 profiles; after 40 are
// updated and 20 created, the next run enqueues exactly those 60, and the one after nothing; a
// run that enqueued but died before moving the watermark (the watermark put back where it
// was) enqueues the same jobs again, which the stream drops. Not parallel: it sets the
// environment.
func TestSourceIncremental(t *testing.T) {
	_, js, hf, keys, source := incrementalSetup(t, 300)
	state, err := js.KeyValue(t.Context(), jobs.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	const stateKey = "incremental.w.jobadder." + incrSource

	if code, out, _ := source("--show-watermark"); code != exitOK || !strings.Contains(out, "no watermark") {
		t.Errorf("show before the first run: %d %s", code, out)
	}
	if s := runIncremental(t, source); s != (summary{Enqueued: 300}) {
		t.Fatalf("first run: %+v, want 300 enqueued", s)
	}
	if got := streamProfiles(t, js, 1); len(got) != 300 {
		t.Fatalf("stream holds jobs for %d profiles, want 300", len(got))
	}
	first, err := state.Get(t.Context(), stateKey)
	if err != nil {
		t.Fatalf("no watermark after the first run: %v", err)
	}

	// Edit 40 profiles and create 20, after every generated one (2024-2026).
	base := time.Now().UTC().Truncate(time.Second)
	want := map[string]int{}
	for i, k := range keys[100:140] {
		if !hf.TouchProfile(incrSource, k, base.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("profile %s not found", k)
		}
		want[k] = 1
	}
	for i := range 20 {
		k := fmt.Sprintf("%040x", 0xabc000+i)
		at := base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05-0700")
		if _, err := hf.AddProfile(incrSource, json.RawMessage(fmt.Sprintf(`{"key":%q,"created_at":%q,"updated_at":%q}`, k, at, at))); err != nil {
			t.Fatal(err)
		}
		want[k] = 1
	}

	// The second run lists the 60 and, again, the untouched profiles updated within the
	// overlap (a minute) before the first run's newest: those the stream drops.
	var newest time.Time
	updated := map[string]time.Time{}
	for _, k := range keys {
		raw, _ := hf.Profile(incrSource, k)
		var p struct {
			UpdatedAt string `json:"updated_at"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse("2006-01-02T15:04:05-0700", p.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
		if want[k] == 0 {
			updated[k] = at
			if at.After(newest) {
				newest = at
			}
		}
	}
	overlapped := 0
	for _, at := range updated {
		if !at.Before(newest.Add(-time.Minute)) {
			overlapped++
		}
	}
	s := runIncremental(t, source)
	if s != (summary{Enqueued: 60, Duplicates: overlapped}) {
		t.Fatalf("second run: %+v, want 60 enqueued and %d duplicates", s, overlapped)
	}
	if diff := cmp.Diff(want, streamProfiles(t, js, 301)); diff != "" {
		t.Errorf("jobs of the second run (-want +got):\n%s", diff)
	}
	if s := runIncremental(t, source); s != (summary{Duplicates: 60}) {
		t.Errorf("third run: %+v, want nothing enqueued, the 60 listed again (overlap) and dropped", s)
	}
	code, out, _ := source("--show-watermark")
	if mark := base.Add(39*time.Second - time.Minute).Format(time.RFC3339); code != exitOK || !strings.Contains(out, "watermark "+mark) {
		t.Errorf("show: %d %s, want watermark %s", code, out, mark)
	}

	// A run killed after its jobs were stored but before the watermark moved leaves the
	// watermark of the first run: the next run lists the 60 again, the stream drops them.
	if _, err := state.Put(t.Context(), stateKey, first.Value()); err != nil {
		t.Fatal(err)
	}
	s = runIncremental(t, source)
	if s.Enqueued != 0 || s.Duplicates < 60 || s.Errors != 0 {
		t.Errorf("run after a crash: %+v, want 0 enqueued and at least 60 duplicates", s)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != 360 {
		t.Errorf("jobs stream holds %d jobs, want 360 (no duplicate)", n)
	}

	// Reset: the next run lists the whole source again; every job is still in the stream.
	if code, out, _ := source("--reset-watermark"); code != exitOK || !strings.Contains(out, "removed") {
		t.Errorf("reset: %d %s", code, out)
	}
	if s := runIncremental(t, source); s.Enqueued != 0 || s.Duplicates != 320 {
		t.Errorf("run after a reset: %+v, want 320 duplicates", s)
	}
}

// TestSourceIncrementalInterrupted: a run whose listing fails after its first page was
// enqueued exits 2 and leaves no watermark; the next run enqueues the rest and the stream
// drops the first page's jobs it already holds.
func TestSourceIncrementalInterrupted(t *testing.T) {
	url, js, hf, _, _ := incrementalSetup(t, 300)
	target, err := neturl.Parse(hf.URL())
	if err != nil {
		t.Fatal(err)
	}
	var failPage2 atomic.Bool
	failPage2.Store(true)
	proxy := httputil.NewSingleHostReverseProxy(&neturl.URL{Scheme: target.Scheme, Host: target.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failPage2.Load() && r.URL.Query().Get("page") == "2" {
			http.Error(w, `{"code":503,"message":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	source := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"source", "--nats-url", url, "--hrflow-api-url", front.URL + "/v1", "--workflow-id", "w",
			"--target", "jobadder", "--source-key", incrSource}, args...)...)
	}

	code, out, errOut := source("--incremental")
	if code != exitUsage || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "watermark not moved") {
		t.Errorf("interrupted run: exit %d\n%s%s", code, out, errOut)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != pageSize {
		t.Errorf("jobs stream holds %d jobs, want the first page's %d", n, pageSize)
	}
	if code, out, _ := source("--show-watermark"); code != exitOK || !strings.Contains(out, "no watermark") {
		t.Errorf("watermark after the interrupted run: %d %s", code, out)
	}
	failPage2.Store(false)
	if s := runIncremental(t, source); s != (summary{Enqueued: 300 - pageSize, Duplicates: pageSize}) {
		t.Errorf("next run: %+v, want %d enqueued and %d duplicates", s, 300-pageSize, pageSize)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != 300 {
		t.Errorf("jobs stream holds %d jobs, want 300", n)
	}
}

// TestSourceIncrementalLock: a run finding the lock of its workflow, target and source held
// exits 2 and moves nothing; a lock its holder stopped renewing is taken over.
func TestSourceIncrementalLock(t *testing.T) {
	_, js, _, _, source := incrementalSetup(t, 5)
	locks, err := js.KeyValue(t.Context(), jobs.LocksBucket)
	if err != nil {
		t.Fatal(err)
	}
	const key = "incremental.w.jobadder." + incrSource
	held, _ := json.Marshal(lockValue{Owner: "other/1", Until: time.Now().Add(time.Hour)})
	if _, err := locks.Put(t.Context(), key, held); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := source("--incremental")
	if code != exitUsage || !strings.Contains(errOut, "another incremental run holds the lock") || !strings.Contains(errOut, "other/1") {
		t.Errorf("with the lock held: exit %d\n%s%s", code, out, errOut)
	}
	if n := msgCount(t, js, jobs.JobsStream); n != 0 {
		t.Errorf("jobs stream holds %d jobs, want 0", n)
	}
	stale, _ := json.Marshal(lockValue{Owner: "other/1", Until: time.Now().Add(-time.Second)})
	if _, err := locks.Put(t.Context(), key, stale); err != nil {
		t.Fatal(err)
	}
	if s := runIncremental(t, source); s.Enqueued != 5 {
		t.Errorf("with a stale lock: %+v, want 5 enqueued", s)
	}
	if _, err := locks.Get(t.Context(), key); err == nil {
		t.Error("the lock is still there after the run")
	}

	// A running run's lock, then released.
	_, release, err := takeLock(t.Context(), locks, key)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := source("--incremental"); code != exitUsage || !strings.Contains(errOut, "another incremental run holds the lock") {
		t.Errorf("while another run holds the lock: exit %d\n%s%s", code, out, errOut)
	}
	release()
	if code, out, errOut := source("--incremental"); code != exitOK {
		t.Errorf("after the other run released the lock: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSourceIncrementalEvery: with --every the process runs again until its context ends
// (SIGTERM), then exits 0.
func TestSourceIncrementalEvery(t *testing.T) {
	url, js, hf, keys, _ := incrementalSetup(t, 5)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exited := make(chan int)
	var stdout, stderr bytes.Buffer // read only after exited
	go func() {
		exited <- run(ctx, []string{"source", "--nats-url", url, "--hrflow-api-url", hf.URL(), "--workflow-id", "w",
			"--target", "jobadder", "--source-key", incrSource, "--incremental", "--every", "1s"}, strings.NewReader(""), &stdout, &stderr)
	}()
	waitJobs(t, js, 5)
	hf.TouchProfile(incrSource, keys[2], time.Now())
	waitJobs(t, js, 6)
	cancel()
	if code := <-exited; code != exitOK {
		t.Errorf("exit %d, want 0\n%s%s", code, stdout.String(), stderr.String())
	}
}

// waitJobs waits up to 30 seconds for the jobs stream to hold n jobs.
func waitJobs(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for msgCount(t, js, jobs.JobsStream) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the jobs stream holds %d jobs, want %d", msgCount(t, js, jobs.JobsStream), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSourceIncrementalUsage(t *testing.T) {
	t.Parallel()
	base := []string{"source", "--workflow-id", "w", "--target", "jobadder", "--source-key", "s"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--every", "5m"}, "--every needs --incremental"},
		{[]string{"--incremental", "--limit", "3"}, "--limit, --created-after and --created-before do not apply"},
		{[]string{"--read-mode", "incremental", "--created-after", "2026-01-01"}, "do not apply"},
		{[]string{"--read-mode", "sometimes"}, `--read-mode "sometimes": want full or incremental`},
		{[]string{"--incremental", "--every", "5m", "--wait"}, "--wait and --batch-id do not apply"},
		{[]string{"--incremental", "--every", "10ms"}, "want 1s or more"},
		{[]string{"--incremental", "--connection", "Not A Name"}, "connection must match"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, append(slices.Clone(base), tt.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want 2 with %q\n%s%s", code, tt.want, out, errOut)
			}
		})
	}
}
