package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// Known, distinctive secret values of TestE2ESecretsNeverLeak. Codes, tokens and sessions are
// issued by the fakes and collected as they are issued.
const (
	leakHrFlowKey        = "hrflowKEYsecret4f0c9a71"
	leakJobAdderSecret   = "jobadderCLIENTsecret8e2d5b"
	leakBullhornSecret   = "bullhornCLIENTsecret17c3aa"
	leakBullhornPassword = "bullhornPASSWORDsecret5d6e"
	// leakOldPassword is a refused password: it must not leak either.
	leakOldPassword = "bullhornOLDpasswordSecret90b1"
)

// secretSet collects the secrets the fakes issue (codes, access and refresh tokens, REST
// sessions).
type secretSet struct {
	mu     sync.Mutex
	values map[string]string // value → what it is
}

func (s *secretSet) add(what, v string) {
	if len(v) < 8 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]string{}
	}
	if _, ok := s.values[v]; !ok {
		s.values[v] = what
	}
}

func (s *secretSet) all() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.values))
	for k, v := range s.values {
		out[k] = v
	}
	return out
}

// issuing wraps a fake ATS and collects every secret it hands out: tokens and sessions in
// JSON answers and cookies, authorization codes in redirects.
func issuing(name string, h http.Handler, found *secretSet) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var m map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &m) == nil {
			for _, k := range []string{"access_token", "refresh_token", "BhRestToken"} {
				if s, ok := m[k].(string); ok {
					found.add(name+" "+k, s)
				}
			}
		}
		if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
			found.add(name+" authorization code", loc.Query().Get("code"))
		}
		for _, c := range rec.Result().Cookies() {
			found.add(name+" cookie "+c.Name, c.Value)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// newSecretsRun is a failure run whose fakes use the known secrets and report what they issue.
func newSecretsRun(t *testing.T, issued *secretSet) *failureRun {
	t.Helper()
	natsURL, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: leakHrFlowKey, UserEmail: testUser})
	t.Cleanup(hf.Close)

	var ja *jobaddertest.Server
	jaHTTP := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		issuing("jobadder", ja, issued).ServeHTTP(w, r)
	}))
	ja = jobaddertest.New(jobaddertest.Config{BaseURL: "http://" + jaHTTP.Listener.Addr().String(), ClientSecret: leakJobAdderSecret})
	jaHTTP.Start()
	t.Cleanup(jaHTTP.Close)

	var bh *bullhorntest.Server
	bhHTTP := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		issuing("bullhorn", bh, issued).ServeHTTP(w, r)
	}))
	bh = bullhorntest.New(bullhorntest.Config{
		BaseURL: "http://" + bhHTTP.Listener.Addr().String(), ClientSecret: leakBullhornSecret,
		Password: leakBullhornPassword, CallsPerMinute: 100000,
	})
	bhHTTP.Start()
	t.Cleanup(bhHTTP.Close)

	e := &e2e{
		t: t, natsURL: natsURL, js: js, hrflow: hf, ja: ja, bh: bh, source: testSource,
		keys: hf.Generate(testSource, 12, 42), code: ja.IssueCode(),
	}
	e.workflowsFile = filepath.Join(t.TempDir(), "workflows.yaml")
	if err := os.WriteFile(e.workflowsFile, []byte(failureWorkflows), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &failureRun{t: t, e: e, logs: &syncBuffer{}}
	t.Cleanup(f.logOnFailure)
	f.row.tune = func(c *config) { c.HrFlowAPISecret = leakHrFlowKey }
	return f
}

