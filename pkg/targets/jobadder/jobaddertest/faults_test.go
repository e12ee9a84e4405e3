package jobaddertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	const n, workers = 1000, 8
	srv, tok := setup(t, jobaddertest.Config{RateLimitRate: 0.2, ErrorRate: 0.1, RetryAfter: 2500 * time.Millisecond, Seed: 42})

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				res := call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": fmt.Sprintf("c%d@example.com", i)})
				if res.status == http.StatusTooManyRequests && res.header.Get("Retry-After") != "3" {
					t.Errorf("Retry-After %q, want 3", res.header.Get("Retry-After"))
				}
				mu.Lock()
				statuses[res.status]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	share := func(codes ...int) float64 {
		sum := 0
		for _, c := range codes {
			sum += statuses[c]
		}
		return float64(sum) / n
	}
	if got := share(http.StatusTooManyRequests); got < 0.16 || got > 0.24 {
		t.Errorf("429 share %.3f, want about 0.2 (%v)", got, statuses)
	}
	if got := share(http.StatusInternalServerError, http.StatusServiceUnavailable); got < 0.07 || got > 0.13 {
		t.Errorf("5xx share %.3f, want about 0.1 (%v)", got, statuses)
	}
	if statuses[http.StatusInternalServerError] == 0 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("want both 500 and 503: %v", statuses)
	}
	st := srv.State()
	created := statuses[http.StatusCreated]
	faulted := statuses[http.StatusTooManyRequests] + statuses[http.StatusInternalServerError] + statuses[http.StatusServiceUnavailable]
	if created+faulted != n || st.Candidates != created || st.Faults != faulted {
		t.Errorf("%d created, %d candidates stored, %d faults; statuses %v", created, st.Candidates, st.Faults, statuses)
	}
	// Nothing was written by a faulted request: ids are dense.
	for i, c := range srv.Candidates() {
		if int(c.ID) != i+1 {
			t.Fatalf("candidate %d has id %d", i, c.ID)
		}
	}
}

func TestTokenFaults(t *testing.T) {
	t.Parallel()
	const n = 400
	srv, _ := setup(t, jobaddertest.Config{TokenErrorRate: 0.25, Seed: 3})
	faults := 0
	for range n {
		code := srv.IssueCode()
		res := exchange(t, srv, code)
		switch res.status {
		case http.StatusServiceUnavailable:
			faults++
			if srv.State().Exchanges(code) != 0 {
				t.Fatal("a faulted exchange reached the code")
			}
		case http.StatusOK:
		default:
			t.Fatalf("status %d", res.status)
		}
	}
	if share := float64(faults) / n; share < 0.19 || share > 0.31 {
		t.Errorf("token fault share %.3f, want about 0.25", share)
	}
	// Faults do not touch the API.
	wantStatus(t, call(t, srv, srv.IssueToken().AccessToken, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
}

func TestLatency(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{Latency: 50 * time.Millisecond})
	start := time.Now()
	wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered in %v", d)
	}
}

// TestLatencyProcessedAtOnce: a call is done when it arrives, only its answer waits for the
// latency, so a client that gives up waiting has nevertheless written.
func TestLatencyProcessedAtOnce(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{Latency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := strings.NewReader(`{"firstName":"Ada","email":"ada@example.com"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v2/candidates", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); srv.State().Candidates != 1; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the call ended before the candidate existed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no candidate 30 s after the call")
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("the call was answered before its hour of latency")
	}
}

// TestConcurrentDuplicates creates the same emails from many workers: exactly one candidate
// per email, every other attempt a 409.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	const emails, workers = 20, 8
	srv, tok := setup(t, jobaddertest.Config{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range emails {
				res := call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": fmt.Sprintf("c%d@example.com", i)})
				if res.status != http.StatusCreated && res.status != http.StatusConflict {
					t.Errorf("status %d", res.status)
				}
				call(t, srv, tok, http.MethodGet, "/v2/candidates?email="+url.QueryEscape(fmt.Sprintf("c%d@example.com", i)), nil)
			}
		})
	}
	wg.Wait()
	st := srv.State()
	if st.Candidates != emails || len(st.Duplicates) != 0 || st.DuplicateConflicts != emails*(workers-1) {
		t.Errorf("candidates %d, duplicates %v, conflicts %d", st.Candidates, st.Duplicates, st.DuplicateConflicts)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]jobaddertest.Config{
		"rate above 1":      {ErrorRate: 1.5},
		"negative rate":     {RateLimitRate: -0.1},
		"rates sum above 1": {RateLimitRate: 0.6, ErrorRate: 0.6},
		"negative TTL":      {CodeTTL: -time.Second},
		"base URL":          {BaseURL: "example.com"},
		"slow rate above 1": {SlowRate: 1.1},
		"negative slow":     {SlowLatency: -time.Second},
	} {
		if cfg.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
	}
	if err := (jobaddertest.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

// TestSlowAnswers: a slow call is processed at once and answered SlowLatency later (what a
// client that gives up waiting meets is targetstest's TestHeldAnswerClientLeaves).
func TestSlowAnswers(t *testing.T) {
	t.Parallel()

	t.Run("processed at once, answered late", func(t *testing.T) {
		t.Parallel()
		srv, tok := setup(t, jobaddertest.Config{SlowRate: 1, SlowLatency: 300 * time.Millisecond})
		start := time.Now()
		res := call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "slow@example.com"})
		wantStatus(t, res, http.StatusCreated)
		wantValid(t, res)
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("answered in %v, want at least 300ms", d)
		}
		if st := srv.State(); st.Candidates != 1 || st.SlowAnswers != 1 {
			t.Errorf("candidates %d, slow answers %d; want 1 and 1", st.Candidates, st.SlowAnswers)
		}
	})

	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		srv, tok := setup(t, jobaddertest.Config{SlowLatency: time.Hour})
		wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
		if n := srv.State().SlowAnswers; n != 0 {
			t.Errorf("%d slow answers without SlowRate", n)
		}
	})
}

// TestDown: a down API answers 503 and does nothing until it is back.
func TestDown(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	srv.SetDown(true)
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "down@example.com"}), http.StatusServiceUnavailable)
	if n := srv.State().Candidates; n != 0 {
		t.Errorf("a down API stored %d candidates", n)
	}
	srv.SetDown(false)
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "down@example.com"}), http.StatusCreated)
}
