package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/ingest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/targets/builtin"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// TestMain runs the tests and, when they all ran and passed, checks that they sent every
// operation of the OpenAPI document through the validating handler, with its success and
// its main problems.
func TestMain(m *testing.M) {
	code := m.Run()
	if f := flag.Lookup("test.run"); code != 0 || (f != nil && f.Value.String() != "") {
		os.Exit(code)
	}
	for _, want := range []string{
		"postJobs 202", "postJobs 400", "postJobs 409", "postJobs 401", "postJobs 403", "postJobs 413", "postJobs 415", "postJobs 422", "postJobs 429",
		"postBatch 202", "postBatch 403", "postBatch 422", "postBatch 503", "getBatch 200", "getBatch 404", "batchEvents 200", "openAPI 200",
	} {
		if !validated.seen[want] {
			fmt.Fprintf(os.Stderr, "FAIL: no test checked %s against openapi.json\n", want)
			code = 1
		}
	}
	os.Exit(code)
}

// harness is a gateway API on its own embedded JetStream server, behind a check of every
// request and response against the OpenAPI document.
type harness struct {
	t       testing.TB
	js      jetstream.JetStream
	buckets *jobs.Buckets
	keys    *apikeys.Store
	api     *ingest.API
	srv     *httptest.Server
	// token may enqueue for every workflow and connection.
	token string
}

func setup(t testing.TB, configure func(*ingest.Config)) *harness {
	t.Helper()
	js := brokertest.Start(t).JetStream(t)
	buckets, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingest.Config{JetStream: js, Buckets: buckets, RatePerSecond: 1e6, Burst: 1e6}
	if configure != nil {
		configure(&cfg)
	}
	api, err := ingest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	h := &harness{t: t, js: js, buckets: buckets, keys: apikeys.NewStore(buckets.APIKeys), api: api}
	h.srv = httptest.NewServer(validating(t, mux))
	t.Cleanup(func() {
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = api.Shutdown(ctx)
	})
	h.token = h.newKey(apikeys.Key{Name: "all", Workflows: []string{"*"}, Connections: []string{"*"}})
	return h
}

func (h *harness) newKey(k apikeys.Key) string {
	h.t.Helper()
	_, token, err := h.keys.Create(h.t.Context(), k)
	if err != nil {
		h.t.Fatal(err)
	}
	return token.Reveal()
}

// do sends a request with the token (none if empty) and returns the response and its body.
func (h *harness) do(method, path, token, body string, header map[string]string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, data
}

func (h *harness) streamMsgs() uint64 {
	h.t.Helper()
	return brokertest.StreamMsgs(h.t, h.js, jobs.JobsStream)
}

// openAPIDoc loads the embedded document once.
var openAPIDoc = sync.OnceValues(func() (*openapi3.T, error) { //nolint:gochecknoglobals // test fixture
	doc, err := openapi3.NewLoader().LoadFromData(ingest.OpenAPI)
	if err != nil {
		return nil, err
	}
	// Event streams are text; validating checks each event's data against BatchReport.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	return doc, doc.Validate(context.Background())
})

// validating checks every request and response of h against the OpenAPI document: a
// response must match its operation's, and a request the document refuses must be refused
// (4xx). Bodies are buffered, so server-sent events are checked once their stream ends.
func validating(t testing.TB, h http.Handler) http.Handler {
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)

		check := r.Clone(context.Background())
		check.Body = io.NopCloser(bytes.NewReader(body))
		check.URL.Host, check.URL.Scheme = "", ""
		route, params, err := router.FindRoute(check)
		if err != nil {
			t.Errorf("%s %s: no operation in openapi.json: %v", r.Method, r.URL.Path, err)
			return
		}
		in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && rec.status < 400 {
			t.Errorf("%s %s answered %d to a request openapi.json refuses: %v", r.Method, r.URL.Path, rec.status, err)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.status, Header: w.Header(),
			Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s: response %d does not match openapi.json: %v\n%s", r.Method, r.URL.Path, rec.status, err, rec.body.Bytes())
		}
		if w.Header().Get("Content-Type") == "text/event-stream" {
			schema := doc.Components.Schemas["BatchReport"].Value
			for line := range strings.Lines(rec.body.String()) {
				data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
				if !ok {
					continue
				}
				var v any
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					t.Errorf("event data is not JSON: %v", err)
				} else if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
					t.Errorf("event data does not match BatchReport: %v", err)
				}
			}
		}
		validated.add(route, rec.status)
	})
}

