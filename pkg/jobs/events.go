package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Outcome is how a job ended.
type Outcome string

// Outcomes of a job.
const (
	Created   Outcome = "created"   // written: a new candidate
	Updated   Outcome = "updated"   // written: an existing candidate updated
	Discarded Outcome = "discarded" // a logic dropped the item (logics_discard); acked
	Failed    Outcome = "failed"    // dead-lettered
)

// Event is one job's outcome, published by the worker that finished it on
// hrpush.events.<batch id>. Any process can read a batch's events to follow or report it.
type Event struct {
	JobID      string `json:"job_id"`
	BatchID    string `json:"batch_id,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Target     string `json:"target,omitempty"`
	// Connection is the account the job wrote to (its partition); "" is the default one.
	Connection string    `json:"connection,omitempty"`
	SourceKey  string    `json:"source_key,omitempty"`
	ProfileKey string    `json:"profile_key,omitempty"`
	Outcome    Outcome   `json:"outcome"`
	Event      string    `json:"event"` // run event: written, logics_discard, read_failure, ...
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	ATSID      string    `json:"ats_id,omitempty"`
	Attempts   int       `json:"attempts"`
	Worker     string    `json:"worker,omitempty"`
	At         time.Time `json:"at"`
}

// eventsSubject is where a batch's events go; jobs without batch use "none".
func eventsSubject(batchID string) string {
	if batchID == "" || !namePattern.MatchString(batchID) {
		return EventsSubjectPrefix + "none"
	}
	return EventsSubjectPrefix + batchID
}

// Batch is the header of a bulk run, published by the producer once its jobs are enqueued.
type Batch struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	Target     string `json:"target"`
	// Total is the number of jobs the stream accepted for this batch (duplicates excluded).
	Total int `json:"total"`
	// Duplicates is the number of jobs the stream dropped as already enqueued.
	Duplicates int       `json:"duplicates"`
	CreatedAt  time.Time `json:"created_at"`
	// A producer enqueuing in the background (the gateway) publishes the header first with
	// State [BatchEnqueuing], then again as it goes (Total so far, UpdatedAt) and at the end
	// with [BatchEnqueued] or [BatchInterrupted]. Empty State: enqueued (enqueue bulk writes
	// the header once, at the end).
	State string `json:"state,omitempty"`
	// Expected is how many jobs the producer means to enqueue (0: unknown, e.g. a source
	// being listed); NotEnqueued is how many the stream refused.
	Expected    int       `json:"expected,omitempty"`
	NotEnqueued int       `json:"not_enqueued,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	// Error is why an interrupted batch stopped.
	Error string `json:"error,omitempty"`
}

// States of a batch header.
const (
	BatchEnqueuing   = "enqueuing"
	BatchEnqueued    = "enqueued"
	BatchInterrupted = "interrupted"
)

// ErrBatchNotFound is returned by [LoadBatch] for a batch id nobody published.
var ErrBatchNotFound = errors.New("jobs: batch not found")

// PublishBatch records a batch header so that any process can report on the batch.
func PublishBatch(ctx context.Context, js jetstream.JetStream, b *Batch) error {
	if !namePattern.MatchString(b.ID) {
		return fmt.Errorf("jobs: batch id %q must match %s", b.ID, namePattern)
	}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if _, err := js.Publish(ctx, BatchesSubjectPrefix+b.ID, data); err != nil {
		return fmt.Errorf("jobs: publish batch %s: %w", b.ID, err)
	}
	return nil
}

// LoadBatch reads a batch header.
func LoadBatch(ctx context.Context, js jetstream.JetStream, id string) (*Batch, error) {
	if !namePattern.MatchString(id) {
		return nil, fmt.Errorf("%w: %q is not a batch id", ErrBatchNotFound, id)
	}
	s, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, fmt.Errorf("jobs: events stream: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, BatchesSubjectPrefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrBatchNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: load batch %s: %w", id, err)
	}
	var b Batch
	if err := json.Unmarshal(m.Data, &b); err != nil {
		return nil, fmt.Errorf("jobs: batch %s: %w", id, err)
	}
	return &b, nil
}

// Run statuses, as the seed connectors name them.
const (
	StatusRunning             = "running"
	StatusSuccess             = "success"
	StatusSuccessWithFailures = "success_with_failures"
	StatusFatal               = "fatal"
)

