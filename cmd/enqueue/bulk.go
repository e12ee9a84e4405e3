package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/jobs"
)

func runBulk(ctx context.Context, a *app, args []string) int {
	var f jobFlags
	var file string
	var wait, asJSON bool
	fs := a.flags("bulk", "--workflow-id W --target T --source-key S [--file F] [--wait]")
	f.register(fs)
	fs.StringVar(&file, "file", "-", "file of profile keys, one per line; blank lines and # comments are ignored; - reads stdin")
	fs.BoolVar(&wait, "wait", false, "follow the batch to its end with a progress display, print the report, exit 1 if any job failed")
	fs.BoolVar(&asJSON, "json", false, "print the summary (and with --wait the report) as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := f.check(); err != nil {
		fs.Usage()
		return a.fail("%v", err)
	}
	keys, repeated, err := readKeys(a.stdin, file)
	if err != nil {
		return a.fail("%v", err)
	}
	if len(keys) == 0 {
		return a.fail("no profile keys in %s", describeFile(file))
	}
	return enqueueBatch(ctx, a, f, keys, repeated, wait, asJSON)
}

// enqueueBatch publishes one job per key as one batch, records the batch header, prints the
// summary and, with wait, follows the batch to its end.
func enqueueBatch(ctx context.Context, a *app, f jobFlags, keys []string, repeated int, wait, asJSON bool) int {
	now := time.Now()
	if f.batchID == "" {
		f.batchID = batch.NewID(now)
	}
	for _, k := range keys {
		if err := f.job(k, now).Validate(); err != nil {
			return a.fail("profile %q: %v", k, err)
		}
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()

	c, err := batch.Enqueue(ctx, jobs.NewPublisher(a.js), f.spec(), now, batch.Keys(keys), batch.Options{PageSize: batch.KeysPageSize})
	if err != nil && !errors.Is(err, jobs.ErrStreamFull) {
		return a.fail("%v", err)
	}
	b := &jobs.Batch{ID: f.batchID, WorkflowID: f.workflowID, Target: f.target, Total: c.Stored, Duplicates: c.Duplicates, CreatedAt: now.UTC()}
	if perr := jobs.PublishBatch(ctx, a.js, b); perr != nil {
		return a.fail("%v", perr)
	}
	if err != nil {
		// The jobs stream is full: the header records what was stored, so that status can
		// follow it; the rest is said once.
		printSummary(a, b, repeated, c.Failures, asJSON)
		return a.fail("%d of %d jobs not enqueued: %v", len(keys)-c.Stored-c.Duplicates, len(keys), errors.Unwrap(err))
	}
	return report(ctx, a, b, repeated, c.Failures, wait, asJSON)
}

// report prints the summary of a published batch and, with wait, follows it to its end.
func report(ctx context.Context, a *app, batch *jobs.Batch, repeated int, failures []string, wait, asJSON bool) int {
	if !asJSON || !wait {
		printSummary(a, batch, repeated, failures, asJSON)
	}
	if len(failures) > 0 {
		for _, f := range failures[:min(len(failures), 10)] {
			fmt.Fprintln(a.stderr, "enqueue: not enqueued:", f)
		}
		if !wait {
			return exitUsage
		}
	}
	if !wait {
		return exitOK
	}
	return follow(ctx, a, batch.ID, asJSON)
}

func printSummary(a *app, b *jobs.Batch, repeated int, failures []string, asJSON bool) {
	if asJSON {
		writeJSON(a.stdout, map[string]any{
			"batch_id": b.ID, "enqueued": b.Total, "duplicates": b.Duplicates,
			"repeated_in_input": repeated, "errors": len(failures),
		})
		return
	}
	fmt.Fprintf(a.stdout, "batch %s: %d jobs enqueued for %s (workflow %s)", b.ID, b.Total, b.Target, b.WorkflowID)
	if b.Duplicates > 0 {
		fmt.Fprintf(a.stdout, ", %d dropped as already enqueued in the last 20 minutes (--force pushes them again)", b.Duplicates)
	}
	if repeated > 0 {
		fmt.Fprintf(a.stdout, ", %d repeated keys in the input ignored", repeated)
	}
	if len(failures) > 0 {
		fmt.Fprintf(a.stdout, ", %d NOT enqueued", len(failures))
	}
	fmt.Fprintln(a.stdout)
	fmt.Fprintf(a.stdout, "follow it with: enqueue status --batch %s --wait\n", b.ID)
}

// readKeys reads profile keys, one per line, skipping blank lines, # comments and repeats.
func readKeys(stdin io.Reader, file string) (keys []string, repeated int, err error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		r = f
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if seen[line] {
			repeated++
			continue
		}
		seen[line] = true
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", describeFile(file), err)
	}
	return keys, repeated, nil
}

func describeFile(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}
