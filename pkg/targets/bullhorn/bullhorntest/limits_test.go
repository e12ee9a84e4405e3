package bullhorntest_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

func TestCallsPerMinute(t *testing.T) {
	t.Parallel()

	t.Run("without Retry-After", func(t *testing.T) {
		t.Parallel()
		srv, sess, clk := setupSession(t, bullhorntest.Config{CallsPerMinute: 5})
		for i := range 5 {
			wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
			clk.Advance(time.Second * time.Duration(i+1)) // calls at 0, 1, 3, 6 and 10 s
		}
		res := call(t, sess, http.MethodGet, "ping", nil)
		wantStatus(t, res, http.StatusTooManyRequests)
		if ra := res.header.Get("Retry-After"); ra != "" {
			t.Errorf("Retry-After %q", ra)
		}
		if e := decode[apiError](t, res); e.ErrorMessage == "" || e.ErrorCode != 429 {
			t.Errorf("body %s", res.body)
		}
		// A refused call does not count; the budget slides: the first call leaves it a minute
		// after it was made.
		clk.Advance(45 * time.Second) // 60 s after the first call
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusTooManyRequests)
		// Calls without a valid session are refused before the budget.
		wantStatus(t, do(t, http.MethodGet, sess.RestURL+"ping", nil), http.StatusPreconditionFailed)
		if st := srv.State(); st.TooManyRequests != 2 || st.OverBudget != 2 {
			t.Errorf("429s %d, over budget %d", st.TooManyRequests, st.OverBudget)
		}
	})

	t.Run("with Retry-After", func(t *testing.T) {
		t.Parallel()
		_, sess, clk := setupSession(t, bullhorntest.Config{CallsPerMinute: 2, RetryAfterHeader: true})
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		clk.Advance(20 * time.Second)
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		clk.Advance(500 * time.Millisecond)
		res := call(t, sess, http.MethodGet, "ping", nil)
		wantStatus(t, res, http.StatusTooManyRequests)
		if ra := res.header.Get("Retry-After"); ra != "40" {
			t.Errorf("Retry-After %q, want 40", ra)
		}
	})

	t.Run("shared by all sessions", func(t *testing.T) {
		t.Parallel()
		srv, a, _ := setupSession(t, bullhorntest.Config{CallsPerMinute: 2})
		b := session(t, srv)
		wantStatus(t, call(t, a, http.MethodGet, "ping", nil), http.StatusOK)
		wantStatus(t, call(t, b, http.MethodGet, "ping", nil), http.StatusOK)
		wantStatus(t, call(t, a, http.MethodGet, "ping", nil), http.StatusTooManyRequests)
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	const n = 1000
	run := func(seed uint64) ([]int, bullhorntest.State) {
		srv, sess, _ := setupSession(t, bullhorntest.Config{RateLimitRate: 0.2, ErrorRate: 0.1, Seed: seed, CallsPerMinute: -1})
		statuses := make([]int, n)
		for i := range n {
			res := call(t, sess, http.MethodPut, "entity/Candidate", map[string]any{"firstName": "A", "lastName": "B", "name": "A B", "email": fmt.Sprintf("c%d@example.com", i)})
			statuses[i] = res.status
			if res.status >= 500 {
				if e := decode[apiError](t, res); e.ErrorMessage != "An internal error has occurred" || e.ErrorMessageKey != "errors.internalError" {
					t.Fatalf("body %s", res.body)
				}
			}
		}
		return statuses, srv.State()
	}
	statuses, st := run(42) // same seed, same faults: targetstest's TestFaultSequence
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if share := float64(count[429]) / n; share < 0.16 || share > 0.24 {
		t.Errorf("429 share %.3f (%v)", share, count)
	}
	if share := float64(count[500]+count[503]) / n; share < 0.07 || share > 0.13 || count[500] == 0 || count[503] == 0 {
		t.Errorf("5xx share %.3f (%v)", share, count)
	}
	if st.Candidates != count[200] || st.Faults != n-count[200] {
		t.Errorf("%d stored, %d faults; statuses %v", st.Candidates, st.Faults, count)
	}
}

func TestAuthErrorRate(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, bullhorntest.Config{AuthErrorRate: 1})
	res := login(t, srv, srv.IssueToken().AccessToken)
	wantStatus(t, res, http.StatusServiceUnavailable)
	wantStatus(t, exchange(t, srv, authCode(t, srv)), http.StatusServiceUnavailable)
}

