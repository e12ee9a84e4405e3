package jobadder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/targets"
)

// setupTarget returns a target writing to mux's API, with its own IDs bucket.
func setupTarget(t *testing.T) (*Target, *http.ServeMux, jetstream.KeyValue) {
	t.Helper()
	client, mux, _ := setup(t)
	ids := newBucket(t)
	target, err := NewTarget(TargetConfig{Client: client, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return target, mux, ids
}

func testItem() *targets.Item {
	return &targets.Item{
		SourceKey:  "source1",
		ProfileKey: "profile1",
		Payload:    map[string]any{"firstName": "Harry", "email": "harry@example.com", "source": "HrFlow"},
	}
}

// counter counts the requests a handler served.
func counter(n *atomic.Int32, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
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

func wantStoredID(t *testing.T, ids jetstream.KeyValue, want idRecord) {
	t.Helper()
	e, err := ids.Get(t.Context(), "jobadder.source1.profile1")
	if err != nil {
		t.Fatal(err)
	}
	var got idRecord
	if err := json.Unmarshal(e.Value(), &got); err != nil {
		t.Fatal(err)
	}
	got.UpdatedAt = want.UpdatedAt
	if got != want {
		t.Errorf("stored record = %+v, want %+v", got, want)
	}
}

// updateHandler checks that a PUT carries the payload without source.
func updateHandler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		testJSONBody(t, r, map[string]any{"firstName": "Harry", "email": "harry@example.com"})
	}
}

func TestTargetPush(t *testing.T) {
	t.Parallel()

	t.Run("create, then update", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var posts, puts atomic.Int32
		mux.HandleFunc("POST /candidates", counter(&posts, func(w http.ResponseWriter, r *http.Request) {
			testJSONBody(t, r, testItem().Payload)
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		}))
		mux.HandleFunc("PUT /candidates/7", counter(&puts, updateHandler(t)))

		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Created, ID: "7"})
		wantStoredID(t, ids, idRecord{CandidateID: 7})
		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Updated, ID: "7"})
		if posts.Load() != 1 || puts.Load() != 1 {
			t.Errorf("%d POST and %d PUT, want 1 and 1", posts.Load(), puts.Load())
		}
	})

	t.Run("a duplicate email updates the candidate that has it", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var posts, puts atomic.Int32
		mux.HandleFunc("POST /candidates", counter(&posts, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Allow-Duplicates", "c0de")
			writeJSON(w, http.StatusConflict, `{"message": "Candidate with this email already exists"}`)
		}))
		mux.HandleFunc("GET /candidates", func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("Email"); got != "harry@example.com" {
				t.Errorf("Email = %q", got)
			}
			writeJSON(w, http.StatusOK, `{"items": [{"candidateId": 3, "email": "harry.potter@example.com"},
				{"candidateId": 5, "email": "Harry@Example.com"}], "totalCount": 2}`)
		})
		mux.HandleFunc("PUT /candidates/5", counter(&puts, updateHandler(t)))

		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Updated, ID: "5"})
		wantStoredID(t, ids, idRecord{CandidateID: 5})
		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Updated, ID: "5"})
		if posts.Load() != 1 || puts.Load() != 2 {
			t.Errorf("%d POST and %d PUT, want 1 and 2", posts.Load(), puts.Load())
		}
	})

	t.Run("a duplicate is created when allowed", func(t *testing.T) {
		t.Parallel()
		target, mux, _ := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Allow-Duplicates") == "c0de" {
				writeJSON(w, http.StatusCreated, `{"candidateId": 9}`)
				return
			}
			w.Header().Set("X-Allow-Duplicates", "c0de")
			writeJSON(w, http.StatusConflict, `{"message": "Candidate with this email already exists"}`)
		})
		item := testItem()
		item.Options = targets.Options{"allow_duplicates": true}
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "9"})
	})

	t.Run("a duplicate nobody has is permanent", func(t *testing.T) {
		t.Parallel()
		target, mux, _ := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusConflict, `{"message": "Candidate with this email already exists"}`)
		})
		mux.HandleFunc("GET /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"items": [], "totalCount": 0}`)
		})
		_, err := target.Push(t.Context(), testItem())
		if !permanent(err) || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("error = %v, want a permanent conflict", err)
		}
	})

	t.Run("a candidate deleted in JobAdder is created again", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		if _, err := ids.Put(t.Context(), "jobadder.source1.profile1", []byte(`{"candidate_id": 99}`)); err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc("PUT /candidates/99", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, `{"message": "Candidate not found"}`)
		})
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 100}`)
		})
		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Created, ID: "100"})
		wantStoredID(t, ids, idRecord{CandidateID: 100})
	})

	t.Run("the resume is uploaded once", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var uploads, opens atomic.Int32
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		mux.HandleFunc("PUT /candidates/7", updateHandler(t))
		mux.HandleFunc("POST /candidates/7/attachments/Resume", counter(&uploads, func(w http.ResponseWriter, r *http.Request) {
			f, h, err := r.FormFile("fileData")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(f)
			if h.Filename != "resume.pdf" || string(b) != "%PDF" {
				t.Errorf("file %q: %q", h.Filename, b)
			}
			writeJSON(w, http.StatusCreated, `{"attachmentId": 1}`)
		}))
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) {
				opens.Add(1)
				return io.NopCloser(strings.NewReader("%PDF")), nil
			}}

		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "7", ResumeUploaded: true})
		wantStoredID(t, ids, idRecord{CandidateID: 7, ResumeUploaded: true})
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7"})
		if uploads.Load() != 1 || opens.Load() != 1 {
			t.Errorf("%d uploads and %d downloads, want 1 and 1", uploads.Load(), opens.Load())
		}
	})

	t.Run("a new candidate's id and its resume's upload mark are one write, before the upload", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		mux.HandleFunc("POST /candidates/7/attachments/Resume", func(w http.ResponseWriter, r *http.Request) {
			e, err := ids.Get(r.Context(), "jobadder.source1.profile1")
			if err != nil {
				t.Errorf("no record before the upload: %v", err)
			} else {
				var rec idRecord
				if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.CandidateID != 7 || rec.UploadingAt.IsZero() || e.Revision() != 1 {
					t.Errorf("before the upload, write %d stored %s (%v), want the first write to hold the id and the upload mark", e.Revision(), e.Value(), err)
				}
			}
			writeJSON(w, http.StatusCreated, `{"attachmentId": 1}`)
		})
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF")), nil }}
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "7", ResumeUploaded: true})
		wantStoredID(t, ids, idRecord{CandidateID: 7, ResumeUploaded: true})
		if e, err := ids.Get(t.Context(), "jobadder.source1.profile1"); err != nil || e.Revision() != 2 {
			t.Errorf("the push wrote the record %v times (%v), want 2", e.Revision(), err)
		}
	})

	t.Run("a new candidate's resume is downloaded while the candidate is created", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		downloading := make(chan struct{})
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-downloading:
			case <-time.After(10 * time.Second):
				t.Error("the resume was not being downloaded while the candidate was created")
			}
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		mux.HandleFunc("POST /candidates/7/attachments/Resume", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"attachmentId": 1}`)
		})
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) {
				close(downloading)
				return io.NopCloser(strings.NewReader("%PDF")), nil
			}}
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "7", ResumeUploaded: true})
		wantStoredID(t, ids, idRecord{CandidateID: 7, ResumeUploaded: true})
	})

	t.Run("a failed creation closes the resume downloaded meanwhile", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, `{"message": "Invalid candidate"}`)
		})
		var opened, closed atomic.Int32
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) {
				opened.Add(1)
				return closeFunc{Reader: strings.NewReader("%PDF"), close: func() { closed.Add(1) }}, nil
			}}
		if _, err := target.Push(t.Context(), item); err == nil || !permanent(err) {
			t.Fatalf("error = %v, want the creation's permanent error", err)
		}
		if opened.Load() != closed.Load() {
			t.Errorf("%d downloads opened, %d closed", opened.Load(), closed.Load())
		}
		if _, err := ids.Get(t.Context(), "jobadder.source1.profile1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("a record was stored for a candidate never created: %v", err)
		}
	})

	t.Run("a changed resume is uploaded, once", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var uploads atomic.Int32
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		mux.HandleFunc("PUT /candidates/7", updateHandler(t))
		mux.HandleFunc("POST /candidates/7/attachments/Resume", counter(&uploads, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"attachmentId": 1}`)
		}))
		resume := func(id string) *targets.Document {
			return &targets.Document{ID: id, Name: "resume.pdf", ContentType: "application/pdf",
				Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF")), nil }}
		}
		item := testItem()
		item.Resume = resume("hash-1")
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Created, ID: "7", ResumeUploaded: true})
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7"})
		item.Resume = resume("hash-2")
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7", ResumeUploaded: true})
		wantStoredID(t, ids, idRecord{CandidateID: 7, ResumeUploaded: true, ResumeID: "hash-2"})
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7"})
		if n := uploads.Load(); n != 2 {
			t.Errorf("%d uploads, want 2 (one per resume)", n)
		}
	})

	t.Run("a resume download failure keeps the candidate", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var posts, uploads atomic.Int32
		mux.HandleFunc("POST /candidates", counter(&posts, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		}))
		mux.HandleFunc("PUT /candidates/7", updateHandler(t))
		mux.HandleFunc("POST /candidates/7/attachments/Resume", counter(&uploads, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"attachmentId": 1}`)
		}))
		var opens atomic.Int32
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", Open: func(context.Context) (io.ReadCloser, error) {
			if opens.Add(1) == 1 {
				return nil, errors.New("download: connection reset")
			}
			return io.NopCloser(strings.NewReader("%PDF")), nil
		}}

		_, err := target.Push(t.Context(), item)
		if err == nil || permanent(err) {
			t.Fatalf("error = %v, want a transient error", err)
		}
		wantStoredID(t, ids, idRecord{CandidateID: 7})
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7", ResumeUploaded: true})
		if posts.Load() != 1 || uploads.Load() != 1 {
			t.Errorf("%d POST and %d uploads, want 1 and 1", posts.Load(), uploads.Load())
		}
	})

	t.Run("a validation error is permanent", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusUnprocessableEntity, `{"message": "Validation error",
				"errors": [{"code": "Invalid", "message": "Invalid email address", "fields": ["email"]}]}`)
		})
		_, err := target.Push(t.Context(), testItem())
		var e *targets.ErrorResponse
		if !permanent(err) || !errors.As(err, &e) {
			t.Fatalf("error = %v, want a permanent *targets.ErrorResponse", err)
		}
		if diff := cmp.Diff([]string{"email: Invalid email address"}, e.Details); diff != "" {
			t.Errorf("details (-want +got):\n%s", diff)
		}
		if _, err := ids.Get(t.Context(), "jobadder.source1.profile1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("an id was stored: %v", err)
		}
	})

	t.Run("a rate limit says how long to wait", func(t *testing.T) {
		t.Parallel()
		target, mux, _ := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "40")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		_, err := target.Push(t.Context(), testItem())
		if got := retryAfter(err); got != 40*time.Second || permanent(err) {
			t.Errorf("error = %v, retry after %v; want a 40 s rate limit", err, got)
		}
	})

	t.Run("a server error is transient", func(t *testing.T) {
		t.Parallel()
		target, mux, _ := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		})
		_, err := target.Push(t.Context(), testItem())
		if err == nil || permanent(err) || retryAfter(err) != 0 {
			t.Errorf("error = %v, want a transient error", err)
		}
	})
}

