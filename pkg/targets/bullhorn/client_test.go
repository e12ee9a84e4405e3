package bullhorn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
)

// restPath puts the API under a corporate path, as Bullhorn's restUrl does, to catch absolute
// paths in requests.
const restPath = "/rest-services/corp1"

// fakeSessions hands out session-0, session-1, ...: Invalidate moves to the next one.
type fakeSessions struct {
	restURL string

	mu          sync.Mutex
	n           int
	invalidated []string
}

func (f *fakeSessions) Session(context.Context) (*Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &Session{BhRestToken: secret.Value(fmt.Sprintf("session-%d", f.n)), RestURL: f.restURL, Expiry: time.Now().Add(time.Hour)}, nil
}

func (f *fakeSessions) Invalidate(bhRestToken secret.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, bhRestToken.Reveal())
	f.n++
}

// setup returns a client of a test server whose API, served by mux, is the session's REST URL.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *fakeSessions) {
	t.Helper()
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.Handle(restPath+"/", http.StripPrefix(restPath, mux))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the REST URL: %s %s", r.Method, r.URL)
		http.Error(w, "outside the REST URL", http.StatusBadGateway)
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	sessions := &fakeSessions{restURL: srv.URL + restPath + "/"}
	c, err := New(sessions, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, mux, sessions
}

func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if r.Method != want {
		t.Errorf("method = %s, want %s", r.Method, want)
	}
}

func testHeader(t *testing.T, r *http.Request, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Errorf("header %s = %q, want %q", name, got, want)
	}
}

func testJSONBody(t *testing.T, r *http.Request, want map[string]any) {
	t.Helper()
	var got map[string]any
	if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestCandidatesCreate(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t, WithUserAgent("hrpush-test"))
	mux.HandleFunc("/entity/Candidate", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPut)
		testHeader(t, r, "BhRestToken", "session-0")
		testHeader(t, r, "Content-Type", "application/json")
		testHeader(t, r, "User-Agent", "hrpush-test")
		if r.URL.RawQuery != "" {
			t.Errorf("query %q: the session token belongs in the header", r.URL.RawQuery)
		}
		testJSONBody(t, r, map[string]any{"firstName": "Harry", "dateOfBirth": float64(650160000000)})
		writeJSON(w, http.StatusOK, `{"changedEntityType": "Candidate", "changedEntityId": 1489, "changeType": "INSERT"}`)
	})
	got, _, err := client.Candidates.Create(t.Context(), map[string]any{"firstName": "Harry", "dateOfBirth": int64(650160000000)})
	if err != nil {
		t.Fatal(err)
	}
	want := &ChangeResult{ChangedEntityType: "Candidate", ChangedEntityID: 1489, ChangeType: "INSERT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestEntitiesUpdateAndList(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("POST /entity/CandidateWorkHistory/12", func(w http.ResponseWriter, r *http.Request) {
		testJSONBody(t, r, map[string]any{"title": "Auror"})
		writeJSON(w, http.StatusOK, `{"changedEntityType": "CandidateWorkHistory", "changedEntityId": 12, "changeType": "UPDATE"}`)
	})
	mux.HandleFunc("GET /entity/Candidate/7/educations", func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Get("fields") != "id,school,degree,startDate,endDate" || q.Get("count") != "500" {
			t.Errorf("query = %v", q)
		}
		writeJSON(w, http.StatusOK, `{"start": 0, "count": 2, "data": [
			{"id": 3, "school": "Hogwarts", "startDate": 1451606400000, "endDate": null}, {"id": 4}]}`)
	})
	if res, _, err := client.WorkHistories.Update(t.Context(), 12, map[string]any{"title": "Auror"}); err != nil || res.ChangeType != "UPDATE" {
		t.Errorf("Update = %+v, %v", res, err)
	}
	eds, _, err := client.Educations.List(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Education{{ID: 3, School: "Hogwarts", StartDate: 1451606400000}, {ID: 4}}, eds); diff != "" {
		t.Errorf("educations (-want +got):\n%s", diff)
	}
}

