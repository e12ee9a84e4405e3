package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

// Run events, as the seed connectors name them, plus two hrpush additions: skipped_unchanged
// (an incremental workflow found the profile unchanged since its last push) and
// download_refused (the resume link points where downloads may not go, see
// transport.Guard: the job fails for good).
const (
	EventReadFailure      = "read_failure"
	EventFormatFailure    = "format_failure"
	EventLogicsFailure    = "logics_failure"
	EventLogicsDiscard    = "logics_discard"
	EventWriteFailure     = "write_failure"
	EventWritten          = "written"
	EventSkippedUnchanged = "skipped_unchanged"
	EventDownloadRefused  = "download_refused"
)

// Profiles reads profiles from HrFlow; *hrflow.ProfilesService implements it.
type Profiles interface {
	Get(ctx context.Context, sourceKey, key string) (*hrflow.Profile, *hrflow.Response, error)
}

// Downloader fetches an attachment's public URL; *hrflow.Client implements it.
type Downloader interface {
	Download(ctx context.Context, url string) (io.ReadCloser, string, error)
}

// Destination is a target (one connection's) with the built-in format that goes with it.
type Destination struct {
	Target targets.Target
	// Format is the target's built-in format, used when the pipeline has no workflows file.
	Format Format
	// Profiles and Downloader, when set, read the connection's profiles from its own HrFlow
	// account instead of the pipeline's.
	Profiles   Profiles
	Downloader Downloader
}

// ErrUnknownConnection is wrapped by the errors of a [Connections] that knows no connection of
// that name for the target: the job is a bad_job.
var ErrUnknownConnection = errors.New("workflow: unknown connection")

// Connections resolves the connections (ATS accounts) jobs and workflows name, other than the
// default one, to their destination. Errors wrapping [ErrUnknownConnection] make the job a
// bad_job; a *targets.CredentialsError pauses the connection's jobs; others are transient.
type Connections interface {
	Destination(ctx context.Context, target, connection string) (Destination, error)
}

// PipelineConfig configures a [Pipeline]. Profiles, Downloader and Destinations are required.
type PipelineConfig struct {
	Profiles   Profiles
	Downloader Downloader
	// Destinations by target name ("jobadder", "bullhorn"): each target's default connection.
	// A job for a target that is not here is a bad_job.
	Destinations map[string]Destination
	// Connections resolves the other connections. Nil: a job or workflow naming one is a
	// bad_job.
	Connections Connections
	// Workflows are the workflows of the workflows file ([Load]). A job naming a workflow the
	// file does not declare, or naming another target than its workflow's, is a bad_job.
	// Nil accepts every workflow id, with the target's built-in format, no logics and read
	// mode sync: the workflow id then only names the run.
	Workflows *Set
	// State remembers, per workflow and profile, the updated_at of the last successful push
	// (bucket [jobs.StateBucket]). Required when a workflow reads incrementally.
	State jetstream.KeyValue
	// Logger receives what does not fail a job (state not recorded). Default: discard.
	Logger *slog.Logger
}

// Pipeline is the [jobs.Handler] that pushes one profile.
type Pipeline struct {
	profiles     Profiles
	downloader   Downloader
	destinations map[string]Destination
	connections  Connections
	workflows    *Set
	builtin      map[string]*Workflow // by target, when workflows is nil
	state        jetstream.KeyValue
	log          *slog.Logger
}

// NewPipeline checks cfg and returns a pipeline.
func NewPipeline(cfg PipelineConfig) (*Pipeline, error) {
	if cfg.Profiles == nil || cfg.Downloader == nil {
		return nil, errors.New("workflow: profiles and downloader are required")
	}
	if len(cfg.Destinations) == 0 {
		return nil, errors.New("workflow: at least one destination is required")
	}
	p := &Pipeline{
		profiles:     cfg.Profiles,
		downloader:   cfg.Downloader,
		destinations: cfg.Destinations,
		connections:  cfg.Connections,
		workflows:    cfg.Workflows,
		builtin:      map[string]*Workflow{},
		state:        cfg.State,
		log:          cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
	}
	for name, d := range cfg.Destinations {
		if d.Target == nil || d.Format == nil {
			return nil, fmt.Errorf("workflow: destination %s needs a target and a format", name)
		}
		p.builtin[name] = &Workflow{
			Target: name, ReadMode: ReadSync, Timeout: DefaultTimeout,
			format: step{field: "format", event: EventFormatFailure, source: "builtin " + name, format: d.Format},
		}
	}
	if cfg.Workflows != nil && cfg.Workflows.incremental() && cfg.State == nil {
		return nil, fmt.Errorf("workflow: %s declares an incremental workflow but no state bucket is given", cfg.Workflows.File())
	}
	return p, nil
}

var _ jobs.Handler = (*Pipeline)(nil)

