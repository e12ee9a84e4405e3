package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/problem"
)

// idempotencyHeader names the request header; its value is the client's, up to 255
// printable characters.
const idempotencyHeader = "Idempotency-Key"

// record is what the idempotency bucket holds under a key: the request's hash, and once it
// succeeded, its response. A record without status is a request in progress. Records expire
// with the bucket's TTL (24 hours). Only accepted requests (2xx) are recorded: a refused
// request may be corrected and sent again with the same key.
type record struct {
	BodyHash string          `json:"body_hash"`
	Status   int             `json:"status,omitempty"`
	Location string          `json:"location,omitempty"`
	Body     json.RawMessage `json:"body,omitempty"`
}

// idempotent is one request's place in the idempotency bucket.
type idempotent struct {
	kvKey, bodyHash string
	rev             uint64
}

// reserve looks the request's Idempotency-Key up and, when it is new, records the request as
// in progress under it, in one step (the common case costs one round trip): the same key sent
// again meanwhile is refused (409) rather than processed twice. It returns nil, true when the
// request carries no key; a non-nil idempotent, true when the request is new (release it if
// the request is then refused: only accepted requests are recorded); false when it has
// answered (the first response replayed, or a problem).
func (a *API) reserve(w http.ResponseWriter, r *http.Request, key *apikeys.Key, body []byte) (*idempotent, bool) {
	value := r.Header.Get(idempotencyHeader)
	if value == "" {
		return nil, true
	}
	if len(value) > 255 || strings.ContainsFunc(value, func(c rune) bool { return c > unicode.MaxASCII || !unicode.IsPrint(c) }) {
		p := problem.New(http.StatusBadRequest, "invalid-idempotency-key", "Idempotency-Key must be 1 to 255 printable ASCII characters")
		p.Errors = []problem.FieldError{{Pointer: idempotencyHeader, Detail: "invalid value"}}
		problem.Write(w, p, 0)
		return nil, false
	}
	// One namespace per API key; the KV key is a hash, so the client's value needs no escaping.
	kvSum := sha256.Sum256([]byte(key.ID + "\x00" + value))
	bodySum := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\x00" + string(body)))
	it := &idempotent{kvKey: "r" + hex.EncodeToString(kvSum[:]), bodyHash: hex.EncodeToString(bodySum[:])}
	data, _ := json.Marshal(record{BodyHash: it.bodyHash})
	rev, err := a.idem.Create(r.Context(), it.kvKey, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := a.idem.Get(r.Context(), it.kvKey)
		if gerr != nil {
			a.unavailable(w, r, "cannot read the Idempotency-Key record", gerr)
			return nil, false
		}
		a.answerRecorded(w, e.Value(), it.bodyHash)
		return nil, false
	}
	if err != nil {
		a.unavailable(w, r, "cannot record the Idempotency-Key", err)
		return nil, false
	}
	it.rev = rev
	return it, true
}

// answerRecorded answers a request whose key has a record.
func (a *API) answerRecorded(w http.ResponseWriter, data []byte, bodyHash string) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		problem.Write(w, problem.New(http.StatusInternalServerError, "internal", "unreadable Idempotency-Key record"), 0)
		return
	}
	switch {
	case rec.BodyHash != bodyHash:
		p := problem.New(http.StatusUnprocessableEntity, "idempotency-key-reused", "this Idempotency-Key was used with another request; use a new key for a new request")
		p.Errors = []problem.FieldError{{Pointer: idempotencyHeader, Detail: "already used with another body"}}
		problem.Write(w, p, 0)
	case rec.Status == 0:
		problem.Write(w, problem.New(http.StatusConflict, "idempotency-key-in-use", "a request with this Idempotency-Key is being processed; retry later"), time.Second)
	default:
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Idempotent-Replayed", "true")
		if rec.Location != "" {
			h.Set("Location", rec.Location)
		}
		w.WriteHeader(rec.Status)
		_, _ = w.Write(rec.Body)
	}
}

// release forgets a reservation whose request was refused or failed, so that it can be sent
// again with the same key.
func (a *API) release(r *http.Request, it *idempotent) {
	if it == nil {
		return
	}
	if err := a.idem.Delete(r.Context(), it.kvKey, jetstream.LastRevision(it.rev)); err != nil {
		a.cfg.Logger.Warn("cannot release an Idempotency-Key record; it expires on its own", "error", err)
	}
}

// respond writes a JSON response and records it under the request's Idempotency-Key.
func (a *API) respond(w http.ResponseWriter, r *http.Request, it *idempotent, status int, location string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		problem.Write(w, problem.New(http.StatusInternalServerError, "internal", "cannot encode the response"), 0)
		return
	}
	if it != nil {
		data, _ := json.Marshal(record{BodyHash: it.bodyHash, Status: status, Location: location, Body: body})
		if _, err := a.idem.Update(r.Context(), it.kvKey, data, it.rev); err != nil {
			// The jobs are enqueued: forget the reservation, so that a retry with this key is
			// processed again (and its jobs dropped as duplicates by the stream) rather than
			// refused as in progress until the record expires.
			a.cfg.Logger.Warn("cannot record the response of an Idempotency-Key", "error", err)
			a.release(r, it)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if location != "" {
		h.Set("Location", location)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
