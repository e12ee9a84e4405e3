package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Publisher enqueues jobs.
type Publisher struct {
	js jetstream.JetStream
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

// Publish validates and enqueues one job and waits for the stream to store it.
func (p *Publisher) Publish(ctx context.Context, job *Job) (PublishResult, error) {
	data, err := encode(job)
	if err != nil {
		return PublishResult{Job: job, Err: err}, err
	}
	ack, err := p.js.Publish(ctx, job.Subject(), data,
		jetstream.WithMsgID(job.MsgID()), jetstream.WithExpectStream(JobsStream))
	if err != nil {
		err = fmt.Errorf("jobs: publish job %s: %w", job.ID, err)
		return PublishResult{Job: job, Err: err}, err
	}
	return PublishResult{Job: job, Duplicate: ack.Duplicate, Seq: ack.Sequence}, nil
}

// PublishAll enqueues jobs asynchronously, many in flight at once, and calls done with each
// job's result as the stream acknowledges it (in no particular order, from one goroutine at a
// time). It returns when every job has a result or ctx ends.
func (p *Publisher) PublishAll(ctx context.Context, jobs []*Job, done func(PublishResult)) error {
	type pending struct {
		job *Job
		f   jetstream.PubAckFuture
	}
	const window = 1024
	inflight := make([]pending, 0, window)
	flush := func() error {
		for _, pd := range inflight {
			select {
			case ack := <-pd.f.Ok():
				done(PublishResult{Job: pd.job, Duplicate: ack.Duplicate, Seq: ack.Sequence})
			case err := <-pd.f.Err():
				done(PublishResult{Job: pd.job, Err: fmt.Errorf("jobs: publish job %s: %w", pd.job.ID, err)})
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		inflight = inflight[:0]
		return nil
	}
	for _, job := range jobs {
		data, err := encode(job)
		if err != nil {
			done(PublishResult{Job: job, Err: err})
			continue
		}
		f, err := p.js.PublishAsync(job.Subject(), data,
			jetstream.WithMsgID(job.MsgID()), jetstream.WithExpectStream(JobsStream))
		if err != nil {
			done(PublishResult{Job: job, Err: fmt.Errorf("jobs: publish job %s: %w", job.ID, err)})
			continue
		}
		inflight = append(inflight, pending{job, f})
		if len(inflight) == window {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
