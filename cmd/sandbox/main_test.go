package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
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
