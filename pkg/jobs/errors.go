package jobs

import (
	"context"
	"errors"
	"net"
	"time"
)

// ErrShutdown is the cause given to job contexts cancelled by [Worker.Stop] after its grace
// period. A job interrupted by shutdown is put back on the queue without delay and is not
// counted as a failure.
var ErrShutdown = errors.New("jobs: worker shutting down")

// Reasons written in DLQ entries and events for failures the runtime itself detects. Handlers
// give their own (the run events read_failure, format_failure, logics_failure, write_failure)
// with [WithReason].
const (
	ReasonBadJob    = "bad_job"
	ReasonExhausted = "deliveries_exhausted"
	ReasonPanic     = "panic"
)

// Permanent marks err as a failure that retrying cannot fix: the job is dead-lettered at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// RetryAfter marks err as throttling: the target asked to wait d before the next call. The
// runtime pauses the whole target for d (rate limits are per account), waiting in process when
// d fits the retry budget and putting the job back with that delay otherwise.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: d}
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.d }

// WithReason tags err with the run event or DLQ reason it stands for, e.g. "read_failure".
func WithReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &reasonError{reason: reason, err: err}
}

type reasonError struct {
	reason string
	err    error
}

// Error is the cause's message: the reason travels apart (DLQ entries, events, logs), so that
// reports do not print it twice.
func (e *reasonError) Error() string  { return e.err.Error() }
func (e *reasonError) Unwrap() error  { return e.err }
func (e *reasonError) Reason() string { return e.reason }

// The behaviours the runtime reads from errors. Client packages implement them on their own
// error types (see package targets), so they need not import this package.
type (
	permanent   interface{ Permanent() bool }
	throttled   interface{ RetryAfter() time.Duration }
	credentials interface{ Credentials() bool }
	reasoned    interface{ Reason() string }
	unavailable interface{ Unavailable() bool }
)

// isUnavailable reports whether err says that a service could not be reached or answered that
// it is down (a 502, 503 or 504; a refused, reset or timed-out connection), rather than that it
// failed this one job: the failures that, from several jobs in a row, mean an outage.
func isUnavailable(err error) bool {
	var u unavailable
	if errors.As(err, &u) {
		return u.Unavailable()
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// class is what the runtime does with a failed attempt.
type class int

const (
	classTransient   class = iota // retry with backoff, then across deliveries, then DLQ
	classPermanent                // DLQ now
	classThrottled                // pause the target for the wait asked, then retry
	classCredentials              // pause the target (not ready) and put the job back
	classShutdown                 // put back without delay, not a failure
)

func (c class) String() string {
	return [...]string{"transient", "permanent", "throttled", "credentials", "shutdown"}[c]
}

// classify maps an error to what the runtime does with it: the one place outcomes are decided.
func classify(ctx context.Context, err error) (class, time.Duration) {
	var (
		p  permanent
		t  throttled
		cr credentials
	)
	switch {
	case errors.Is(err, ErrShutdown) || errors.Is(context.Cause(ctx), ErrShutdown):
		return classShutdown, 0
	case errors.As(err, &cr) && cr.Credentials():
		return classCredentials, 0
	case errors.As(err, &t):
		return classThrottled, t.RetryAfter()
	case errors.As(err, &p) && p.Permanent():
		return classPermanent, 0
	}
	return classTransient, 0
}

// reasonOf returns the reason an error was tagged with, or def.
func reasonOf(err error, def string) string {
	var r reasoned
	if errors.As(err, &r) {
		return r.Reason()
	}
	return def
}

// verdict is what the runtime does with a delivery that failed (after its in-process retries).
type verdict int

const (
	retryLater          verdict = iota // put back with the redelivery delay (or the throttle's wait)
	putBackNow                         // shutdown: back without delay, not a failure
	deadLetterNow                      // permanent: DLQ at once
	deadLetterExhausted                // the delivery budget is spent: DLQ, class exhausted
	pauseCredentials                   // refused credentials: pause the connection, job put back
	pauseOutage                        // the connection is down: pause it, job put back
)

func (v verdict) String() string {
	return [...]string{"retry later", "put back now", "dead-letter", "dead-letter (exhausted)", "pause: credentials", "pause: outage"}[v]
}

// decide is the one place a failed delivery's outcome is decided, from its class, whether its
// connection now counts as down (see gate.unreachableFailure), and its delivery count.
// Credentials and outages never spend the budget: their jobs wait, whatever the attempt.
func decide(c class, down bool, attempt, maxDeliveries int) verdict {
	switch {
	case c == classShutdown:
		return putBackNow
	case c == classPermanent:
		return deadLetterNow
	case c == classCredentials:
		return pauseCredentials
	case down:
		return pauseOutage
	case attempt >= maxDeliveries:
		return deadLetterExhausted
	}
	return retryLater
}