// TestConcurrent creates, updates and searches from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{CallsPerMinute: -1})
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				email := fmt.Sprintf("w%d-%d@example.com", w, i%10) // every address written 4 times
				res := search(t, sess, dedupQuery(email), "id")
				if res.status != http.StatusOK {
					t.Errorf("search: %d %s", res.status, res.body)
					return
				}
				if found := decode[searchResult](t, res); found.Total > 0 {
					id := int(found.Data[0]["id"].(float64))
					res = call(t, sess, http.MethodPost, "entity/Candidate/"+strconv.Itoa(id), map[string]any{"occupation": "Engineer"})
				} else {
					res = call(t, sess, http.MethodPut, "entity/Candidate", map[string]any{"firstName": "A", "lastName": "B", "name": "A B", "email": email})
				}
				if res.status != http.StatusOK {
					t.Errorf("write: %d %s", res.status, res.body)
				}
			}
		})
	}
	wg.Wait()
	st := srv.State()
	if st.Candidates != workers*10 || len(st.DuplicateEmails) != 0 || len(st.CandidatesByEmail) != workers*10 {
		t.Errorf("candidates %d, duplicates %v", st.Candidates, st.DuplicateEmails)
	}
	if got := st.Requests["GET /rest-services/{corpToken}/search/Candidate 200"]; got != workers*each {
		t.Errorf("searches counted %d: %v", got, st.Requests)
	}
}

// TestDuplicatesUnderIndexLag shows why clients cannot rely on search alone: two creates of
// one address inside IndexLag both succeed, and State says so.
func TestDuplicatesUnderIndexLag(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{IndexLag: 10 * time.Second})
	for range 2 {
		if got := decode[searchResult](t, search(t, sess, dedupQuery("dup@example.com"), "id")); got.Total == 0 {
			createCandidate(t, sess, map[string]any{"firstName": "D", "lastName": "U", "name": "D U", "email": "dup@example.com"})
		}
	}
	if st := srv.State(); len(st.DuplicateEmails) != 1 || st.CandidatesByEmail["dup@example.com"] != 2 {
		t.Errorf("duplicates %v, by email %v", st.DuplicateEmails, st.CandidatesByEmail)
	}
}

// TestSlowAnswers: a slow REST call is processed at once and answered SlowLatency later (what a
// client that gives up waiting meets is targetstest's TestHeldAnswerClientLeaves).
func TestSlowAnswers(t *testing.T) {
	t.Parallel()

	t.Run("processed at once, answered late", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{SlowRate: 1, SlowLatency: 300 * time.Millisecond})
		start := time.Now()
		id := createCandidate(t, sess, map[string]any{"firstName": "S", "lastName": "L", "name": "S L", "email": "slow@example.com"})
		if d := time.Since(start); d < 300*time.Millisecond || id == 0 {
			t.Errorf("answered id %d in %v, want at least 300ms", id, d)
		}
		if st := srv.State(); st.Candidates != 1 || st.SlowAnswers != 1 {
			t.Errorf("candidates %d, slow answers %d; want 1 and 1", st.Candidates, st.SlowAnswers)
		}
	})

	t.Run("REST calls only", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{SlowRate: 1, SlowLatency: time.Millisecond})
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		wantStatus(t, login(t, srv, srv.IssueToken().AccessToken), http.StatusOK)
		wantStatus(t, exchange(t, srv, authCode(t, srv)), http.StatusOK)
		if n := srv.State().SlowAnswers; n != 1 {
			t.Errorf("%d slow answers, want 1: only the REST call", n)
		}
	})

	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{SlowLatency: time.Hour})
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		if n := srv.State().SlowAnswers; n != 0 {
			t.Errorf("%d slow answers without SlowRate", n)
		}
	})

	t.Run("validated", func(t *testing.T) {
		t.Parallel()
		for _, cfg := range []bullhorntest.Config{{SlowRate: 1.5}, {SlowRate: -0.1}, {SlowLatency: -time.Second}} {
			if cfg.Validate() == nil {
				t.Errorf("Validate accepted %+v", cfg)
			}
		}
	})
}
