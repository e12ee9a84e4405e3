package bullhorn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/targets"
)

// fields are the fields fakeAPI accepts per entity; anything else is a 400, as at Bullhorn.
var fields = map[string][]string{
	"Candidate": {"name", "firstName", "lastName", "email", "mobile", "dateOfBirth", "address", "experience",
		"skillSet", "description", "source", "externalID"},
	"CandidateEducation":   {"candidate", "school", "degree", "comments", "city", "startDate", "endDate"},
	"CandidateWorkHistory": {"candidate", "companyName", "title", "comments", "startDate", "endDate", "isLastJob"},
}

// fakeAPI is an in-memory Bullhorn REST API. Its search index lags: a candidate is found by a
// search only once indexed.
type fakeAPI struct {
	mu       sync.Mutex
	n        int
	entities map[string]map[int]map[string]any // entity → id → fields
	indexed  map[int]bool
	files    map[int][]FileAttachment // candidate id → files
	calls    []string                 // "METHOD route" without ids, e.g. "POST entity/Candidate"
	fault    map[string]int           // call → status to answer
	// lose makes a create carried out but answered 504, as when the answer is lost.
	lose map[string]bool
	// delay holds a call back before it is carried out (the fake's lock is released meanwhile);
	// hook runs when a call starts.
	delay map[string]time.Duration
	hook  map[string]func()
	// indexOnSearch indexes every candidate once a search has been answered: an index that
	// catches up after the first search.
	indexOnSearch bool
}

func newFakeAPI(mux *http.ServeMux) *fakeAPI {
	f := &fakeAPI{
		n:        1000,
		entities: map[string]map[int]map[string]any{"Candidate": {}, "CandidateEducation": {}, "CandidateWorkHistory": {}},
		indexed:  map[int]bool{},
		files:    map[int][]FileAttachment{},
		fault:    map[string]int{},
		lose:     map[string]bool{},
		delay:    map[string]time.Duration{},
		hook:     map[string]func(){},
	}
	mux.HandleFunc("PUT /entity/{entity}", f.create)
	mux.HandleFunc("POST /entity/{entity}/{id}", f.update)
	mux.HandleFunc("GET /entity/Candidate/{id}/{assoc}", f.list)
	mux.HandleFunc("GET /search/Candidate", f.search)
	mux.HandleFunc("PUT /file/Candidate/{id}", f.upload)
	return f
}

// begin records a call and answers it with its fault, if any; it returns false then. It is
// called with f.mu held.
func (f *fakeAPI) begin(w http.ResponseWriter, r *http.Request, call string) bool {
	f.calls = append(f.calls, call)
	if h := f.hook[call]; h != nil {
		h()
	}
	if d := f.delay[call]; d > 0 {
		f.mu.Unlock()
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		f.mu.Lock()
	}
	if status := f.fault[call]; status != 0 {
		writeJSON(w, status, `{"errorMessage": "injected fault"}`)
		return false
	}
	return true
}

func (f *fakeAPI) decode(w http.ResponseWriter, r *http.Request, entity string) (map[string]any, bool) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, `{"errorMessage": "malformed JSON"}`)
		return nil, false
	}
	for k := range body {
		if !strings.Contains(","+strings.Join(fields[entity], ",")+",", ","+k+",") {
			writeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"errorMessage": "Invalid field '%s' for entity %s",
				"errorMessageKey": "errors.invalidField", "errorCode": 400}`, k, entity))
			return nil, false
		}
	}
	return body, true
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	entity := r.PathValue("entity")
	if !f.begin(w, r, "PUT entity/"+entity) {
		return
	}
	body, ok := f.decode(w, r, entity)
	if !ok {
		return
	}
	f.n++
	f.entities[entity][f.n] = body
	if f.lose["PUT entity/"+entity] {
		writeJSON(w, http.StatusGatewayTimeout, `{"errorMessage": "gateway timeout"}`)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"changedEntityType": %q, "changedEntityId": %d, "changeType": "INSERT"}`, entity, f.n))
}

