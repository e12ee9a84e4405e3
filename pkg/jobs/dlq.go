package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is a DLQ entry: the job, why it failed and its history. It never holds a secret or
// the profile, only the job document (references), the error and the attempts.
type DeadLetter struct {
	// Job is the job document as received, when it was JSON.
	Job json.RawMessage `json:"job,omitempty"`
	// RawJob holds the received bytes (at most 4 KiB) when they were not JSON.
	RawJob     string `json:"raw_job,omitempty"`
	JobID      string `json:"job_id,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Target     string `json:"target,omitempty"`
	// Connection is the account the job was for, once known; "" is the default one.
	Connection string `json:"connection,omitempty"`
	SourceKey  string `json:"source_key,omitempty"`
	ProfileKey string `json:"profile_key,omitempty"`
	BatchID    string `json:"batch_id,omitempty"`
	// Reason is the failed step (bad_job, read_failure, format_failure, logics_failure,
	// write_failure, deliveries_exhausted, panic).
	Reason string `json:"reason"`
	// Class is why it was not retried: permanent or exhausted.
	Class string `json:"class"`
	// Error is the last error; Errors the errors of the last delivery's attempts, oldest first.
	Error  string   `json:"error"`
	Errors []string `json:"errors,omitempty"`
	// Attempts is the number of deliveries of the job.
	Attempts       int       `json:"attempts"`
	EnqueuedAt     time.Time `json:"enqueued_at,omitzero"`
	FirstAttemptAt time.Time `json:"first_attempt_at,omitzero"`
	LastAttemptAt  time.Time `json:"last_attempt_at"`
	Subject        string    `json:"subject"`
	StreamSeq      uint64    `json:"stream_seq"`
	Worker         string    `json:"worker,omitempty"`
}

const maxRawJob = 4 << 10

// deadLetter publishes the entry to hrpush.dlq.<target> and waits for the stream to store it.
// The message id is the original's stream sequence, so a worker that dies between this publish
// and terminating the original does not store the entry twice when the job is redelivered
// within the DLQ's duplicates window.
func deadLetter(ctx context.Context, js jetstream.JetStream, d *DeadLetter) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	target := d.Target
	if !namePattern.MatchString(target) {
		target = "unknown"
	}
	_, err = js.Publish(ctx, DLQSubjectPrefix+target, data,
		jetstream.WithMsgID("dlq-"+strconv.FormatUint(d.StreamSeq, 10)),
		jetstream.WithExpectStream(DLQStream))
	if err != nil {
		return fmt.Errorf("jobs: dead-letter job %s: %w", d.JobID, err)
	}
	return nil
}
