package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// pushed is what the state bucket remembers of a profile an incremental workflow pushed.
type pushed struct {
	// UpdatedAt is the profile's updated_at when it was pushed.
	UpdatedAt time.Time `json:"updated_at"`
	JobID     string    `json:"job_id"`
	PushedAt  time.Time `json:"pushed_at"`
}

// stateKey is "<workflow>.<the first 32 hex digits of sha256(source key NUL profile key)>".
func stateKey(workflowID, sourceKey, profileKey string) string {
	sum := sha256.Sum256([]byte(sourceKey + "\x00" + profileKey))
	return workflowID + "." + hex.EncodeToString(sum[:16])
}

// unchanged reports whether the workflow already pushed this version of the profile. A
// profile without updated_at is never unchanged.
func (p *Pipeline) unchanged(ctx context.Context, wf *Workflow, job *jobs.Job, profile *hrflow.Profile) (bool, error) {
	if profile.UpdatedAt.IsZero() {
		return false, nil
	}
	entry, err := p.state.Get(ctx, stateKey(wf.ID, job.SourceKey, job.ProfileKey))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("workflow: read the state of the profile: %w", err)
	}
	var last pushed
	if err := json.Unmarshal(entry.Value(), &last); err != nil {
		p.log.Warn("unreadable workflow state; pushing the profile", "key", entry.Key(), "error", err)
		return false, nil
	}
	return !profile.UpdatedAt.After(last.UpdatedAt), nil
}

// remember records a successful push. A failure only means the next incremental run pushes
// the profile again, so it does not fail the job.
func (p *Pipeline) remember(ctx context.Context, wf *Workflow, job *jobs.Job, profile *hrflow.Profile) {
	if profile.UpdatedAt.IsZero() {
		return
	}
	data, err := json.Marshal(pushed{UpdatedAt: profile.UpdatedAt.UTC(), JobID: job.ID, PushedAt: time.Now().UTC()})
	if err == nil {
		_, err = p.state.Put(ctx, stateKey(wf.ID, job.SourceKey, job.ProfileKey), data)
	}
	if err != nil {
		p.log.Warn("could not record the push for incremental runs; the next run pushes the profile again",
			"job_id", job.ID, "workflow_id", wf.ID, "error", err)
	}
}
