package targetstest

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"net/http"
	"time"
)

// Sleep waits d, or until ctx is done; it reports whether it waited d in full. It returns true
// at once when d is not positive.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// HeldAnswer is an http.ResponseWriter that keeps an answer, written in full, for [HeldAnswer.Send]
// to send later. A fake serves a slow call by doing at once all the call asks and holding back
// only the answer, as a loaded server does whose write has committed but whose response is
// slow: a client that gives up or dies while waiting has nevertheless written. The zero value
// is ready to use.
type HeldAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

// Header returns the header of the answer.
func (h *HeldAnswer) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}

// WriteHeader sets the status of the answer; the first call wins.
func (h *HeldAnswer) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

// Write appends to the body of the answer, its status 200 unless set before.
func (h *HeldAnswer) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// Send waits d, then writes the answer to w: header, status (200 if none was written) and
// body. If the client of r goes away first, the answer is dropped (what it asked is done all
// the same). It reports whether it sent the answer.
func (h *HeldAnswer) Send(w http.ResponseWriter, r *http.Request, d time.Duration) bool {
	if !Sleep(r.Context(), d) {
		return false
	}
	maps.Copy(w.Header(), h.header)
	w.WriteHeader(cmp.Or(h.code, http.StatusOK))
	_, _ = w.Write(h.body.Bytes())
	return true
}

// Recorder passes an answer on to ResponseWriter and remembers its status, for a fake to
// count requests by status. A fake embeds it to remember more (the route, say).
type Recorder struct {
	http.ResponseWriter
	// Code is the first status written: 0 while nothing is, 200 after a Write without one.
	Code int
	// OnCode, if set, is called with Code when it is set, before anything of the answer goes
	// out: a fake that counts answers there has counted an answer before its client has it.
	OnCode func(code int)
}

// WriteHeader records code, if it is the first, and passes it on.
func (rec *Recorder) WriteHeader(code int) {
	rec.record(code)
	rec.ResponseWriter.WriteHeader(code)
}

// Write records 200 if no status was written, and passes b on.
func (rec *Recorder) Write(b []byte) (int, error) {
	rec.record(http.StatusOK)
	return rec.ResponseWriter.Write(b)
}

func (rec *Recorder) record(code int) {
	if rec.Code != 0 {
		return
	}
	rec.Code = code
	if rec.OnCode != nil {
		rec.OnCode(code)
	}
}

// Status returns the status the client gets: Code, or 200 when nothing was written (net/http
// then answers 200).
func (rec *Recorder) Status() int { return cmp.Or(rec.Code, http.StatusOK) }
