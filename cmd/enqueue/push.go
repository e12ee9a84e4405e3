package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// jobFlags are the flags that describe the jobs to enqueue.
type jobFlags struct {
	workflowID, target, sourceKey, batchID, dedupKey, connection string
	force                                                        bool
}

func (f *jobFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}) {
	fs.StringVar(&f.workflowID, "workflow-id", "", "workflow id: selects format, logics and options; names the run (required)")
	fs.StringVar(&f.target, "target", "", "ATS: jobadder or bullhorn (required)")
	fs.StringVar(&f.sourceKey, "source-key", "", "HrFlow source key (required)")
	fs.StringVar(&f.batchID, "batch-id", "", "batch id (default: generated)")
	fs.StringVar(&f.connection, "connection", "", "the ATS account to write to (see enqueue connections; default: the workflow's, else default)")
	fs.BoolVar(&f.force, "force", false, "enqueue even if the same profile was enqueued for this workflow in the last 20 minutes (by default such a job is dropped as a duplicate)")
}

func (f *jobFlags) check() error {
	switch {
	case f.workflowID == "":
		return fmt.Errorf("--workflow-id is required")
	case f.target == "":
		return fmt.Errorf("--target is required (jobadder or bullhorn)")
	case f.sourceKey == "":
		return fmt.Errorf("--source-key is required")
	}
	return nil
}

func (f *jobFlags) spec() batch.Spec {
	return batch.Spec{
		ID: f.batchID, WorkflowID: f.workflowID, Target: f.target, SourceKey: f.sourceKey,
		Connection: f.connection, DedupKey: f.dedupKey, Force: f.force,
	}
}

func (f *jobFlags) job(profileKey string, now time.Time) *jobs.Job {
	return f.spec().Job(profileKey, now)
}

func runPush(ctx context.Context, a *app, args []string) int {
	var f jobFlags
	var profileKey string
	var asJSON bool
	fs := a.flags("push", "--workflow-id W --target T --source-key S --profile-key P")
	f.register(fs)
	fs.StringVar(&profileKey, "profile-key", "", "HrFlow profile key (required)")
	fs.StringVar(&f.dedupKey, "dedup-key", "", "Nats-Msg-Id of the job (default: derived from workflow, target, source and profile)")
	fs.BoolVar(&asJSON, "json", false, "print the enqueued job as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := f.check(); err != nil {
		fs.Usage()
		return a.fail("%v", err)
	}
	if profileKey == "" {
		fs.Usage()
		return a.fail("--profile-key is required")
	}
	job := f.job(profileKey, time.Now())
	if err := job.Validate(); err != nil {
		return a.fail("%v", err)
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	res, err := jobs.NewPublisher(a.js).Publish(ctx, job)
	if err != nil {
		return a.fail("%v", err)
	}
	if asJSON {
		out, _ := json.Marshal(struct {
			*jobs.Job
			Duplicate bool `json:"duplicate"`
		}{job, res.Duplicate})
		fmt.Fprintln(a.stdout, string(out))
		return exitOK
	}
	if res.Duplicate {
		fmt.Fprintf(a.stdout, "already enqueued: profile %s for workflow %s was enqueued in the last 20 minutes; this job was dropped (use --force to push it again)\n", profileKey, f.workflowID)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "enqueued job %s: profile %s → %s (workflow %s)\n", job.ID, profileKey, f.target, f.workflowID)
	return exitOK
}
