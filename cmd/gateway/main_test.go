package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/version"
)

func TestLoadConfigNamesTheVariable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for name, env := range map[string]map[string]string{
		"GATEWAY_MAX_JOBS":       {"GATEWAY_MAX_JOBS": "0"},
		"GATEWAY_MAX_BODY":       {"GATEWAY_MAX_BODY": "12"},
		"GATEWAY_RATE_LIMIT":     {"GATEWAY_RATE_LIMIT": "-1"},
		"NATS_REPLICAS":          {"NATS_REPLICAS": "9"},
		"GATEWAY_ADDR":           {"GATEWAY_ADDR": "8090"},
		"HRFLOW_API_USER":        {"HRFLOW_API_SECRET": "k"},
		"NATS_PASSWORD_FILE":     {"NATS_PASSWORD_FILE": missing},
		"GATEWAY_SHUTDOWN_GRACE": {"GATEWAY_SHUTDOWN_GRACE": "soon"},
		"WORKFLOWS_FILE":         {"HRFLOW_WEBHOOK_SECRET": "s"},
		"JOBADDER_REDIRECT_URI":  {"JOBADDER_CLIENT_ID": "app", "JOBADDER_CLIENT_SECRET": "s"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			var cfg config
			if err := loadConfig(&cfg); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("loadConfig = %v; want an error naming %s", err, name)
			}
		})
	}
}

func TestLoadConfigReadsSecretFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("hrflow-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HRFLOW_API_SECRET_FILE", path)
	t.Setenv("HRFLOW_API_USER", "u@example.com")
	var cfg config
	if err := loadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HrFlowAPISecret.Reveal() != "hrflow-s3cr3t" || cfg.Addr != ":8088" || cfg.MaxJobs != 1000 {
		t.Fatalf("%+v", cfg)
	}
}

func TestExitCodes(t *testing.T) {
	if code := run([]string{"--version"}); code != 0 {
		t.Errorf("--version: %d", code)
	}
	if code := run([]string{"--frobnicate"}); code != 2 {
		t.Errorf("unknown argument: %d", code)
	}
	t.Setenv("GATEWAY_MAX_JOBS", "0")
	if code := run(nil); code != 2 {
		t.Errorf("bad configuration: %d", code)
	}
	os.Unsetenv("GATEWAY_MAX_JOBS")
	t.Setenv("GATEWAY_ADDR", "127.0.0.1:0")
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	if code := run(nil); code != 2 {
		t.Errorf("NATS unreachable: %d", code)
	}
}

