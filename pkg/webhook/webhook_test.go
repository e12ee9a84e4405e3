package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/webhook"
	"github.com/hrpush/hrpush/pkg/workflow"
)

const (
	testSecret = "whsec-test"
	sourceKey  = "5a4d3b0c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"
)

const workflowsFile = `
workflows:
  continuous:
    target: jobadder
    format: '.'
    read_mode: incremental
  to-bullhorn:
    target: bullhorn
    format: '.'
`

// bundle is one receiver under test: the handler on a mux, its stream, its metrics.
type bundle struct {
	t   *testing.T
	mux *http.ServeMux
	h   *webhook.Handler
	js  jetstream.JetStream
	reg *prometheus.Registry
}

func setup(t *testing.T, scheme webhook.Scheme, mod ...func(*webhook.Config)) *bundle {
	t.Helper()
	_, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return setupOn(t, js, scheme, mod...)
}

func setupOn(t *testing.T, js jetstream.JetStream, scheme webhook.Scheme, mod ...func(*webhook.Config)) *bundle {
	t.Helper()
	set, err := workflow.Parse("workflows.yaml", []byte(workflowsFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := webhook.Config{
		Secret: testSecret, Signature: scheme, Workflows: set, Publisher: jobs.NewPublisher(js), Metrics: reg,
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.Pattern, h)
	return &bundle{t: t, mux: mux, h: h, js: js, reg: reg}
}

// event returns a delivery payload of typ for profile key, as HrFlow's requests sends it.
func event(typ, key, updatedAt string) []byte {
	profile := map[string]any{
		"key": key, "source": map[string]any{"key": sourceKey, "name": "careers"},
		"info": map[string]any{"full_name": "Zoé Ünal", "email": "zoe@example.com"},
	}
	if updatedAt != "" {
		profile["updated_at"] = updatedAt
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "origin": "api", "message": "ok", "profile": profile})
	return b
}

// Signers, written from the documented schemes independently of the package.

func hmacHex(key string, data []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// signHex signs body, compact JSON of {type, origin, message, profile} in that order.
func signHex(key string, body []byte) string { return hmacHex(key, body) }

func signSDK(key string, payload []byte) string {
	return base64.URLEncoding.EncodeToString([]byte(hmacHex(key, payload))) + "." + base64.URLEncoding.EncodeToString(payload)
}

// compactEvent returns the event as the hex scheme signs it: keys type, origin, message,
// profile in that order, no spacing.
func compactEvent(typ, key, updatedAt string) []byte {
	var p struct {
		Type    string          `json:"type"`
		Origin  string          `json:"origin"`
		Message string          `json:"message"`
		Profile json.RawMessage `json:"profile"`
	}
	_ = json.Unmarshal(event(typ, key, updatedAt), &p)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
	return bytes.TrimSpace(b.Bytes())
}

func (b *bundle) post(workflow string, body []byte, headers ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	req := httptest.NewRequestWithContext(b.t.Context(), http.MethodPost, "/webhooks/hrflow/"+workflow, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		req.Header.Add(webhook.SignatureHeader, h)
	}
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	return rec
}

// stored returns the jobs in the stream.
func (b *bundle) stored() []*jobs.Job {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), jobs.JobsStream)
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context())
	if err != nil {
		b.t.Fatal(err)
	}
	var out []*jobs.Job
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(b.t.Context(), seq)
		if err != nil {
			continue
		}
		j, err := jobs.Decode(m.Data)
		if err != nil {
			b.t.Fatalf("stored job: %v", err)
		}
		if m.Header.Get("Nats-Msg-Id") != j.MsgID() {
			b.t.Errorf("job %s stored with message id %q, want %q", j.ID, m.Header.Get("Nats-Msg-Id"), j.MsgID())
		}
		out = append(out, j)
	}
	return out
}

func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) *problem.Details {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	var p problem.Details
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != code || p.Status != status {
		t.Errorf("problem %+v, want code %s", p, code)
	}
	if strings.Contains(rec.Body.String(), testSecret) {
		t.Errorf("the answer holds the secret: %s", rec.Body)
	}
	return &p
}

