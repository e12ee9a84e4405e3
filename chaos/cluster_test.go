package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// TestCluster is make cluster: three real nats-server processes (built from the module's
// nats-server) clustered on loopback, R3 streams and buckets, two worker processes and an
// enqueue bulk run started together on the fresh cluster; run once without kills (baseline)
// and once with the jobs stream's leader SIGKILLed and restarted twice. It prints the throughput (candidates written
// per second at the fake JobAdder) before, during (the 10 s after) and after each kill, and
// checks that every profile is written exactly once and that the DLQ stays empty. It runs only
// with HRPUSH_CLUSTER=1 (not in CI): HRPUSH_CLUSTER_PROFILES (1500), HRPUSH_CLUSTER_LATENCY
// (the fakes' latency per API call, 100ms) and HRPUSH_CHAOS_LOGS (keep the logs) tune it.
func TestCluster(t *testing.T) {
	if os.Getenv("HRPUSH_CLUSTER") == "" {
		t.Skip("the cluster run: make cluster (HRPUSH_CLUSTER=1)")
	}
	profiles, latency := 1500, 100*time.Millisecond
	if v := os.Getenv("HRPUSH_CLUSTER_PROFILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("HRPUSH_CLUSTER_PROFILES=%q: want 100 or more", v)
		}
		profiles = n
	}
	if v := os.Getenv("HRPUSH_CLUSTER_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HRPUSH_CLUSTER_LATENCY=%q: %v", v, err)
		}
		latency = d
	}
	binDir := t.TempDir()
	bins := build(t, binDir)
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(binDir, "nats-server"), "github.com/nats-io/nats-server/v2")
	cmd.Dir, cmd.Env = "..", append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	bins["nats-server"] = filepath.Join(binDir, "nats-server")
	var baseline, failover float64
	t.Run("baseline", func(t *testing.T) { baseline = runCluster(t, bins, profiles, latency, 0) })
	t.Run("failover", func(t *testing.T) { failover = runCluster(t, bins, profiles, latency, 2) })
	if baseline > 0 && failover > 0 {
		t.Logf("cluster: with 2 leader kills, %.1f candidates/s = %.2f of the %.1f/s of the same run without kills", failover, failover/baseline, baseline)
	}
}

