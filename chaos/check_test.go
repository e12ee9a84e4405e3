package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// profile is what the checks expect of one HrFlow profile.
type profile struct {
	email  string // trimmed and lower-cased; empty for the profiles without one
	resume bool
	// rows are the education and work-history rows of the built-in Bullhorn format, and
	// dupRows how many of them repeat an earlier row of the same profile field for field (the
	// fake counts those as duplicates).
	rows    [2]int
	dupRows int
}

// readProfiles reads every profile from the fake HrFlow, as the workers do.
func readProfiles(t *testing.T, env map[string]string, keys []string) map[string]profile {
	t.Helper()
	client, err := hrflow.New(hrflow.WithBaseURL(env["HRFLOW_API_URL"]),
		hrflow.WithAPISecret(secret.Value(env["HRFLOW_API_SECRET"])), hrflow.WithUserEmail(env["HRFLOW_API_USER"]))
	if err != nil {
		t.Fatal(err)
	}
	source := env["SANDBOX_SOURCE_KEY"]
	out := make(map[string]profile, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range 8 {
		wg.Go(func() {
			for key := range next {
				p, _, err := client.Profiles.Get(t.Context(), source, key)
				if err != nil {
					t.Errorf("profile %s: %v", key, err)
					continue
				}
				mu.Lock()
				out[key] = expect(p)
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func expect(p *hrflow.Profile) profile {
	e := profile{email: strings.ToLower(strings.TrimSpace(p.Info.Email)), resume: p.Resume() != nil}
	payload := bullhorn.Format(p)
	for i, member := range []string{"educations", "workHistories"} {
		rows, _ := payload[member].([]any)
		e.rows[i] = len(rows)
		seen := map[string]bool{}
		for _, r := range rows {
			m, _ := r.(map[string]any)
			m = maps.Clone(m)
			delete(m, "key")
			b, _ := json.Marshal(m)
			if seen[string(b)] {
				e.dupRows++
			}
			seen[string(b)] = true
		}
	}
	return e
}

type checker struct {
	t        *testing.T
	profiles map[string]profile
}

// candidates compares the candidates an ATS holds by email with the profiles pushed there,
// and returns the figures: duplicated and lost profiles, with and without email.
type candidateCounts struct {
	profiles, candidates      int
	dupEmail, lostEmail       int // profiles with an email held by more than one candidate, or by none
	noEmail, noEmailCands     int // profiles without email, candidates without email
	unexpected                []string
	dupEmails                 []string
	resumes, wantResumes      int
	attachmentsOverOne        int
	faults, slow, tooMany     int
	codeExchanges, codeReuses int
}

func (c *checker) compare(keys []string, total int, byEmail map[string]int) candidateCounts {
	n := candidateCounts{profiles: len(keys), candidates: total}
	want := map[string]bool{}
	for _, k := range keys {
		p := c.profiles[k]
		if p.resume {
			n.wantResumes++
		}
		if p.email == "" {
			n.noEmail++
			continue
		}
		want[p.email] = true
	}
	withEmail := 0
	for email, count := range byEmail {
		withEmail += count
		if !want[email] {
			n.unexpected = append(n.unexpected, email)
		}
	}
	for email := range want {
		switch byEmail[email] {
		case 0:
			n.lostEmail++
		case 1:
		default:
			n.dupEmail++
			n.dupEmails = append(n.dupEmails, email)
		}
	}
	n.noEmailCands = total - withEmail
	return n
}

func (n candidateCounts) duplicates() int { return n.dupEmail + max(0, n.noEmailCands-n.noEmail) }
func (n candidateCounts) lost() int       { return n.lostEmail + max(0, n.noEmail-n.noEmailCands) }

func (c *checker) report(target string, n candidateCounts) {
	t := c.t
	t.Helper()
	if n.candidates != n.profiles {
		t.Errorf("%s holds %d candidates for %d profiles", target, n.candidates, n.profiles)
	}
	if n.dupEmail > 0 || n.lostEmail > 0 || len(n.unexpected) > 0 {
		t.Errorf("%s: %d profiles with an email are duplicated (%v), %d lost; unexpected emails %v",
			target, n.dupEmail, n.dupEmails[:min(len(n.dupEmails), 10)], n.lostEmail, n.unexpected[:min(len(n.unexpected), 10)])
	}
	if n.noEmailCands != n.noEmail {
		t.Errorf("%s: %d candidates without email for %d profiles without email", target, n.noEmailCands, n.noEmail)
	}
}

// jobAdder checks JobAdder's state against the profiles pushed there.
func (c *checker) jobAdder(st jobaddertest.State, keys []string) string {
	t := c.t
	t.Helper()
	n := c.compare(keys, st.Candidates, st.CandidatesByEmail)
	c.report("JobAdder", n)
	n.resumes = len(st.Attachments)
	for id, count := range st.Attachments {
		if count != 1 {
			n.attachmentsOverOne++
			t.Errorf("JobAdder candidate %d has %d attachments, want 1", id, count)
		}
	}
	if n.resumes != n.wantResumes {
		t.Errorf("JobAdder: %d candidates with a resume, want %d", n.resumes, n.wantResumes)
	}
	if len(st.CodeExchanges) == 0 {
		t.Error("JobAdder: no authorization code was exchanged")
	}
	for _, count := range st.CodeExchanges {
		n.codeExchanges++
		if count != 1 {
			n.codeReuses++
			t.Errorf("JobAdder: an authorization code was sent %d times", count)
		}
	}
	if st.RefusedRefreshes > 0 || st.InvalidGrants > 0 {
		t.Errorf("JobAdder: %d refresh tokens refused, %d invalid grants", st.RefusedRefreshes, st.InvalidGrants)
	}
	if st.ValidationFailures > 0 {
		t.Errorf("JobAdder refused %d requests as invalid: %+v", st.ValidationFailures, st.RecentFailures)
	}
	n.faults, n.slow = st.Faults, st.SlowAnswers
	for k, v := range st.Requests {
		if strings.HasSuffix(k, " 429") {
			n.tooMany += v
		}
	}
	return fmt.Sprintf("%d candidates for %d profiles (%d without email: %d candidates), duplicates %d, lost %d; "+
		"resumes %d of %d, attachments beyond one %d; codes exchanged %d (each once: %t), refreshes %d (refused %d); "+
		"faults %d (429: %d), slow answers %d, 409s answered %d",
		n.candidates, n.profiles, n.noEmail, n.noEmailCands, n.duplicates(), n.lost(),
		n.resumes, n.wantResumes, n.attachmentsOverOne, n.codeExchanges, n.codeReuses == 0, st.Refreshes, st.RefusedRefreshes,
		n.faults, n.tooMany, n.slow, st.DuplicateConflicts)
}

// bullhorn checks Bullhorn's state against the profiles pushed there: candidates by email,
// and each candidate's rows and files (as a multiset: the state has no email per id).
func (c *checker) bullhorn(st bullhorntest.State, keys []string) string {
	t := c.t
	t.Helper()
	n := c.compare(keys, st.Candidates, st.CandidatesByEmail)
	c.report("Bullhorn", n)
	if st.DeletedCandidates > 0 || st.CreatedWithoutName > 0 {
		t.Errorf("Bullhorn: %d deleted candidates, %d created without name", st.DeletedCandidates, st.CreatedWithoutName)
	}
	want, got := map[[3]int]int{}, map[[3]int]int{}
	wantDupRows := 0
	for _, k := range keys {
		p := c.profiles[k]
		files := 0
		if p.resume {
			files = 1
		}
		want[[3]int{p.rows[0], p.rows[1], files}]++
		wantDupRows += p.dupRows
	}
	ids := map[int]bool{}
	for _, m := range []map[int]int{st.Educations, st.WorkHistories, st.Files} {
		for id := range m {
			ids[id] = true
		}
	}
	for id := range ids {
		got[[3]int{st.Educations[id], st.WorkHistories[id], st.Files[id]}]++
	}
	got[[3]int{}] += st.Candidates - len(ids)
	var diff []string
	for _, shape := range slices.SortedFunc(maps.Keys(mergeKeys(want, got)), func(a, b [3]int) int {
		return (a[0]-b[0])*10000 + (a[1]-b[1])*100 + (a[2] - b[2])
	}) {
		if want[shape] != got[shape] {
			diff = append(diff, fmt.Sprintf("%d candidates with %d educations, %d work histories, %d files (want %d)",
				got[shape], shape[0], shape[1], shape[2], want[shape]))
		}
	}
	if len(diff) > 0 {
		t.Errorf("Bullhorn rows and files differ from the profiles':\n  %s", strings.Join(diff, "\n  "))
	}
	dupRows := sumValues(st.DuplicateEducations) + sumValues(st.DuplicateWorkHistories)
	if dupRows != wantDupRows {
		t.Errorf("Bullhorn: %d duplicated rows (educations %v, work histories %v), want %d (repeated in the profiles)",
			dupRows, st.DuplicateEducations, st.DuplicateWorkHistories, wantDupRows)
	}
	if st.CodesReused > 0 || st.RefreshTokensReused > 0 || st.CallbacksFollowed > 0 {
		t.Errorf("Bullhorn: codes reused %d, refresh tokens reused %d, callbacks followed %d", st.CodesReused, st.RefreshTokensReused, st.CallbacksFollowed)
	}
	calls := 0
	for _, v := range st.Requests {
		calls += v
	}
	if st.InvalidGrants > 0 {
		t.Errorf("Bullhorn: %d invalid grants (a code or refresh token refused)", st.InvalidGrants)
	}
	return fmt.Sprintf("%d candidates for %d profiles (%d without email: %d candidates), duplicates %d, lost %d; "+
		"rows %d educations and %d work histories (duplicated %d), files %d (profiles with a resume %d); "+
		"codes reused %d, refreshes %d, refresh tokens reused %d, sessions opened %d; faults %d (429s answered %d, %d over the call cap), slow answers %d, "+
		"searches %d, %d calls (%.1f a profile)",
		n.candidates, n.profiles, n.noEmail, n.noEmailCands, n.duplicates(), n.lost(),
		sumValues(st.Educations), sumValues(st.WorkHistories), dupRows, sumValues(st.Files), n.wantResumes,
		st.CodesReused, st.Refreshes, st.RefreshTokensReused, st.SessionsOpened, st.Faults, st.TooManyRequests, st.OverBudget, st.SlowAnswers,
		st.Searches, calls, float64(calls)/float64(max(1, n.profiles)))
}

func mergeKeys[K comparable](a, b map[K]int) map[K]int {
	out := maps.Clone(a)
	for k := range b {
		out[k] += 0
	}
	return out
}

func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type dlqFigures struct {
	total   int
	reasons string
}

// deadLetters checks that the DLQ holds exactly the missing profiles (read_failure) and the
// malformed jobs (bad_job), each once.
func (c *checker) deadLetters(js jetstream.JetStream, missing map[string][]string, malformed []malformedJob) dlqFigures {
	t := c.t
	t.Helper()
	want := map[string]string{} // identity → reason
	for target, keys := range missing {
		for _, k := range keys {
			want[target+" profile "+k] = "read_failure"
		}
	}
	for _, m := range malformed {
		if m.jobID != "" {
			want[m.target+" job "+m.jobID] = jobs.ReasonBadJob
		} else {
			want[m.target+" raw "+m.raw] = jobs.ReasonBadJob
		}
	}
	seen := map[string]int{}
	reasons := map[string]int{}
	msgs := readStream(t, js, jobs.DLQStream)
	for _, m := range msgs {
		var d jobs.DeadLetter
		if err := json.Unmarshal(m.Data(), &d); err != nil {
			t.Errorf("DLQ entry %s: %v", m.Data(), err)
			continue
		}
		reasons[d.Reason]++
		id := d.Target + " profile " + d.ProfileKey
		switch {
		case d.RawJob != "":
			id = d.Target + " raw " + d.RawJob
		case d.Reason == jobs.ReasonBadJob:
			id = d.Target + " job " + d.JobID
		}
		r, ok := want[id]
		switch {
		case !ok:
			t.Errorf("unexpected DLQ entry: %s, job %s, reason %s (%s) after %d deliveries: %s", id, d.JobID, d.Reason, d.Class, d.Attempts, d.Error)
		case r != d.Reason:
			t.Errorf("DLQ entry %s: reason %s (%s), want %s: %s", id, d.Reason, d.Class, r, d.Error)
		}
		seen[id]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("DLQ holds %s %d times, want once", id, seen[id])
		}
	}
	return dlqFigures{total: len(msgs), reasons: sortedCounts(reasons)}
}

// retries returns the deliveries beyond the first of the jobs of the batches, from their final
// events, and how many jobs took each number of deliveries.
func (c *checker) retries(js jetstream.JetStream, batches map[string]string) (int, string) {
	c.t.Helper()
	var subjects []string
	for _, b := range batches {
		subjects = append(subjects, jobs.EventsSubjectPrefix+b)
	}
	last := map[string]jobs.Event{}
	for _, m := range readStream(c.t, js, jobs.EventsStream, subjects...) {
		var e jobs.Event
		if json.Unmarshal(m.Data(), &e) == nil && e.JobID != "" {
			last[e.JobID] = e
		}
	}
	retries := 0
	byDeliveries := map[int]int{}
	for _, e := range last {
		retries += max(0, e.Attempts-1)
		byDeliveries[e.Attempts]++
	}
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(byDeliveries)) {
		parts = append(parts, fmt.Sprintf("%d: %d", n, byDeliveries[n]))
	}
	return retries, strings.Join(parts, ", ")
}

// recoveryLogs are the workers' log messages that say a kill was recovered from, by the name
// the figures give them.
var recoveryLogs = map[string]string{ //nolint:gochecknoglobals // constant table
	"bullhorn lock taken over":                "bullhorn: took over the lock of a push whose worker stopped renewing it",
	"bullhorn candidate found after a kill":   "bullhorn: found the candidate an earlier push may have created without recording it",
	"bullhorn waits for the index":            "bullhorn: an earlier push of this profile may have created its candidate; waiting for the search index before creating one",
	"jobadder candidate found after a kill":   "jobadder: found the candidate an earlier push created without recording it",
	"jobadder resume found after a kill":      "jobadder: found the resume an earlier push uploaded without recording it",
	"bullhorn push stopped for its lost lock": "bullhorn: could not renew a push's lock in time; stopping the push",
}

// countLogs counts the recovery messages in the workers' logs.
func countLogs(procs []*proc) string {
	counts := map[string]int{}
	for name, msg := range recoveryLogs {
		for _, p := range procs {
			counts[name] += len(logLines(p.log, 1<<20, `"msg":"`+msg+`"`))
		}
	}
	return sortedCounts(counts)
}

// checkReport checks the batch's report (what enqueue status prints): every job has an
// outcome, and the failed ones are the missing profiles.
func (c *checker) checkReport(js jetstream.JetStream, target, batch string, missing int) {
	t := c.t
	t.Helper()
	r, err := jobs.FollowBatch(t.Context(), js, batch, false, func(*jobs.Report) bool { return true })
	if err != nil {
		t.Errorf("%s batch %s: %v", target, batch, err)
		return
	}
	if r.Done() != r.Batch.Total {
		t.Errorf("%s batch report: %d of %d jobs have an outcome: %s", target, r.Done(), r.Batch.Total, summarize(r))
		return
	}
	if r.Failed != missing {
		t.Errorf("%s batch report: %d failed, want %d (the missing profiles): %s", target, r.Failed, missing, summarize(r))
	}
}