// TestE2ESecretsNeverLeak runs a whole end-to-end with known secret values (HrFlow key,
// JobAdder client secret and authorization codes, Bullhorn client secret and passwords) and
// every code, token and session the fakes issue: written jobs on both targets, a missing
// profile, a 422, a 400, a malformed job, a Bullhorn session renewal, revoked JobAdder tokens
// and a re-authorisation, and a refused Bullhorn password. None of the secrets may appear in
// the logs (JSON, debug level), the DLQ, the events, the reports, /readyz, /metrics, any
// stream or KV bucket but hrpush_tokens (including every revision seen while running); the
// issued tokens must appear in hrpush_tokens, the one place they are stored.
func TestE2ESecretsNeverLeak(t *testing.T) {
	t.Parallel()
	issued := &secretSet{}
	f := newSecretsRun(t, issued)
	e := f.e
	firstCode := e.code

	// Watch every bucket from the start, so that values overwritten or expired are seen too.
	seen := map[string]*syncBuffer{}
	for _, bucket := range []string{jobs.TokensBucket, jobs.IDsBucket, jobs.LocksBucket, jobs.StateBucket} {
		seen[bucket] = f.watchBucket(bucket)
	}
	var bodies []string // /readyz, /metrics and /healthz answers
	probe := func() {
		for _, path := range []string{"/readyz", "/metrics", "/healthz"} {
			_, body := f.get(path)
			bodies = append(bodies, body)
		}
	}

	stop := f.start("w1", nil)
	probe()
	// A stored connection holds the same password, sealed: KV_hrpush_connections must not show it.
	e.addConnection(&connections.Connection{Name: "sealed", Target: "bullhorn", Settings: map[string]string{"username": "api.sealed"}},
		map[string]string{"password": leakBullhornPassword, "client_secret": leakBullhornSecret})
	reports := []*jobs.Report{}
	ja := f.enqueue("e2e-incremental", "jobadder", e.keys[0:4]...)
	bh := f.enqueue("e2e-bullhorn", "bullhorn", e.keys[4:8]...)
	missing := f.enqueue("e2e", "jobadder", strings.Repeat("0", 40))
	invalidJA := f.enqueue("invalid-jobadder", "jobadder", e.keys[8])
	invalidBH := f.enqueue("invalid-bullhorn", "bullhorn", f.withEmail(9))
	f.publishRaw(jobs.SubjectPrefix+"jobadder", []byte(`{"version":1,"id":"half`))
	for _, b := range []string{ja, bh, missing, invalidJA, invalidBH} {
		reports = append(reports, e.wait(b, nil))
	}
	probe()

	// Bullhorn: the session and the access token expire; the worker renews them.
	e.bh.ExpireSessions()
	e.bh.ExpireAccessTokens()
	reports = append(reports, e.wait(f.enqueue("e2e-bullhorn", "bullhorn", e.keys[8:10]...), nil))

	// JobAdder revokes the tokens: paused, then authorised again with a new code.
	e.ja.RevokeAll()
	backlog := f.enqueue("e2e", "jobadder", e.keys[9:12]...)
	f.waitFor("jobadder paused", time.Minute, func() bool {
		code, _ := f.get("/readyz")
		return code == http.StatusServiceUnavailable
	})
	probe()
	stop()
	secondCode := e.ja.IssueCode()
	stop = f.start("w2", func(c *config) { c.JobAdderAuthorizationCode = secret.Value(secondCode) })
	reports = append(reports, e.wait(backlog, nil))
	probe()
	stop()

	// Bullhorn's password is reset and this worker still has the old one: refused.
	e.bh.RevokeAll()
	f.start("w3", func(c *config) {
		c.JobAdderAuthorizationCode = secret.Value(secondCode)
		c.BullhornPassword = leakOldPassword
	})
	f.enqueue("e2e-bullhorn", "bullhorn", e.keys[10])
	f.waitFor("bullhorn paused", time.Minute, func() bool {
		_, body := f.get("/readyz")
		return strings.Contains(body, "bullhorn paused")
	})
	probe()

	// What the secrets must not be in.
	places := map[string]string{
		"logs":                 f.logs.String(),
		"/readyz and /metrics": strings.Join(bodies, "\n"),
		"reports":              reportsText(t, reports),
	}
	streams := f.streamContents(jobs.TokensBucket)
	for name, content := range streams {
		places["stream "+name] = content
	}
	for bucket, buf := range seen {
		if bucket != jobs.TokensBucket {
			places["bucket "+bucket+" (every revision seen)"] = buf.String()
		}
	}
	secrets := map[string]string{
		leakHrFlowKey:        "HRFLOW_API_SECRET",
		leakJobAdderSecret:   "JOBADDER_CLIENT_SECRET",
		firstCode:            "JOBADDER_AUTHORIZATION_CODE",
		secondCode:           "JOBADDER_AUTHORIZATION_CODE (second)",
		leakBullhornSecret:   "BULLHORN_CLIENT_SECRET",
		leakBullhornPassword: "BULLHORN_PASSWORD",
		leakOldPassword:      "BULLHORN_PASSWORD (refused)",
	}
	kinds := map[string]int{}
	for v, what := range issued.all() {
		secrets[v] = what
		kinds[what]++
	}
	t.Logf("secrets checked: %d (issued by the fakes: %v)", len(secrets), kinds)
	for _, what := range []string{"jobadder access_token", "jobadder refresh_token", "bullhorn access_token",
		"bullhorn refresh_token", "bullhorn BhRestToken", "bullhorn authorization code"} {
		if kinds[what] == 0 {
			t.Errorf("no %s was issued: the test proves less than it says", what)
		}
	}
	// The gateway's buckets (API keys, idempotency records, consent flows): no worker writes to
	// them, so they are empty here.
	gatewayOnly := map[string]bool{"stream KV_" + jobs.APIKeysBucket: true, "stream KV_" + jobs.IdempotencyBucket: true, "stream KV_" + jobs.ConsentBucket: true}
	for place, content := range places {
		if len(content) == 0 && !gatewayOnly[place] {
			t.Errorf("%s: nothing collected", place)
		}
		for v, what := range secrets {
			if i := strings.Index(content, v); i >= 0 {
				t.Errorf("%s (%s) appears in %s: …%s…", what, v, place, content[max(0, i-200):min(len(content), i+len(v)+80)])
			}
		}
	}
	// Positive control: the tokens are where they belong, and where the test looks.
	tokens := seen[jobs.TokensBucket].String()
	for v, what := range issued.all() {
		if strings.Contains(what, "access_token") || strings.Contains(what, "refresh_token") || strings.Contains(what, "BhRestToken") {
			if !strings.Contains(tokens, v) {
				t.Logf("%s was never stored in %s (used once and replaced before the watcher saw it, or never used)", what, jobs.TokensBucket)
			}
		}
	}
	for _, want := range []string{`"msg":"job dead-lettered"`, "credentials refused", "Unable to find object"} {
		if !strings.Contains(places["logs"], want) {
			t.Errorf("the logs lack %q: the test collected less than it says", want)
		}
	}
	if !strings.Contains(tokens, "refresh_token") {
		t.Errorf("%s holds no refresh token: the watcher saw nothing", jobs.TokensBucket)
	}
}

