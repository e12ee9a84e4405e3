// Package workflow runs hrpush's push-profile workflow for one job: read the profile from
// HrFlow, format it for the target, apply the logics, write it to the target.
//
// The steps and their run events follow the seed connectors: a read that fails is
// read_failure, a format that fails is format_failure, a logic that fails is logics_failure
// (one that drops the item is logics_discard), a write that fails is write_failure, and a
// write that succeeds is written.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

// Run events, as the seed connectors name them.
const (
	EventReadFailure   = "read_failure"
	EventFormatFailure = "format_failure"
	EventLogicsFailure = "logics_failure"
	EventLogicsDiscard = "logics_discard"
	EventWriteFailure  = "write_failure"
	EventWritten       = "written"
)

// Format turns an HrFlow profile into a target payload (a JSON object).
type Format func(p *hrflow.Profile) (map[string]any, error)

// Profiles reads profiles from HrFlow; *hrflow.ProfilesService implements it.
type Profiles interface {
	Get(ctx context.Context, sourceKey, key string) (*hrflow.Profile, *hrflow.Response, error)
}

// Downloader fetches an attachment's public URL; *hrflow.Client implements it.
type Downloader interface {
	Download(ctx context.Context, url string) (io.ReadCloser, string, error)
}

// Destination is a target with the built-in format that goes with it and its options.
type Destination struct {
	Target targets.Target
	// Format is the target's built-in format.
	Format Format
	// AllowDuplicates asks the target to create a candidate even when the ATS reports one with
	// the same email.
	AllowDuplicates bool
}

// Pipeline is the [jobs.Handler] that pushes one profile.
type Pipeline struct {
	profiles     Profiles
	downloader   Downloader
	destinations map[string]Destination
}

// NewPipeline returns a pipeline writing to the given destinations, by target name.
func NewPipeline(profiles Profiles, downloader Downloader, destinations map[string]Destination) (*Pipeline, error) {
	if profiles == nil || downloader == nil {
		return nil, errors.New("workflow: profiles and downloader are required")
	}
	for name, d := range destinations {
		if d.Target == nil || d.Format == nil {
			return nil, fmt.Errorf("workflow: destination %s needs a target and a format", name)
		}
	}
	return &Pipeline{profiles: profiles, downloader: downloader, destinations: destinations}, nil
}

var _ jobs.Handler = (*Pipeline)(nil)

// Handle runs the workflow for one job.
func (p *Pipeline) Handle(ctx context.Context, job *jobs.Job) (jobs.Result, error) {
	dest, ok := p.destinations[job.Target]
	if !ok {
		return jobs.Result{}, jobs.WithReason(jobs.ReasonBadJob, jobs.Permanent(fmt.Errorf("workflow: no %s target is configured on this worker", job.Target)))
	}
	profile, _, err := p.profiles.Get(ctx, job.SourceKey, job.ProfileKey)
	if err != nil {
		return jobs.Result{}, jobs.WithReason(EventReadFailure, err)
	}
	payload, err := safeFormat(dest.Format, profile)
	if err != nil {
		return jobs.Result{}, jobs.WithReason(EventFormatFailure, jobs.Permanent(err))
	}
	item := &targets.Item{
		JobID:           job.ID,
		SourceKey:       job.SourceKey,
		ProfileKey:      job.ProfileKey,
		Payload:         payload,
		Resume:          p.resume(profile),
		AllowDuplicates: dest.AllowDuplicates,
	}
	res, err := dest.Target.Push(ctx, item)
	if err != nil {
		return jobs.Result{}, jobs.WithReason(EventWriteFailure, err)
	}
	outcome := jobs.Created
	if res.Action == targets.Updated {
		outcome = jobs.Updated
	}
	return jobs.Result{Outcome: outcome, Event: EventWritten, ATSID: res.ID}, nil
}

// safeFormat runs a format, turning a panic into an error.
func safeFormat(f Format, p *hrflow.Profile) (payload map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("workflow: format panicked: %v", r)
		}
	}()
	payload, err = f(p)
	if err == nil && payload == nil {
		err = errors.New("workflow: format returned no payload")
	}
	return payload, err
}

// resume describes the profile's resume for the target; it is downloaded only if the target
// uploads it.
func (p *Pipeline) resume(profile *hrflow.Profile) *targets.Document {
	a := profile.Resume()
	if a == nil {
		return nil
	}
	ext := a.Extension
	if ext != "" && !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	name := a.FileName
	if name == "" {
		name = "resume"
	}
	if !strings.HasSuffix(strings.ToLower(name), strings.ToLower(ext)) {
		name += ext
	}
	contentType := mime.TypeByExtension(ext)
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	url := a.PublicURL
	return &targets.Document{
		Name:        name,
		ContentType: contentType,
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			body, _, err := p.downloader.Download(ctx, url)
			if err != nil {
				return nil, fmt.Errorf("workflow: download resume (%s, %s bytes): %w", name, strconv.FormatInt(a.FileSize, 10), err)
			}
			return body, nil
		},
	}
}
