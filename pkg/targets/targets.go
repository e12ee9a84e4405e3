// Package targets defines what hrpush expects of an applicant tracking system: the [Target]
// contract that every ATS package implements, the [Item] it writes, and the HTTP error model
// shared by the ATS clients.
//
// # Failure classes
//
// Targets return errors that say what kind of failure happened, through methods that the job
// runtime (package jobs) reads with errors.As:
//
//   - Permanent() bool: retrying cannot help (validation error, bad payload); dead-letter.
//   - RetryAfter() time.Duration: throttled; wait that long before the next attempt.
//   - Credentials() bool: the account's credentials were refused; the whole target is
//     unhealthy, so the runtime pauses it instead of dead-lettering every job.
//
// Any other error is transient (5xx, timeouts, connection errors) and retried with backoff.
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf16"
)

// Target writes formatted items to one ATS account. Push must be idempotent: pushing the same
// item again (a redelivered job) updates what the first push created and never duplicates it.
type Target interface {
	// Name is the target's name in job subjects and logs: "jobadder" or "bullhorn".
	Name() string
	// Push writes one item and reports what it did.
	Push(ctx context.Context, item *Item) (*Result, error)
}

// Item is one formatted profile on its way to a target.
type Item struct {
	// JobID identifies the push. A retry of the same job that finds the candidate this job
	// created reports Created, not Updated, so that run reports count what really happened.
	JobID string
	// SourceKey and ProfileKey identify the HrFlow profile; targets key their idempotency
	// records on them.
	SourceKey  string
	ProfileKey string
	// Payload is the formatted target payload, a JSON object in the target's own schema.
	Payload map[string]any
	// Resume is the profile's resume, uploaded once per candidate; nil when it has none.
	Resume *Document
	// Options are the workflow's options for the target (options: in the workflows file), as
	// the target declared them ([OptionKinds]); they override the connection's settings.
	Options Options
}

// Options are a workflow's options for a target, by name: a bool for an [OptionBool].
type Options map[string]any

// Bool returns the bool option name, or def when the workflow does not set it.
func (o Options) Bool(name string, def bool) bool {
	if v, ok := o[name].(bool); ok {
		return v
	}
	return def
}

// OptionKind is the type of an option's value.
type OptionKind int

// The kinds of options.
const (
	OptionBool OptionKind = iota + 1
)

// OptionKinds declare the options a target accepts from a workflow, by name. Each target
// package exports its own; the workflows file is checked against them.
type OptionKinds map[string]OptionKind

// Document is a file to attach to a candidate. Open is called only when the target decides to
// upload it, so a redelivered job whose resume is already uploaded does not download it again.
type Document struct {
	// ID identifies the file's content (HrFlow's attachment hash, "alt"), so that the same
	// file reached through two profiles, or pushed twice, is recognised; empty if unknown.
	ID          string
	Name        string // file name with extension, e.g. "resume.pdf"
	ContentType string // e.g. "application/pdf"
	Open        func(ctx context.Context) (io.ReadCloser, error)
}

// Action is what a push did at the ATS.
type Action string

// Actions a [Target] reports.
const (
	Created Action = "created"
	Updated Action = "updated"
)

// Result is what a push did.
type Result struct {
	Action Action
	// ID is the candidate's id at the ATS.
	ID string
	// ResumeUploaded is true when this push uploaded the resume.
	ResumeUploaded bool
}

// maxErrorBodySize caps how much of an error body is read.
const maxErrorBodySize = 1 << 20

// ErrorResponse is a response the ATS answered with an error status.
type ErrorResponse struct {
	Target     string
	Method     string
	URL        string // sanitised: no query values that could hold a secret
	StatusCode int
	Message    string
	// Details are the field errors the ATS listed, as "field: message".
	Details []string
}

