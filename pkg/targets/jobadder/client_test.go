package jobadder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
)

// baseURLPath puts the API under a non-root path, to catch absolute paths in requests.
const baseURLPath = "/api-v2"

// fakeTokens hands out token-0, token-1, ...: Invalidate moves to the next one.
type fakeTokens struct {
	api string

	mu          sync.Mutex
	n           int
	invalidated []string
}

func (f *fakeTokens) Token(context.Context) (*Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &Token{AccessToken: secret.Value(fmt.Sprintf("token-%d", f.n)), APIURL: f.api, Expiry: time.Now().Add(time.Hour)}, nil
}

func (f *fakeTokens) Invalidate(accessToken secret.Value) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, accessToken.Reveal())
	f.n++
}

// setup returns a client of a test server whose API, served by mux, is the token's api URL.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *fakeTokens) {
	t.Helper()
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.Handle(baseURLPath+"/", http.StripPrefix(baseURLPath, mux))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the API base path: %s %s", r.Method, r.URL)
		http.Error(w, "outside the API base path", http.StatusBadGateway)
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	tokens := &fakeTokens{api: srv.URL + baseURLPath}
	c, err := New(tokens, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, mux, tokens
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

// permanent and retryAfter read an error as the job runtime does.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func retryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

func TestCandidatesAdd(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t, WithUserAgent("hrpush-test"))
	mux.HandleFunc("/candidates", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testHeader(t, r, "Authorization", "Bearer token-0")
		testHeader(t, r, "Content-Type", "application/json")
		testHeader(t, r, "User-Agent", "hrpush-test")
		testHeader(t, r, "X-Allow-Duplicates", "")
		testJSONBody(t, r, map[string]any{"firstName": "Harry"})
		writeJSON(w, http.StatusCreated, `{"candidateId": 42, "firstName": "Harry", "createdAt": "2025-03-01T12:00:00Z"}`)
	})
	got, resp, err := client.Candidates.Add(t.Context(), map[string]any{"firstName": "Harry"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d", resp.StatusCode)
	}
	want := &Candidate{CandidateSummary: CandidateSummary{CandidateID: 42, FirstName: "Harry", CreatedAt: "2025-03-01T12:00:00Z"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidate (-want +got):\n%s", diff)
	}
}

func TestCandidatesAddConflict(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Allow-Duplicates") == "0v3rr1de" {
			writeJSON(w, http.StatusCreated, `{"candidateId": 43}`)
			return
		}
		w.Header().Set("X-Allow-Duplicates", "0v3rr1de")
		writeJSON(w, http.StatusConflict, `{"message": "Candidate with this email already exists"}`)
	})
	_, _, err := client.Candidates.Add(t.Context(), map[string]any{"email": "h@p.example"}, "")
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want *ConflictError", err)
	}
	if ce.OverrideCode != "0v3rr1de" || ce.StatusCode != http.StatusConflict || ce.Message == "" {
		t.Errorf("conflict = %+v", ce)
	}
	if permanent(err) {
		t.Error("a conflict is permanent")
	}
	c, _, err := client.Candidates.Add(t.Context(), map[string]any{"email": "h@p.example"}, ce.OverrideCode)
	if err != nil || c.CandidateID != 43 {
		t.Errorf("Add with the override code = %v, %v", c, err)
	}
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
		name:   "validation error",
		status: http.StatusUnprocessableEntity,
		body: `{"message": "Validation error", "errors": [
			{"code": "Invalid", "message": "Invalid email address", "fields": ["email"]},
			{"code": "Missing", "fields": ["address.street", "address.city"]},
			{"code": "Invalid", "message": "Bad request"}]}`,
		want: &targets.ErrorResponse{Message: "Validation error", Details: []string{
			"email: Invalid email address", "address.street: Missing", "address.city: Missing", "Bad request",
		}},
		permanent: true,
	}, {
		name:       "rate limited",
		status:     http.StatusTooManyRequests,
		header:     http.Header{"Retry-After": {"40"}},
		want:       &targets.ErrorResponse{},
		retryAfter: 40 * time.Second,
	}, {
		name:       "rate limited without Retry-After",
		status:     http.StatusTooManyRequests,
		want:       &targets.ErrorResponse{},
		retryAfter: time.Second,
	}, {
		name:   "server error with an HTML body",
		status: http.StatusBadGateway,
		body:   "<html><body>Bad gateway</body></html>",
		want:   &targets.ErrorResponse{},
	}, {
		name:   "server error with a text body",
		status: http.StatusServiceUnavailable,
		body:   "upstream unavailable\n",
		want:   &targets.ErrorResponse{Message: "upstream unavailable"},
	}, {
		name:      "not found",
		status:    http.StatusNotFound,
		want:      &targets.ErrorResponse{},
		permanent: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, mux, _ := setup(t)
			mux.HandleFunc("/candidates/7", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, _, err := client.Candidates.Get(t.Context(), 7)
			var got *targets.ErrorResponse
			if !errors.As(err, &got) {
				t.Fatalf("error = %v, want a *targets.ErrorResponse", err)
			}
			if !strings.HasSuffix(got.URL, baseURLPath+"/candidates/7") {
				t.Errorf("URL = %q", got.URL)
			}
			tt.want.Target, tt.want.Method, tt.want.URL, tt.want.StatusCode = "jobadder", http.MethodGet, got.URL, tt.status
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

func TestClientRenewsTokenOnce(t *testing.T) {
	t.Parallel()

	t.Run("a 401 is retried with a new token", func(t *testing.T) {
		t.Parallel()
		client, mux, tokens := setup(t)
		mux.HandleFunc("PUT /candidates/7", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer token-0" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			testHeader(t, r, "Authorization", "Bearer token-1")
			testJSONBody(t, r, map[string]any{"firstName": "Harry"}) // the body is sent again
		})
		if _, err := client.Candidates.Update(t.Context(), 7, map[string]any{"firstName": "Harry"}, ""); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"token-0"}, tokens.invalidated); diff != "" {
			t.Errorf("invalidated (-want +got):\n%s", diff)
		}
	})

	t.Run("a second 401 is a transient error", func(t *testing.T) {
		t.Parallel()
		client, mux, tokens := setup(t)
		var calls int
		mux.HandleFunc("GET /candidates/7", func(w http.ResponseWriter, r *http.Request) {
			calls++
			w.WriteHeader(http.StatusUnauthorized)
		})
		_, _, err := client.Candidates.Get(t.Context(), 7)
		var e *targets.ErrorResponse
		if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized || permanent(err) {
			t.Errorf("error = %v, want a transient 401", err)
		}
		if calls != 2 || len(tokens.invalidated) != 1 {
			t.Errorf("%d calls and %d invalidations, want 2 and 1", calls, len(tokens.invalidated))
		}
		wantNoSecret(t, err)
		if strings.Contains(err.Error(), "token-") {
			t.Errorf("error %q reveals the access token", err)
		}
	})
}