// Handle runs the workflow for one job: read the profile, skip it if an incremental workflow
// already pushed it unchanged, format it, apply the logics, write the item.
func (p *Pipeline) Handle(ctx context.Context, job *jobs.Job) (jobs.Result, error) {
	dest, ok := p.destinations[job.Target]
	if !ok {
		return jobs.Result{}, badJob(fmt.Errorf("workflow: no %s target is configured on this worker", job.Target))
	}
	wf, err := p.workflow(job)
	if err != nil {
		return jobs.Result{}, badJob(err)
	}
	if conn := connection(job, wf); conn != "" {
		if p.connections == nil {
			return jobs.Result{}, badJob(fmt.Errorf("%w: %s connection %q: this worker knows only the default connection", ErrUnknownConnection, job.Target, conn))
		}
		if dest, err = p.connections.Destination(ctx, job.Target, conn); errors.Is(err, ErrUnknownConnection) {
			return jobs.Result{}, badJob(err)
		} else if err != nil {
			return jobs.Result{}, err
		}
	}
	profiles, downloader := p.profiles, p.downloader
	if dest.Profiles != nil && dest.Downloader != nil {
		profiles, downloader = dest.Profiles, dest.Downloader
	}
	profile, _, err := profiles.Get(ctx, job.SourceKey, job.ProfileKey)
	if err != nil {
		return jobs.Result{}, jobs.WithReason(EventReadFailure, err)
	}
	if wf.ReadMode == ReadIncremental {
		unchanged, err := p.unchanged(ctx, wf, job, profile)
		if err != nil {
			return jobs.Result{}, jobs.WithReason(EventReadFailure, err)
		}
		if unchanged {
			return jobs.Result{Outcome: jobs.Discarded, Event: EventSkippedUnchanged}, nil
		}
	}
	payload, err := wf.Run(ctx, profile)
	if err != nil {
		var se *StepError
		if errors.As(err, &se) {
			return jobs.Result{}, jobs.WithReason(se.Event, jobs.Permanent(err))
		}
		return jobs.Result{}, err // the job's context ended: put back, not failed
	}
	if payload == nil {
		return jobs.Result{Outcome: jobs.Discarded, Event: EventLogicsDiscard}, nil
	}
	item := &targets.Item{
		JobID:      job.ID,
		SourceKey:  job.SourceKey,
		ProfileKey: job.ProfileKey,
		Payload:    payload,
		Resume:     resume(profile, downloader),
		Options:    wf.options,
	}
	res, err := dest.Target.Push(ctx, item)
	if _, refused := errors.AsType[*transport.RefusedError](err); refused {
		return jobs.Result{}, jobs.WithReason(EventDownloadRefused, jobs.Permanent(err))
	}
	if err != nil {
		return jobs.Result{}, jobs.WithReason(EventWriteFailure, err)
	}
	if wf.ReadMode == ReadIncremental {
		p.remember(ctx, wf, job, profile)
	}
	outcome := jobs.Created
	if res.Action == targets.Updated {
		outcome = jobs.Updated
	}
	return jobs.Result{Outcome: outcome, Event: EventWritten, ATSID: res.ID}, nil
}

func badJob(err error) error { return jobs.WithReason(jobs.ReasonBadJob, jobs.Permanent(err)) }

// workflow returns the job's workflow: the declared one, or the target's built-in one when
// there is no workflows file.
func (p *Pipeline) workflow(job *jobs.Job) (*Workflow, error) {
	if p.workflows == nil {
		return p.builtin[job.Target], nil
	}
	wf, ok := p.workflows.Workflow(job.WorkflowID)
	if !ok {
		return nil, fmt.Errorf("workflow: workflow %q is not declared in %s", job.WorkflowID, p.workflows.File())
	}
	if wf.Target != job.Target {
		return nil, fmt.Errorf("workflow: workflow %q pushes to %s, not %s", wf.ID, wf.Target, job.Target)
	}
	return wf, nil
}

// Connection returns the connection a job writes to: the job's own, else its workflow's, else
// "" for the default connection. It is the worker's partition (jobs.Config.Partition), so that
// a connection's pauses hold back its jobs only.
func (p *Pipeline) Connection(job *jobs.Job) string {
	wf, err := p.workflow(job)
	if err != nil {
		return job.Connection
	}
	return connection(job, wf)
}

func connection(job *jobs.Job, wf *Workflow) string {
	c := job.Connection
	if c == "" && wf != nil {
		c = wf.Connection
	}
	if c == "default" {
		return ""
	}
	return c
}

// resume describes the profile's resume for the target; it is downloaded only if the target
// uploads it.
func resume(profile *hrflow.Profile, downloader Downloader) *targets.Document {
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
		ID:          a.Alt,
		Name:        name,
		ContentType: contentType,
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			body, _, err := downloader.Download(ctx, url)
			if err != nil {
				return nil, fmt.Errorf("workflow: download resume (%s, %s bytes): %w", name, strconv.FormatInt(a.FileSize, 10), err)
			}
			return body, nil
		},
	}
}