func (e *ErrorResponse) Error() string {
	msg := fmt.Sprintf("%s: %s %s: %d", e.Target, e.Method, e.URL, e.StatusCode)
	if e.Message != "" {
		msg += " " + e.Message
	}
	if len(e.Details) > 0 {
		msg += " (" + strings.Join(e.Details, "; ") + ")"
	}
	return msg
}

// Permanent reports whether retrying the same request cannot succeed: a 4xx other than 401,
// 403, 408, 409 and 429.
func (e *ErrorResponse) Permanent() bool {
	switch e.StatusCode {
	case 401, 403, 408, 409, 429:
		return false
	}
	return e.StatusCode >= 400 && e.StatusCode < 500
}

// Unavailable reports whether the answer says the service is down rather than that it refused
// this request: 502, 503 or 504. The job runtime pauses a target when several jobs in a row
// end so.
func (e *ErrorResponse) Unavailable() bool {
	switch e.StatusCode {
	case 502, 503, 504:
		return true
	}
	return false
}

// RateLimitError is a 429 answer. RetryAfter is the wait the ATS asked for, or the target's
// documented default when it named none.
type RateLimitError struct {
	*ErrorResponse
	Wait time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s (retry after %s)", e.ErrorResponse.Error(), e.Wait)
}

// RetryAfter is how long to wait before the next call.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// Unwrap returns the underlying error response.
func (e *RateLimitError) Unwrap() error { return e.ErrorResponse }

// CredentialsError means the account's credentials were refused (an expired or revoked
// authorization, a wrong password, terms not accepted). Reason says what the operator must do.
type CredentialsError struct {
	Target string
	Reason string
	Err    error
}

func (e *CredentialsError) Error() string {
	msg := e.Target + ": credentials refused: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Credentials marks the error as a credentials failure.
func (e *CredentialsError) Credentials() bool { return true }

// Unwrap returns the cause.
func (e *CredentialsError) Unwrap() error { return e.Err }

// ErrNoEmail is returned by targets that need an email to find an existing candidate.
var ErrNoEmail = errors.New("targets: profile has no email")

// ReadErrorBody reads at most 1 MiB of an error body.
func ReadErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBodySize))
	return b
}

// secretParams are query parameters that carry credentials in the ATS APIs.
func secretParam(name string) bool {
	switch strings.ToLower(name) {
	case "access_token", "refresh_token", "code", "client_secret", "password", "bhresttoken",
		"x-api-key", "api_secret", "token":
		return true
	}
	return false
}

// SanitizeURL returns u with the values of credential-bearing query parameters (tokens, codes,
// passwords, client secrets) and any user info replaced, so that they never reach an error string
// or a log line.
func SanitizeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if secretParam(k) {
				q[k] = []string{"REDACTED"}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date). It returns def when the
// header is absent or unreadable.
func ParseRetryAfter(h string, now time.Time, def time.Duration) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return def
	}
	var secs int
	if _, err := fmt.Sscanf(h, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := time.Parse(time.RFC1123, h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return def
}

// Length is the length of s as the ATS APIs count it: in UTF-16 code units (both JobAdder, a
// .NET API, and Bullhorn, a Java one, measure strings so), so a character outside the Basic
// Multilingual Plane, such as an emoji, counts twice.
func Length(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// Truncate cuts s to at most n UTF-16 code units (see [Length]), never inside a character, and
// trims the space the cut leaves at the end.
func Truncate(s string, n int) string {
	used := 0
	for i, r := range s {
		used += max(utf16.RuneLen(r), 1)
		if used > n {
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

// Permanent marks err as a failure that sending the same item again cannot fix: the job
// runtime dead-letters it at once.
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// SetText puts the trimmed s under key in m unless it is empty, cut to maxLen UTF-16 units
// (see [Truncate]) when maxLen > 0.
func SetText(m map[string]any, key, s string, maxLen int) {
	s = strings.TrimSpace(s)
	if maxLen > 0 {
		s = Truncate(s, maxLen)
	}
	if s != "" {
		m[key] = s
	}
}