func (f *fakeAPI) update(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	entity := r.PathValue("entity")
	if !f.begin(w, r, "POST entity/"+entity) {
		return
	}
	id, _ := strconv.Atoi(r.PathValue("id"))
	e, ok := f.entities[entity][id]
	if !ok {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf(`{"errorMessage": "Cannot find entity of type %s with id %d"}`, entity, id))
		return
	}
	body, ok := f.decode(w, r, entity)
	if !ok {
		return
	}
	maps.Copy(e, body)
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"changedEntityType": %q, "changedEntityId": %d, "changeType": "UPDATE"}`, entity, id))
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	assoc := r.PathValue("assoc")
	if !f.begin(w, r, "GET entity/Candidate/"+assoc) {
		return
	}
	id, _ := strconv.Atoi(r.PathValue("id"))
	var data []any
	if assoc == "fileAttachments" {
		for _, a := range f.files[id] {
			data = append(data, a)
		}
	} else {
		entity := map[string]string{"educations": "CandidateEducation", "workHistories": "CandidateWorkHistory"}[assoc]
		for rid, row := range f.entities[entity] {
			if row["candidate"].(map[string]any)["id"] == float64(id) {
				data = append(data, map[string]any{"id": rid, "school": row["school"], "companyName": row["companyName"],
					"startDate": row["startDate"]})
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"start": 0, "count": len(data), "data": data})
	writeJSON(w, http.StatusOK, string(b))
}

func (f *fakeAPI) search(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.begin(w, r, "GET search/Candidate") {
		return
	}
	q := r.URL.Query().Get("query")
	field, value := "email", ""
	if ext, ok := strings.CutPrefix(q, "externalID:"); ok {
		field = "externalID"
		value, _, _ = strings.Cut(ext, " AND ")
	} else {
		value, _, _ = strings.Cut(strings.TrimPrefix(q, "(email:"), " OR ")
	}
	value = strings.ReplaceAll(value, `\`, "")
	var data []any
	for id, c := range f.entities["Candidate"] {
		if f.indexed[id] && c[field] == value {
			data = append(data, map[string]any{"id": id, "email": c["email"]})
		}
	}
	if f.indexOnSearch {
		for id := range f.entities["Candidate"] {
			f.indexed[id] = true
		}
	}
	b, _ := json.Marshal(map[string]any{"total": len(data), "start": 0, "count": len(data), "data": data})
	writeJSON(w, http.StatusOK, string(b))
}

func (f *fakeAPI) upload(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.begin(w, r, "PUT file/Candidate") {
		return
	}
	id, _ := strconv.Atoi(r.PathValue("id"))
	var body struct {
		ExternalID, FileContent, FileType, Name, ContentType, Type string
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.FileType != "SAMPLE" || body.ExternalID == "" {
		writeJSON(w, http.StatusBadRequest, `{"errorMessage": "bad file"}`)
		return
	}
	f.n++
	f.files[id] = append(f.files[id], FileAttachment{ID: f.n, Name: body.Name, ExternalID: body.ExternalID, Type: body.Type})
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"fileId": %d}`, f.n))
}

// do runs fn under the fake's lock.
func (f *fakeAPI) do(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// counts returns the number of candidates, educations, work histories and files.
func (f *fakeAPI) counts() [4]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	files := 0
	for _, fs := range f.files {
		files += len(fs)
	}
	return [4]int{len(f.entities["Candidate"]), len(f.entities["CandidateEducation"]), len(f.entities["CandidateWorkHistory"]), files}
}

func (f *fakeAPI) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := f.calls
	f.calls = nil
	return calls
}

// setupTarget returns a target writing to a fake API, with its own buckets.
func setupTarget(t *testing.T) (*Target, *fakeAPI, jetstream.KeyValue) {
	t.Helper()
	client, mux, _ := setup(t)
	api := newFakeAPI(mux)
	ids, locks := newBucket(t), newLockBucket(t)
	return newTarget(t, client, ids, locks), api, ids
}