func TestCandidatesSearch(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("GET /search/Candidate", func(w http.ResponseWriter, r *http.Request) {
		want := `(email:h\+p\-1@x.example OR email2:h\+p\-1@x.example OR email3:h\+p\-1@x.example) AND isDeleted:0`
		if q := r.URL.Query(); q.Get("query") != want || q.Get("fields") != "id,email" || q.Get("count") != "5" || q.Get("sort") != "id" {
			t.Errorf("query = %v", q)
		}
		writeJSON(w, http.StatusOK, `{"total": 1, "start": 0, "count": 1, "data": [
			{"_score": 1.7, "id": 5059165, "email": "h+p-1@x.example", "dateLastModified": 1530815115887}]}`)
	})
	l, _, err := client.Candidates.Search(t.Context(), EmailQuery("h+p-1@x.example"),
		&SearchOptions{Fields: []string{"id", "email"}, Count: 5, Sort: "id"})
	if err != nil {
		t.Fatal(err)
	}
	want := &CandidateList{Total: 1, Count: 1, Data: []Candidate{{ID: 5059165, Email: "h+p-1@x.example", DateLastModified: 1530815115887}}}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func TestFilesUpload(t *testing.T) {
	t.Parallel()
	client, mux, sessions := setup(t)
	mux.HandleFunc("PUT /file/Candidate/7", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("BhRestToken") == "session-0" {
			w.WriteHeader(http.StatusUnauthorized) // the file must be sent again
			return
		}
		testJSONBody(t, r, map[string]any{
			"externalID": "hrflow-1", "fileContent": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4")),
			"fileType": "SAMPLE", "name": "cv é.pdf", "contentType": "application/pdf", "type": "Resume",
		})
		writeJSON(w, http.StatusOK, `{"fileId": 178}`)
	})
	f := &File{ExternalID: "hrflow-1", Name: "cv é.pdf", ContentType: "application/pdf", Type: "Resume"}
	id, _, err := client.Files.Upload(t.Context(), 7, f, strings.NewReader("%PDF-1.4"))
	if err != nil || id != 178 || len(sessions.invalidated) != 1 {
		t.Errorf("Upload = %d, %v; invalidated %v", id, err, sessions.invalidated)
	}
	_, _, err = client.Files.Upload(t.Context(), 7, f, io.LimitReader(zeros{}, MaxFileSize+1))
	if !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("error = %v, want ErrFileTooLarge", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		want       *targets.ErrorResponse
		permanent  bool
		retryAfter time.Duration
	}{{
		name:   "unknown field",
		status: http.StatusBadRequest,
		body: `{"errorMessage": "error persisting an entity of type: Candidate", "errorMessageKey": "errors.cannotPersistEntity",
			"errorCode": 400, "errors": [{"propertyName": "nickname", "severity": "ERROR", "type": "INVALID_FIELD",
			"detailMessage": "Invalid field 'nickname'"}]}`,
		want: &targets.ErrorResponse{Message: "error persisting an entity of type: Candidate",
			Details: []string{"nickname: Invalid field 'nickname'"}},
		permanent: true,
	}, {
		name:       "rate limited",
		status:     http.StatusTooManyRequests,
		header:     http.Header{"Retry-After": {"3"}},
		want:       &targets.ErrorResponse{},
		retryAfter: 3 * time.Second,
	}, {
		name:       "rate limited without Retry-After",
		status:     http.StatusTooManyRequests,
		body:       `{"errorMessage": "Too many requests"}`,
		want:       &targets.ErrorResponse{Message: "Too many requests"},
		retryAfter: time.Second,
	}, {
		name:       "rate limited with Retry-After 0",
		status:     http.StatusTooManyRequests,
		header:     http.Header{"Retry-After": {"0"}},
		want:       &targets.ErrorResponse{},
		retryAfter: time.Second,
	}, {
		name:   "internal error",
		status: http.StatusInternalServerError,
		body:   `{"errorMessage": "An internal error has occurred", "errorMessageKey": "errors.internalError"}`,
		want:   &targets.ErrorResponse{Message: "An internal error has occurred"},
	}, {
		name:   "gateway error with an HTML body",
		status: http.StatusBadGateway,
		body:   "<html><body>Bad gateway</body></html>",
		want:   &targets.ErrorResponse{},
	}, {
		name:      "not found",
		status:    http.StatusNotFound,
		body:      `{"errorMessage": "Cannot find entity of type Candidate with id 7", "errorCode": 404}`,
		want:      &targets.ErrorResponse{Message: "Cannot find entity of type Candidate with id 7"},
		permanent: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, mux, _ := setup(t)
			mux.HandleFunc("/entity/Candidate/7", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, _, err := client.Candidates.Update(t.Context(), 7, map[string]any{"nickname": "HP"})
			var got *targets.ErrorResponse
			if !errors.As(err, &got) {
				t.Fatalf("error = %v, want a *targets.ErrorResponse", err)
			}
			if !strings.HasSuffix(got.URL, restPath+"/entity/Candidate/7") {
				t.Errorf("URL = %q", got.URL)
			}
			tt.want.Target, tt.want.Method, tt.want.URL, tt.want.StatusCode = "bullhorn", http.MethodPost, got.URL, tt.status
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if permanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v", permanent(err), tt.permanent)
			}
			if retryAfter(err) != tt.retryAfter {
				t.Errorf("retry after = %v, want %v", retryAfter(err), tt.retryAfter)
			}
		})
	}
}

