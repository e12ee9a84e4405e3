package chaos

import (
	"context"
	"crypto/sha1" //nolint:gosec // makes profile-key-shaped ids, not a security use
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// The run's settings. Worker timings are short so that a killed worker's jobs come back fast.
const (
	workers       = 3
	ackWait       = 4 * time.Second
	shutdownGrace = 2 * time.Second
	// retryBudget bounds the in-process retries of one delivery. With 5 % of the calls
	// answered 429 (each pausing the target for a second) and 10 % 5xx, a Bullhorn push of 10
	// to 15 calls seldom gets through in one attempt. 2 s fit one throttle, after which the
	// delivery failed, and each failed delivery doubles the next redelivery delay (2 s, 4 s,
	// ... 5 min): a first version of this test took 4 minutes for 300 profiles. 6 s (under
	// 3×AckWait, as the runtime requires) let few deliveries fail on faults.
	retryBudget = 6 * time.Second
	// maxDeliveries: a good job's delivery ends without success when its worker is killed
	// (each worker is killed about every 9 s, so a delivery of D seconds is lost with
	// probability D/9 s) or when every attempt within the retry budget fails. Measured on the
	// 2,000-profile run: 13 % of the jobs needed a second delivery, 1 % five or more, the most
	// 8. Even at a pessimistic 40 % chance of losing each delivery, losing 20 in a row has
	// probability 0.4^20 ≈ 1e-8 per job: a good job does not end in the DLQ as
	// deliveries_exhausted (and if one did, the DLQ check would say so).
	maxDeliveries = 20
	// slowLatency is longer than AckWait: the worker must keep its message with InProgress.
	slowLatency = 6 * time.Second
	// bullhornCallsPerMinute raises Bullhorn's real cap of 1,500 so that the run fits (about
	// 14 calls a profile under these faults: 1,000 profiles would take 10 minutes); the
	// workers get the same budget from the sandbox's environment.
	bullhornCallsPerMinute = 30000
	// tokenTTL makes the workers refresh the ATS tokens during the run (JobAdder's auth
	// refreshes a fifth of the lifetime before expiry: every 60 s; Bullhorn's when it renews its 2-minute
	// session with an expired access token), so that reuse of a rotated refresh token under
	// SIGKILL would show.
	tokenTTL     = 75 * time.Second
	bhSessionTTL = 2 * time.Minute
)

type settings struct {
	profiles int   // good profiles, split over both targets
	kills    int   // most SIGKILLs; 0: until the batches are done
	seed     int64 // profiles and fault dice
	deadline time.Duration
}

func loadSettings(t *testing.T) settings {
	t.Helper()
	s := settings{profiles: 300, kills: 5, seed: 7}
	if v := os.Getenv("HRPUSH_CHAOS_PROFILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 {
			t.Fatalf("HRPUSH_CHAOS_PROFILES=%q: want a number of at least 20", v)
		}
		s.profiles, s.kills = n, 0
	}
	if v := os.Getenv("HRPUSH_CHAOS_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("HRPUSH_CHAOS_KILLS=%q: want a number, 0 for no limit", v)
		}
		s.kills = n
	}
	if v := os.Getenv("HRPUSH_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("HRPUSH_CHAOS_SEED=%q: %v", v, err)
		}
		s.seed = n
	}
	s.deadline = 3*time.Minute + time.Duration(s.profiles)*300*time.Millisecond
	return s
}

