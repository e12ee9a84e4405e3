package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the sandbox goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSandboxPrintsEnvironmentAndServesState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile, keysFile := filepath.Join(dir, "env"), filepath.Join(dir, "keys")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--profiles", "5", "--addr", "127.0.0.1:0", "--hrflow-addr", "127.0.0.1:0",
			"--jobadder-addr", "127.0.0.1:0", "--bullhorn-addr", "127.0.0.1:0", "--slow-rate", "0.01", "--slow-latency", "1ms", "--token-ttl", "90s",
			"--env-file", envFile, "--keys-file", keysFile}, &stdout, &stderr)
	}()
	var env map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for env == nil {
		if b, err := os.ReadFile(keysFile); err == nil && len(b) > 0 {
			raw, err := os.ReadFile(envFile)
			if err != nil {
				t.Fatal(err)
			}
			env = map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				env[k] = v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range []string{"HRFLOW_API_URL", "HRFLOW_API_SECRET", "HRFLOW_API_USER", "JOBADDER_TOKEN_URL", "JOBADDER_CLIENT_ID",
		"JOBADDER_CLIENT_SECRET", "JOBADDER_REDIRECT_URI", "JOBADDER_AUTHORIZATION_CODE", "SANDBOX_SOURCE_KEY", "SANDBOX_STATE_URL"} {
		if env[k] == "" {
			t.Errorf("environment lacks %s", k)
		}
		if !strings.Contains(stdout.String(), "export "+k+"=") {
			t.Errorf("stdout lacks export %s", k)
		}
	}
	keys, _ := os.ReadFile(keysFile)
	if n := len(strings.Fields(string(keys))); n != 7 {
		t.Errorf("keys file holds %d keys, want 5 generated + 2 samples", n)
	}
	resp, err := http.Get(env["SANDBOX_STATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	var st sandboxState
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.HrFlow.Profiles != 7 || st.JobAdder.Candidates != 0 {
		t.Errorf("state = %+v", st)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "sandbox summary: JobAdder holds 0 candidates") ||
		!strings.Contains(stdout.String(), "sandbox summary: Bullhorn holds 0 candidates") {
		t.Errorf("no summary at exit:\n%s", stdout.String())
	}
}

// TestNumbersChecked: a count, duration or rate out of range exits 2 naming the flag, before
// any server starts.
func TestNumbersChecked(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--profiles", "-1"}, {"--bullhorn-calls-per-minute", "0"}, {"--index-lag", "-1s"}, {"--latency", "-5ms"},
		{"--slow-latency", "-1s"}, {"--token-ttl", "-1m"}, {"--code-ttl", "0s"}, {"--error-rate", "1.5"},
		{"--rate-limit-rate", "-0.1"}, {"--slow-rate", "2"}, {"--profiles", "many"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("sandbox %s: exit %d, want 2 naming the flag: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
}

// TestSandboxDeliversWebhooks checks that profiles parsed and updated through the control
// server are delivered as signed webhooks to --webhook-url, and counted in the state.
func TestSandboxDeliversWebhooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	events := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("demo-secret"))
		m.Write(body)
		if r.Header.Get("HTTP-HRFLOW-SIGNATURE") != hex.EncodeToString(m.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct{ Type string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		events[ev.Type]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(receiver.Close)
	envFile := filepath.Join(t.TempDir(), "env")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--profiles", "2", "--samples=false", "--addr", "127.0.0.1:0", "--hrflow-addr", "127.0.0.1:0",
			"--jobadder-addr", "127.0.0.1:0", "--bullhorn-addr", "127.0.0.1:0", "--env-file", envFile,
			"--webhook-url", receiver.URL + "/webhooks/hrflow/demo", "--webhook-secret", "demo-secret"}, &stdout, &stderr)
	}()
	env := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for env["SANDBOX_STATE_URL"] == "" {
		if raw, err := os.ReadFile(envFile); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				env[k] = v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if env["HRFLOW_WEBHOOK_SECRET"] != "demo-secret" || env["HRFLOW_WEBHOOK_SIGNATURE"] != "hex" {
		t.Errorf("environment %v lacks the webhook settings", env)
	}
	control := strings.TrimSuffix(env["SANDBOX_STATE_URL"], "/state")
	for _, path := range []string{"/hrflow/parse?n=3", "/hrflow/update?n=2"} {
		resp, err := http.Post(control+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(strings.Fields(string(b))) == 0 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	if resp, err := http.Post(control+"/hrflow/parse?n=0", "", nil); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("n=0 accepted: %v %v", resp, err)
	}
	var st sandboxState
	for st.HrFlow.Webhooks.Made != 8 || st.HrFlow.Webhooks.Pending != 0 {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("webhooks: %+v", st.HrFlow.Webhooks)
		}
		time.Sleep(20 * time.Millisecond)
		resp, err := http.Get(env["SANDBOX_STATE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		st = sandboxState{}
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
	}
	mu.Lock()
	got := fmt.Sprint(events)
	mu.Unlock()
	if want := "map[profile.parsing.success:3 profile.storing.success:3 profile.storing.update:2]"; got != want || st.HrFlow.Webhooks.Delivered != 8 || st.HrFlow.Profiles != 5 {
		t.Errorf("delivered %s (state %+v, %d profiles), want %s", got, st.HrFlow.Webhooks, st.HrFlow.Profiles, want)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d: %s", code, stderr.String())
	}
}
