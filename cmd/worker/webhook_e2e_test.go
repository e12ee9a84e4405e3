package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/webhook"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// TestE2EWebhookContinuousSync is continuous sync end to end: the fake HrFlow parses 300 new
// profiles and then updates 50 of them, delivering signed webhooks to the receiver (package
// webhook on an HTTP server) that enqueues into a real JetStream, from which two workers push
// with an incremental workflow to the fake JobAdder. One answer in ten is lost on the way back
// (the job was enqueued, HrFlow sees a 503 and delivers again), and an impostor signing with
// another secret is refused. It ends with 300 candidates, the 50 updated, and exactly 350 jobs
// ever enqueued: one per new profile and one per update.
func TestE2EWebhookContinuousSync(t *testing.T) {
	t.Parallel()
	const hookSecret = "e2e-webhook-secret"
	natsURL, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "workflows.yaml")
	if err := os.WriteFile(file, []byte("workflows:\n  continuous:\n    target: jobadder\n    read_mode: incremental\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := workflow.Load(file, newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.New(webhook.Config{Secret: hookSecret, Workflows: set, Publisher: jobs.NewPublisher(js)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.Pattern, h)
	var requests atomic.Int64
	lossy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1)%10 == 0 {
			mux.ServeHTTP(httptest.NewRecorder(), r) // handled, but the answer is lost
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	gateway := httptest.NewServer(lossy)
	t.Cleanup(gateway.Close)
	url := gateway.URL + "/webhooks/hrflow/continuous"

	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: testKey, UserEmail: testUser,
		Webhook: hrflowtest.Webhook{URL: url, Secret: hookSecret, RetryDelay: 10 * time.Millisecond}})
	t.Cleanup(hf.Close)
	ja := jobaddertest.NewServer(jobaddertest.Config{})
	t.Cleanup(ja.Close)
	e := &e2e{t: t, natsURL: natsURL, js: js, hrflow: hf, ja: ja, source: testSource, code: ja.IssueCode(), workflowsFile: file}

	stored := func() uint64 { return brokertest.StreamLastSeq(t, js, jobs.JobsStream) } // every job ever stored

	// An impostor, signing with another secret: every delivery refused, nothing enqueued.
	impostor := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{URL: url, Secret: "not-the-secret"}})
	t.Cleanup(impostor.Close)
	impostor.Parse(testSource, 20, 99)
	if st := settled(t, impostor, 40); st.Refused != 40 || st.Statuses[http.StatusUnauthorized] != st.Attempts-st.Statuses[http.StatusServiceUnavailable] {
		t.Errorf("impostor deliveries: %+v, want 40 refused 401", st)
	}
	if n := stored(); n != 0 {
		t.Fatalf("%d jobs enqueued by wrongly signed deliveries", n)
	}

	e.worker("w1")
	e.worker("w2")

	// 300 new profiles: parsing.success and storing.success each, one job each.
	keys := hf.Parse(testSource, 300, 7)
	settled(t, hf, 600)
	waitFor(t, "300 candidates", func() bool { return ja.State().Candidates == 300 && e.streamMsgs(jobs.JobsStream) == 0 })
	if n := stored(); n != 300 {
		t.Errorf("%d jobs enqueued for 300 new profiles, want 300", n)
	}
	e.checkExactlyOnce(300)

	// 50 of them edited at HrFlow: storing.update each, one job each, pushed (newer updated_at).
	updated := map[string]bool{} // emails of the edited profiles
	now := time.Now().UTC().Format("2006-01-02T15:04:05-0700")
	for _, k := range keys {
		if len(updated) == 50 {
			break
		}
		raw, _ := hf.Profile(testSource, k)
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		info := p["info"].(map[string]any)
		email, _ := info["email"].(string)
		if email == "" {
			continue
		}
		info["last_name"] = info["last_name"].(string) + " Updated"
		p["updated_at"] = now
		changed, _ := json.Marshal(p)
		if _, err := hf.AddProfile(testSource, changed); err != nil {
			t.Fatal(err)
		}
		updated[strings.ToLower(email)] = true
	}
	st := settled(t, hf, 650)
	countUpdated := func() (n int, wrong []string) {
		for _, c := range ja.Candidates() {
			if strings.HasSuffix(c.LastName, " Updated") {
				n++
				if !updated[strings.ToLower(c.Email)] {
					wrong = append(wrong, c.Email)
				}
			}
		}
		return n, wrong
	}
	waitFor(t, "50 candidates updated", func() bool {
		n, _ := countUpdated()
		return n == 50 && e.streamMsgs(jobs.JobsStream) == 0
	})
	if n, wrong := countUpdated(); n != 50 || len(wrong) > 0 {
		t.Errorf("%d candidates updated, want 50; not edited at HrFlow: %v", n, wrong)
	}
	if n := stored(); n != 350 {
		t.Errorf("%d jobs enqueued in all, want 350 (300 new, 50 updates): a redelivery was enqueued again, or an update dropped", n)
	}
	e.checkExactlyOnce(300)
	if st.Delivered != 650 || st.Statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("deliveries %+v: want 650 delivered, some after a lost answer", st)
	}
	t.Logf("webhook deliveries: %d made, %d attempts, answers %v; impostor %v", st.Made, st.Attempts, st.Statuses, impostor.Webhooks().Statuses)
}

// settled waits until made webhook deliveries of hf have their outcome.
func settled(t *testing.T, hf *hrflowtest.Server, made int) hrflowtest.WebhookStats {
	t.Helper()
	var st hrflowtest.WebhookStats
	waitFor(t, "webhook deliveries", func() bool {
		st = hf.Webhooks()
		return st.Made == made && st.Pending == 0
	})
	return st
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