// watchBucket records every key and value of a KV bucket written from now on.
func (f *failureRun) watchBucket(bucket string) *syncBuffer {
	f.t.Helper()
	kv, err := f.e.js.KeyValue(f.t.Context(), bucket)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(ctx, jetstream.IncludeHistory())
	if err != nil {
		f.t.Fatal(err)
	}
	buf := &syncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					_, _ = buf.Write([]byte(e.Key() + " = " + string(e.Value()) + "\n"))
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	f.t.Cleanup(func() { cancel(); _ = w.Stop(); <-done })
	return buf
}

// streamContents returns every subject and message body of every stream but the given KV
// bucket's.
func (f *failureRun) streamContents(exceptBucket string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	names := f.e.js.StreamNames(f.t.Context())
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(all)
	for _, name := range all {
		if name == "KV_"+exceptBucket {
			continue
		}
		s, err := f.e.js.Stream(f.t.Context(), name)
		if err != nil {
			f.t.Fatal(err)
		}
		info, err := s.Info(f.t.Context())
		if err != nil {
			f.t.Fatal(err)
		}
		var b strings.Builder
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(f.t.Context(), seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				f.t.Fatal(err)
			}
			b.WriteString(m.Subject + " " + string(m.Data) + "\n")
			for k, v := range m.Header {
				b.WriteString(k + ": " + strings.Join(v, ",") + "\n")
			}
		}
		out[name] = b.String()
	}
	return out
}

// reportsText prints the reports as enqueue status --json and the summary do.
func reportsText(t *testing.T, reports []*jobs.Report) string {
	t.Helper()
	var b strings.Builder
	for _, r := range reports {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteString("\n" + summary(r))
		for _, fl := range r.Failures {
			b.WriteString(fl.Error + "\n")
		}
	}
	return b.String()
}