// TestServe runs the gateway on an embedded JetStream server: probes, metrics, a job posted
// with a key, and a graceful stop.
func TestServe(t *testing.T) {
	srv := brokertest.Start(t)
	cfg := config{Addr: "127.0.0.1:0", NATSURL: srv.URL(), MaxBody: 1 << 20, MaxJobs: 10, MaxBatchKeys: 10,
		RateLimit: 100, RateBurst: 100, ShutdownGrace: 5 * time.Second, HrFlowAPIURL: "http://127.0.0.1:1"}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not start")
	}
	base := "http://" + addr
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	js := srv.JetStream(t)
	kv, err := js.KeyValue(t.Context(), jobs.APIKeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := apikeys.NewStore(kv).Create(t.Context(), apikeys.Key{Name: "t", Workflows: []string{"*"}, Connections: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/v1/jobs", strings.NewReader(`{"workflow_id":"w","target":"jobadder","source_key":"s","profile_key":"p"}`))
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || brokertest.StreamMsgs(t, js, jobs.JobsStream) != 1 {
		t.Fatalf("POST /v1/jobs: %d", resp.StatusCode)
	}
	b := version.Get()
	code, body := get("/metrics")
	for _, want := range []string{
		`hrpush_gateway_request_seconds_count{code="202",route="POST /v1/jobs"} 1`,
		fmt.Sprintf(`hrpush_build_info{goversion=%q,revision=%q,version=%q} 1`, runtime.Version(), b.Revision, b.Version),
		"go_goroutines ",
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("metrics: %d, lacks %s\n%s", code, want, body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop")
	}
}

// TestDeploymentPermissions runs the gateway as the NATS user hrpush-gateway of
// deployments/nats/nats-server.conf, on streams and buckets the workers' user created: every
// route works with those rights.
func TestDeploymentPermissions(t *testing.T) {
	ns := brokertest.StartConfigFile(t, "../../deployments/nats/nats-server.conf", map[string]string{
		"SERVER_NAME": "nats-0", "HRPUSH_WORKER_PASSWORD": "wpass", "HRPUSH_ENQUEUE_PASSWORD": "epass",
		"HRPUSH_OPERATOR_PASSWORD": "opass", "HRPUSH_GATEWAY_PASSWORD": "gpass",
	})

	// The workers create the streams and buckets; an operator creates a key.
	wc, err := broker.Connect(broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-worker", Password: "wpass", InboxPrefix: broker.WorkerInboxPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	wjs, err := jetstream.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.EnsureStreams(t.Context(), wjs, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	oc, err := broker.Connect(broker.ClientConfig{URL: ns.ClientURL(), User: "hrpush-operator", Password: "opass", InboxPrefix: broker.OperatorInboxPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)
	ojs, err := jetstream.New(oc)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := apikeys.NewStore(bucket(t, ojs, jobs.APIKeysBucket)).Create(t.Context(), apikeys.Key{Name: "t", Workflows: []string{"*"}, Connections: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}

	// The gateway also serves HrFlow's webhooks and the JobAdder consent flow: its callback URL is
	// registered with the (fake) JobAdder app before the gateway listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ja := jobaddertest.NewServer(jobaddertest.Config{RedirectURI: "http://" + addr + "/oauth/callback"})
	t.Cleanup(ja.Close)
	workflows := filepath.Join(t.TempDir(), "workflows.yaml")
	if err := os.WriteFile(workflows, []byte("workflows:\n  w:\n    target: jobadder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config{Addr: addr, NATSURL: ns.ClientURL(), NATSUser: "hrpush-gateway", NATSPassword: "gpass",
		MaxBody: 1 << 20, MaxJobs: 10, MaxBatchKeys: 10, RateLimit: 100, RateBurst: 100, ShutdownGrace: 5 * time.Second,
		WorkflowsFile: workflows, WebhookSecret: "hook-secret", WebhookSignature: "hex",
		JobAdderClientID: ja.Config().ClientID, JobAdderClientSecret: secret.Value(ja.Config().ClientSecret),
		JobAdderRedirectURI: "http://" + addr + "/oauth/callback", JobAdderAuthorizationURL: ja.AuthURL(), JobAdderTokenURL: ja.TokenURL()}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("the gateway did not start as hrpush-gateway: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not start")
	}
	call := func(method, path, body, idem string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	job := `{"workflow_id":"w","target":"jobadder","source_key":"s","profile_key":"p"}`
	for _, step := range []struct {
		method, path, body, idem string
		status                   int
	}{
		{"POST", "/v1/jobs", job, "k1", 202},
		{"POST", "/v1/jobs", job, "k1", 202},
		{"POST", "/v1/jobs", `{"workflow_id":"w","target":"jobadder","source_key":"s","profile_key":"p","connection":"acme"}`, "", 422},
		{"POST", "/v1/batches", `{"workflow_id":"w","target":"jobadder","source_key":"s","profile_keys":["a","b"]}`, "", 202},
	} {
		if code, body := call(step.method, step.path, step.body, step.idem); code != step.status {
			t.Fatalf("%s %s: %d, want %d: %s", step.method, step.path, code, step.status, body)
		}
	}
	_, body := call("POST", "/v1/batches", `{"workflow_id":"w","target":"jobadder","source_key":"s","profile_keys":["c"]}`, "")
	var acc struct {
		BatchID string `json:"batch_id"`
	}
	if err := json.Unmarshal([]byte(body), &acc); err != nil {
		t.Fatal(err)
	}
	if code, body := call("GET", "/v1/batches/"+acc.BatchID, "", ""); code != 200 || !strings.Contains(body, `"status"`) {
		t.Fatalf("GET batch: %d %s", code, body)
	}
	// The batches are enqueued in the background: wait for their jobs.
	waitJobs := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); brokertest.StreamMsgs(t, wjs, jobs.JobsStream) != n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stream holds %d jobs, want %d", brokertest.StreamMsgs(t, wjs, jobs.JobsStream), n)
			}
		}
	}
	waitJobs(4)

	// HrFlow parses two profiles and delivers signed webhooks: a job each (parsing.success and
	// storing.success of one profile are one job).
	hf := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{URL: base + "/webhooks/hrflow/w", Secret: "hook-secret"}})
	t.Cleanup(hf.Close)
	hf.Parse("src", 2, 1)
	waitJobs(6)

	// An operator's link runs the consent: the browser goes to JobAdder and back to the callback,
	// which stores the token the workers then use.
	link, err := consent.NewLink(t.Context(), bucket(t, ojs, jobs.ConsentBucket), base, "jobadder", "default", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Jar: jar}).Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/oauth/callback" {
		t.Fatalf("consent ended at %s with %d: %s", resp.Request.URL.Path, resp.StatusCode, page)
	}
	tokens, err := bucket(t, wjs, jobs.TokensBucket).ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for k := range tokens.Keys() {
		stored = append(stored, k)
	}
	if len(stored) != 1 || !strings.HasPrefix(stored[0], "jobadder.") {
		t.Fatalf("token records after the consent: %v, want the default connection's", stored)
	}
}

func bucket(t *testing.T, js jetstream.JetStream, name string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