// TestChaos pushes profiles to JobAdder and Bullhorn through three worker processes, one of
// which is killed with SIGKILL and restarted every 2 to 4 seconds, while the fakes inject
// latency, 10 % 5xx, 5 % 429 and answers slower than AckWait; then it checks that every good
// profile is exactly once at its ATS and that the bad jobs are exactly the DLQ.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: skipped with -short")
	}
	set := loadSettings(t)
	dir := t.TempDir()
	t.Cleanup(func() { keepLogs(t, dir) })
	bins := build(t, dir)

	// NATS runs in the test process, so that killing a worker never kills the queue.
	natsURL, js := brokertest.JetStream(t,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				t.Logf("test connection to NATS lost: %v", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { t.Log("test connection to NATS back") }))
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}

	sb, env := startSandbox(t, bins["sandbox"], dir, set)
	keys := readKeys(t, filepath.Join(dir, "keys"))
	if len(keys) != set.profiles {
		t.Fatalf("the sandbox made %d profiles, want %d", len(keys), set.profiles)
	}
	profiles := readProfiles(t, env, keys)

	// Half of the profiles go to each ATS, plus 1 % of keys HrFlow does not know.
	jaKeys, bhKeys := keys[:len(keys)/2], keys[len(keys)/2:]
	missing := max(2, set.profiles/100)
	jaMissing, bhMissing := missingKeys("jobadder", missing/2), missingKeys("bullhorn", missing-missing/2)

	workerEnv := []string{
		"PATH=" + os.Getenv("PATH"),
		"NATS_URL=" + natsURL,
		"WORKER_ACK_WAIT=" + ackWait.String(),
		"WORKER_RETRY_BUDGET=" + retryBudget.String(),
		"WORKER_SHUTDOWN_GRACE=" + shutdownGrace.String(),
		"WORKER_MAX_DELIVERIES=" + strconv.Itoa(maxDeliveries),
		"WORKER_HTTP_ADDR=off",
		"BULLHORN_SESSION_TTL=" + bhSessionTTL.String(),
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
	}
	for k, v := range env {
		if !strings.HasPrefix(k, "SANDBOX_") {
			workerEnv = append(workerEnv, k+"="+v)
		}
	}
	procs := make([]*proc, workers)
	for i := range procs {
		procs[i] = &proc{name: fmt.Sprintf("w%d", i+1), bin: bins["worker"], env: workerEnv, log: filepath.Join(dir, fmt.Sprintf("w%d.log", i+1)), supervise: true}
		if err := procs[i].start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill(true)
		}
	})

	start := time.Now()
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	batches := map[string]string{
		"jobadder": enqueue(t, bins["enqueue"], natsURL, env["SANDBOX_SOURCE_KEY"], "jobadder", "chaos-ja-"+suffix, dir, append(append([]string{}, jaKeys...), jaMissing...)),
		"bullhorn": enqueue(t, bins["enqueue"], natsURL, env["SANDBOX_SOURCE_KEY"], "bullhorn", "chaos-bh-"+suffix, dir, append(append([]string{}, bhKeys...), bhMissing...)),
	}
	malformed := publishMalformed(t, js)

	// One worker killed with SIGKILL and started again every 2 to 4 s, in turn.
	stopChaos := make(chan struct{})
	var kills int
	var chaosDone sync.WaitGroup
	chaosDone.Go(func() {
		rng := rand.New(rand.NewPCG(uint64(set.seed), 99)) //nolint:gosec // test timing, not security
		for set.kills == 0 || kills < set.kills {
			select {
			case <-stopChaos:
				return
			case <-time.After(2*time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))):
			}
			p := procs[kills%workers]
			p.kill(false)
			kills++
			if err := p.start(); err != nil {
				t.Errorf("restart %s: %v", p.name, err)
				return
			}
		}
	})

	// The run is over when the jobs stream is empty: every job acked or dead-lettered (the
	// stream keeps a job until then, also while it waits for a redelivery). The batch reports
	// are checked afterwards: see checkReport.
	ctx, cancel := context.WithTimeout(t.Context(), set.deadline)
	defer cancel()
	err := waitDrained(ctx, t, js)
	close(stopChaos)
	chaosDone.Wait()
	if err != nil {
		t.Fatalf("jobs not done within %s: %v; %d jobs still in the stream", set.deadline, err, streamMsgs(t, js, jobs.JobsStream))
	}
	runTime := time.Since(start)
	for _, p := range procs {
		if !p.stop(shutdownGrace + 10*time.Second) {
			t.Errorf("%s did not stop on SIGTERM in time", p.name)
		}
		for _, c := range p.unexpectedExits() {
			// A worker that cannot reach NATS at start-up exits (code 1) and is restarted, as
			// Kubernetes would; on a loaded machine nats.go's 2 s connect timeout can pass.
			if strings.Contains(c.lastError, "connect to NATS_URL") {
				t.Logf("%s generation %d exited: %v: %s (restarted)", p.name, c.gen, c.err, c.lastError)
				continue
			}
			t.Errorf("%s generation %d exited on its own: %v; last error: %s", p.name, c.gen, c.err, c.lastError)
		}
	}

	st := sandboxState(t, env["SANDBOX_STATE_URL"])
	sb.stop(10 * time.Second)

	c := &checker{t: t, profiles: profiles}
	ja := c.jobAdder(st.JobAdder, jaKeys)
	bh := c.bullhorn(st.Bullhorn, bhKeys)
	dlq := c.deadLetters(js, map[string][]string{"jobadder": jaMissing, "bullhorn": bhMissing}, malformed)
	retries, deliveries := c.retries(js, batches)
	recoveries := countLogs(procs)
	if n := streamMsgs(t, js, jobs.JobsStream); n != 0 {
		t.Errorf("jobs stream holds %d jobs at the end", n)
	}
	c.checkReport(js, "jobadder", batches["jobadder"], len(jaMissing))
	c.checkReport(js, "bullhorn", batches["bullhorn"], len(bhMissing))

	t.Logf("chaos: %d good profiles (%d JobAdder, %d Bullhorn), %d missing from HrFlow, %d malformed jobs; %d workers, %d SIGKILLs",
		set.profiles, len(jaKeys), len(bhKeys), len(jaMissing)+len(bhMissing), len(malformed), workers, kills)
	t.Logf("chaos: all jobs done in %s; retries (deliveries beyond the first) %d; jobs by deliveries %s",
		runTime.Round(100*time.Millisecond), retries, deliveries)
	t.Logf("chaos: recoveries logged by the workers: %s", recoveries)
	t.Logf("chaos: DLQ %d entries (%s); jobs stream %d", dlq.total, dlq.reasons, streamMsgs(t, js, jobs.JobsStream))
	t.Logf("chaos: JobAdder %s", ja)
	t.Logf("chaos: Bullhorn %s", bh)
}

