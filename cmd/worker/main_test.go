package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

func TestLoadConfigNamesWhatIsMissing(t *testing.T) {
	for _, name := range []string{"HRFLOW_API_SECRET", "HRFLOW_API_USER", "JOBADDER_CLIENT_ID", "JOBADDER_CLIENT_SECRET", "JOBADDER_REDIRECT_URI"} {
		t.Run(name, func(t *testing.T) {
			full := map[string]string{
				"HRFLOW_API_SECRET": "k", "HRFLOW_API_USER": "u@example.com", "JOBADDER_CLIENT_ID": "id",
				"JOBADDER_CLIENT_SECRET": "s", "JOBADDER_REDIRECT_URI": "https://example.com/cb",
			}
			for k, v := range full {
				if k == name {
					v = ""
				}
				t.Setenv(k, v)
			}
			var cfg config
			err := loadConfig(&cfg)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("loadConfig without %s = %v; want an error naming it", name, err)
			}
		})
	}
}

// TestLoadConfigChecksEveryNumber: every numeric and duration setting out of range, or not a
// number, is a configuration error (run exits 2) naming the variable; the table must cover
// every such field of config.
func TestLoadConfigChecksEveryNumber(t *testing.T) {
	bad := map[string][]string{
		"NATS_REPLICAS":             {"0", "7", "three"},
		"NATS_SYNC_INTERVAL":        {"-1s", "soon"},
		"HRFLOW_DOWNLOAD_TIMEOUT":   {"0s", "-5s"},
		"BULLHORN_SESSION_TTL":      {"30s", "-1h"},
		"BULLHORN_CALLS_PER_MINUTE": {"0", "-10"},
		"WORKER_CONCURRENCY":        {"-1", "0", "1.5"},
		"WORKER_ACK_WAIT":           {"-5s", "0s", "30"},
		"WORKER_MAX_DELIVERIES":     {"0", "-3"},
		"WORKER_RETRY_BUDGET":       {"-1s"},
		"WORKER_OUTAGE_AFTER":       {"0", "-1"},
		"WORKER_JOB_TIMEOUT":        {"0s", "-2m"},
		"WORKER_SHUTDOWN_GRACE":     {"-20s"},
	}
	ct := reflect.TypeFor[config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if k := f.Type.Kind(); k != reflect.Int && k != reflect.Int64 && k != reflect.Float64 {
			continue
		}
		if name := f.Tag.Get("envconfig"); bad[name] == nil {
			t.Errorf("config.%s (%s) is not in the table of numbers checked", f.Name, name)
		}
	}
	for name, values := range bad {
		for _, value := range values {
			t.Run(name+"="+value, func(t *testing.T) {
				for k, v := range map[string]string{
					"HRFLOW_API_SECRET": "k", "HRFLOW_API_USER": "u@example.com", "JOBADDER_CLIENT_ID": "id",
					"JOBADDER_CLIENT_SECRET": "s", "JOBADDER_REDIRECT_URI": "https://example.com/cb", name: value,
				} {
					t.Setenv(k, v)
				}
				var cfg config
				if err := loadConfig(&cfg); err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("loadConfig with %s=%s = %v; want an error naming it", name, value, err)
				}
			})
		}
	}
}

func TestLoadConfigReadsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HRFLOW_API_SECRET", "")
	t.Setenv("HRFLOW_API_SECRET_FILE", path)
	t.Setenv("HRFLOW_API_USER", "u@example.com")
	t.Setenv("JOBADDER_CLIENT_ID", "id")
	t.Setenv("JOBADDER_CLIENT_SECRET", "s")
	t.Setenv("JOBADDER_REDIRECT_URI", "https://example.com/cb")
	var cfg config
	if err := loadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HrFlowAPISecret.Reveal() != "from-file" {
		t.Errorf("HRFLOW_API_SECRET from file = %q", cfg.HrFlowAPISecret.Reveal())
	}
}