// Report counts a batch's outcomes. A job redelivered after its outcome was recorded (a lost
// ack) counts once, with its latest outcome.
type Report struct {
	Batch     Batch            `json:"batch"`
	Created   int              `json:"created"`
	Updated   int              `json:"updated"`
	Discarded int              `json:"discarded"`
	Failed    int              `json:"failed"`
	Events    map[string]int   `json:"events"`
	Failures  []Event          `json:"failures,omitempty"`
	latest    map[string]Event // by job id
}

// NewReport starts an empty report of b.
func NewReport(b Batch) *Report {
	return &Report{Batch: b, Events: map[string]int{}, latest: map[string]Event{}}
}

// Done is the number of jobs with an outcome.
func (r *Report) Done() int { return len(r.latest) }

// Add counts an event, replacing the job's earlier outcome if any.
func (r *Report) Add(e Event) {
	if old, ok := r.latest[e.JobID]; ok {
		r.count(old, -1)
	}
	r.latest[e.JobID] = e
	r.count(e, +1)
}

func (r *Report) count(e Event, n int) {
	switch e.Outcome {
	case Created:
		r.Created += n
	case Updated:
		r.Updated += n
	case Discarded:
		r.Discarded += n
	case Failed:
		r.Failed += n
		if n > 0 {
			r.Failures = append(r.Failures, e)
		} else {
			r.Failures = slices.DeleteFunc(r.Failures, func(f Event) bool { return f.JobID == e.JobID })
		}
	}
	r.Events[e.Event] += n
	if r.Events[e.Event] == 0 {
		delete(r.Events, e.Event)
	}
}

// Status is the run status: running while jobs are being enqueued and until every job has an
// outcome, then success, success_with_failures, or fatal when every job failed.
func (r *Report) Status() string {
	switch {
	case r.Done() < r.Batch.Total || r.Batch.State == BatchEnqueuing:
		return StatusRunning
	case r.Failed == 0:
		return StatusSuccess
	case r.Failed == r.Done():
		return StatusFatal
	}
	return StatusSuccessWithFailures
}

// FollowBatch reads the events of batch id from the start and calls fn with the report after
// each event, and while following, about every second when no event came. It returns when fn
// returns false or when ctx ends; with follow false, as soon as it has caught up.
func FollowBatch(ctx context.Context, js jetstream.JetStream, id string, follow bool, fn func(*Report) bool) (*Report, error) {
	b, err := LoadBatch(ctx, js, id)
	if err != nil {
		return nil, err
	}
	r := NewReport(*b)
	subject := eventsSubject(id)
	stream, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, fmt.Errorf("jobs: events stream: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return nil, fmt.Errorf("jobs: follow batch %s: %w", id, err)
	}
	if info.State.Subjects[subject] == 0 && (!fn(r) || !follow) {
		return r, nil
	}
	// The events are read by an ordered consumer, which lives on one server: when that server
	// is lost (or any error), or when nothing came for a while, a new one resumes after the last
	// event read, so that following a batch never stalls on a lost server.
	var last uint64 // stream sequence of the last event read
	var it jetstream.MessagesContext
	open := func() error {
		if it != nil {
			it.Stop()
			it = nil
		}
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
		if last > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
		}
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cons, err := js.OrderedConsumer(octx, EventsStream, cfg)
		if err != nil {
			return err
		}
		it, err = cons.Messages(jetstream.PullMaxMessages(512), jetstream.PullExpiry(5*time.Second))
		return err
	}
	if err := open(); err != nil {
		return nil, fmt.Errorf("jobs: follow batch %s: %w", id, err)
	}
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	idle := 0 // seconds without an event
	for {
		var msg jetstream.Msg
		err := errNotYet
		if it != nil {
			waitCtx, cancel := context.WithTimeout(ctx, time.Second)
			msg, err = it.Next(jetstream.NextContext(waitCtx))
			cancel()
		} else {
			sleep(ctx, time.Second)
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if err != nil {
			timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
			if !follow && !timeout {
				return r, fmt.Errorf("jobs: follow batch %s: %w", id, err)
			}
			if !fn(r) || !follow {
				return r, nil
			}
			idle++
			if !timeout || idle%5 == 0 {
				if oerr := open(); oerr != nil && !transient(oerr) {
					return r, fmt.Errorf("jobs: follow batch %s: %w", id, oerr)
				}
			}
			continue
		}
		idle = 0
		meta, _ := msg.Metadata()
		if meta != nil {
			last = meta.Sequence.Stream
		}
		var e Event
		if json.Unmarshal(msg.Data(), &e) == nil && e.JobID != "" {
			r.Add(e)
		}
		if !fn(r) {
			return r, nil
		}
		if !follow && meta != nil && meta.NumPending == 0 {
			return r, nil
		}
	}
}
