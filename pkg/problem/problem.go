// Package problem writes HTTP error bodies as RFC 9457 problem details
// (application/problem+json), the one error model of every hrpush HTTP endpoint.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// TypeBase prefixes the type URI of each problem hrpush defines; the rest is the problem's code,
// e.g. https://hrpush.dev/problems/unknown-workflow.
const TypeBase = "https://hrpush.dev/problems/"

// Details is a problem body. Type, Title and Status are always set by [Write]; Code is the
// machine-readable name (the last segment of Type), and Errors lists what was wrong field by field.
type Details struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Code     string       `json:"code"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// FieldError says what is wrong with one part of a request: Pointer is a JSON pointer into the
// body (e.g. /jobs/3/profile_key) or the name of a header or parameter.
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// New returns the problem of code with status and a human detail; the title is the status text.
func New(status int, code, detail string) *Details {
	return &Details{Type: TypeBase + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

// Error makes a problem usable as an error inside a handler.
func (d *Details) Error() string { return d.Code + ": " + d.Detail }

// Write sends d. A retry delay (429, 503) goes into Retry-After, rounded up to whole seconds.
func Write(w http.ResponseWriter, d *Details, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(d.Status)
	_ = json.NewEncoder(w).Encode(d)
}