// validated records the operations and statuses checked, for TestMain.
var validated = coverage{seen: map[string]bool{}} //nolint:gochecknoglobals // shared by the tests of the package

type coverage struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *coverage) add(route *routers.Route, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, status)] = true
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func jobJSON(workflow, profile string) string {
	return fmt.Sprintf(`{"workflow_id":%q,"target":"jobadder","source_key":"src","profile_key":%q}`, workflow, profile)
}

type accepted struct {
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	Jobs       []struct {
		ID        string `json:"id"`
		MsgID     string `json:"msg_id"`
		Duplicate bool   `json:"duplicate"`
		StreamSeq uint64 `json:"stream_seq"`
	} `json:"jobs"`
}

// TestPostJobsExactlyOnce posts 1,000 jobs in requests of 100, then the same requests again
// with the same Idempotency-Keys (replayed) and without (dropped as duplicates by the stream):
// the stream holds each job once.
func TestPostJobsExactlyOnce(t *testing.T) {
	h := setup(t, nil)
	bodies := make([]string, 10)
	for r := range bodies {
		parts := make([]string, 100)
		for i := range parts {
			parts[i] = jobJSON("wf-1", fmt.Sprintf("p-%04d", r*100+i))
		}
		bodies[r] = "[" + strings.Join(parts, ",") + "]"
	}
	first := make([][]byte, len(bodies))
	for r, body := range bodies {
		resp, data := h.do("POST", "/v1/jobs", h.token, body, map[string]string{"Idempotency-Key": fmt.Sprintf("req-%d", r)})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", r, resp.StatusCode, data)
		}
		var a accepted
		if err := json.Unmarshal(data, &a); err != nil || a.Enqueued != 100 || a.Duplicates != 0 || len(a.Jobs) != 100 {
			t.Fatalf("request %d: %+v %v", r, a, err)
		}
		first[r] = data
	}
	if n := h.streamMsgs(); n != 1000 {
		t.Fatalf("stream holds %d jobs, want 1000", n)
	}
	for r, body := range bodies {
		resp, data := h.do("POST", "/v1/jobs", h.token, body, map[string]string{"Idempotency-Key": fmt.Sprintf("req-%d", r)})
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(data, first[r]) {
			t.Fatalf("replay %d: %d replayed=%q, same body %v", r, resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), bytes.Equal(data, first[r]))
		}
	}
	resp, data := h.do("POST", "/v1/jobs", h.token, bodies[0], nil)
	var a accepted
	if err := json.Unmarshal(data, &a); err != nil || resp.StatusCode != http.StatusAccepted || a.Enqueued != 0 || a.Duplicates != 100 {
		t.Fatalf("the same jobs without Idempotency-Key: %d %+v", resp.StatusCode, a)
	}
	if n := h.streamMsgs(); n != 1000 {
		t.Fatalf("stream holds %d jobs after the replays, want 1000", n)
	}
	// Each profile exactly once.
	stream, err := h.js.Stream(t.Context(), jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for seq := uint64(1); seq <= 1000; seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		j, err := jobs.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		seen[j.ProfileKey]++
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct profiles in the stream, want 1000", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("profile %s stored %d times", k, n)
		}
	}
}