func newTarget(t *testing.T, client *Client, ids, locks jetstream.KeyValue) *Target {
	t.Helper()
	target, err := NewTarget(TargetConfig{Client: client, IDs: ids, Locks: locks, LockTTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// testItem is the first sample profile, formatted, with its resume.
func testItem(t *testing.T, opens *atomic.Int32) *targets.Item {
	t.Helper()
	return &targets.Item{
		SourceKey:  "source1",
		ProfileKey: "profile1",
		Payload:    Format(loadProfile(t, "profile-get-response.json")),
		Resume: &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) {
				opens.Add(1)
				return io.NopCloser(strings.NewReader("%PDF-1.4")), nil
			}},
	}
}

func push(t *testing.T, target *Target, item *targets.Item) *targets.Result {
	t.Helper()
	res, err := target.Push(t.Context(), item)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	return res
}

func wantResult(t *testing.T, got *targets.Result, want targets.Result) {
	t.Helper()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func wantCounts(t *testing.T, api *fakeAPI, want [4]int) {
	t.Helper()
	if got := api.counts(); got != want {
		t.Errorf("candidates, educations, work histories, files = %v, want %v", got, want)
	}
}

func storedIDs(t *testing.T, ids jetstream.KeyValue, key string) idRecord {
	t.Helper()
	e, err := ids.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var rec idRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestTargetPush(t *testing.T) {
	t.Parallel()

	t.Run("create, then re-push updates without duplicating rows or the file", func(t *testing.T) {
		t.Parallel()
		target, api, ids := setupTarget(t)
		var opens atomic.Int32
		wantResult(t, push(t, target, testItem(t, &opens)), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if diff := cmp.Diff([]string{
			"GET search/Candidate", "PUT entity/Candidate",
			"PUT entity/CandidateEducation", "PUT entity/CandidateEducation",
			"PUT entity/CandidateWorkHistory", "PUT entity/CandidateWorkHistory",
			"PUT file/Candidate",
		}, api.takeCalls()); diff != "" {
			t.Errorf("first push calls (-want +got):\n%s", diff)
		}
		rec := storedIDs(t, ids, "bullhorn.source1.profile1")
		if rec.CandidateID != 1001 || len(rec.Educations) != 2 || len(rec.WorkHistories) != 2 || rec.FileID != 1006 {
			t.Errorf("stored record = %+v", rec)
		}
		if _, ok := rec.Educations["c3d4e5f60718293a4b5c6d7e8f90123456789012"]; !ok {
			t.Errorf("educations not keyed by HrFlow's key: %v", rec.Educations)
		}

		wantResult(t, push(t, target, testItem(t, &opens)), targets.Result{Action: targets.Updated, ID: "1001"})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if diff := cmp.Diff([]string{
			"POST entity/Candidate",
			"POST entity/CandidateEducation", "POST entity/CandidateEducation",
			"POST entity/CandidateWorkHistory", "POST entity/CandidateWorkHistory",
		}, api.takeCalls()); diff != "" {
			t.Errorf("second push calls (-want +got):\n%s", diff)
		}
		if opens.Load() != 1 {
			t.Errorf("resume downloaded %d times, want 1", opens.Load())
		}
	})

	t.Run("a search match is updated", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		api.do(func(f *fakeAPI) {
			f.entities["Candidate"][42] = map[string]any{"email": "harry.potter@gmail.com"}
			f.indexed[42] = true
		})
		var opens atomic.Int32
		wantResult(t, push(t, target, testItem(t, &opens)), targets.Result{Action: targets.Updated, ID: "42", ResumeUploaded: true})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
	})

	t.Run("duplicates allowed skip the search", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		api.do(func(f *fakeAPI) {
			f.entities["Candidate"][42] = map[string]any{"email": "harry.potter@gmail.com"}
			f.indexed[42] = true
		})
		var opens atomic.Int32
		item := testItem(t, &opens)
		item.Options = targets.Options{"allow_duplicates": true}
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
		wantCounts(t, api, [4]int{2, 2, 2, 1})
	})

	t.Run("a lost record is rebuilt from the candidate's rows and files", func(t *testing.T) {
		t.Parallel()
		target, api, ids := setupTarget(t)
		var opens atomic.Int32
		push(t, target, testItem(t, &opens))
		for _, key := range []string{"bullhorn.source1.profile1", target.emailKey("harry.potter@gmail.com")} {
			if err := ids.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
		}
		api.do(func(f *fakeAPI) { f.indexed[1001] = true })
		wantResult(t, push(t, target, testItem(t, &opens)), targets.Result{Action: targets.Updated, ID: "1001"})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if rec := storedIDs(t, ids, "bullhorn.source1.profile1"); len(rec.Educations) != 2 || len(rec.WorkHistories) != 2 || rec.FileID != 1006 {
			t.Errorf("rebuilt record = %+v", rec)
		}
	})

	t.Run("concurrent pushes of one email make one candidate despite the index lag", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		ids, locks := newBucket(t), newLockBucket(t)
		workers := []*Target{newTarget(t, client, ids, locks), newTarget(t, client, ids, locks)}
		var opens atomic.Int32
		results := make([]*targets.Result, 6)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				item := testItem(t, &opens)
				item.ProfileKey = fmt.Sprintf("profile%d", i%3) // three profiles, each pushed twice
				var err error
				if results[i], err = workers[i%2].Push(t.Context(), item); err != nil {
					t.Errorf("Push %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		created := 0
		for _, res := range results {
			if res != nil && res.Action == targets.Created {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d pushes created a candidate, want 1", created)
		}
		// The three profiles share the candidate and, having the same rows, its rows; each
		// profile uploads its own resume.
		wantCounts(t, api, [4]int{1, 2, 2, 3})
	})

	t.Run("a dead worker's lock expires", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		ids, locks := newBucket(t), newLockBucket(t)
		target, err := NewTarget(TargetConfig{Client: client, IDs: ids, Locks: locks, LockTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		key := "bullhorn.lock." + hash("email\x00harry.potter@gmail.com")[:16]
		if _, err := locks.Create(t.Context(), key, []byte("dead"), jetstream.KeyTTL(time.Second)); err != nil {
			t.Fatal(err)
		}
		var opens atomic.Int32
		start := time.Now()
		push(t, target, testItem(t, &opens))
		if waited := time.Since(start); waited < 500*time.Millisecond {
			t.Errorf("the push waited %v for the lock, want its TTL", waited)
		}
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if _, err := locks.Get(t.Context(), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("the lock is still held: %v", err)
		}
	})

	t.Run("a candidate deleted in Bullhorn is created again", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		var opens atomic.Int32
		push(t, target, testItem(t, &opens))
		api.do(func(f *fakeAPI) { clear(f.entities["Candidate"]) })
		wantResult(t, push(t, target, testItem(t, &opens)), targets.Result{Action: targets.Created, ID: "1007", ResumeUploaded: true})
	})

	t.Run("an unknown field is permanent with Bullhorn's message", func(t *testing.T) {
		t.Parallel()
		target, _, ids := setupTarget(t)
		item := &targets.Item{SourceKey: "source1", ProfileKey: "profile1",
			Payload: map[string]any{"firstName": "Harry", "nickname": "The Chosen One"}}
		_, err := target.Push(t.Context(), item)
		var e *targets.ErrorResponse
		if !permanent(err) || !errors.As(err, &e) || e.Message != "Invalid field 'nickname' for entity Candidate" {
			t.Fatalf("error = %v, want a permanent error with Bullhorn's message", err)
		}
		if _, err := ids.Get(t.Context(), "bullhorn.source1.profile1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("a record was stored: %v", err)
		}
	})

	t.Run("a rate limit waits at least a second", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		api.do(func(f *fakeAPI) { f.fault["PUT entity/Candidate"] = http.StatusTooManyRequests })
		var opens atomic.Int32
		_, err := target.Push(t.Context(), testItem(t, &opens))
		if got := retryAfter(err); got != time.Second || permanent(err) {
			t.Errorf("error = %v, retry after %v; want a 1 s rate limit", err, got)
		}
	})

	t.Run("a server error is transient", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		api.do(func(f *fakeAPI) { f.fault["PUT entity/CandidateEducation"] = http.StatusInternalServerError })
		var opens atomic.Int32
		_, err := target.Push(t.Context(), testItem(t, &opens))
		if err == nil || permanent(err) || retryAfter(err) != 0 || credentials(err) {
			t.Errorf("error = %v, want a transient error", err)
		}
	})

	t.Run("malformed payloads are permanent", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		for _, p := range []map[string]any{
			{},
			{"id": "ref-123", "firstName": "Harry"},
			{"firstName": "Harry", "educations": map[string]any{"school": "Hogwarts"}},
			{"firstName": "Harry", "workHistories": []any{"Auror"}},
			{"firstName": "Harry", "workHistories": []any{map[string]any{"id": 3}}},
			{"firstName": "Harry", "email": 42},
		} {
			_, err := target.Push(t.Context(), &targets.Item{SourceKey: "s", ProfileKey: "p", Payload: p})
			if !permanent(err) {
				t.Errorf("Push(%v) error = %v, want a permanent error", p, err)
			}
		}
		if calls := api.takeCalls(); len(calls) != 0 {
			t.Errorf("malformed payloads were sent: %v", calls)
		}
	})
}

func TestParseRows(t *testing.T) {
	t.Parallel()
	rows, err := parseRows([]any{
		map[string]any{"key": "k1", "school": "Hogwarts", "candidate": map[string]any{"id": 9}},
		map[string]any{"school": "Beauxbatons", "startDate": float64(1451606400000)},
		map[string]any{"school": " beauxbatons", "startDate": int64(1451606400000), "degree": "other"},
	}, keyEducations, "school")
	if err != nil {
		t.Fatal(err)
	}
	hashed := "h" + hash(`["beauxbatons",1451606400000]`)[:16]
	want := []row{
		{key: "k1", body: map[string]any{"school": "Hogwarts"}},
		{key: hashed, body: map[string]any{"school": "Beauxbatons", "startDate": float64(1451606400000)}},
		{key: hashed + "#2", body: map[string]any{"school": " beauxbatons", "startDate": int64(1451606400000), "degree": "other"}},
	}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// noEmailItem is testItem without its email, pushed by job.
func noEmailItem(t *testing.T, opens *atomic.Int32, job string) *targets.Item {
	t.Helper()
	item := testItem(t, opens)
	item.Payload = maps.Clone(item.Payload)
	delete(item.Payload, "email")
	item.JobID = job
	return item
}

// TestTargetPushAfterLostAnswer: a push whose worker died (or whose answer was lost) after
// Bullhorn created the candidate leaves no duplicate behind: the next push finds the
// candidate by its external id or its email once the search index shows it, and waits for the
// index up to IndexLag before creating another.
func TestTargetPushAfterLostAnswer(t *testing.T) {
	t.Parallel()
	const key = "bullhorn.source1.profile1"

	t.Run("a candidate without email is found by its external id", func(t *testing.T) {
		t.Parallel()
		target, api, ids := setupTarget(t)
		api.do(func(f *fakeAPI) { f.lose["PUT entity/Candidate"] = true })
		var opens atomic.Int32
		if _, err := target.Push(t.Context(), noEmailItem(t, &opens, "job1")); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		if rec := storedIDs(t, ids, key); rec.CandidateID != 0 || rec.CreatingAt.IsZero() || rec.CreatingJob != "job1" {
			t.Errorf("record after the lost answer = %+v, want a creation mark", rec)
		}
		api.do(func(f *fakeAPI) {
			if got := f.entities["Candidate"][1001]["externalID"]; got != externalID(key) || len(externalID(key)) > 50 {
				t.Errorf("externalID %v, want %s (at most 50 characters)", got, externalID(key))
			}
			f.lose = map[string]bool{}
			f.indexed[1001] = true
		})
		api.takeCalls()

		wantResult(t, push(t, target, noEmailItem(t, &opens, "job1")), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if calls := api.takeCalls(); len(calls) < 2 || calls[0] != "GET search/Candidate" || calls[1] != "POST entity/Candidate" {
			t.Errorf("calls %v, want a search then the update", calls)
		}
		if rec := storedIDs(t, ids, key); rec.CandidateID != 1001 || !rec.CreatingAt.IsZero() || rec.CreatedBy != "job1" {
			t.Errorf("record = %+v", rec)
		}
	})

	t.Run("a candidate with an email is found by its email", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		api.do(func(f *fakeAPI) { f.lose["PUT entity/Candidate"] = true })
		var opens atomic.Int32
		item := testItem(t, &opens)
		item.JobID = "job1"
		if _, err := target.Push(t.Context(), item); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		api.do(func(f *fakeAPI) { f.lose = map[string]bool{}; f.indexed[1001] = true })
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
		wantCounts(t, api, [4]int{1, 2, 2, 1})
	})

	t.Run("the push waits for the search index before creating another", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		ids := newBucket(t)
		clk := newClock() // stands still: the push waits the whole IndexLag
		target, err := NewTarget(TargetConfig{Client: client, IDs: ids, Locks: newLockBucket(t), IndexLag: 300 * time.Millisecond, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		api.do(func(f *fakeAPI) { f.lose["PUT entity/Candidate"] = true })
		var opens atomic.Int32
		if _, err := target.Push(t.Context(), noEmailItem(t, &opens, "job1")); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		api.do(func(f *fakeAPI) { f.lose = map[string]bool{}; f.indexOnSearch = true })
		api.takeCalls()
		start := time.Now()
		wantResult(t, push(t, target, noEmailItem(t, &opens, "job2")), targets.Result{Action: targets.Updated, ID: "1001", ResumeUploaded: true})
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Errorf("found after %v: the push did not wait for the index", waited)
		}
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if calls := api.takeCalls(); len(calls) < 3 || calls[0] != "GET search/Candidate" || calls[1] != "GET search/Candidate" || calls[2] != "POST entity/Candidate" {
			t.Errorf("calls %v, want two searches then the update", calls)
		}
	})

	t.Run("beyond IndexLag a candidate the index does not show is created again", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		target, err := NewTarget(TargetConfig{Client: client, IDs: newBucket(t), Locks: newLockBucket(t), IndexLag: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		api.do(func(f *fakeAPI) { f.lose["PUT entity/Candidate"] = true })
		var opens atomic.Int32
		if _, err := target.Push(t.Context(), noEmailItem(t, &opens, "job1")); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		api.do(func(f *fakeAPI) { f.lose = map[string]bool{} })
		wantResult(t, push(t, target, noEmailItem(t, &opens, "job1")), targets.Result{Action: targets.Created, ID: "1002", ResumeUploaded: true})
		wantCounts(t, api, [4]int{2, 2, 2, 1})
	})

	t.Run("a refused creation leaves no mark", func(t *testing.T) {
		t.Parallel()
		target, api, ids := setupTarget(t)
		api.do(func(f *fakeAPI) { f.fault["PUT entity/Candidate"] = http.StatusServiceUnavailable })
		var opens atomic.Int32
		if _, err := target.Push(t.Context(), noEmailItem(t, &opens, "job1")); err == nil {
			t.Fatal("the refusal was not an error")
		}
		if _, err := ids.Get(t.Context(), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("a record was left: %v", err)
		}
		api.do(func(f *fakeAPI) { f.fault = map[string]int{} })
		api.takeCalls()
		wantResult(t, push(t, target, noEmailItem(t, &opens, "job1")), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
		if calls := api.takeCalls(); calls[0] != "PUT entity/Candidate" {
			t.Errorf("calls %v: the push looked for a candidate no push created", calls)
		}
	})
}

func TestTargetLock(t *testing.T) {
	t.Parallel()
	lockKey := "bullhorn.lock." + hash("email\x00harry.potter@gmail.com")[:16]

	t.Run("a lock is renewed beyond its TTL while its push runs", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		ids, locks := newBucket(t), newLockBucket(t)
		var workers []*Target
		for range 2 {
			w, err := NewTarget(TargetConfig{Client: client, IDs: ids, Locks: locks, LockTTL: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			workers = append(workers, w)
		}
		started := make(chan struct{})
		var once sync.Once
		api.do(func(f *fakeAPI) {
			f.hook["PUT entity/Candidate"] = func() { once.Do(func() { close(started) }) }
			f.delay["PUT file/Candidate"] = 4 * time.Second // the first push outlives the TTL
		})
		var opens atomic.Int32
		var firstDone time.Time
		var wg sync.WaitGroup
		wg.Go(func() {
			wantResult(t, push(t, workers[0], testItem(t, &opens)), targets.Result{Action: targets.Created, ID: "1001", ResumeUploaded: true})
			firstDone = time.Now()
		})
		<-started
		item := testItem(t, &opens)
		item.ProfileKey = "profile2"
		wantResult(t, push(t, workers[1], item), targets.Result{Action: targets.Updated, ID: "1001", ResumeUploaded: true})
		secondDone := time.Now()
		wg.Wait()
		if secondDone.Before(firstDone) {
			t.Error("the second push ended before the first: it took the lock while the first held it")
		}
		wantCounts(t, api, [4]int{1, 2, 2, 2})
	})

	t.Run("the lock of a dead worker that renewed it is taken over once its time is up", func(t *testing.T) {
		t.Parallel()
		target, api, _ := setupTarget(t)
		locks := target.locks
		dead, _ := json.Marshal(lockValue{Owner: "dead", Until: time.Now().Add(-time.Millisecond)})
		if _, err := locks.Create(t.Context(), lockKey, dead); err != nil { // renewed: no TTL left
			t.Fatal(err)
		}
		// Nothing but a take-over frees that lock: the push ending proves it.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var opens atomic.Int32
		if _, err := target.Push(ctx, testItem(t, &opens)); err != nil {
			t.Fatalf("Push: %v", err)
		}
		wantCounts(t, api, [4]int{1, 2, 2, 1})
		if _, err := locks.Get(t.Context(), lockKey); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("the lock is still held: %v", err)
		}
	})

	t.Run("a push whose lock is taken over stops", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		api := newFakeAPI(mux)
		locks := newLockBucket(t)
		var takenOver atomic.Value // when the lock was taken from the push
		target, err := NewTarget(TargetConfig{Client: client, IDs: newBucket(t), Locks: locks, LockTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		api.do(func(f *fakeAPI) {
			f.hook["PUT file/Candidate"] = func() {
				takenOver.Store(time.Now())
				if err := locks.Delete(context.Background(), lockKey); err != nil {
					t.Error(err)
				}
			}
			f.delay["PUT file/Candidate"] = 5 * time.Second
		})
		var opens atomic.Int32
		_, err = target.Push(t.Context(), testItem(t, &opens))
		if !errors.Is(err, errLockLost) || permanent(err) {
			t.Errorf("error = %v, want the push cut off for its lost lock, transient", err)
		}
		// The upload is held back 5 s: a push that ends sooner was cut off.
		if at, ok := takenOver.Load().(time.Time); !ok || time.Since(at) > 4*time.Second {
			t.Errorf("the push went on for %v after losing its lock", time.Since(at))
		}
	})
}