func TestClientRenewsSessionOnce(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusPreconditionFailed} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			client, mux, sessions := setup(t)
			var calls atomic.Int32
			mux.HandleFunc("POST /entity/Candidate/7", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					testHeader(t, r, "BhRestToken", "session-0")
					w.WriteHeader(status)
					return
				}
				testHeader(t, r, "BhRestToken", "session-1")
				testJSONBody(t, r, map[string]any{"firstName": "Harry"}) // the body is sent again
				writeJSON(w, http.StatusOK, `{"changedEntityId": 7, "changeType": "UPDATE"}`)
			})
			if _, _, err := client.Candidates.Update(t.Context(), 7, map[string]any{"firstName": "Harry"}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"session-0"}, sessions.invalidated); diff != "" {
				t.Errorf("invalidated (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a second 401 is a transient error", func(t *testing.T) {
		t.Parallel()
		client, mux, sessions := setup(t)
		var calls atomic.Int32
		mux.HandleFunc("GET /search/Candidate", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
		})
		_, _, err := client.Candidates.Search(t.Context(), "id:1", nil)
		var e *targets.ErrorResponse
		if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized || permanent(err) || credentials(err) {
			t.Errorf("error = %v, want a transient 401", err)
		}
		if calls.Load() != 2 || len(sessions.invalidated) != 1 {
			t.Errorf("%d calls and %d invalidations, want 2 and 1", calls.Load(), len(sessions.invalidated))
		}
		wantNoSecret(t, err)
	})
}

// countingLimiter counts the calls it allowed.
type countingLimiter struct{ n atomic.Int32 }

func (l *countingLimiter) Wait(context.Context) error {
	l.n.Add(1)
	return nil
}

func TestClientWaitsForTheLimiter(t *testing.T) {
	t.Parallel()
	limiter := &countingLimiter{}
	client, mux, _ := setup(t, WithRateLimiter(limiter))
	var calls atomic.Int32
	mux.HandleFunc("POST /entity/Candidate/7", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, `{"changedEntityId": 7, "changeType": "UPDATE"}`)
	})
	if _, _, err := client.Candidates.Update(t.Context(), 7, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if limiter.n.Load() != 2 {
		t.Errorf("the limiter allowed %d calls, want 2 (the call and its retry)", limiter.n.Load())
	}

	for name, opt := range map[string]Option{
		"nil HTTP client":  WithHTTPClient(nil),
		"nil rate limiter": WithRateLimiter(nil),
		"empty user agent": WithUserAgent(""),
	} {
		if _, err := New(&fakeSessions{}, opt); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}
}