// TestTargetPushAfterLostAnswer: a push whose worker died (or whose answer was lost) after
// JobAdder carried out its request leaves no duplicate behind, even without an email for
// JobAdder's duplicate check.
func TestTargetPushAfterLostAnswer(t *testing.T) {
	t.Parallel()
	noEmail := func(job string) *targets.Item {
		return &targets.Item{JobID: job, SourceKey: "source1", ProfileKey: "profile1",
			Payload: map[string]any{"firstName": "Harry", "lastName": "Potter", "phone": "+44 20 7946 0000", "source": "HrFlow"}}
	}
	// lostCreate serves POST /candidates: the first one creates candidate 7 and its answer
	// never arrives (a 503 stands for it); a second one would create candidate 8.
	lostCreate := func(posts *atomic.Int32) http.HandlerFunc {
		return counter(posts, func(w http.ResponseWriter, r *http.Request) {
			if posts.Load() == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, http.StatusCreated, `{"candidateId": 8}`)
		})
	}

	t.Run("a candidate without email is found by its name, phone and creation time", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var posts, puts atomic.Int32
		created := time.Now().UTC().Format(time.RFC3339)
		mux.HandleFunc("POST /candidates", lostCreate(&posts))
		mux.HandleFunc("GET /candidates", func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("Name"); got != "Harry Potter" {
				t.Errorf("Name = %q", got)
			}
			writeJSON(w, http.StatusOK, `{"items": [
				{"candidateId": 3, "firstName": "Harry", "lastName": "Potter", "phone": "+44 20 7946 0000", "createdAt": "2020-01-01T00:00:00Z"},
				{"candidateId": 5, "firstName": "Harry", "lastName": "Potter", "email": "h@example.com", "phone": "+44 20 7946 0000", "createdAt": "`+created+`"},
				{"candidateId": 6, "firstName": "Harry", "lastName": "Potter", "phone": "+44 1", "createdAt": "`+created+`"},
				{"candidateId": 7, "firstName": "Harry", "lastName": "Potter", "phone": "+44 20 7946 0000", "createdAt": "`+created+`"}],
				"totalCount": 4}`)
		})
		mux.HandleFunc("PUT /candidates/7", counter(&puts, func(http.ResponseWriter, *http.Request) {}))

		if _, err := target.Push(t.Context(), noEmail("job1")); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		wantResult(t, push(t, target, noEmail("job1")), targets.Result{Action: targets.Created, ID: "7"})
		wantStoredID(t, ids, idRecord{CandidateID: 7, CreatedBy: "job1"})
		if posts.Load() != 1 || puts.Load() != 1 {
			t.Errorf("%d POST and %d PUT, want 1 and 1", posts.Load(), puts.Load())
		}
	})

	t.Run("a candidate created before the push is not taken for it", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var posts atomic.Int32
		mux.HandleFunc("POST /candidates", lostCreate(&posts))
		mux.HandleFunc("GET /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"items": [
				{"candidateId": 3, "firstName": "Harry", "lastName": "Potter", "phone": "+44 20 7946 0000", "createdAt": "2020-01-01T00:00:00Z"}],
				"totalCount": 1}`)
		})
		if _, err := target.Push(t.Context(), noEmail("job1")); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		wantResult(t, push(t, target, noEmail("job1")), targets.Result{Action: targets.Created, ID: "8"})
		wantStoredID(t, ids, idRecord{CandidateID: 8, CreatedBy: "job1"})
	})

	t.Run("a candidate with an email needs no mark: the 409 finds it", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			if _, err := ids.Get(r.Context(), "jobadder.source1.profile1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Errorf("a record was stored before the creation: %v", err)
			}
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		wantResult(t, push(t, target, testItem()), targets.Result{Action: targets.Created, ID: "7"})
	})

	t.Run("a resume whose upload answer was lost is not uploaded again", func(t *testing.T) {
		t.Parallel()
		target, mux, ids := setupTarget(t)
		var uploads, lists atomic.Int32
		var uploadedAt atomic.Value
		mux.HandleFunc("POST /candidates", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, `{"candidateId": 7}`)
		})
		mux.HandleFunc("PUT /candidates/7", updateHandler(t))
		mux.HandleFunc("POST /candidates/7/attachments/Resume", counter(&uploads, func(w http.ResponseWriter, r *http.Request) {
			uploadedAt.Store(time.Now().UTC().Format(time.RFC3339))
			w.WriteHeader(http.StatusGatewayTimeout) // stored, but the answer is lost
		}))
		mux.HandleFunc("GET /candidates/7/attachments", counter(&lists, func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("Type"); got != "Resume" {
				t.Errorf("Type = %q", got)
			}
			writeJSON(w, http.StatusOK, `{"items": [{"attachmentId": 1, "type": "Resume", "fileName": "resume.pdf", "createdAt": "`+
				uploadedAt.Load().(string)+`"}], "totalCount": 1}`)
		}))
		item := testItem()
		item.Resume = &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF")), nil }}

		if _, err := target.Push(t.Context(), item); err == nil {
			t.Fatal("the lost answer was not an error")
		}
		wantResult(t, push(t, target, item), targets.Result{Action: targets.Updated, ID: "7"})
		wantStoredID(t, ids, idRecord{CandidateID: 7, ResumeUploaded: true})
		if uploads.Load() != 1 || lists.Load() != 1 {
			t.Errorf("%d uploads and %d listings, want 1 and 1", uploads.Load(), lists.Load())
		}
	})
}

// closeFunc is a reader whose Close calls close.
type closeFunc struct {
	io.Reader
	close func()
}

func (c closeFunc) Close() error { c.close(); return nil }
