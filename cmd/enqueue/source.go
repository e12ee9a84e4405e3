package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
)

func runSource(ctx context.Context, a *app, args []string) int {
	var f jobFlags
	var inc incremental
	var wait, asJSON, showWatermark, resetWatermark bool
	var apiURL, createdAfter, createdBefore, readMode string
	var limit int
	fs := a.flags("source", "--workflow-id W --target T --source-key S [--created-after D | --incremental [--every 5m]] [--wait]")
	f.register(fs)
	fs.StringVar(&apiURL, "hrflow-api-url", cmpEnv("HRFLOW_API_URL", hrflow.DefaultBaseURL), "HrFlow API base URL (env HRFLOW_API_URL); the key and the user come from HRFLOW_API_SECRET (or HRFLOW_API_SECRET_FILE) and HRFLOW_API_USER")
	fs.StringVar(&createdAfter, "created-after", "", "only profiles created on or after this date (YYYY-MM-DD)")
	fs.StringVar(&createdBefore, "created-before", "", "only profiles created on or before this date (YYYY-MM-DD)")
	fs.IntVar(&limit, "limit", 0, "enqueue at most this many profiles (0: all)")
	fs.BoolVar(&wait, "wait", false, "follow the batch to its end with a progress display, print the report, exit 1 if any job failed")
	fs.BoolVar(&asJSON, "json", false, "print the summary (and with --wait the report) as JSON")
	fs.BoolVar(&inc.on, "incremental", false, "enqueue only the profiles updated since this workflow's last incremental run of the source (its watermark, kept in NATS), then move the watermark")
	fs.StringVar(&readMode, "read-mode", "", "full or incremental: the workflow's read_mode; incremental is --incremental")
	fs.DurationVar(&inc.every, "every", 0, "with --incremental: run again every this long (e.g. 5m) until SIGTERM or SIGINT")
	fs.DurationVar(&inc.overlap, "overlap", time.Minute, "with --incremental: how far before the newest updated_at enqueued the watermark is set, so that profiles updated during the listing are listed again")
	fs.BoolVar(&showWatermark, "show-watermark", false, "print the watermark of the workflow, target and source, and exit")
	fs.BoolVar(&resetWatermark, "reset-watermark", false, "remove the watermark of the workflow, target and source (the next incremental run lists the whole source), and exit")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := f.check(); err != nil {
		fs.Usage()
		return a.fail("%v", err)
	}
	// The flags make every job: check them before listing anything (a bad workflow id).
	if err := f.job("profile", time.Now()).Validate(); err != nil {
		return a.fail("%v", err)
	}
	switch readMode {
	case "", "full":
	case "incremental":
		inc.on = true
	default:
		return a.fail("--read-mode %q: want full or incremental", readMode)
	}
	if err := inc.check(f, wait, limit, createdAfter, createdBefore); err != nil {
		return a.fail("%v", err)
	}
	if showWatermark || resetWatermark {
		return manageWatermark(ctx, a, f, resetWatermark)
	}
	opts := &hrflow.ListOptions{SourceKeys: []string{f.sourceKey}, Limit: pageSize, OrderBy: hrflow.OrderAsc, SortBy: hrflow.SortByCreatedAt}
	for _, d := range []struct {
		flag, value string
		dst         *time.Time
	}{{"--created-after", createdAfter, &opts.CreatedAtMin}, {"--created-before", createdBefore, &opts.CreatedAtMax}} {
		if d.value == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			return a.fail("%s %q: want a date like 2026-11-23", d.flag, d.value)
		}
		*d.dst = t
	}
	key, err := envSecret("HRFLOW_API_SECRET")
	if err != nil {
		return a.fail("%v", err)
	}
	client, err := hrflow.New(hrflow.WithBaseURL(apiURL), hrflow.WithAPISecret(key), hrflow.WithUserEmail(os.Getenv("HRFLOW_API_USER")))
	if err != nil {
		return a.fail("%v (set HRFLOW_API_SECRET and HRFLOW_API_USER)", err)
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	if inc.on {
		return inc.run(ctx, a, f, client, asJSON)
	}

	now := time.Now()
	if f.batchID == "" {
		f.batchID = newID(now)
	}
	n := 0
	s, err := enqueueProfiles(ctx, a, f, now, client.Profiles.All(ctx, opts), func(*hrflow.Profile) bool {
		n++
		return limit == 0 || n <= limit
	}, false)
	if err != nil {
		return a.fail("%v", err)
	}
	if s.stored+s.dups+len(s.failures) == 0 {
		return a.fail("source %s has no profiles matching the filters", f.sourceKey)
	}
	batch := &jobs.Batch{ID: f.batchID, WorkflowID: f.workflowID, Target: f.target, Total: s.stored, Duplicates: s.dups, CreatedAt: now.UTC()}
	if err := jobs.PublishBatch(ctx, a.js, batch); err != nil {
		return a.fail("%v", err)
	}
	return report(ctx, a, batch, 0, s.failures, wait, asJSON)
}

