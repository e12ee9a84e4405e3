package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// testSecretsKey seals the stored connections' secrets in the tests.
var testSecretsKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// TestE2EConnections: one worker serves the default Bullhorn account of its environment and a
// second account stored as the connection "acme" (its password sealed in NATS), with no
// restart: each job lands in its own account, a job for an unknown connection is a bad job,
// and pausing acme holds its jobs back while the default account's go on, until it is resumed.
func TestE2EConnections(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 60, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	acme := bullhorntest.NewServer(bullhorntest.Config{CallsPerMinute: 100000, Username: "acme.api", Password: "acme-s3cr3t-pw"})
	t.Cleanup(acme.Close)

	e.worker("w1") // started before the connection exists: it is picked up without a restart
	ac := acme.Config()
	store := e.addConnection(&connections.Connection{Name: "acme", Target: "bullhorn", Settings: map[string]string{
		"client_id": ac.ClientID, "username": ac.Username, "login_info_url": acme.LoginInfoURL(),
	}}, map[string]string{"client_secret": ac.ClientSecret, "password": ac.Password})

	p := jobs.NewPublisher(e.js)
	publish := func(batch, connection string, keys []string) {
		t.Helper()
		for i, k := range keys {
			j := &jobs.Job{Version: jobs.Version, ID: fmt.Sprintf("%s-%d", batch, i), WorkflowID: "conn", Target: "bullhorn",
				SourceKey: e.source, ProfileKey: k, BatchID: batch, Connection: connection, EnqueuedAt: time.Now().UTC()}
			if _, err := p.Publish(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("dflt", "", e.keys[:20])
	publish("acme", "acme", e.keys[:20]) // the same profiles, in the other account
	publish("lost", "nosuch", e.keys[:1])
	waitUntil(t, "both accounts to hold their 20 candidates", 60*time.Second, func() bool {
		return e.bh.State().Candidates == 20 && acme.State().Candidates == 20
	})
	waitUntil(t, "the unknown connection's job in the DLQ", 30*time.Second, func() bool { return e.streamMsgs(jobs.DLQStream) == 1 })
	dlq, err := e.js.Stream(t.Context(), jobs.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := dlq.GetMsg(t.Context(), 1); err != nil || !strings.Contains(string(m.Data), `"reason":"bad_job"`) || !strings.Contains(string(m.Data), `bullhorn connection \"nosuch\"`) {
		t.Errorf("DLQ entry of the job for an unknown connection: %v", err)
	}

	if _, err := store.Update(t.Context(), "bullhorn", "acme", func(c *connections.Connection) error { c.Paused = "maintenance"; return nil }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the watch reaches the worker
	publish("acme2", "acme", e.keys[20:30])
	publish("dflt2", "", e.keys[20:30])
	waitUntil(t, "the default account's next 10", 60*time.Second, func() bool { return e.bh.State().Candidates == 30 })
	if n := acme.State().Candidates; n != 20 {
		t.Errorf("the paused connection received %d candidates, want 20", n)
	}
	if _, err := store.Update(t.Context(), "bullhorn", "acme", func(c *connections.Connection) error { c.Paused = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the resumed connection's 10", 90*time.Second, func() bool { return acme.State().Candidates == 30 })
	if n := e.streamMsgs(jobs.DLQStream); n != 1 {
		t.Errorf("DLQ holds %d entries, want the unknown connection's only", n)
	}
}

// buckets returns the KV buckets of the test's server (EnsureStreams is idempotent).
func (e *e2e) buckets() *jobs.Buckets {
	e.t.Helper()
	b, err := jobs.EnsureStreams(e.t.Context(), e.js, jobs.StreamConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// addConnection stores c as `enqueue connections add` does, secrets sealed with the workers' key.
func (e *e2e) addConnection(c *connections.Connection, secrets map[string]string) *connections.Store {
	e.t.Helper()
	if len(secrets) > 0 {
		keyring, err := connections.NewKeyring(testSecretsKey)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.Secrets, err = keyring.Seal(c.Target, c.Name, secrets); err != nil {
			e.t.Fatal(err)
		}
	}
	store := connections.NewStore(e.buckets().Connections)
	if err := store.Create(e.t.Context(), c); err != nil {
		e.t.Fatal(err)
	}
	return store
}

// connectJobAdder runs what `enqueue connect NAME --target jobadder --code CODE` runs
// (consent.JobAdder) for account, a fake account behind e.ja's identity server: a code of the
// account exchanged once, the token stored under the connection ("" for the default one),
// checked with one call.
func (e *e2e) connectJobAdder(account *jobaddertest.Server, connection string) {
	e.t.Helper()
	jc := e.ja.Config()
	_, err := consent.JobAdder(e.t.Context(), jobadder.AuthConfig{ClientID: jc.ClientID, ClientSecret: secret.Value(jc.ClientSecret),
		RedirectURI: jc.RedirectURI, TokenURL: e.ja.TokenURL(), AuthorizationCode: secret.Value(account.IssueCode()),
		Tokens: e.buckets().Tokens, Connection: connection})
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestE2EFourConnections: four workers serve two JobAdder accounts (one identity server, the
// token's api field naming the account) and two Bullhorn accounts. 1,000 profiles spread over
// the four connections arrive exactly once, each in its own account. The second JobAdder
// account's tokens are revoked mid-run: its jobs wait (none dead-lettered) while the three
// others finish, and connecting it again with a new code resumes it without restarting any
// worker.
func TestE2EFourConnections(t *testing.T) {
	t.Parallel()
	const per = 250
	e := newE2E(t, 4*per, jobaddertest.Config{})
	e.useBullhorn(bullhorntest.Config{CallsPerMinute: 100000})
	ja2 := e.ja.AddAccount(jobaddertest.Config{})
	t.Cleanup(ja2.Close)
	bh2 := bullhorntest.NewServer(bullhorntest.Config{CallsPerMinute: 100000, Username: "acme.api", Password: "acme-pw"})
	t.Cleanup(bh2.Close)

	bc := bh2.Config()
	e.addConnection(&connections.Connection{Name: "ja2", Target: "jobadder"}, nil)
	e.addConnection(&connections.Connection{Name: "bh2", Target: "bullhorn", Settings: map[string]string{
		"client_id": bc.ClientID, "username": bc.Username, "login_info_url": bh2.LoginInfoURL()}},
		map[string]string{"client_secret": bc.ClientSecret, "password": bc.Password})
	e.connectJobAdder(ja2, "ja2")
	for i := range 4 {
		e.worker(fmt.Sprintf("w%d", i+1))
	}

	p := jobs.NewPublisher(e.js)
	for i, route := range []struct{ target, connection string }{{"jobadder", ""}, {"jobadder", "ja2"}, {"bullhorn", ""}, {"bullhorn", "bh2"}} {
		var all []*jobs.Job
		for k, key := range e.keys[i*per : (i+1)*per] {
			all = append(all, &jobs.Job{Version: jobs.Version, ID: fmt.Sprintf("c%d-%d", i, k), WorkflowID: "four", Target: route.target,
				SourceKey: e.source, ProfileKey: key, Connection: route.connection, EnqueuedAt: time.Now().UTC()})
		}
		if err := p.PublishAll(t.Context(), all, func(r jobs.PublishResult) {
			if r.Err != nil || r.Duplicate {
				t.Errorf("publish %s: %v (duplicate %v)", r.Job.ID, r.Err, r.Duplicate)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the second JobAdder account to be half way", 120*time.Second, func() bool { return ja2.State().Candidates >= 50 })
	ja2.RevokeAll()
	revokedAt := ja2.State().Candidates
	waitUntil(t, "the three other accounts", 180*time.Second, func() bool {
		return e.ja.State().Candidates == per && e.bh.State().Candidates == per && bh2.State().Candidates == per
	})
	t.Logf("ja2 revoked at %d candidates; %d when the three others were done", revokedAt, ja2.State().Candidates)
	if n := ja2.State().Candidates; n >= per || n > revokedAt+8 {
		t.Errorf("the revoked account holds %d candidates (%d at revocation): its jobs did not wait", n, revokedAt)
	}
	if n := e.streamMsgs(jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d entries: a revoked connection must not dead-letter its jobs", n)
	}
	e.connectJobAdder(ja2, "ja2") // enqueue connect ja2 --target jobadder --code NEW
	waitUntil(t, "the reconnected account's jobs", 180*time.Second, func() bool { return ja2.State().Candidates == per })
	for name, st := range map[string]jobaddertest.State{"default": e.ja.State(), "ja2": ja2.State()} {
		if st.Candidates != per || len(st.Duplicates) != 0 {
			t.Errorf("JobAdder %s: %d candidates, duplicates %v", name, st.Candidates, st.Duplicates)
		}
	}
	for name, st := range map[string]bullhorntest.State{"default": e.bh.State(), "bh2": bh2.State()} {
		if st.Candidates != per || len(st.DuplicateEmails) != 0 || len(st.DuplicateEducations) != 0 {
			t.Errorf("Bullhorn %s: %d candidates, duplicate emails %v, duplicated educations %v", name, st.Candidates, st.DuplicateEmails, st.DuplicateEducations)
		}
	}
	waitUntil(t, "the jobs stream to empty", 30*time.Second, func() bool { return e.streamMsgs(jobs.JobsStream) == 0 })
}

// TestE2EConnectionOwnHrFlow: a connection with its own HrFlow account (an agency of an HR
// platform) reads its profiles there, with its own sealed API key; the default connection
// reads the environment's account, which does not hold them.
func TestE2EConnectionOwnHrFlow(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 3, jobaddertest.Config{})
	tenantHF := hrflowtest.NewServer(hrflowtest.Config{APIKey: "tenant-hrflow-key", UserEmail: "ops@tenant.example"})
	t.Cleanup(tenantHF.Close)
	tenantKeys := tenantHF.Generate(testSource, 4, 99)
	tenant := e.ja.AddAccount(jobaddertest.Config{})
	t.Cleanup(tenant.Close)

	e.addConnection(&connections.Connection{Name: "tenant", Target: "jobadder",
		Settings: map[string]string{"hrflow_api_user": "ops@tenant.example", "hrflow_api_url": tenantHF.URL()}},
		map[string]string{"hrflow_api_secret": "tenant-hrflow-key"})
	e.connectJobAdder(tenant, "tenant")
	e.worker("w1")
	p := jobs.NewPublisher(e.js)
	for i, k := range tenantKeys {
		j := &jobs.Job{Version: jobs.Version, ID: fmt.Sprintf("t-%d", i), WorkflowID: "tenant", Target: "jobadder",
			SourceKey: e.source, ProfileKey: k, Connection: "tenant", EnqueuedAt: time.Now().UTC()}
		if _, err := p.Publish(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	e.enqueue("dflt", e.keys)
	waitUntil(t, "each account's candidates", 60*time.Second, func() bool {
		return tenant.State().Candidates == len(tenantKeys) && e.ja.State().Candidates == len(e.keys)
	})
	if n := e.streamMsgs(jobs.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d entries", n)
	}
	if tenantHF.Downloads() == 0 {
		t.Error("the tenant's resumes were not read from its own HrFlow account")
	}
}