func wantResult(t *testing.T, rec *httptest.ResponseRecorder, status int, want webhook.Result) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var got webhook.Result
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("result %+v, want %+v", got, want)
	}
}

func (b *bundle) count(event, outcome string) int {
	b.t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["event"] == event && labels["outcome"] == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

func TestSignatureHex(t *testing.T) {
	t.Parallel()
	body := compactEvent(webhook.EventStoringSuccess, "k1", "2026-01-02T03:04:05+0000")
	good := signHex(testSecret, body)
	tampered := bytes.Replace(body, []byte("k1"), []byte("k2"), 1)
	cases := []struct {
		name    string
		body    []byte
		headers []string
		detail  string
	}{
		{"missing header", body, nil, "no HTTP-HRFLOW-SIGNATURE header"},
		{"empty header", body, []string{""}, "no HTTP-HRFLOW-SIGNATURE header"},
		{"wrong secret", body, []string{signHex("another-secret", body)}, "signature does not match"},
		{"tampered body", tampered, []string{good}, "signature does not match"},
		{"not hex", body, []string{strings.Repeat("zz", 32)}, "malformed"},
		{"short digest", body, []string{good[:40]}, "malformed"},
		{"sdk form", body, []string{signSDK(testSecret, body)}, "has the form of the sdk scheme"},
		{"given twice", body, []string{good, good}, "given more than once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, webhook.SchemeHex)
			p := wantProblem(t, b.post("continuous", c.body, c.headers...), http.StatusUnauthorized, "bad-signature")
			if !strings.Contains(p.Detail, c.detail) || len(p.Errors) != 1 || p.Errors[0].Pointer != webhook.SignatureHeader {
				t.Errorf("problem %+v, want detail with %q", p, c.detail)
			}
			if n := len(b.stored()); n != 0 {
				t.Errorf("%d jobs enqueued by a refused delivery", n)
			}
			if b.count("none", webhook.OutcomeUnauthorized) != 1 {
				t.Error("refusal not counted")
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeHex)
		wantResult(t, b.post("continuous", body, good), http.StatusAccepted, webhook.Result{Enqueued: 1})
		// Upper-case hex digits are the same digest.
		wantResult(t, b.post("continuous", body, strings.ToUpper(good)), http.StatusAccepted, webhook.Result{Duplicates: 1})
		if n := len(b.stored()); n != 1 {
			t.Errorf("%d jobs, want 1", n)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeHex)
		wantProblem(t, b.post("continuous", []byte("type=x"), signHex(testSecret, []byte("type=x"))), http.StatusBadRequest, "malformed-payload")
	})
}

func TestSignatureSDK(t *testing.T) {
	t.Parallel()
	payload := event(webhook.EventStoringSuccess, "k1", "2026-01-02T03:04:05+0000")
	good := signSDK(testSecret, payload)
	sig, enc, _ := strings.Cut(good, ".")
	tampered := base64.URLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"k1"`), []byte(`"k2"`), 1))
	cases := []struct {
		name    string
		headers []string
		detail  string
	}{
		{"missing header", nil, "no HTTP-HRFLOW-SIGNATURE header"},
		{"wrong secret", []string{signSDK("another-secret", payload)}, "signature does not match"},
		{"tampered payload", []string{sig + "." + tampered}, "signature does not match"},
		{"no dot", []string{sig}, "malformed"},
		{"three parts", []string{good + ".x"}, "malformed"},
		{"empty payload", []string{sig + "."}, "malformed"},
		{"digest not base64", []string{"!!!." + enc}, "malformed"},
		{"digest not hex", []string{base64.URLEncoding.EncodeToString([]byte(strings.Repeat("z", 64))) + "." + enc}, "malformed"},
		{"payload not base64", []string{sig + ".%%%"}, "malformed"},
		{"hex form", []string{signHex(testSecret, payload)}, "has the form of the hex scheme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, webhook.SchemeSDK)
			p := wantProblem(t, b.post("continuous", payload, c.headers...), http.StatusUnauthorized, "bad-signature")
			if !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q, want %q", p.Detail, c.detail)
			}
			if n := len(b.stored()); n != 0 {
				t.Errorf("%d jobs enqueued by a refused delivery", n)
			}
		})
	}
	t.Run("valid, padded or not, body ignored", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK)
		// The body is not signed in this scheme: the handler acts on the signed payload.
		wantResult(t, b.post("continuous", []byte(`{"type":"profile.storing.success","profile":{"key":"evil","source":{"key":"evil"}}}`), good),
			http.StatusAccepted, webhook.Result{Enqueued: 1})
		unpadded := strings.ReplaceAll(good, "=", "")
		wantResult(t, b.post("continuous", nil, unpadded), http.StatusAccepted, webhook.Result{Duplicates: 1})
		got := b.stored()
		if len(got) != 1 || got[0].ProfileKey != "k1" || got[0].SourceKey != sourceKey {
			t.Errorf("jobs %+v, want the signed profile k1 only", got)
		}
	})
}

// TestKnownVectors checks deliveries signed by Python code written from the two documented
// descriptions (hmac, hashlib, base64.urlsafe_b64encode, json.dumps), so the package agrees
// with an implementation other than its own tests'.
func TestKnownVectors(t *testing.T) {
	t.Parallel()
	// json.dumps(payload): Python's default spacing and ASCII escapes.
	const body = `{"type": "profile.storing.update", "origin": "api", "message": "Profile updated", "profile": {"key": "k1", "source": {"key": "s1"}, "updated_at": "2026-01-02T03:04:05+0000", "info": {"full_name": "Zo\u00e9 \u00dcnal <z>"}}}`
	// hmac.new(secret, json.dumps({type, origin, message, profile}, separators=(",", ":")), sha256).hexdigest()
	const hexSig = "f67352246fe5151c24a15bd6c1dae4d35825aa2ccaa794cba14fbfbd5da17467"
	// urlsafe_b64encode(hexdigest of body) + "." + urlsafe_b64encode(body)
	const sdkSig = "YjZjMzljYzllN2QyYTE3NWVmNmU3YmM5OGIyMzRiNjE5ZTM4NjMyY2MyODI0Yjg0YWVmM2Q3NDkyNmIzMDBhMA==.eyJ0eXBlIjogInByb2ZpbGUuc3RvcmluZy51cGRhdGUiLCAib3JpZ2luIjogImFwaSIsICJtZXNzYWdlIjogIlByb2ZpbGUgdXBkYXRlZCIsICJwcm9maWxlIjogeyJrZXkiOiAiazEiLCAic291cmNlIjogeyJrZXkiOiAiczEifSwgInVwZGF0ZWRfYXQiOiAiMjAyNi0wMS0wMlQwMzowNDowNSswMDAwIiwgImluZm8iOiB7ImZ1bGxfbmFtZSI6ICJab1x1MDBlOSBcdTAwZGNuYWwgPHo-In19fQ=="
	// The same event with its characters unescaped (json.dumps(..., ensure_ascii=False)),
	// signed as above: the signature still escapes them.
	utf8Body := strings.NewReplacer(`\u00e9`, "é", `\u00dc`, "Ü").Replace(body)

	for _, c := range []struct {
		name   string
		scheme webhook.Scheme
		body   string
		header string
	}{
		{"hex", webhook.SchemeHex, body, hexSig},
		{"hex, UTF-8 body", webhook.SchemeHex, utf8Body, hexSig},
		{"sdk", webhook.SchemeSDK, body, sdkSig},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.scheme)
			wantResult(t, b.post("continuous", []byte(c.body), c.header), http.StatusAccepted, webhook.Result{Enqueued: 1})
			got := b.stored()
			if len(got) != 1 || got[0].ProfileKey != "k1" || got[0].SourceKey != "s1" {
				t.Fatalf("jobs %+v", got)
			}
		})
	}
}

func TestEventMapping(t *testing.T) {
	t.Parallel()
	b := setup(t, webhook.SchemeSDK)
	at := "2026-03-01T10:00:00+0000"
	for i, typ := range []string{webhook.EventParsingSuccess, webhook.EventStoringSuccess, webhook.EventStoringUpdate,
		webhook.EventIndexingSuccess, webhook.EventIndexingUpdate} {
		payload := event(typ, fmt.Sprintf("p%d", i), at)
		wantResult(t, b.post("continuous", payload, signSDK(testSecret, payload)), http.StatusAccepted, webhook.Result{Enqueued: 1})
	}
	// A profile with only source_key (no source object), to another workflow.
	payload := []byte(`{"type":"profile.storing.update","profile":{"key":"p9","source_key":"s9","updated_at":"x"}}`)
	wantResult(t, b.post("to-bullhorn", payload, signSDK(testSecret, payload)), http.StatusAccepted, webhook.Result{Enqueued: 1})

	got := b.stored()
	if len(got) != 6 {
		t.Fatalf("%d jobs, want 6", len(got))
	}
	for i, j := range got[:5] {
		if j.WorkflowID != "continuous" || j.Target != "jobadder" || j.SourceKey != sourceKey || j.ProfileKey != fmt.Sprintf("p%d", i) ||
			j.BatchID != "" || j.Connection != "" || !strings.HasPrefix(j.DedupKey, "hook-") || j.Subject() != "hrpush.push.jobadder" {
			t.Errorf("job %d: %+v", i, j)
		}
	}
	if j := got[5]; j.WorkflowID != "to-bullhorn" || j.Target != "bullhorn" || j.SourceKey != "s9" || j.ProfileKey != "p9" {
		t.Errorf("bullhorn job: %+v", j)
	}
	if n := b.count(webhook.EventStoringUpdate, webhook.OutcomeEnqueued); n != 2 {
		t.Errorf("metric storing.update enqueued = %d, want 2", n)
	}

	t.Run("other events are acknowledged and ignored", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK)
		for _, typ := range []string{"profile.parsing.error", "profile.searching.success", "job.train.success", "", "profile.parse.success"} {
			payload := event(typ, "k1", at)
			wantResult(t, b.post("continuous", payload, signSDK(testSecret, payload)), http.StatusOK, webhook.Result{Ignored: 1})
		}
		if n := len(b.stored()); n != 0 {
			t.Errorf("%d jobs, want none", n)
		}
		if b.count("profile.parsing.error", webhook.OutcomeIgnored) != 1 || b.count("other", webhook.OutcomeIgnored) != 3 {
			t.Error("ignored events not counted by event")
		}
	})

	t.Run("an array of events", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK)
		payload := fmt.Appendf(nil, "[%s,%s,%s]", event(webhook.EventParsingSuccess, "a1", at),
			event("profile.parsing.error", "a2", at), event(webhook.EventStoringUpdate, "a3", at))
		wantResult(t, b.post("continuous", nil, signSDK(testSecret, payload)), http.StatusAccepted, webhook.Result{Enqueued: 2, Ignored: 1})
		if got := b.stored(); len(got) != 2 || got[0].ProfileKey != "a1" || got[1].ProfileKey != "a3" {
			t.Errorf("jobs %+v", got)
		}
		// The hex scheme signs one event object: an array cannot be checked.
		h := setup(t, webhook.SchemeHex)
		wantProblem(t, h.post("continuous", payload, signHex(testSecret, payload)), http.StatusBadRequest, "malformed-payload")
	})

	t.Run("hostile keys refuse the whole delivery", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK)
		payload := fmt.Appendf(nil, `[%s,{"type":"profile.storing.success","profile":{"key":"../../etc","source":{"key":"s 1"}}},{"type":"profile.storing.update","profile":"x"},{"type":"profile.storing.update"}]`,
			event(webhook.EventParsingSuccess, "ok1", at))
		p := wantProblem(t, b.post("continuous", nil, signSDK(testSecret, payload)), http.StatusBadRequest, "invalid-event")
		var pointers []string
		for _, e := range p.Errors {
			pointers = append(pointers, e.Pointer)
		}
		if want := "/1/profile/key /1/profile/source/key /2/profile /3/profile"; strings.Join(pointers, " ") != want {
			t.Errorf("pointers %v, want %s", pointers, want)
		}
		long := event(webhook.EventStoringSuccess, strings.Repeat("k", 129), at)
		wantProblem(t, b.post("continuous", nil, signSDK(testSecret, long)), http.StatusBadRequest, "invalid-event")
		if n := len(b.stored()); n != 0 {
			t.Errorf("%d jobs enqueued from a refused delivery", n)
		}
	})

	t.Run("unknown workflow: 404, but only once signed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK)
		payload := event(webhook.EventStoringSuccess, "k1", at)
		wantProblem(t, b.post("nosuch", payload, signSDK(testSecret, payload)), http.StatusNotFound, "unknown-workflow")
		wantProblem(t, b.post("nosuch", payload, signSDK("guess", payload)), http.StatusUnauthorized, "bad-signature")
		if n := len(b.stored()); n != 0 {
			t.Errorf("%d jobs", n)
		}
	})

	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		b := setup(t, webhook.SchemeSDK, func(c *webhook.Config) { c.MaxBodyBytes = 4096; c.MaxEvents = 2 })
		big := event(webhook.EventStoringSuccess, "k1", strings.Repeat("x", 5000))
		wantProblem(t, b.post("continuous", big, signSDK(testSecret, []byte("{}"))), http.StatusRequestEntityTooLarge, "too-large")
		wantProblem(t, b.post("continuous", nil, signSDK(testSecret, big)), http.StatusRequestEntityTooLarge, "too-large")
		three := fmt.Appendf(nil, "[%s,%s,%s]", event(webhook.EventStoringSuccess, "a", at), event(webhook.EventStoringSuccess, "b", at), event(webhook.EventStoringSuccess, "c", at))
		wantProblem(t, b.post("continuous", nil, signSDK(testSecret, three)), http.StatusRequestEntityTooLarge, "too-many-events")
		if n := len(b.stored()); n != 0 {
			t.Errorf("%d jobs", n)
		}
	})
}

// TestDedup checks what one event is: a redelivery is stored once, the parsing and storing
// events of one new profile make one job, and two updates of a profile are two jobs within
// the duplicates window.
func TestDedup(t *testing.T) {
	t.Parallel()
	b := setup(t, webhook.SchemeHex)
	send := func(typ, key, updatedAt string, want webhook.Result) {
		t.Helper()
		body := compactEvent(typ, key, updatedAt)
		wantResult(t, b.post("continuous", body, signHex(testSecret, body)), http.StatusAccepted, want)
	}
	v1, v2 := "2026-03-01T10:00:00+0000", "2026-03-01T10:00:01+0000"
	send(webhook.EventParsingSuccess, "k1", v1, webhook.Result{Enqueued: 1})
	send(webhook.EventParsingSuccess, "k1", v1, webhook.Result{Duplicates: 1}) // redelivery
	send(webhook.EventStoringSuccess, "k1", v1, webhook.Result{Duplicates: 1}) // same profile, stored
	send(webhook.EventStoringUpdate, "k1", v2, webhook.Result{Enqueued: 1})    // an edit
	send(webhook.EventStoringUpdate, "k1", v2, webhook.Result{Duplicates: 1})  // its redelivery
	send(webhook.EventStoringUpdate, "k2", v2, webhook.Result{Enqueued: 1})    // another profile

	// Key order and spacing do not make another event (sdk payloads are as HrFlow wrote them).
	sdk := setupOn(t, b.js, webhook.SchemeSDK)
	respaced := []byte(`{"profile": {"updated_at": "2026-03-01T10:00:01+0000", "source": {"name": "careers", "key": "` + sourceKey + `"},
		"info": {"email": "zoe@example.com", "full_name": "Zoé Ünal"}, "key": "k2"}, "type": "profile.storing.update"}`)
	wantResult(t, sdk.post("continuous", nil, signSDK(testSecret, respaced)), http.StatusAccepted, webhook.Result{Duplicates: 1})

	// Without updated_at, the same content is one event within a minute, two across minutes.
	clock := time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)
	webhook.SetNow(b.h, func() time.Time { return clock })
	send(webhook.EventStoringUpdate, "k3", "", webhook.Result{Enqueued: 1})
	clock = clock.Add(30 * time.Second)
	send(webhook.EventStoringUpdate, "k3", "", webhook.Result{Duplicates: 1})
	clock = clock.Add(time.Minute)
	send(webhook.EventStoringUpdate, "k3", "", webhook.Result{Enqueued: 1})

	got := b.stored()
	var keys []string
	for _, j := range got {
		keys = append(keys, j.ProfileKey)
	}
	if strings.Join(keys, " ") != "k1 k1 k2 k3 k3" {
		t.Errorf("stored profiles %v, want k1 k1 k2 k3 k3", keys)
	}
	if b.count(webhook.EventStoringSuccess, webhook.OutcomeDuplicate) != 1 {
		t.Error("duplicate not counted")
	}
}

// TestQueueUnavailable checks that a delivery whose jobs the stream does not store is answered
// 503 with Retry-After, so HrFlow delivers it again.
func TestQueueUnavailable(t *testing.T) {
	t.Parallel()
	_, js := brokertest.JetStream(t) // no streams: publishing fails
	b := setupOn(t, js, webhook.SchemeHex, func(c *webhook.Config) { c.PublishTimeout = 2 * time.Second })
	body := compactEvent(webhook.EventStoringSuccess, "k1", "2026-03-01T10:00:00+0000")
	rec := b.post("continuous", body, signHex(testSecret, body))
	wantProblem(t, rec, http.StatusServiceUnavailable, "queue-unavailable")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if b.count("none", webhook.OutcomePublishFailed) != 1 {
		t.Error("failure not counted")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := webhook.New(webhook.Config{Signature: "base64"})
	for _, want := range []string{"no secret", `"base64" is neither "hex" nor "sdk"`, "no workflows", "no publisher"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if got := (webhook.Config{}).WithDefaults().Signature; got != webhook.SchemeHex {
		t.Errorf("default scheme %q", got)
	}
	// The secret never prints.
	cfg := webhook.Config{Secret: secret.Value(testSecret)}
	if s := fmt.Sprintf("%+v %#v", cfg, cfg); strings.Contains(s, testSecret) {
		t.Errorf("config prints the secret: %s", s)
	}
}

// TestFakeHrFlowDeliveries checks the receiver against the fake HrFlow's deliveries in both
// signature forms: the parsing and storing events of a new profile make one job, each edit one.
func TestFakeHrFlowDeliveries(t *testing.T) {
	t.Parallel()
	for _, scheme := range []webhook.Scheme{webhook.SchemeHex, webhook.SchemeSDK} {
		t.Run(string(scheme), func(t *testing.T) {
			t.Parallel()
			b := setup(t, scheme)
			ts := httptest.NewServer(b.mux)
			t.Cleanup(ts.Close)
			hf := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{
				URL: ts.URL + "/webhooks/hrflow/continuous", Secret: testSecret, Signature: string(scheme),
			}})
			t.Cleanup(hf.Close)
			keys := hf.Parse(sourceKey, 5, 1)
			hf.TouchProfile(sourceKey, keys[0], time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			hf.TouchProfile(sourceKey, keys[0], time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC))
			deadline := time.Now().Add(time.Minute)
			for st := hf.Webhooks(); st.Made != 12 || st.Pending != 0; st = hf.Webhooks() {
				if time.Now().After(deadline) {
					t.Fatalf("deliveries %+v", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if st := hf.Webhooks(); st.Delivered != 12 || st.Statuses[http.StatusAccepted] != 12 {
				t.Errorf("deliveries %+v, want 12 accepted", st)
			}
			got := b.stored()
			if len(got) != 7 {
				t.Fatalf("%d jobs, want 7 (5 new profiles, 2 edits)", len(got))
			}
			// Deliveries run concurrently: which of a profile's two events comes first varies.
			perKey := map[string]int{}
			for _, j := range got {
				perKey[j.ProfileKey]++
				if j.SourceKey != sourceKey {
					t.Errorf("job %+v", j)
				}
			}
			if perKey[keys[0]] != 3 || len(perKey) != 5 {
				t.Errorf("jobs per profile %v, want 3 for %s (new, 2 edits) and 1 for the others", perKey, keys[0])
			}
			if n := b.count(webhook.EventStoringSuccess, webhook.OutcomeDuplicate) + b.count(webhook.EventParsingSuccess, webhook.OutcomeDuplicate); n != 5 {
				t.Errorf("duplicates = %d, want 5 (one of each new profile's two events)", n)
			}
		})
	}
}
