package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the dead-letter operations.
var (
	// ErrNotReplayable is returned by [DLQEntry.Replayable] and [Replay] for an entry whose job
	// cannot be decoded or validated (a bad job): the operator must fix it and enqueue it again,
	// or purge the entry. The error also wraps the decoding error ([ErrBadJob]).
	ErrNotReplayable = errors.New("jobs: cannot replay a bad job")
	// ErrDeadLetterKept is returned by [Replay] when the job was enqueued again but its entry
	// could not be removed from the DLQ. Replaying the entry again within the jobs stream's
	// duplicates window is dropped as a duplicate; purging it is safe.
	ErrDeadLetterKept = errors.New("jobs: job replayed but its dead letter was not removed")
	// ErrDeadLetterNotFound is returned by [PurgeDeadLetter] when the DLQ holds no entry with
	// that sequence (already replayed, purged, or expired).
	ErrDeadLetterNotFound = errors.New("jobs: dead letter not found")
	// ErrBadDeadLetter is yielded by [DeadLetters], with the entry's sequence, for a DLQ message
	// that is not a dead-letter document (published by something other than a worker).
	ErrBadDeadLetter = errors.New("jobs: not a dead letter")
)

// DLQFilter selects dead letters. Set fields combine with AND; the zero value selects every
// entry.
type DLQFilter struct {
	// Target selects one target's entries (subject hrpush.dlq.<target>); "unknown" selects the
	// bad jobs that named no valid target.
	Target string
	// Reason matches the entry's reason (bad_job, read_failure, format_failure, logics_failure,
	// write_failure, deliveries_exhausted, panic) or its class (permanent, exhausted).
	Reason string
	// WorkflowID and BatchID match the job's.
	WorkflowID string
	BatchID    string
	// Since selects the entries stored in the DLQ at or after this time.
	Since time.Time
	// Seqs selects entries by their DLQ stream sequence.
	Seqs []uint64
}

func (f DLQFilter) match(e *DLQEntry) bool {
	switch {
	case f.Target != "" && e.Subject != DLQSubjectPrefix+f.Target:
		return false
	case f.Reason != "" && e.Reason != f.Reason && e.Class != f.Reason:
		return false
	case f.WorkflowID != "" && e.WorkflowID != f.WorkflowID:
		return false
	case f.BatchID != "" && e.BatchID != f.BatchID:
		return false
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case len(f.Seqs) > 0 && !slices.Contains(f.Seqs, e.Seq):
		return false
	}
	return true
}

// DLQEntry is a dead letter as stored in the DLQ stream. The embedded [DeadLetter]'s own
// Subject and StreamSeq are those of the original job in the jobs stream.
type DLQEntry struct {
	// Seq is the entry's sequence in the DLQ stream: what [Replay] and [PurgeDeadLetter] remove.
	Seq uint64 `json:"dlq_seq"`
	// Subject is the entry's DLQ subject, hrpush.dlq.<target>.
	Subject string `json:"dlq_subject"`
	// Time is when the entry was stored.
	Time time.Time `json:"dlq_time"`
	DeadLetter
}

// dlqIdle is how long [DeadLetters] waits for the next entry before asking the server whether
// any is left (entries removed while reading leave nothing to wait for).
const dlqIdle = 2 * time.Second

// DeadLetters reads the DLQ entries that match f, oldest first. It reads a snapshot: entries
// stored after the call began (a replayed job failing again) are not read, so a caller may
// replay or purge as it goes. It never acknowledges or removes anything. An entry that is not
// a dead letter is yielded with an error wrapping [ErrBadDeadLetter] and reading goes on; any
// other error ends the sequence.
func DeadLetters(ctx context.Context, js jetstream.JetStream, f DLQFilter) iter.Seq2[DLQEntry, error] {
	return func(yield func(DLQEntry, error) bool) {
		if f.Target != "" && !namePattern.MatchString(f.Target) {
			yield(DLQEntry{}, fmt.Errorf("jobs: dlq target %q must match %s", f.Target, namePattern))
			return
		}
		stream, err := js.Stream(ctx, DLQStream)
		if err != nil {
			yield(DLQEntry{}, fmt.Errorf("jobs: dlq stream: %w", err))
			return
		}
		if len(f.Seqs) > 0 {
			deadLettersBySeq(ctx, stream, f, yield)
			return
		}
		info, err := stream.Info(ctx)
		if err != nil {
			yield(DLQEntry{}, fmt.Errorf("jobs: dlq stream: %w", err))
			return
		}
		if info.State.Msgs == 0 {
			return
		}
		deadLettersScan(ctx, js, info.State.LastSeq, f, yield)
	}
}

// deadLettersBySeq gets the entries f names one by one; missing ones are skipped.
func deadLettersBySeq(ctx context.Context, stream jetstream.Stream, f DLQFilter, yield func(DLQEntry, error) bool) {
	seqs := slices.Clone(f.Seqs)
	slices.Sort(seqs)
	for _, seq := range slices.Compact(seqs) {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			yield(DLQEntry{}, fmt.Errorf("jobs: get dlq entry %d: %w", seq, err))
			return
		}
		e, err := decodeEntry(m.Sequence, m.Subject, m.Time, m.Data)
		if err != nil || f.match(&e) {
			if !yield(e, err) {
				return
			}
		}
	}
}

