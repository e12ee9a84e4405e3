package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/ingest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/targets/builtin"
	"github.com/hrpush/hrpush/pkg/workflow"
)

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
		validated.add(route, rec.status)
	})
}

// validated records the operations and statuses checked, for TestOpenAPICoverage.
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
		{"batch with a bad date", "POST", "/v1/batches", h.token, `{"workflow_id":"wf-ja","target":"jobadder","source_key":"s","whole_source":{"created_after":"May"}}`, nil, 503, "sources-unavailable", ""},
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
