package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// BenchmarkPush pushes profiles end to end — enqueue, worker, fake HrFlow, fake JobAdder
// (every request validated against the OpenAPI document), events — with 64 jobs at a time.
// The fakes and the NATS server each run in a child process (this test binary, see
// [TestMain]), as NATS runs apart from the workers in production, so that the CPU time of
// this process is the worker's. Run with `make bench`.
//
// cpu: no latency, so the run is CPU-bound. It reports cpu-µs/profile: the CPU time (user +
// system, getrusage) this process used from the worker's start to the batch's end, divided
// by the profiles: the worker (pipeline, HTTP clients, job runtime, start-up) plus the test's
// poll of the events stream's count every 10 ms; the jobs are enqueued before, the events
// read after. nats-cpu-µs/profile is the NATS server's CPU time over the same span (the
// figure before the server moved out of this process was the sum of the two),
// fakes-cpu-µs/profile the fakes', conns/1000req the connections the fakes accepted per 1,000
// requests they answered, and queue-cpu-µs/job the CPU time of this process per job of the
// same run with a handler that does nothing (the floor the job runtime sets). Then a bare loop
// (bareLoop: the same four HTTP calls per profile on 64 goroutines, nothing else) pushes the
// same profiles against the same fakes: loop-cpu-µs/profile is its CPU time per profile in this
// process, of-loop hrpush's throughput over the loop's (issue 13 was filed with the same
// comparison from an independent harness: 0.30).
//
// latency: every HrFlow and JobAdder call takes 50 ms, so the run is latency-bound (NATS is
// embedded in this process, as before); ratio is the throughput of a running worker (timed
// from enqueueing a batch to its last event, after a first batch) over the ideal
// 64 / (calls per profile × 50 ms), calls counting every call of the timed batch that waits
// for the latency. The batch is 90 waves of 64 jobs, so that the window's ends (the enqueue,
// the first fetch, the last jobs' idle slots) weigh little against the steady state. The bare
// loop then pushes the same profiles, and loop-ratio is its throughput over its own ideal: what
// a client that costs next to nothing reaches on this machine.
func BenchmarkPush(b *testing.B) {
	const slots = 64
	// The garbage collector's target as the binary sets it (run); the fakes and NATS, in their
	// own processes, keep Go's default.
	prev := debug.SetGCPercent(-1)
	debug.SetGCPercent(prev)
	defer debug.SetGCPercent(prev)
	tuneGC()
	b.Run("cpu/jobadder/latency=0/slots=64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			const profiles = 2000
			f := startFakes(b, fakesSpec{Profiles: profiles})
			e, n := benchQueue(b, f)
			queue := e.ceilingCPU(fmt.Sprintf("ceiling-%d", i), profiles, slots)

			batch := fmt.Sprintf("push-%d", i)
			e.enqueue(batch, e.keys)
			runtime.GC()
			before, natsBefore, cpu := f.stats(), n.stats(), processCPU()
			start := time.Now()
			stop := e.run("bench", f.config(e, slots))
			e.waitEvents(batch, profiles)
			took, cpu := time.Since(start), processCPU()-cpu
			after, natsAfter := f.stats(), n.stats()
			stop()
			r := e.wait(batch, nil)
			if r.Created != profiles {
				b.Fatalf("created %d of %d", r.Created, profiles)
			}
			b.ReportMetric(float64(cpu.Microseconds())/profiles, "cpu-µs/profile")
			b.ReportMetric(float64((natsAfter.CPU-natsBefore.CPU).Microseconds())/profiles, "nats-cpu-µs/profile")
			b.ReportMetric(float64((after.CPU-before.CPU).Microseconds())/profiles, "fakes-cpu-µs/profile")
			b.ReportMetric(1000*float64(after.Connections-before.Connections)/float64(after.Requests-before.Requests), "conns/1000req")
			b.ReportMetric(queue, "queue-cpu-µs/job")
			b.ReportMetric(profiles/took.Seconds(), "jobs/s")

			loop := newBareLoop(b, f, slots)
			runtime.GC()
			cpu = processCPU()
			loopTook := loop.run(e.keys, slots)
			cpu = processCPU() - cpu
			b.ReportMetric(float64(cpu.Microseconds())/profiles, "loop-cpu-µs/profile")
			b.ReportMetric(loopTook.Seconds()/took.Seconds(), "of-loop")
		}
	})
	b.Run("latency/jobadder/latency=50ms/slots=64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			const (
				profiles = 5760
				latency  = 50 * time.Millisecond
			)
			f := startFakes(b, fakesSpec{Profiles: slots + profiles, Latency: latency})
			// NATS embedded in this process, as before the CPU-bound run moved it out: the
			// figure stays comparable with earlier runs (a server in another process costs
			// this 2-core machine a few hundredths of the ratio).
			natsURL, js := brokertest.JetStream(b)
			if _, err := jobs.EnsureStreams(b.Context(), js, jobs.StreamConfig{}); err != nil {
				b.Fatal(err)
			}
			e := &e2e{t: b, natsURL: natsURL, js: js, source: testSource, keys: f.info.Keys}
			stop := e.run("bench", f.config(e, slots))
			// A running worker, as in production: its start-up (NATS, buckets, token) is not
			// timed, a first batch of one job per slot runs before.
			e.enqueue(fmt.Sprintf("warm-up-%d", i), e.keys[:slots])
			e.wait(fmt.Sprintf("warm-up-%d", i), nil)

			batch := fmt.Sprintf("push-%d", i)
			before := f.stats()
			start := time.Now()
			e.enqueue(batch, e.keys[slots:])
			r := e.wait(batch, nil)
			took := time.Since(start)
			after := f.stats()
			stop()
			if r.Created != profiles {
				b.Fatalf("created %d of %d", r.Created, profiles)
			}
			calls := float64(after.SlowCalls-before.SlowCalls) / profiles
			ideal := slots / (calls * latency.Seconds())
			push := profiles / took.Seconds()
			b.ReportMetric(push, "jobs/s")
			b.ReportMetric(ideal, "ideal-jobs/s")
			b.ReportMetric(push/ideal, "ratio")
			b.ReportMetric(calls, "calls/profile")

			loop := newBareLoop(b, f, slots)
			before = f.stats()
			took = loop.run(e.keys[slots:], slots)
			after = f.stats()
			calls = float64(after.SlowCalls-before.SlowCalls) / profiles
			b.ReportMetric(profiles/took.Seconds()/(slots/(calls*latency.Seconds())), "loop-ratio")
		}
	})
}