// sandbox starts the fakes with the run's faults, changed by extra flags, and returns the
// process and its environment.
func startSandbox(t *testing.T, bin, dir string, set settings, extra ...string) (*proc, map[string]string) {
	t.Helper()
	envFile, keysFile := filepath.Join(dir, "env"), filepath.Join(dir, "keys")
	p := &proc{
		name: "sandbox", bin: bin, log: filepath.Join(dir, "sandbox.log"),
		env: []string{"PATH=" + os.Getenv("PATH")},
		args: []string{
			"--profiles", strconv.Itoa(set.profiles), "--samples=false", "--seed", strconv.FormatInt(set.seed, 10),
			"--latency", "5ms", "--error-rate", "0.10", "--rate-limit-rate", "0.05",
			"--slow-rate", "0.005", "--slow-latency", slowLatency.String(), "--token-ttl", tokenTTL.String(),
			"--index-lag", "1s", "--bullhorn-calls-per-minute", strconv.Itoa(bullhornCallsPerMinute),
			"--addr", "127.0.0.1:0", "--hrflow-addr", "127.0.0.1:0", "--jobadder-addr", "127.0.0.1:0", "--bullhorn-addr", "127.0.0.1:0",
			"--env-file", envFile, "--keys-file", keysFile,
		},
	}
	p.args = append(p.args, extra...) // the last of a repeated flag wins
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(true) })
	ok := waitFor(t.Context(), time.Minute, func() bool {
		fi, err := os.Stat(keysFile)
		return err == nil && fi.Size() > 0
	})
	if !ok {
		t.Fatalf("the sandbox did not start: %v", logLines(p.log, 20))
	}
	env, err := readEnv(envFile)
	if err != nil {
		t.Fatal(err)
	}
	return p, env
}