// deadLettersScan reads the stream up to last with an ordered consumer.
func deadLettersScan(ctx context.Context, js jetstream.JetStream, last uint64, f DLQFilter, yield func(DLQEntry, error) bool) {
	cfg := jetstream.OrderedConsumerConfig{InactiveThreshold: time.Minute}
	if f.Target != "" {
		cfg.FilterSubjects = []string{DLQSubjectPrefix + f.Target}
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, DLQStream, cfg)
	if err != nil {
		yield(DLQEntry{}, fmt.Errorf("jobs: read dlq: %w", err))
		return
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		yield(DLQEntry{}, fmt.Errorf("jobs: read dlq: %w", err))
		return
	}
	defer func() {
		it.Stop()
		// The server would drop the consumer after InactiveThreshold anyway.
		if ci := cons.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = js.DeleteConsumer(dctx, DLQStream, ci.Name)
			cancel()
		}
	}()
	// Nothing matches: return now rather than wait for a message that will not come.
	if ci, err := cons.Info(ctx); err == nil && ci.NumPending == 0 && ci.Delivered.Consumer == 0 {
		return
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, dlqIdle)
		msg, err := it.Next(jetstream.NextContext(waitCtx))
		cancel()
		if ctx.Err() != nil {
			yield(DLQEntry{}, ctx.Err())
			return
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			ci, err := cons.Info(ctx)
			if err != nil {
				yield(DLQEntry{}, fmt.Errorf("jobs: read dlq: %w", err))
				return
			}
			if ci.NumPending == 0 {
				return
			}
			continue
		}
		if err != nil {
			yield(DLQEntry{}, fmt.Errorf("jobs: read dlq: %w", err))
			return
		}
		meta, err := msg.Metadata()
		if err != nil {
			yield(DLQEntry{}, fmt.Errorf("jobs: read dlq: %w", err))
			return
		}
		seq := meta.Sequence.Stream
		if seq > last {
			return
		}
		e, err := decodeEntry(seq, msg.Subject(), meta.Timestamp, msg.Data())
		if err != nil || f.match(&e) {
			if !yield(e, err) {
				return
			}
		}
		if meta.NumPending == 0 || seq == last {
			return
		}
	}
}

func decodeEntry(seq uint64, subject string, stored time.Time, data []byte) (DLQEntry, error) {
	e := DLQEntry{Seq: seq, Subject: subject, Time: stored}
	if err := json.Unmarshal(data, &e.DeadLetter); err != nil {
		return e, fmt.Errorf("%w: dlq entry %d: %w", ErrBadDeadLetter, seq, err)
	}
	return e, nil
}

// Replayable returns the job a replay of the entry would enqueue, or an error wrapping
// [ErrNotReplayable] when the entry holds no valid job.
func (e *DLQEntry) Replayable() (*Job, error) {
	if len(e.Job) == 0 {
		return nil, fmt.Errorf("%w: the job was not a JSON document (raw %q); fix it and enqueue it again, or purge the entry",
			ErrNotReplayable, truncate(e.RawJob, 64))
	}
	job, err := Decode(e.Job)
	if err != nil {
		return nil, fmt.Errorf("%w: %w; fix it and enqueue it again, or purge the entry", ErrNotReplayable, err)
	}
	return job, nil
}

// replayMsgID is the Nats-Msg-Id of a replayed job: new, so that the jobs stream does not drop
// it when the original's id is still in its duplicates window, and stable per entry, so that
// replaying an entry twice (its removal failed) enqueues the job once.
func replayMsgID(job *Job, seq uint64) string {
	return "replay-" + job.MsgID() + "-" + strconv.FormatUint(seq, 10)
}

// Replay enqueues the entry's job again and, once the jobs stream has stored it, removes the
// entry from the DLQ. The job keeps its id and batch, so its logs, events and batch report tie
// together: a replay that succeeds turns the job's failed outcome into created or updated. It
// is published as the original bytes (unknown v1 fields survive) under a new message id,
// "replay-<original msg id>-<dlq seq>".
//
// Replay returns an error wrapping [ErrNotReplayable] for a bad job (the entry is kept), an
// error without the job when the stream did not accept it (the entry is kept), and the job with
// an error wrapping [ErrDeadLetterKept] when only the removal failed.
func Replay(ctx context.Context, js jetstream.JetStream, e DLQEntry) (*Job, error) {
	job, err := e.Replayable()
	if err != nil {
		return nil, err
	}
	_, err = js.Publish(ctx, job.Subject(), e.Job,
		jetstream.WithMsgID(replayMsgID(job, e.Seq)), jetstream.WithExpectStream(JobsStream))
	if err != nil {
		return nil, fmt.Errorf("jobs: replay dlq entry %d (job %s): %w", e.Seq, job.ID, err)
	}
	// A duplicate ack means an earlier replay of this entry is stored: removing it is right too.
	if err := PurgeDeadLetter(ctx, js, e.Seq); err != nil && !errors.Is(err, ErrDeadLetterNotFound) {
		return job, fmt.Errorf("%w: %w", ErrDeadLetterKept, err)
	}
	return job, nil
}

// PurgeDeadLetter removes the DLQ entry with sequence seq. It returns an error wrapping
// [ErrDeadLetterNotFound] when there is none.
func PurgeDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	stream, err := js.Stream(ctx, DLQStream)
	if err != nil {
		return fmt.Errorf("jobs: dlq stream: %w", err)
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil {
		// The delete error carries the server's message only: ask whether the entry exists.
		if _, gerr := stream.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("%w: seq %d", ErrDeadLetterNotFound, seq)
		}
		return fmt.Errorf("jobs: remove dlq entry %d: %w", seq, err)
	}
	return nil
}