// runCluster runs the fresh cluster, workers and enqueue, kills the jobs stream's leader kills
// times, checks the outcome, and returns the run's rate (candidates per second, from the end
// of enqueue to the last candidate).
func runCluster(t *testing.T, bins map[string]string, profiles int, latency time.Duration, kills int) float64 {
	dir := t.TempDir()
	t.Cleanup(func() { keepLogs(t, dir) })
	nodes, natsURL := startNATSCluster(t, dir, bins["nats-server"])
	sb, env := startSandbox(t, bins["sandbox"], dir, settings{profiles: profiles, seed: 7}, "--latency", latency.String(),
		"--error-rate", "0", "--rate-limit-rate", "0", "--slow-rate", "0")
	keys := readKeys(t, filepath.Join(dir, "keys"))

	common := []string{"PATH=" + os.Getenv("PATH"), "NATS_URL=" + natsURL, "NATS_REPLICAS=3", "HRPUSH_SETUP_TIMEOUT=2m"}
	workerEnv := append(append([]string{}, common...), "WORKER_CONCURRENCY=16", "WORKER_HTTP_ADDR=off", "LOG_FORMAT=json", "LOG_LEVEL=info")
	for k, v := range env {
		if !strings.HasPrefix(k, "SANDBOX_") {
			workerEnv = append(workerEnv, k+"="+v)
		}
	}
	var procs []*proc
	for i := range 2 {
		p := &proc{name: fmt.Sprintf("w%d", i+1), bin: bins["worker"], env: workerEnv, log: filepath.Join(dir, fmt.Sprintf("w%d.log", i+1)), supervise: true}
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill(true)
		}
	})
	// enqueue bulk at the same time as the workers, on the fresh cluster.
	start := time.Now()
	file := filepath.Join(dir, "keys-jobadder")
	if err := os.WriteFile(file, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	enq := exec.CommandContext(t.Context(), bins["enqueue"], "bulk", "--workflow-id", "cluster", "--target", "jobadder",
		"--source-key", env["SANDBOX_SOURCE_KEY"], "--file", file)
	enq.Env = common
	out, err := enq.CombinedOutput()
	if err != nil {
		t.Fatalf("enqueue bulk on the fresh cluster: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("enqueue bulk on the fresh cluster, started with the workers, done in %s (%d lines of progress): %s",
		time.Since(start).Round(100*time.Millisecond), len(lines)-2, lines[len(lines)-2])
	// The rates count from here: a fresh cluster's first election (4 to 9 s) is not the run's.
	start = time.Now()

	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// The run: a sample of the candidates written every 250 ms; the leader killed at a third and
	// at two thirds of the profiles, restarted 3 s later.
	type sample struct {
		at time.Time
		n  int
	}
	var samples []sample
	var killed []time.Time
	written := func() int { return sandboxState(t, env["SANDBOX_STATE_URL"]).JobAdder.Candidates }
	deadline := time.Now().Add(5*time.Minute + time.Duration(profiles)*100*time.Millisecond)
	var restarts sync.WaitGroup
	for {
		n := written()
		samples = append(samples, sample{time.Now(), n})
		if n >= profiles || time.Now().After(deadline) {
			break
		}
		if len(killed) < kills && n >= (len(killed)+1)*profiles/(kills+1) {
			if i := streamLeader(t, js, nodes); i >= 0 {
				t.Logf("kill %d: SIGKILL %s, the jobs stream's leader (leaders of the jobs consumer %s, the ids bucket %s, the events %s), at %d of %d candidates",
					len(killed)+1, nodes[i].name, consumerLeader(t, js), leaderOf(t, js, "KV_"+jobs.IDsBucket), leaderOf(t, js, jobs.EventsStream), n, profiles)
				nodes[i].kill(false)
				killed = append(killed, time.Now())
				restarts.Go(func() {
					time.Sleep(3 * time.Second)
					if err := nodes[i].start(); err != nil {
						t.Errorf("restart %s: %v", nodes[i].name, err)
					}
				})
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	end := samples[len(samples)-1].at
	restarts.Wait()
	if got := samples[len(samples)-1].n; got < profiles {
		t.Fatalf("%d of %d candidates after %s", got, profiles, end.Sub(start).Round(time.Second))
	}
	// Waits until the last acks are in.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := waitDrained(ctx, t, js); err != nil {
		t.Errorf("jobs stream not empty: %v", err)
	}

	rate := func(from, to time.Time) float64 {
		count := func(at time.Time) int {
			n := 0
			for _, s := range samples {
				if !s.at.After(at) {
					n = s.n
				}
			}
			return n
		}
		if to.After(end) {
			to = end
		}
		if !to.After(from) {
			return 0
		}
		return float64(count(to)-count(from)) / to.Sub(from).Seconds()
	}
	total := end.Sub(start)
	overall := float64(profiles) / total.Seconds()
	t.Logf("cluster: %d profiles, 2 workers × 16, fakes' latency %s, %d kills; run %s, %.1f candidates/s overall", profiles, latency, kills, total.Round(100*time.Millisecond), overall)
	if len(killed) > 0 {
		t.Logf("cluster: before kill 1: %.1f/s", rate(start, killed[0]))
	}
	for i, k := range killed {
		next := end
		if i+1 < len(killed) {
			next = killed[i+1]
		}
		during := k.Add(10 * time.Second)
		if during.After(next) {
			during = next
		}
		until := "the end"
		if i+1 < len(killed) {
			until = fmt.Sprintf("kill %d", i+2)
		}
		after := "-"
		if next.After(during) {
			after = fmt.Sprintf("%.1f/s", rate(during, next))
		}
		t.Logf("cluster: kill %d at %s: first 5 s %.1f/s, 10 s after %.1f/s, then until %s %s", i+1, k.Sub(start).Round(100*time.Millisecond),
			rate(k, k.Add(5*time.Second)), rate(k, during), until, after)
	}
	if len(killed) != kills {
		t.Errorf("%d kills, want %d", len(killed), kills)
	}

	st := sandboxState(t, env["SANDBOX_STATE_URL"])
	sb.stop(10 * time.Second)
	dups := len(st.JobAdder.Duplicates)
	if st.JobAdder.Candidates != profiles || dups != 0 {
		t.Errorf("JobAdder holds %d candidates (%d duplicated), want %d and none", st.JobAdder.Candidates, dups, profiles)
	}
	dlq := streamMsgs(t, js, jobs.DLQStream)
	if dlq != 0 {
		t.Errorf("DLQ holds %d entries", dlq)
	}
	t.Logf("cluster: lost %d, duplicated %d, DLQ %d", profiles-st.JobAdder.Candidates, dups, dlq)
	for _, p := range procs {
		p.stop(15 * time.Second)
		for _, c := range p.unexpectedExits() {
			t.Errorf("%s generation %d exited on its own: %v; last error: %s", p.name, c.gen, c.err, c.lastError)
		}
	}
	return overall
}

// startNATSCluster starts three nats-server processes clustered on loopback ports free now,
// each with its own store, and returns them with the client URLs.
func startNATSCluster(t *testing.T, dir, bin string) ([]*proc, string) {
	t.Helper()
	ports := brokertest.FreePorts(t, 6)
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var nodes []*proc
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		conf := filepath.Join(dir, name+".conf")
		body := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\ncluster {\n  name: hrpush-cluster\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			name, ports[i], filepath.Join(dir, name), ports[3+i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &proc{name: name, bin: bin, args: []string{"-c", conf}, env: []string{"PATH=" + os.Getenv("PATH")}, log: filepath.Join(dir, name+".log")}
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, p)
	}
	t.Cleanup(func() {
		for _, p := range nodes {
			p.kill(true)
		}
	})
	return nodes, strings.Join(urls, ",")
}

// streamLeader returns the index of the node leading the jobs stream, or -1.
func streamLeader(t *testing.T, js jetstream.JetStream, nodes []*proc) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil || s.CachedInfo().Cluster == nil {
		return -1
	}
	for i, p := range nodes {
		if p.name == s.CachedInfo().Cluster.Leader {
			return i
		}
	}
	return -1
}

// consumerLeader names the server leading the jobs consumer of JobAdder, or "?".
func consumerLeader(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, jobs.JobsStream, jobs.ConsumerPrefix+"jobadder")
	if err != nil || c.CachedInfo().Cluster == nil {
		return "?"
	}
	return c.CachedInfo().Cluster.Leader
}

// leaderOf names the server leading stream, or "?".
func leaderOf(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil || s.CachedInfo().Cluster == nil {
		return "?"
	}
	return s.CachedInfo().Cluster.Leader
}
