package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/jobs"
)

func runStatus(ctx context.Context, a *app, args []string) int {
	var id string
	var wait, asJSON bool
	fs := a.flags("status", "--batch ID [--wait] [--json]")
	fs.StringVar(&id, "batch", "", "batch id printed by 'enqueue bulk' (required)")
	fs.BoolVar(&wait, "wait", false, "follow the batch to its end with a progress display")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if id == "" {
		fs.Usage()
		return a.fail("--batch is required")
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	if wait {
		return follow(ctx, a, id, asJSON)
	}
	r, err := jobs.FollowBatch(ctx, a.js, id, false, func(*jobs.Report) bool { return true })
	if errors.Is(err, jobs.ErrBatchNotFound) {
		return a.fail("batch %s not found (was it enqueued with 'enqueue bulk' on this NATS server, and less than 14 days ago?)", id)
	}
	if err != nil {
		return a.fail("%v", err)
	}
	printReport(a.stdout, r, 0, asJSON)
	return reportExit(r)
}

// follow shows progress until the batch is done, then prints the report.
func follow(ctx context.Context, a *app, id string, asJSON bool) int {
	start := time.Now()
	p := newProgress(a.stderr)
	r, err := jobs.FollowBatch(ctx, a.js, id, true, func(r *jobs.Report) bool {
		p.update(r)
		return r.Done() < r.Batch.Total
	})
	p.finish()
	if err != nil {
		if r != nil && ctx.Err() != nil {
			fmt.Fprintf(a.stderr, "enqueue: interrupted; the batch goes on (enqueue status --batch %s)\n", id)
			printReport(a.stdout, r, time.Since(start), asJSON)
			return exitFailed
		}
		return a.fail("%v", err)
	}
	printReport(a.stdout, r, time.Since(start), asJSON)
	return reportExit(r)
}

func reportExit(r *jobs.Report) int {
	if r.Failed > 0 {
		return exitFailed
	}
	return exitOK
}

// progress draws a progress line: redrawn in place on a terminal, a line every few seconds
// otherwise (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, start: time.Now()}
}

func (p *progress) update(r *jobs.Report) {
	now := time.Now()
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	done, total := r.Done(), r.Batch.Total
	if done < total && now.Sub(p.last) < every {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 0.001)
	eta := "?"
	if rate > 0 && done < total {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	} else if done >= total {
		eta = "0s"
	}
	line := fmt.Sprintf("%s %d/%d %3.0f%%  %.1f/s  ETA %s  written %d  discarded %d  failed %d",
		bar(done, total, 24), done, total, percent(done, total), rate, eta, r.Created+r.Updated, r.Discarded, r.Failed)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.drawn = true
}

func (p *progress) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func percent(done, total int) float64 {
	if total == 0 {
		return 100
	}
	return 100 * float64(done) / float64(total)
}

func bar(done, total, width int) string {
	filled := width
	if total > 0 {
		filled = min(width, width*done/total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// printReport writes the batch report, in the seed connectors' terms.
func printReport(w io.Writer, r *jobs.Report, took time.Duration, asJSON bool) {
	if asJSON {
		writeJSON(w, batch.NewSummary(r, took))
		return
	}
	b := r.Batch
	fmt.Fprintf(w, "batch %s  workflow %s  target %s\n", b.ID, b.WorkflowID, b.Target)
	fmt.Fprintf(w, "  status     %s\n", r.Status())
	if b.State == jobs.BatchEnqueuing || b.State == jobs.BatchInterrupted {
		// A batch the gateway enqueues in the background.
		fmt.Fprintf(w, "  enqueue    %s: %d of %d so far (updated %s)", b.State, b.Total, b.Expected, b.UpdatedAt.Format(time.RFC3339))
		if b.Error != "" {
			fmt.Fprintf(w, ": %s", b.Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  jobs       %d done of %d", r.Done(), b.Total)
	if b.Duplicates > 0 {
		fmt.Fprintf(w, " (%d more dropped as duplicates at enqueue)", b.Duplicates)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  written    %d (created %d, updated %d)\n", r.Created+r.Updated, r.Created, r.Updated)
	fmt.Fprintf(w, "  discarded  %d\n", r.Discarded)
	fmt.Fprintf(w, "  failed     %d\n", r.Failed)
	if len(r.Events) > 0 {
		names := make([]string, 0, len(r.Events))
		for k := range r.Events {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = fmt.Sprintf("%s=%d", k, r.Events[k])
		}
		fmt.Fprintf(w, "  events     %s\n", strings.Join(parts, " "))
	}
	if took > 0 {
		fmt.Fprintf(w, "  took       %s\n", took.Round(10*time.Millisecond))
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "failures (details: the DLQ stream PUSH_PROFILES_DLQ):")
		for i, f := range r.Failures {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more\n", len(r.Failures)-20)
				break
			}
			fmt.Fprintf(w, "  profile %s  job %s  %s: %s\n", f.ProfileKey, f.JobID, f.Event, f.Error)
		}
	}
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