// pageSize is how many profiles a list request asks for, and so how many jobs at most are in
// memory at once: pages are enqueued as they are listed.
const pageSize = 100

// streamed says what enqueueProfiles did.
type streamed struct {
	stored, dups int
	failures     []string
	// newest is the largest updated_at among the profiles enqueued.
	newest time.Time
}

// enqueueProfiles publishes one job per profile, a page at a time as profiles are listed, until
// the list ends or more returns false for a profile (which is not enqueued). With versioned,
// a job's message id includes the profile's updated_at: the same version enqueued twice is
// stored once, a newer version is stored again. It prints a progress line every 2 seconds. It
// returns an error when listing fails or publishing is interrupted, with what was done so far.
func enqueueProfiles(ctx context.Context, a *app, f jobFlags, now time.Time, profiles iter.Seq2[*hrflow.Profile, error],
	more func(*hrflow.Profile) bool, versioned bool,
) (streamed, error) {
	var s streamed
	pub := jobs.NewPublisher(a.js)
	page := make([]*jobs.Job, 0, pageSize)
	var full error // the jobs stream is full: listing stops, said once
	flush := func() error {
		err := pub.PublishAll(ctx, page, func(r jobs.PublishResult) {
			switch {
			case errors.Is(r.Err, jobs.ErrStreamFull):
				full = r.Err
				s.failures = append(s.failures, r.Job.ProfileKey+": the jobs stream is full")
			case r.Err != nil:
				s.failures = append(s.failures, fmt.Sprintf("%s: %v", r.Job.ProfileKey, r.Err))
			case r.Duplicate:
				s.dups++
			default:
				s.stored++
			}
		})
		page = page[:0]
		if err != nil {
			return fmt.Errorf("publishing interrupted after %d jobs: %w", s.stored, err)
		}
		if full != nil {
			return fmt.Errorf("%d jobs enqueued, then: %w", s.stored, full)
		}
		return nil
	}
	listed, last := 0, time.Now()
	for p, err := range profiles {
		if err != nil {
			return s, fmt.Errorf("listing source %s: %w", f.sourceKey, err)
		}
		if !more(p) {
			break
		}
		j := f.job(p.Key, now)
		if versioned && !f.force {
			j.DedupKey = fmt.Sprintf("%s-%d", j.MsgID(), p.UpdatedAt.Unix())
		}
		page = append(page, j)
		if p.UpdatedAt.After(s.newest) {
			s.newest = p.UpdatedAt.Time
		}
		listed++
		if len(page) == pageSize {
			if err := flush(); err != nil {
				return s, err
			}
		}
		if time.Since(last) > 2*time.Second {
			fmt.Fprintf(a.stderr, "listed and enqueued %d profiles of source %s...\n", listed, f.sourceKey)
			last = time.Now()
		}
	}
	return s, flush()
}

// cmpEnv returns the environment variable name, or def when it is unset or empty.
func cmpEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envSecret reads a secret from NAME, or from the file named by NAME_FILE.
func envSecret(name string) (secret.Value, error) {
	if v := os.Getenv(name); v != "" {
		return secret.Value(v), nil
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return secret.Value(strings.TrimSpace(string(b))), nil
}