func readKeys(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// missingKeys returns n profile keys HrFlow does not have.
func missingKeys(target string, n int) []string {
	out := make([]string, n)
	for i := range out {
		sum := sha1.Sum([]byte(fmt.Sprintf("chaos-missing-%s-%d", target, i))) //nolint:gosec // an id, not security
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}

// enqueue runs enqueue bulk for keys and returns the batch id.
func enqueue(t *testing.T, bin, natsURL, source, target, batch, dir string, keys []string) string {
	t.Helper()
	file := filepath.Join(dir, "keys-"+target)
	if err := os.WriteFile(file, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "bulk", "--nats-url", natsURL, "--workflow-id", "chaos-"+target,
		"--target", target, "--source-key", source, "--file", file, "--batch-id", batch, "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // exec returns it unwrapped
			stderr = ee.Stderr
		}
		t.Fatalf("enqueue bulk %s: %v\n%s%s", target, err, out, stderr)
	}
	var summary struct {
		BatchID  string `json:"batch_id"`
		Enqueued int    `json:"enqueued"`
	}
	if err := json.Unmarshal(out, &summary); err != nil {
		t.Fatalf("enqueue bulk %s printed %q: %v", target, out, err)
	}
	if summary.BatchID != batch || summary.Enqueued != len(keys) {
		t.Fatalf("enqueue bulk %s: batch %q with %d jobs, want %q with %d", target, summary.BatchID, summary.Enqueued, batch, len(keys))
	}
	return batch
}

// malformedJob is a job document published by a foreign producer that the worker must
// dead-letter as bad_job.
type malformedJob struct {
	target string
	jobID  string // set when the document is JSON with an id
	raw    string
}

func publishMalformed(t *testing.T, js jetstream.JetStream) []malformedJob {
	t.Helper()
	var out []malformedJob
	for _, target := range []string{"jobadder", "bullhorn"} {
		id := "chaos-malformed-" + target
		out = append(out,
			malformedJob{target: target, jobID: id, raw: fmt.Sprintf(`{"version":1,"id":%q,"target":%q}`, id, target)},
			malformedJob{target: target, raw: "not a job at all: " + target})
	}
	for i, m := range out {
		if _, err := js.Publish(t.Context(), jobs.SubjectPrefix+m.target, []byte(m.raw), jetstream.WithMsgID(fmt.Sprintf("chaos-malformed-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return brokertest.StreamMsgs(t, js, name)
}

// state is what the sandbox serves at GET /_sandbox/state.
type state struct {
	JobAdder jobaddertest.State `json:"jobadder"`
	Bullhorn bullhorntest.State `json:"bullhorn"`
}

func sandboxState(t *testing.T, url string) state {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st state
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// readStream returns the messages of stream on subjects (all when none), oldest first.
func readStream(t *testing.T, js jetstream.JetStream, stream string, subjects ...string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var pending uint64 = 1
		for m := range batch.Messages() {
			n++
			out = append(out, m)
			if meta, err := m.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if n == 0 || pending == 0 {
			return out
		}
	}
}

func sortedCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// waitDrained waits until the jobs stream is empty, logging its size every 30 s.
func waitDrained(ctx context.Context, t *testing.T, js jetstream.JetStream) error {
	t.Helper()
	lastLog := time.Now()
	for {
		// A cluster that lost a server answers nothing while it elects new leaders (seconds):
		// that is waited for, as the workers wait for it.
		var n uint64
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(cctx, jobs.JobsStream)
		cancel()
		if err == nil {
			n = s.CachedInfo().State.Msgs
		}
		if err == nil && n == 0 {
			return nil
		}
		if time.Since(lastLog) >= 30*time.Second {
			t.Logf("%d jobs left in the stream (%v)", n, err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// summarize prints a report's counts and failures.
func summarize(r *jobs.Report) string {
	if r == nil {
		return "no report"
	}
	var failures []string
	for _, f := range r.Failures {
		failures = append(failures, fmt.Sprintf("%s (%s, %s after %d deliveries: %.200s)", f.ProfileKey, f.Event, f.Reason, f.Attempts, f.Error))
	}
	return fmt.Sprintf("%d of %d done: created %d, updated %d, failed %d %v", r.Done(), r.Batch.Total, r.Created, r.Updated, r.Failed, failures)
}
