package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// expectedCandidate is what the built-in Bullhorn format makes of a profile.
type expectedCandidate struct {
	rows        [3]int // education rows, work-history rows, resume files
	dateOfBirth any    // epoch milliseconds, or nil
}

// expectedCandidates returns, by lower-cased email, what each profile should become.
func (e *e2e) expectedCandidates(keys []string) map[string]expectedCandidate {
	e.t.Helper()
	out := map[string]expectedCandidate{}
	for _, k := range keys {
		raw, ok := e.hrflow.Profile(e.source, k)
		if !ok {
			e.t.Fatalf("profile %s not in the fake", k)
		}
		var p hrflow.Profile
		if err := json.Unmarshal(raw, &p); err != nil {
			e.t.Fatal(err)
		}
		payload := bullhorn.Format(&p)
		edu, _ := payload["educations"].([]any)
		work, _ := payload["workHistories"].([]any)
		resume := 0
		if p.Resume() != nil {
			resume = 1
		}
		out[strings.ToLower(p.Info.Email)] = expectedCandidate{[3]int{len(edu), len(work), resume}, payload["dateOfBirth"]}
	}
	return out
}

// checkBullhorn asserts that every profile is exactly one candidate with exactly its rows and
// one resume, and that no code, refresh token or row was duplicated.
func (e *e2e) checkBullhorn(want int, keys []string) bullhorntest.State {
	e.t.Helper()
	st := e.bh.State()
	if st.Candidates != want {
		e.t.Errorf("Bullhorn holds %d candidates, want %d", st.Candidates, want)
	}
	if len(st.DuplicateEmails) > 0 {
		e.t.Errorf("duplicate candidates for %v", st.DuplicateEmails)
	}
	if len(st.DuplicateEducations) > 0 || len(st.DuplicateWorkHistories) > 0 {
		e.t.Errorf("duplicate rows: educations %v, work histories %v", st.DuplicateEducations, st.DuplicateWorkHistories)
	}
	if st.CreatedWithoutName > 0 {
		e.t.Errorf("%d candidates created without name", st.CreatedWithoutName)
	}
	if st.CodesReused > 0 || st.RefreshTokensReused > 0 || st.CallbacksFollowed > 0 {
		e.t.Errorf("codes reused %d, refresh tokens reused %d, callbacks followed %d", st.CodesReused, st.RefreshTokensReused, st.CallbacksFollowed)
	}
	expected := e.expectedCandidates(keys)
	for _, c := range e.bh.Candidates() {
		email, _ := c.Fields["email"].(string)
		if email == "" {
			continue // generated profiles without email: counted above
		}
		w, ok := expected[strings.ToLower(email)]
		if !ok {
			e.t.Errorf("candidate %d has an email no profile has: %s", c.ID, email)
			continue
		}
		if got := [3]int{len(c.Educations), len(c.WorkHistories), len(c.Files)}; got != w.rows {
			e.t.Errorf("candidate %d (%s): educations, work histories, files = %v, want %v", c.ID, email, got, w.rows)
		}
		if got := c.Fields["dateOfBirth"]; got != w.dateOfBirth {
			e.t.Errorf("candidate %d (%s): dateOfBirth %v (%T), want %v (%T)", c.ID, email, got, got, w.dateOfBirth, w.dateOfBirth)
		}
	}
	return st
}

// TestE2EBullhorn pushes 300 profiles plus a second profile sharing the first one's email,
// with faults injected, a 2 s search index lag, three workers and every session expired after
// 100 jobs: each profile is one candidate with its rows and its resume, nothing twice.
func TestE2EBullhorn(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 300, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{IndexLag: 2 * time.Second, ErrorRate: 0.05, RateLimitRate: 0.01, Seed: 11, CallsPerMinute: 100000})
	raw, _ := e.hrflow.Profile(e.source, e.keys[0])
	var twin map[string]any
	if err := json.Unmarshal(raw, &twin); err != nil {
		t.Fatal(err)
	}
	twin["key"] = "ffffffffffffffffffffffffffffffffffffffff"
	twinRaw, _ := json.Marshal(twin)
	twinKey, err := e.hrflow.AddProfile(e.source, twinRaw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"w1", "w2", "w3"} {
		e.worker(name)
	}
	keys := append([]string{twinKey}, e.keys...)
	e.enqueueTo("bullhorn", "bh", keys)
	var once sync.Once
	r := e.wait("bh", func(r *jobs.Report) {
		if r.Done() >= 100 {
			once.Do(e.bh.ExpireSessions)
		}
	})
	if r.Failed != 0 || r.Done() != 301 {
		t.Errorf("report: created %d updated %d failed %d; failures %+v", r.Created, r.Updated, r.Failed, r.Failures)
	}
	st := e.checkBullhorn(300, e.keys)
	if st.SessionsOpened > 2 {
		t.Errorf("%d sessions opened; want one, and one more after the expiry", st.SessionsOpened)
	}
	calls := 0
	for _, n := range st.Requests {
		calls += n
	}
	t.Logf("Bullhorn: %d requests for 301 profiles (%.1f per profile), %d sessions opened, %d logins, %d searches; requests %v",
		calls, float64(calls)/301, st.SessionsOpened, st.Logins, st.Searches, st.Requests)
}

// TestE2EBullhornOneSession: 300 jobs on three workers share one REST session. The fake's
// call cap is raised: at Bullhorn's 1,500 calls a minute this run would take two minutes (the
// shared client-side limiter has its own tests).
func TestE2EBullhornOneSession(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 300, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	for _, name := range []string{"w1", "w2", "w3"} {
		e.worker(name)
	}
	e.enqueueTo("bullhorn", "one", e.keys)
	r := e.wait("one", nil)
	if r.Created != 300 || r.Failed != 0 {
		t.Errorf("report: created %d updated %d failed %d", r.Created, r.Updated, r.Failed)
	}
	st := e.checkBullhorn(300, e.keys)
	if st.SessionsOpened != 1 || st.Logins != 1 {
		t.Errorf("sessions opened %d, logins %d; want 1 and 1", st.SessionsOpened, st.Logins)
	}
	calls := 0
	for _, n := range st.Requests {
		calls += n
	}
	t.Logf("Bullhorn: %d requests for 300 profiles (%.2f per profile); requests %v", calls, float64(calls)/300, st.Requests)
}