// TestPostOneJob posts a lone job object and reads its result.
func TestPostOneJob(t *testing.T) {
	h := setup(t, nil)
	resp, data := h.do("POST", "/v1/jobs", h.token, `{"workflow_id":"wf","target":"bullhorn","source_key":"s","profile_key":"p","connection":"default"}`, nil)
	var a accepted
	if err := json.Unmarshal(data, &a); err != nil || resp.StatusCode != http.StatusAccepted || a.Enqueued != 1 || a.Jobs[0].StreamSeq != 1 || a.Jobs[0].MsgID == "" {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}

const workflowsYAML = `
workflows:
  wf-ja:
    target: jobadder
  wf-acme:
    target: jobadder
    connection: acme
`

// TestBadInput sends every kind of bad request: each gets its status and problem code, and
// nothing is enqueued.
func TestBadInput(t *testing.T) {
	set, err := workflow.Parse("workflows.yaml", []byte(workflowsYAML), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, func(c *ingest.Config) {
		c.Workflows = set
		c.MaxBodyBytes = 4096
		c.MaxJobs = 5
		c.MaxBatchKeys = 5
	})
	narrow := h.newKey(apikeys.Key{Name: "narrow", Workflows: []string{"wf-ja"}, Connections: []string{"default"}})
	slow := h.newKey(apikeys.Key{Name: "slow", Workflows: []string{"*"}, Connections: []string{"*"}, RatePerSecond: 0.001, Burst: 1})
	// The slow key's one token goes to this request.
	if resp, _ := h.do("GET", "/v1/batches/nope", slow, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET unknown batch: %d", resp.StatusCode)
	}
	revoked := h.newKey(apikeys.Key{Name: "gone", Workflows: []string{"*"}, Connections: []string{"*"}})
	list, _ := h.keys.List(t.Context())
	for _, k := range list {
		if k.Name == "gone" {
			if err := h.keys.Revoke(t.Context(), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A first request recorded under an Idempotency-Key, for the replay row.
	if resp, data := h.do("POST", "/v1/jobs", h.token, jobJSON("wf-ja", "first"), map[string]string{"Idempotency-Key": "k1"}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first request: %d %s", resp.StatusCode, data)
	}
	before := h.streamMsgs()

	good := jobJSON("wf-ja", "p1")
	six := "[" + strings.Repeat(good+",", 5) + good + "]"
	for _, tc := range []struct {
		name, method, path, token, body string
		header                          map[string]string
		status                          int
		code, pointer                   string
	}{
		{"malformed JSON", "POST", "/v1/jobs", h.token, `{"workflow_id": "wf-ja",`, nil, 400, "malformed-json", ""},
		{"not JSON at all", "POST", "/v1/jobs", h.token, `workflow=wf-ja`, nil, 400, "malformed-json", ""},
		{"unknown field", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","priority":1}`, nil, 422, "invalid-body", "/priority"},
		{"unknown field in an array", "POST", "/v1/jobs", h.token, `[` + good + `,{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","Profile_Key":"q"}]`, nil, 422, "invalid-body", "/1/Profile_Key"},
		{"repeated member", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","profile_key":"q"}`, nil, 400, "malformed-json", ""},
		{"bad Idempotency-Key", "POST", "/v1/jobs", h.token, good, map[string]string{"Idempotency-Key": "caf\u00e9"}, 400, "invalid-idempotency-key", "Idempotency-Key"},
		{"batch with too many keys", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_keys":["a","b","c","d","e","f"]}`, nil, 413, "too-many-keys", ""},
		{"wrong type", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":42}`, nil, 422, "invalid-body", "/profile_key"},
		{"wrong date", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","enqueued_at":"yesterday"}`, nil, 422, "invalid-body", "/enqueued_at"},
		{"missing field", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s"}`, nil, 422, "invalid-job", ""},
		{"unknown target", "POST", "/v1/jobs", h.token, `[{"workflow_id":"wf-ja","target":"workday","source_key":"s","profile_key":"p"}]`, nil, 422, "invalid-job", "/0"},
		{"empty array", "POST", "/v1/jobs", h.token, `[]`, nil, 422, "no-jobs", ""},
		{"unknown workflow", "POST", "/v1/jobs", h.token, jobJSON("wf-nope", "p"), nil, 422, "unknown-workflow", "/workflow_id"},
		{"workflow of another target", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"bullhorn","source_key":"s","profile_key":"p"}`, nil, 422, "unknown-workflow", "/target"},
		{"unknown connection", "POST", "/v1/jobs", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","connection":"nope"}`, nil, 422, "unknown-connection", "/connection"},
		{"missing key", "POST", "/v1/jobs", "", good, nil, 401, "missing-api-key", ""},
		{"wrong scheme", "POST", "/v1/jobs", "", good, map[string]string{"Authorization": "Basic " + h.token}, 401, "missing-api-key", ""},
		{"invalid key", "POST", "/v1/jobs", "hrp_aaaaaaaaaaaa_bbbb", good, nil, 401, "invalid-api-key", ""},
		{"tampered key", "POST", "/v1/jobs", h.token + "x", good, nil, 401, "invalid-api-key", ""},
		{"revoked key", "POST", "/v1/jobs", revoked, good, nil, 401, "invalid-api-key", ""},
		{"workflow out of scope", "POST", "/v1/jobs", narrow, `[` + good + `,` + jobJSON("wf-acme", "p") + `]`, nil, 403, "out-of-scope", "/1"},
		{"connection out of scope", "POST", "/v1/jobs", narrow, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_key":"p","connection":"acme"}`, nil, 403, "out-of-scope", ""},
		{"body over the limit", "POST", "/v1/jobs", h.token, `[` + strings.Repeat(good+",", 60) + good + `]`, nil, 413, "body-too-large", ""},
		{"too many jobs", "POST", "/v1/jobs", h.token, six, nil, 413, "too-many-jobs", ""},
		{"idempotency key with another body", "POST", "/v1/jobs", h.token, good, map[string]string{"Idempotency-Key": "k1"}, 422, "idempotency-key-reused", "Idempotency-Key"},
		{"not JSON content type", "POST", "/v1/jobs", h.token, good, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported-media-type", ""},
		{"rate limited", "POST", "/v1/jobs", slow, good, nil, 429, "rate-limited", ""},
		{"batch without keys or source", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s"}`, nil, 422, "invalid-batch", ""},
		{"batch with a bad key", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_keys":["a",""]}`, nil, 422, "invalid-batch", "/profile_keys/1"},
		{"whole source without an HrFlow account", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","whole_source":{}}`, nil, 503, "sources-unavailable", ""},
		{"batch of an unknown workflow", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-x","target":"jobadder","source_key":"s","profile_keys":["a"]}`, nil, 422, "unknown-workflow", "/workflow_id"},
		{"batch out of scope", "POST", "/v1/batches", narrow, `{"workflow_id":"wf-acme","target":"jobadder","source_key":"s","profile_keys":["a"]}`, nil, 403, "out-of-scope", ""},
		{"batch with unknown field", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_keys":["a"],"keys":["b"]}`, nil, 422, "invalid-body", "/keys"},
		{"unknown batch", "GET", "/v1/batches/nope", h.token, "", nil, 404, "batch-not-found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			for k, v := range tc.header {
				header[k] = v
			}
			resp, data := h.do(tc.method, tc.path, tc.token, tc.body, header)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("status %d (%s), want %d problem: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, data)
			}
			var p problem.Details
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != tc.code || p.Status != tc.status || p.Type != problem.TypeBase+tc.code || p.Detail == "" {
				t.Fatalf("problem %+v, want code %s", p, tc.code)
			}
			if tc.pointer != "" && (len(p.Errors) == 0 || p.Errors[0].Pointer != tc.pointer) {
				t.Errorf("errors %+v, want the first at %s", p.Errors, tc.pointer)
			}
			if tc.status == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(string(data), h.token) {
				t.Error("the problem echoes the API key")
			}
			if n := h.streamMsgs(); n != before {
				t.Errorf("the stream went from %d to %d jobs", before, n)
			}
		})
	}
}

type report struct {
	Batch struct {
		ID         string `json:"id"`
		Total      int    `json:"total"`
		Duplicates int    `json:"duplicates"`
		Expected   int    `json:"expected"`
		State      string `json:"state"`
	} `json:"batch"`
	Created int    `json:"created"`
	Failed  int    `json:"failed"`
	Status  string `json:"status"`
	Done    int    `json:"done"`
	Stalled bool   `json:"stalled"`
}

// waitReport polls GET /v1/batches/{id} until ok holds (30 s at most).
func (h *harness) waitReport(id string, ok func(report) bool) report {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, data := h.do("GET", "/v1/batches/"+id, h.token, "", nil)
		if resp.StatusCode != http.StatusOK {
			h.t.Fatalf("GET batch: %d %s", resp.StatusCode, data)
		}
		var r report
		if err := json.Unmarshal(data, &r); err != nil {
			h.t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("batch report never got there: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish publishes an outcome for every job of the batch in the stream, as workers would.
func (h *harness) finish(batchID string, outcome jobs.Outcome) {
	h.t.Helper()
	stream, err := h.js.Stream(h.t.Context(), jobs.JobsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := stream.Info(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(h.t.Context(), seq)
		if err != nil {
			continue
		}
		j, err := jobs.Decode(m.Data)
		if err != nil || j.BatchID != batchID {
			continue
		}
		e, _ := json.Marshal(jobs.Event{JobID: j.ID, BatchID: batchID, WorkflowID: j.WorkflowID, Target: j.Target,
			ProfileKey: j.ProfileKey, Outcome: outcome, Event: "written", Attempts: 1, At: time.Now().UTC()})
		if _, err := h.js.Publish(h.t.Context(), jobs.EventsSubjectPrefix+batchID, e); err != nil {
			h.t.Fatal(err)
		}
	}
}

type sseEvent struct {
	name string
	data report
}

// events reads GET /v1/batches/{id}/events to its end.
func (h *harness) events(ctx context.Context, id string) ([]sseEvent, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/batches/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		return nil, fmt.Errorf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var name string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var r report
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &r); err != nil {
				return out, err
			}
			out = append(out, sseEvent{name, r})
		}
	}
	return out, sc.Err()
}

// TestBatchOfKeys posts a batch of keys (with a repeat): it is enqueued in the background
// with the batch id, its report counts what was enqueued, and its events stream progress
// until every job has an outcome.
func TestBatchOfKeys(t *testing.T) {
	h := setup(t, nil)
	keys := make([]string, 250)
	for i := range keys {
		keys[i] = fmt.Sprintf("%q", fmt.Sprintf("k-%03d", i))
	}
	keys = append(keys, keys[7])
	body := `{"workflow_id":"wf-b","target":"jobadder","source_key":"src","profile_keys":[` + strings.Join(keys, ",") + `]}`
	resp, data := h.do("POST", "/v1/batches", h.token, body, map[string]string{"Idempotency-Key": "batch-1"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	var acc struct {
		BatchID      string `json:"batch_id"`
		Expected     int    `json:"expected"`
		RepeatedKeys int    `json:"repeated_keys"`
		StatusURL    string `json:"status_url"`
	}
	if err := json.Unmarshal(data, &acc); err != nil || acc.Expected != 250 || acc.RepeatedKeys != 1 || resp.Header.Get("Location") != acc.StatusURL {
		t.Fatalf("%s (Location %s)", data, resp.Header.Get("Location"))
	}
	r := h.waitReport(acc.BatchID, func(r report) bool { return r.Batch.State == jobs.BatchEnqueued })
	if r.Batch.Total != 250 || r.Batch.Expected != 250 || r.Status != jobs.StatusRunning || r.Done != 0 {
		t.Fatalf("report %+v", r)
	}
	if n := h.streamMsgs(); n != 250 {
		t.Fatalf("stream holds %d jobs, want 250", n)
	}
	// The same request again is the first answer; the same batch without the key is a new
	// batch whose jobs are all duplicates.
	resp2, data2 := h.do("POST", "/v1/batches", h.token, body, map[string]string{"Idempotency-Key": "batch-1"})
	if resp2.StatusCode != http.StatusAccepted || !bytes.Equal(data, data2) {
		t.Fatalf("replay: %d %s", resp2.StatusCode, data2)
	}
	_, data3 := h.do("POST", "/v1/batches", h.token, body, nil)
	var again struct {
		BatchID string `json:"batch_id"`
	}
	_ = json.Unmarshal(data3, &again)
	r2 := h.waitReport(again.BatchID, func(r report) bool { return r.Batch.State == jobs.BatchEnqueued })
	if r2.Batch.Total != 0 || r2.Batch.Duplicates != 250 || r2.Status != jobs.StatusSuccess {
		t.Fatalf("the batch again: %+v", r2)
	}
	if n := h.streamMsgs(); n != 250 {
		t.Fatalf("stream holds %d jobs after the batch again, want 250", n)
	}

	got := make(chan []sseEvent, 1)
	go func() {
		ev, err := h.events(t.Context(), acc.BatchID)
		if err != nil {
			t.Error(err)
		}
		got <- ev
	}()
	h.finish(acc.BatchID, jobs.Created)
	var ev []sseEvent
	select {
	case ev = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the event stream did not end")
	}
	if len(ev) < 1 {
		t.Fatal("no events")
	}
	last := ev[len(ev)-1]
	if last.name != "done" || last.data.Status != jobs.StatusSuccess || last.data.Created != 250 || last.data.Done != 250 {
		t.Fatalf("last event %+v", last)
	}
	for _, e := range ev[:len(ev)-1] {
		if e.name != "progress" || e.data.Done > 250 {
			t.Errorf("event %+v", e)
		}
	}
	final := h.waitReport(acc.BatchID, func(report) bool { return true })
	if final.Status != jobs.StatusSuccess || final.Created != 250 {
		t.Fatalf("final report %+v", final)
	}
}

// TestBatchOfWholeSource enqueues every profile of a source of the fake HrFlow, then the
// first 30 created since a date.
func TestBatchOfWholeSource(t *testing.T) {
	fake := hrflowtest.NewServer(hrflowtest.Config{})
	t.Cleanup(fake.Close)
	fake.Generate("src-1", 230, 1)
	client, err := hrflow.New(hrflow.WithBaseURL(fake.URL()), hrflow.WithAPISecret("k"), hrflow.WithUserEmail("u@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, func(c *ingest.Config) { c.Sources = client.Profiles })
	resp, data := h.do("POST", "/v1/batches", h.token, `{"workflow_id":"wf-s","target":"bullhorn","source_key":"src-1","whole_source":{}}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	var acc struct {
		BatchID string `json:"batch_id"`
	}
	_ = json.Unmarshal(data, &acc)
	r := h.waitReport(acc.BatchID, func(r report) bool { return r.Batch.State != jobs.BatchEnqueuing })
	if r.Batch.State != jobs.BatchEnqueued || r.Batch.Total != 230 {
		t.Fatalf("report %+v", r)
	}
	if n := h.streamMsgs(); n != 230 {
		t.Fatalf("stream holds %d jobs, want 230", n)
	}
	for _, bad := range []struct{ body, pointer string }{
		{`{"workflow_id":"wf-s","target":"bullhorn","source_key":"src-1","whole_source":{"created_after":"May"}}`, "/whole_source/created_after"},
		{`{"workflow_id":"wf-s","target":"bullhorn","source_key":"src-1","whole_source":{"limit":-1}}`, "/whole_source/limit"},
		{`{"workflow_id":"wf-s","target":"bullhorn","source_key":"src-1","whole_source":{},"profile_keys":["a"]}`, ""},
	} {
		resp, data := h.do("POST", "/v1/batches", h.token, bad.body, nil)
		var p problem.Details
		_ = json.Unmarshal(data, &p)
		if resp.StatusCode != http.StatusUnprocessableEntity || p.Code != "invalid-batch" || len(p.Errors) != 1 || p.Errors[0].Pointer != bad.pointer {
			t.Errorf("%s: %d %s", bad.body, resp.StatusCode, data)
		}
	}
	if n := h.streamMsgs(); n != 230 {
		t.Fatalf("stream holds %d jobs after bad batches, want 230", n)
	}
	resp, data = h.do("POST", "/v1/batches", h.token, `{"workflow_id":"wf-s2","target":"bullhorn","source_key":"src-1","whole_source":{"created_after":"2000-01-01","limit":30}}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	_ = json.Unmarshal(data, &acc)
	r = h.waitReport(acc.BatchID, func(r report) bool { return r.Batch.State != jobs.BatchEnqueuing })
	if r.Batch.Total != 30 {
		t.Fatalf("limited report %+v", r)
	}
}

// TestStalledBatch reads the report of a batch whose producer died while enqueuing: its
// header says enqueuing, with an update older than StaleAfter.
func TestStalledBatch(t *testing.T) {
	h := setup(t, func(c *ingest.Config) { c.StaleAfter = time.Minute })
	old := time.Now().Add(-5 * time.Minute).UTC()
	if err := jobs.PublishBatch(t.Context(), h.js, &jobs.Batch{ID: "dead-1", WorkflowID: "wf", Target: "jobadder", Total: 300, Expected: 1000,
		State: jobs.BatchEnqueuing, CreatedAt: old, UpdatedAt: old}); err != nil {
		t.Fatal(err)
	}
	r := h.waitReport("dead-1", func(report) bool { return true })
	if !r.Stalled || r.Status != jobs.StatusRunning || r.Batch.Total != 300 || r.Batch.Expected != 1000 {
		t.Fatalf("report %+v", r)
	}
	ev, err := h.events(t.Context(), "dead-1")
	if err != nil || len(ev) != 1 || ev[0].name != "stalled" {
		t.Fatalf("events %+v, %v", ev, err)
	}
}

// TestBatchScope hides the batches of workflows a key may not enqueue for.
func TestBatchScope(t *testing.T) {
	h := setup(t, nil)
	if err := jobs.PublishBatch(t.Context(), h.js, &jobs.Batch{ID: "b-1", WorkflowID: "wf-secret", Target: "jobadder", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	other := h.newKey(apikeys.Key{Name: "other", Workflows: []string{"wf-other"}, Connections: []string{"*"}})
	if resp, data := h.do("GET", "/v1/batches/b-1", other, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	if resp, data := h.do("GET", "/v1/batches/b-1", h.token, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}

// TestOpenAPIDocument serves the document, and checks that the tests above exercised every
// operation through the validating handler.
func TestOpenAPIDocument(t *testing.T) {
	h := setup(t, nil)
	resp, data := h.do("GET", "/v1/openapi.json", "", "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(data, ingest.OpenAPI) {
		t.Fatalf("%d", resp.StatusCode)
	}
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %s", doc.OpenAPI)
	}
}

// TestIdempotencyKeyInProgress answers 409 while a request with the same key is being
// processed (its record has no response yet), and processes it once that record is gone.
func TestIdempotencyKeyInProgress(t *testing.T) {
	h := setup(t, nil)
	list, err := h.keys.List(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	body := jobJSON("wf", "p")
	kvSum := sha256.Sum256([]byte(list[0].ID + "\x00" + "busy"))
	bodySum := sha256.Sum256([]byte("POST /v1/jobs\x00" + body))
	record := fmt.Sprintf(`{"body_hash":%q}`, hex.EncodeToString(bodySum[:]))
	rev, err := h.buckets.Idempotency.Create(t.Context(), "r"+hex.EncodeToString(kvSum[:]), []byte(record))
	if err != nil {
		t.Fatal(err)
	}
	resp, data := h.do("POST", "/v1/jobs", h.token, body, map[string]string{"Idempotency-Key": "busy"})
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" || h.streamMsgs() != 0 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	if err := h.buckets.Idempotency.Delete(t.Context(), "r"+hex.EncodeToString(kvSum[:]), jetstream.LastRevision(rev)); err != nil {
		t.Fatal(err)
	}
	if resp, data := h.do("POST", "/v1/jobs", h.token, body, map[string]string{"Idempotency-Key": "busy"}); resp.StatusCode != http.StatusAccepted || h.streamMsgs() != 1 {
		t.Fatalf("after the first ended: %d %s", resp.StatusCode, data)
	}
}

// TestIdempotencyKeyOfRefusedRequest: a refused request leaves its Idempotency-Key free, so
// that the corrected request sent with the same key is processed; once a request was accepted
// under the key, another body, valid or not, is refused as a reuse of the key.
func TestIdempotencyKeyOfRefusedRequest(t *testing.T) {
	set, err := workflow.Parse("workflows.yaml", []byte(workflowsYAML), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, func(c *ingest.Config) { c.Workflows = set })
	for _, tc := range []struct {
		path, bad string
		status    int
		code      string
		good      string
	}{
		{"/v1/jobs", jobJSON("wf-nope", "p"), 422, "unknown-workflow", jobJSON("wf-ja", "p")},
		{"/v1/jobs", `{"workflow_id":`, 400, "malformed-json", jobJSON("wf-ja", "q")},
		{"/v1/batches", `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s"}`, 422, "invalid-batch",
			`{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","profile_keys":["a"]}`},
	} {
		t.Run(tc.code, func(t *testing.T) {
			key := map[string]string{"Idempotency-Key": "fix-" + tc.code}
			refused := func(step string, status int, code string) {
				t.Helper()
				resp, data := h.do("POST", tc.path, h.token, tc.bad, key)
				var p problem.Details
				if err := json.Unmarshal(data, &p); err != nil || resp.StatusCode != status || p.Code != code {
					t.Fatalf("%s: %d %s, want %d %s", step, resp.StatusCode, data, status, code)
				}
			}
			refused("bad body", tc.status, tc.code)
			if resp, data := h.do("POST", tc.path, h.token, tc.good, key); resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("corrected body, same key: %d replayed=%q %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), data)
			}
			refused("bad body once the key was used", http.StatusUnprocessableEntity, "idempotency-key-reused")
		})
	}
}

// TestIdempotencyKeyRoundTrips: a request with a new Idempotency-Key writes its record (the
// reservation, then the response) without reading the bucket first; a key already used is
// read, to answer as the record says.
func TestIdempotencyKeyRoundTrips(t *testing.T) {
	h := setup(t, nil)
	nc := h.js.Conn()
	var reads, writes atomic.Int64
	for subject, n := range map[string]*atomic.Int64{"$JS.API.>": &reads, "$KV." + jobs.IdempotencyBucket + ".>": &writes} {
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			if strings.HasPrefix(m.Subject, "$KV.") || strings.Contains(m.Subject, "KV_"+jobs.IdempotencyBucket) {
				n.Add(1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Requests on one connection reach its subscriptions in order: once both writes are seen, a
	// read made before them would have been seen too.
	await := func(step string, want int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); writes.Load() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d writes of the idempotency bucket seen, want %d", step, writes.Load(), want)
			}
		}
	}
	key := map[string]string{"Idempotency-Key": "new"}
	body := jobJSON("wf", "p")
	if resp, data := h.do("POST", "/v1/jobs", h.token, body, key); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	await("new key", 2)
	if n := reads.Load(); n != 0 {
		t.Errorf("a new key read the idempotency bucket %d times, want 0", n)
	}
	if resp, data := h.do("POST", "/v1/jobs", h.token, body, key); resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", resp.StatusCode, data)
	}
	await("replay", 3) // the refused create
	for deadline := time.Now().Add(10 * time.Second); reads.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replay did not read the record (or reads are not counted)")
		}
	}
}

// TestShutdownInterruptsBatches stops the API while it lists a slow source: the batch's
// report says interrupted, with what was enqueued and why it stopped.
func TestShutdownInterruptsBatches(t *testing.T) {
	fake := hrflowtest.NewServer(hrflowtest.Config{Latency: 300 * time.Millisecond})
	t.Cleanup(fake.Close)
	fake.Generate("slow", 1000, 2)
	client, err := hrflow.New(hrflow.WithBaseURL(fake.URL()), hrflow.WithAPISecret("k"), hrflow.WithUserEmail("u@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, func(c *ingest.Config) { c.Sources = client.Profiles })
	resp, data := h.do("POST", "/v1/batches", h.token, `{"workflow_id":"wf","target":"jobadder","source_key":"slow","whole_source":{}}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	var acc struct {
		BatchID string `json:"batch_id"`
	}
	_ = json.Unmarshal(data, &acc)
	h.waitReport(acc.BatchID, func(r report) bool { return r.Batch.Total >= 100 }) // a page is in
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.api.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with an ended context returned nil while a batch ran")
	}
	r := h.waitReport(acc.BatchID, func(report) bool { return true })
	var raw struct {
		Batch jobs.Batch `json:"batch"`
	}
	_, data = h.do("GET", "/v1/batches/"+acc.BatchID, h.token, "", nil)
	_ = json.Unmarshal(data, &raw)
	if r.Batch.State != jobs.BatchInterrupted || r.Batch.Total < 100 || r.Batch.Total >= 1000 || raw.Batch.Error == "" {
		t.Fatalf("report %s", data)
	}
	// A page whose acks the interruption cut off may be in the stream and not in the count.
	if n := h.streamMsgs(); n < uint64(r.Batch.Total) || n > uint64(r.Batch.Total+batch.PageSize) {
		t.Fatalf("stream holds %d jobs, the report says %d", n, r.Batch.Total)
	}
}
