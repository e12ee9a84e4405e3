package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build compiles the worker, enqueue and sandbox commands into dir, without the race detector
// (GOFLAGS cleared), and returns the path of each by name.
func build(t *testing.T, dir string) map[string]string {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", dir+string(os.PathSeparator),
		"./cmd/worker", "./cmd/enqueue", "./cmd/sandbox")
	cmd.Dir = ".." // the module root
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built worker, enqueue and sandbox in %s", time.Since(start).Round(100*time.Millisecond))
	bins := map[string]string{}
	for _, name := range []string{"worker", "enqueue", "sandbox"} {
		bins[name] = filepath.Join(dir, name)
	}
	return bins
}

// proc is a child process that can be killed and started again; every generation appends its
// output to the same log file.
type proc struct {
	name string
	bin  string
	args []string
	env  []string // without WORKER_NAME, which start adds with the generation
	log  string

	// supervise restarts the process when it exits on its own, as Kubernetes would.
	supervise bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	gen      int
	expected bool    // the running generation was told to stop (kill or stop)
	closed   bool    // stopped for good: no more restarts
	crashes  []crash // exits nobody asked for
}

// crash is an exit nobody asked for, with the last error the process logged.
type crash struct {
	gen       int
	err       error
	lastError string
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.gen++
	cmd := exec.Command(p.bin, p.args...) //nolint:gosec // binaries this test built
	cmd.Env = append(append([]string{}, p.env...), fmt.Sprintf("WORKER_NAME=%s.%d", p.name, p.gen))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	gen := p.gen
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		crashed := !p.expected && p.gen == gen
		if crashed {
			p.crashes = append(p.crashes, crash{gen: gen, err: err, lastError: lastLine(p.log, `"level":"ERROR"`)})
		}
		restart := crashed && p.supervise && !p.closed
		p.mu.Unlock()
		close(done)
		if restart {
			time.Sleep(500 * time.Millisecond)
			p.mu.Lock()
			again := !p.closed && p.gen == gen
			p.mu.Unlock()
			if again {
				_ = p.start()
			}
		}
	}()
	return nil
}

// kill sends SIGKILL and waits for the process to be gone; for good when final.
func (p *proc) kill(final bool) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.closed = p.closed || final
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM and waits up to grace, then kills. It reports whether the process stopped
// on SIGTERM in time.
func (p *proc) stop(grace time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected, p.closed = true, true
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return true
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return false
	}
}

func (p *proc) unexpectedExits() []crash {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]crash{}, p.crashes...)
}

// lastLine returns the last line of the file that contains s.
func lastLine(path, s string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// waitFor polls cond every 50 ms until it holds or d passes; it reports whether it held.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readEnv reads KEY=VALUE lines.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && k != "" && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// logLines returns the lines of the log file that contain all of the given strings, at most max.
func logLines(path string, max int, contains ...string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() && len(out) < max {
		for _, c := range contains {
			if !strings.Contains(sc.Text(), c) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// keepLogs copies the logs of dir into HRPUSH_CHAOS_LOGS when it is set, and into a new
// temporary directory when the test failed.
func keepLogs(t *testing.T, dir string) {
	t.Helper()
	keep := os.Getenv("HRPUSH_CHAOS_LOGS")
	if keep == "" {
		if !t.Failed() {
			return
		}
		var err error
		if keep, err = os.MkdirTemp("", "hrpush-chaos-logs-"); err != nil {
			t.Logf("keep logs: %v", err)
			return
		}
	}
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Logf("keep logs: %v", err)
		return
	}
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".log") && !strings.HasPrefix(e.Name(), "keys") && e.Name() != "env" {
			continue // not the binaries
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(keep, e.Name()), b, 0o600)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Logf("keep logs: %v", err)
	}
	t.Logf("logs kept in %s", keep)
}