func TestCandidatesList(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("GET /candidates", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("Email") != "h+p@example.com" || q.Get("Limit") != "2" {
			t.Errorf("query = %v", q)
		}
		switch q.Get("Offset") {
		case "":
			writeJSON(w, http.StatusOK, `{"items": [{"candidateId": 1}, {"candidateId": 2}], "totalCount": 3}`)
		case "2":
			writeJSON(w, http.StatusOK, `{"items": [{"candidateId": 3, "email": "h+p@example.com"}], "totalCount": 3}`)
		default:
			t.Errorf("offset %q", q.Get("Offset"))
		}
	})
	opts := &ListOptions{Email: "h+p@example.com", Limit: 2}
	l, _, err := client.Candidates.List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.TotalCount != 3 || len(l.Items) != 2 {
		t.Errorf("list = %+v", l)
	}
	var ids []int
	for c, err := range client.Candidates.ListIter(t.Context(), opts) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.CandidateID)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if opts.Offset != 0 {
		t.Error("ListIter changed the options")
	}
}

func TestCandidatesUploadAttachment(t *testing.T) {
	t.Parallel()
	client, mux, tokens := setup(t)
	mux.HandleFunc("POST /candidates/7/attachments/Resume", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer token-0" {
			w.WriteHeader(http.StatusUnauthorized) // the file must be sent again
			return
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			t.Fatalf("content type %q: %v", mt, err)
		}
		part, err := multipart.NewReader(r.Body, params["boundary"]).NextPart()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(part)
		got := []string{part.FormName(), part.FileName(), part.Header.Get("Content-Type"), string(data)}
		if diff := cmp.Diff([]string{"fileData", "cv é.pdf", "application/pdf", "%PDF-1.4"}, got); diff != "" {
			t.Errorf("part (-want +got):\n%s", diff)
		}
		writeJSON(w, http.StatusCreated, `{"attachmentId": 5, "type": "Resume", "fileName": "cv é.pdf"}`)
	})
	a, _, err := client.Candidates.UploadAttachment(t.Context(), 7, "Resume", "cv é.pdf", "application/pdf", strings.NewReader("%PDF-1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if a.AttachmentID != 5 || len(tokens.invalidated) != 1 {
		t.Errorf("attachment = %+v, invalidated %v", a, tokens.invalidated)
	}

	_, _, err = client.Candidates.UploadAttachment(t.Context(), 7, "Resume", "big.pdf", "application/pdf",
		io.LimitReader(zeros{}, MaxAttachmentSize+1))
	if !errors.Is(err, ErrAttachmentTooLarge) {
		t.Errorf("error = %v, want ErrAttachmentTooLarge", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestWithBaseURL(t *testing.T) {
	t.Parallel()
	_, mux, tokens := setup(t)
	mux.HandleFunc("GET /candidates/7", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"candidateId": 7}`)
	})
	base := tokens.api
	tokens.api = "http://api.jobadder.invalid/v2"
	client, err := New(tokens, WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Candidates.Get(t.Context(), 7); err != nil {
		t.Fatal(err)
	}

	for name, opt := range map[string]Option{
		"relative base URL": WithBaseURL("/v2"),
		"nil HTTP client":   WithHTTPClient(nil),
		"empty user agent":  WithUserAgent(""),
	} {
		if _, err := New(tokens, opt); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}
}