// processCPU returns the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchQueue starts a NATS JetStream server in a child process and returns an e2e setup of
// it and the fakes' profiles, and the child.
func benchQueue(b *testing.B, f *fakes) (*e2e, *fakes) {
	n := startFakes(b, fakesSpec{NATS: true})
	js := brokertest.JetStreamAt(b, n.info.NATSURL)
	if _, err := jobs.EnsureStreams(b.Context(), js, jobs.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	return &e2e{t: b, natsURL: n.info.NATSURL, js: js, source: testSource, keys: f.info.Keys}, n
}

// waitEvents waits until the events stream holds at least n events of batch, asking for the
// count every 10 ms: unlike wait it reads no event, so that it costs this process next to
// nothing.
func (e *e2e) waitEvents(batch string, n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 3*time.Minute)
	defer cancel()
	stream, err := e.js.Stream(ctx, jobs.EventsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	subject := jobs.EventsSubjectPrefix + batch
	for {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			e.t.Fatalf("batch %s: %v", batch, err)
		}
		if info.State.Subjects[subject] >= uint64(n) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ceilingCPU runs n jobs, enqueued beforehand, through the worker runtime with a no-op
// handler and returns the CPU time per job of this process.
func (e *e2e) ceilingCPU(batch string, n, concurrency int) float64 {
	e.t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("noop-%d", i)
	}
	e.enqueue(batch, keys)
	runtime.GC()
	cpu := processCPU()
	w, err := jobs.NewWorker(jobs.Config{
		JetStream:   e.js,
		Handlers:    map[string]jobs.Handler{"jobadder": jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Outcome: jobs.Created}, nil })},
		Concurrency: concurrency,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Start(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	e.waitEvents(batch, n)
	cpu = processCPU() - cpu
	if err := w.Stop(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// fakesEnv, set in the environment of this test binary, makes it serve the fakes of
// BenchmarkPush (a JSON fakesSpec) instead of running tests.
const fakesEnv = "HRPUSH_BENCH_FAKES"

func TestMain(m *testing.M) {
	if spec := os.Getenv(fakesEnv); spec != "" {
		os.Exit(serveFakes(spec))
	}
	os.Exit(m.Run())
}

// fakesSpec is what the child serves.
type fakesSpec struct {
	Profiles int
	Latency  time.Duration // of every HrFlow API call and JobAdder call
	// NATS makes the child serve a NATS JetStream server, configured as the worker's own,
	// instead of the fakes.
	NATS bool
}

// fakesInfo is what the child tells once listening.
type fakesInfo struct {
	NATSURL                             string
	HrFlowURL                           string
	Keys                                []string
	AuthURL, TokenURL                   string
	ClientID, ClientSecret, RedirectURI string
	Code                                string
	LoopCode                            string // for the bare loop's own token
}

// fakesStats is what the child answers to each line on its stdin; a NATS child answers its
// CPU time only.
type fakesStats struct {
	CPU         time.Duration // the child's CPU time so far
	Requests    int           // answered by both fakes
	SlowCalls   int           // requests that waited for the latency: HrFlow's profile reads, every JobAdder call
	Connections int           // accepted by both fakes
}

// serveFakes serves a fake HrFlow and a fake JobAdder, prints a fakesInfo line, then a
// fakesStats line for each line read, until stdin ends. It returns the exit code.
func serveFakes(spec string) int {
	var fs fakesSpec
	if err := json.Unmarshal([]byte(spec), &fs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if fs.NATS {
		return serveNATS()
	}
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: testKey, UserEmail: testUser, Latency: fs.Latency})
	defer hf.Close()
	ja := jobaddertest.NewServer(jobaddertest.Config{Latency: fs.Latency})
	defer ja.Close()
	jc := ja.Config()
	out := json.NewEncoder(os.Stdout)
	info := fakesInfo{
		HrFlowURL: hf.URL(), Keys: hf.Generate(testSource, fs.Profiles, 42),
		AuthURL: ja.AuthURL(), TokenURL: ja.TokenURL(),
		ClientID: jc.ClientID, ClientSecret: jc.ClientSecret, RedirectURI: jc.RedirectURI, Code: ja.IssueCode(),
		LoopCode: ja.IssueCode(),
	}
	if err := out.Encode(info); err != nil {
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		st := fakesStats{CPU: processCPU(), Connections: hf.Connections() + ja.State().Connections}
		for k, n := range hf.Stats() {
			st.Requests += n
			if k.Path == hrflowtest.PathProfile {
				st.SlowCalls += n
			}
		}
		for _, n := range ja.State().Requests {
			st.Requests += n
			st.SlowCalls += n
		}
		if err := out.Encode(st); err != nil {
			return 1
		}
	}
	return 0
}

// serveNATS serves a NATS JetStream server, prints its fakesInfo, then a fakesStats line for
// each line read, until stdin ends. It returns the exit code.
func serveNATS() int {
	dir, err := os.MkdirTemp("", "bench-nats-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := broker.Start(broker.Config{Port: -1, StoreDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer srv.Shutdown()
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(fakesInfo{NATSURL: srv.ClientURL()}); err != nil {
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := out.Encode(fakesStats{CPU: processCPU()}); err != nil {
			return 1
		}
	}
	return 0
}

// fakes is a child process serving the fakes or a NATS server.
type fakes struct {
	t    testing.TB
	in   io.WriteCloser
	out  *json.Decoder
	info fakesInfo
}

// startFakes starts this test binary as the fakes' process; it ends with the test.
func startFakes(t testing.TB, spec fakesSpec) *fakes {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fakesEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("fakes: %v", err)
		}
	})
	f := &fakes{t: t, in: in, out: json.NewDecoder(out)}
	if err := f.out.Decode(&f.info); err != nil {
		t.Fatalf("fakes: %v", err)
	}
	return f
}

