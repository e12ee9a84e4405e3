package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
)

// Publisher enqueues jobs.
type Publisher struct {
	js jetstream.JetStream
}

// ErrStreamFull is returned, wrapped, by [Publisher] when the jobs stream has reached its size
// or message limit (HRPUSH_JOBS_MAX_BYTES, HRPUSH_JOBS_MAX_MSGS): the job was not stored, and
// no stored job was dropped. The error's message says what to do.
var ErrStreamFull = errors.New("jobs: the jobs stream is full")

// publishError turns JetStream's answer to a full stream (discard new) into [ErrStreamFull].
// The server answers every store failure with one code (10077, "{err}"); the limit reached is
// only in its description.
func publishError(job *Job, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == broker.ErrCodeStoreFailed &&
		(strings.Contains(apiErr.Description, "maximum bytes exceeded") || strings.Contains(apiErr.Description, "maximum messages exceeded")) {
		return fmt.Errorf("%w (%s, %s): job %s not stored; wait for the workers to work the backlog down, "+
			"add workers, or raise HRPUSH_JOBS_MAX_BYTES / HRPUSH_JOBS_MAX_MSGS and run 'enqueue setup --apply'",
			ErrStreamFull, JobsStream, apiErr.Description, job.ID)
	}
	return fmt.Errorf("jobs: publish job %s: %w", job.ID, err)
}

// NewPublisher returns a publisher on js. Call [EnsureStreams] first.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// PublishResult says what the stream did with a job.
type PublishResult struct {
	Job *Job
	// Duplicate is true when the stream had already stored a job with the same message id
	// within its duplicates window, and dropped this one.
	Duplicate bool
	// Seq is the job's sequence in the stream (of the first copy, for a duplicate).
	Seq uint64
	Err error
}

func encode(job *Job) ([]byte, error) {
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = time.Now().UTC()
	}
	if job.Version == 0 {
		job.Version = Version
	}
	if err := job.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(job)
}

// RetryWindow bounds how long [Publisher] publishes a job again whose publish got no answer
// or no responders: the jobs stream electing a new leader (4 to 9 s after a server's crash),
// or just created on a fresh cluster. A job published again is stored once (its message id).
const RetryWindow = 30 * time.Second

// Publish validates and enqueues one job and waits for the stream to store it.
func (p *Publisher) Publish(ctx context.Context, job *Job) (PublishResult, error) {
	data, err := encode(job)
	if err != nil {
		return PublishResult{Job: job, Err: err}, err
	}
	var ack *jetstream.PubAck
	err = retry(ctx, RetryWindow, 5*time.Second, func(ctx context.Context) (err error) {
		ack, err = p.js.Publish(ctx, job.Subject(), data,
			jetstream.WithMsgID(job.MsgID()), jetstream.WithExpectStream(JobsStream))
		return err
	}, nil)
	if err != nil {
		err = publishError(job, err)
		return PublishResult{Job: job, Err: err}, err
	}
	return PublishResult{Job: job, Duplicate: ack.Duplicate, Seq: ack.Sequence}, nil
}

// PublishAll enqueues jobs asynchronously, many in flight at once, and calls done with each
// job's result as the stream acknowledges it (in no particular order, from one goroutine at a
// time). Jobs whose publish got no answer are published again, in rounds, for up to
// [RetryWindow]. It returns when every job has a result or ctx ends.
func (p *Publisher) PublishAll(ctx context.Context, jobs []*Job, done func(PublishResult)) error {
	type pending struct {
		job  *Job
		data []byte
		f    jetstream.PubAckFuture
	}
	const window = 1024
	var again []pending // transient failures, for the next round
	var lastRound bool
	inflight := make([]pending, 0, window)
	flush := func() error {
		for _, pd := range inflight {
			select {
			case ack := <-pd.f.Ok():
				done(PublishResult{Job: pd.job, Duplicate: ack.Duplicate, Seq: ack.Sequence})
			case err := <-pd.f.Err():
				if transient(err) && !lastRound {
					again = append(again, pd)
					continue
				}
				done(PublishResult{Job: pd.job, Err: publishError(pd.job, err)})
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		inflight = inflight[:0]
		return nil
	}
	publish := func(pd pending) error {
		f, err := p.js.PublishAsync(pd.job.Subject(), pd.data,
			jetstream.WithMsgID(pd.job.MsgID()), jetstream.WithExpectStream(JobsStream))
		if err != nil {
			done(PublishResult{Job: pd.job, Err: publishError(pd.job, err)})
			return nil
		}
		pd.f = f
		inflight = append(inflight, pd)
		if len(inflight) == window {
			return flush()
		}
		return nil
	}
	for _, job := range jobs {
		data, err := encode(job)
		if err != nil {
			done(PublishResult{Job: job, Err: err})
			continue
		}
		if err := publish(pending{job: job, data: data}); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	deadline := time.Now().Add(RetryWindow)
	for wait := 250 * time.Millisecond; len(again) > 0; wait = min(2*wait, 2*time.Second) {
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		lastRound = time.Now().After(deadline)
		round := again
		again = nil
		for _, pd := range round {
			if err := publish(pd); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}
