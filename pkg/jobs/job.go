package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Version is the job contract version this package reads and writes.
const Version = 1

// Targets are the ATS names a job can name; each has its own subject and consumer.
var Targets = []string{"jobadder", "bullhorn"} //nolint:gochecknoglobals // read-only list of the contract

// Job is a push-profile job, the v1 contract (schema: job.v1.schema.json). It carries references
// only: never a secret and never the profile itself.
type Job struct {
	Version    int    `json:"version"`
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	Target     string `json:"target"`
	SourceKey  string `json:"source_key"`
	ProfileKey string `json:"profile_key"`
	BatchID    string `json:"batch_id,omitempty"`
	// Connection names the ATS account to write to, for producers that route per tenant;
	// empty: the workflow's connection, else "default". Optional, so the version stays 1.
	Connection string    `json:"connection,omitempty"`
	DedupKey   string    `json:"dedup_key,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// ErrBadJob is returned by [Decode] and [Job.Validate] for a document that is not a valid v1 job.
// The worker dead-letters such jobs with reason [ReasonBadJob].
var ErrBadJob = errors.New("jobs: bad job")

// namePattern is what workflow and batch ids may contain: they become NATS subject tokens.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ConnectionPattern is what a connection name may contain: it becomes a KV key token and a
// metrics label.
var ConnectionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate checks the job against the v1 contract. Errors wrap [ErrBadJob] and name the field.
func (j *Job) Validate() error {
	var problems []string
	if j.Version != Version {
		problems = append(problems, fmt.Sprintf("version %d is not supported (want %d)", j.Version, Version))
	}
	required := []struct{ name, value string }{
		{"id", j.ID}, {"workflow_id", j.WorkflowID}, {"target", j.Target},
		{"source_key", j.SourceKey}, {"profile_key", j.ProfileKey},
	}
	for _, f := range required {
		if strings.TrimSpace(f.value) == "" {
			problems = append(problems, f.name+" is missing")
		}
	}
	if j.WorkflowID != "" && !namePattern.MatchString(j.WorkflowID) {
		problems = append(problems, "workflow_id must match "+namePattern.String())
	}
	if j.BatchID != "" && !namePattern.MatchString(j.BatchID) {
		problems = append(problems, "batch_id must match "+namePattern.String())
	}
	if j.Connection != "" && !ConnectionPattern.MatchString(j.Connection) {
		problems = append(problems, "connection must match "+ConnectionPattern.String())
	}
	if j.Target != "" && !slices.Contains(Targets, j.Target) {
		problems = append(problems, fmt.Sprintf("target %q is unknown (want one of %s)", j.Target, strings.Join(Targets, ", ")))
	}
	for _, f := range []struct{ name, value string }{{"id", j.ID}, {"source_key", j.SourceKey}, {"profile_key", j.ProfileKey}, {"dedup_key", j.DedupKey}} {
		if len(f.value) > 256 {
			problems = append(problems, f.name+" is longer than 256 characters")
		}
	}
	if j.DedupKey != "" && (strings.TrimSpace(j.DedupKey) != j.DedupKey || strings.ContainsFunc(j.DedupKey, unicode.IsControl)) {
		// NATS trims header values and folds line breaks: such a key would not reach the
		// stream as written, and deduplication would silently go wrong.
		problems = append(problems, "dedup_key must not start or end with white space nor hold control characters")
	}
	if j.EnqueuedAt.IsZero() {
		problems = append(problems, "enqueued_at is missing")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBadJob, strings.Join(problems, "; "))
	}
	return nil
}

// Decode parses and validates a job. Unknown fields are allowed (forward compatibility within v1).
func Decode(data []byte) (*Job, error) {
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: not a JSON job document: %w", ErrBadJob, err)
	}
	if err := j.Validate(); err != nil {
		return &j, err
	}
	return &j, nil
}

// Subject is the subject the job is published on: hrpush.push.<target>, or
// hrpush.push.<target>.<connection> for a job that names its connection, so that each
// connection has its own consumer and share of the workers.
func (j *Job) Subject() string {
	if j.Connection != "" {
		return SubjectPrefix + j.Target + "." + j.Connection
	}
	return SubjectPrefix + j.Target
}

// MsgID is the Nats-Msg-Id the job is published with: its dedup_key, or a key derived from the
// workflow, target, connection (when the job names one), source and profile, so that a profile
// enqueued twice within the stream's duplicates window is pushed once, and once per connection.
func (j *Job) MsgID() string {
	if j.DedupKey != "" {
		return j.DedupKey
	}
	parts := []string{j.WorkflowID, j.Target, j.SourceKey, j.ProfileKey}
	if j.Connection != "" {
		parts = append(parts, j.Connection) // jobs without one keep the ids they always had
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "push-" + hex.EncodeToString(sum[:16])
}