// stats asks the child for its figures so far.
func (f *fakes) stats() fakesStats {
	f.t.Helper()
	var st fakesStats
	if _, err := io.WriteString(f.in, "stats\n"); err != nil {
		f.t.Fatalf("fakes: %v", err)
	}
	if err := f.out.Decode(&st); err != nil {
		f.t.Fatalf("fakes: %v", err)
	}
	return st
}

// config is the worker's configuration against the child's fakes, slots jobs at a time.
func (f *fakes) config(e *e2e, slots int) config {
	return config{
		NATSURL:                   e.natsURL,
		HrFlowAPIURL:              f.info.HrFlowURL,
		HrFlowAPISecret:           testKey,
		HrFlowAPIUser:             testUser,
		HrFlowDownloadAllow:       []string{"127.0.0.0/8"},
		JobAdderAuthorizationURL:  f.info.AuthURL,
		JobAdderTokenURL:          f.info.TokenURL,
		JobAdderClientID:          f.info.ClientID,
		JobAdderClientSecret:      secret.Value(f.info.ClientSecret),
		JobAdderAuthorizationCode: secret.Value(f.info.Code),
		JobAdderRedirectURI:       f.info.RedirectURI,
		Concurrency:               slots,
		HTTPAddr:                  "off",
		RetryBudget:               3 * time.Second,
		ShutdownGrace:             5 * time.Second,
	}
}
