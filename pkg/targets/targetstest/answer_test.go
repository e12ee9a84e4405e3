package targetstest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// created answers 201 with a header set before and one after the status, and a body in two
// writes.
func created(w http.ResponseWriter) {
	w.Header().Set("Location", "/things/1")
	w.WriteHeader(http.StatusCreated)
	w.WriteHeader(http.StatusInternalServerError) // ignored: the first status wins
	_, _ = io.WriteString(w, `{"id":`)
	_, _ = io.WriteString(w, `1}`)
}

func TestHeldAnswerSentLate(t *testing.T) {
	t.Parallel()
	const hold = 200 * time.Millisecond
	var done atomic.Int64 // when the handler finished, in ns since start
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var held targetstest.HeldAnswer
		created(&held)
		done.Store(int64(time.Since(start)))
		if !held.Send(w, r, hold) {
			t.Error("Send dropped the answer to a waiting client")
		}
	}))
	t.Cleanup(srv.Close)

	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/things/1" || string(body) != `{"id":1}` {
		t.Errorf("answer %d %v %q", res.StatusCode, res.Header, body)
	}
	if elapsed < hold {
		t.Errorf("answered after %v, want at least %v", elapsed, hold)
	}
	if d := time.Duration(done.Load()); d >= hold {
		t.Errorf("the handler finished after %v: it should run at once, only the answer is late", d)
	}
}

func TestHeldAnswerDefaults(t *testing.T) {
	t.Parallel()
	var held targetstest.HeldAnswer
	_, _ = io.WriteString(&held, "plain")
	rec := httptest.NewRecorder()
	if !held.Send(rec, httptest.NewRequest(http.MethodGet, "/", nil), 0) {
		t.Fatal("not sent")
	}
	if rec.Code != http.StatusOK || rec.Body.String() != "plain" {
		t.Errorf("answer %d %q, want 200 plain", rec.Code, rec.Body)
	}

	var empty targetstest.HeldAnswer
	rec = httptest.NewRecorder()
	empty.Send(rec, httptest.NewRequest(http.MethodGet, "/", nil), 0)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("nothing written: answer %d %q, want an empty 200", rec.Code, rec.Body)
	}
}

// TestHeldAnswerClientLeaves: a client that gives up waiting gets nothing, yet what it asked
// is done, and Send returns as soon as the client is gone.
func TestHeldAnswerClientLeaves(t *testing.T) {
	t.Parallel()
	const hold = 3 * time.Second
	var writes atomic.Int64
	sent := make(chan bool, 1)
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var held targetstest.HeldAnswer
		writes.Add(1)
		created(&held)
		sent <- held.Send(w, r, hold)
	}))
	t.Cleanup(srv.Close)

	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	if res, err := impatient.Get(srv.URL); err == nil {
		res.Body.Close()
		t.Fatalf("answered %d before the client's timeout", res.StatusCode)
	}
	if ok := <-sent; ok {
		t.Error("Send reports an answer sent to a client that left")
	}
	if d := time.Since(start); d >= hold {
		t.Errorf("Send returned after %v: it waited out the hold although the client had left", d)
	}
	if n := writes.Load(); n != 1 {
		t.Errorf("%d writes, want 1: the call is done although its answer was dropped", n)
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if !targetstest.Sleep(t.Context(), 0) || !targetstest.Sleep(t.Context(), -time.Second) {
		t.Error("no latency: Sleep reports false")
	}
	if !targetstest.Sleep(t.Context(), 30*time.Millisecond) {
		t.Error("Sleep 30ms reports false")
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("slept %v, want 30ms", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	if targetstest.Sleep(ctx, time.Hour) {
		t.Error("Sleep reports true for a cancelled wait")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Sleep returned %v after its context ended", d)
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		write      func(http.ResponseWriter)
		code, want int
	}{
		"nothing":      {func(http.ResponseWriter) {}, 0, http.StatusOK},
		"write":        {func(w http.ResponseWriter) { _, _ = io.WriteString(w, "x") }, http.StatusOK, http.StatusOK},
		"status":       {func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }, http.StatusNotFound, http.StatusNotFound},
		"first status": {created, http.StatusCreated, http.StatusCreated},
	} {
		under := httptest.NewRecorder()
		rec := &targetstest.Recorder{ResponseWriter: under}
		c.write(rec)
		if rec.Code != c.code || rec.Status() != c.want {
			t.Errorf("%s: Code %d, Status %d; want %d, %d", name, rec.Code, rec.Status(), c.code, c.want)
		}
		if rec.Code != 0 && under.Code != rec.Code {
			t.Errorf("%s: passed on %d, recorded %d", name, under.Code, rec.Code)
		}
	}
	under := httptest.NewRecorder()
	created(&targetstest.Recorder{ResponseWriter: under})
	if under.Header().Get("Location") != "/things/1" || under.Body.String() != `{"id":1}` {
		t.Errorf("passed on %v %q", under.Header(), under.Body)
	}
}