// TestServeWithoutCodeOrToken: a worker that has no stored token and no code to exchange
// stops at start-up with a configuration error that says what to do.
func TestServeWithoutCodeOrToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 3, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	cfg := e.config()
	e.bullhornConfig(&cfg)
	cfg.JobAdderAuthorizationCode = ""
	cfg.Name = "w1"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	e.enqueueTo("bullhorn", "bh", e.keys)
	e.enqueue("ja", e.keys)
	waitUntil(t, "Bullhorn's jobs, while JobAdder has no token", 60*time.Second, func() bool { return e.bh.State().Candidates == 3 })
	if n := e.ja.State().Candidates; n != 0 {
		t.Errorf("JobAdder holds %d candidates without a token", n)
	}
	if !strings.Contains(logs.String(), "enqueue connect default --target jobadder") {
		t.Errorf("no log line says how to connect JobAdder:\n%s", logs.String())
	}
	// What `enqueue connect default --target jobadder --code CODE` does: the code exchanged
	// once, the token stored. The waiting jobs then run, without a restart.
	e.connectJobAdder(e.ja, "")
	waitUntil(t, "JobAdder's jobs once connected", 90*time.Second, func() bool { return e.ja.State().Candidates == 3 })
}

// TestConnectRefusesSecurityWithoutURL: NATS credentials or TLS without NATS_URL (the embedded
// server has neither) stop start-up with a configuration error naming the variables.
func TestConnectRefusesSecurityWithoutURL(t *testing.T) {
	t.Parallel()
	cfg := config{NATSUser: "u", NATSPassword: "p", NATSTLSCAFile: "/ca.pem", NATSListen: "127.0.0.1:0"}
	_, _, err := connect(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ce *envconf.Error
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "NATS_USER, NATS_PASSWORD, NATS_TLS_CA_FILE set but NATS_URL is empty") {
		t.Fatalf("connect = %v; want a configuration error naming the variables", err)
	}
}

func TestHealthAndMetricsEndpoints(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 1, jobaddertest.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w, err := jobs.NewWorker(jobs.Config{JetStream: e.js, Handlers: map[string]jobs.Handler{"jobadder": jobs.HandlerFunc(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	m.watch(w)
	m.observe(jobs.Event{Target: "jobadder", Outcome: jobs.Created, Event: "written", Attempts: 2})
	cfg := e.config()
	cfg.HTTPAddr = addr
	stop, err := serveHTTP(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), w, m)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`hrpush_jobs_total{connection="default",event="written",outcome="created",target="jobadder"} 1`,
		`hrpush_jobs_in_flight{target="jobadder"} 0`,
		`hrpush_target_paused{target="jobadder"} 0`,
		`hrpush_job_deliveries_bucket{outcome="created",target="jobadder",le="2"} 1`,
		`hrpush_build_info{goversion="` + runtime.Version() + `",revision="`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestHealthzFailsWhenStalled: /healthz answers 503 with the reason once the pull loop cannot
// go round (its only slot held by a job that ignores its cancellation), and /readyz, which
// only looks at the connection and the pauses, stays ready.
func TestHealthzFailsWhenStalled(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 1, jobaddertest.Config{})
	release := make(chan struct{})
	w, err := jobs.NewWorker(jobs.Config{
		JetStream: e.js, Concurrency: 1, JobTimeout: 300 * time.Millisecond, PullExpiry: 200 * time.Millisecond,
		Handlers: map[string]jobs.Handler{"jobadder": jobs.HandlerFunc(func(context.Context, *jobs.Job) (jobs.Result, error) {
			<-release
			return jobs.Result{Outcome: jobs.Created}, nil
		})},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	t.Cleanup(func() { close(release) })
	cfg := e.config()
	cfg.HTTPAddr = "127.0.0.1:0"
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = ln.Addr().String()
	ln.Close()
	stop, err := serveHTTP(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), w, newMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + cfg.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	e.enqueue("b", e.keys)
	waitUntil(t, "/healthz 503", 30*time.Second, func() bool {
		code, body := get("/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "stalled: jobadder: the pull loop is")
	})
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
}
