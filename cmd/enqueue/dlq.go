package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/hrpush/hrpush/pkg/jobs"
)

const dlqUsage = `enqueue dlq shows, replays and purges dead-lettered jobs.

Usage:
  enqueue dlq list   [filters] [--limit N] [--json]    show the matching entries
  enqueue dlq replay [filters] [--limit N] [--rate R] [--dry-run]
                                                       enqueue their jobs again, then remove them
  enqueue dlq purge  [filters] --yes                   remove the matching entries

Jobs that cannot succeed are kept in the stream PUSH_PROFILES_DLQ (90 days by default). An entry
holds the job (references only: never a secret nor the profile), the last error and the attempts.

Filters (every subcommand; they combine):
  --target T        jobadder, bullhorn, or unknown (bad jobs that named no valid target)
  --reason R        bad_job, read_failure, format_failure, logics_failure, write_failure,
                    download_refused, deliveries_exhausted, panic; or a class: permanent,
                    exhausted
  --workflow-id W   the job's workflow
  --batch ID        the job's batch
  --since D         dead-lettered since D: RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23,
                    UTC) or a duration (2h: in the last 2 hours; 7d: in the last 7 days)
  --seq N           the entry's sequence (the SEQ column of list); repeat it or give a list: 3,5

Run 'enqueue dlq COMMAND --help' for a command's flags.
`

func runDLQ(ctx context.Context, a *app, args []string) int {
	commands := []command{
		{"list", "show dead-lettered jobs", runDLQList},
		{"replay", "enqueue dead-lettered jobs again", runDLQReplay},
		{"purge", "remove dead-lettered jobs", runDLQPurge},
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(a.stdout, dlqUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, a, args[1:])
		}
	}
	fmt.Fprintf(a.stderr, "enqueue dlq: unknown command %q\n\n%s", args[0], dlqUsage)
	return exitUsage
}

// dlqFlags are the filters every dlq subcommand takes.
type dlqFlags struct {
	target, reason, workflowID, batchID, since string
	seqs                                       seqList
}

// The reasons and classes workers write in DLQ entries; handlers may add reasons of their own.
const (
	dlqReasons = jobs.ReasonBadJob + ", read_failure, format_failure, logics_failure, write_failure, download_refused, " +
		jobs.ReasonExhausted + ", " + jobs.ReasonPanic
	dlqClasses = "permanent, exhausted"
)

func (f *dlqFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "only this target's entries: "+strings.Join(jobs.Targets, ", ")+", or unknown (bad jobs that named no valid target)")
	fs.StringVar(&f.reason, "reason", "", "only entries with this reason ("+dlqReasons+") or class ("+dlqClasses+")")
	fs.StringVar(&f.workflowID, "workflow-id", "", "only this workflow's jobs")
	fs.StringVar(&f.batchID, "batch", "", "only this batch's jobs")
	fs.StringVar(&f.since, "since", "", "only entries dead-lettered since then: RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23, UTC), or a duration (2h: in the last 2 hours; 7d: in the last 7 days)")
	fs.Var(&f.seqs, "seq", "only the entry with this DLQ sequence (the SEQ column of list); repeat it or give a comma list")
}

// filter checks the flags and builds the filter; now anchors a --since duration.
func (f *dlqFlags) filter(now time.Time) (jobs.DLQFilter, error) {
	flt := jobs.DLQFilter{Target: f.target, Reason: f.reason, WorkflowID: f.workflowID, BatchID: f.batchID, Seqs: f.seqs}
	if f.target != "" && f.target != "unknown" && !slices.Contains(jobs.Targets, f.target) {
		return flt, fmt.Errorf("--target %q: want %s or unknown", f.target, strings.Join(jobs.Targets, ", "))
	}
	if f.since != "" {
		t, err := parseSince(f.since, now)
		if err != nil {
			return flt, err
		}
		flt.Since = t
	}
	return flt, nil
}

// empty reports whether no filter was given: the command applies to the whole DLQ.
func (f *dlqFlags) empty() bool {
	return f.target == "" && f.reason == "" && f.workflowID == "" && f.batchID == "" && f.since == "" && len(f.seqs) == 0
}

// matchesUnreadable reports whether an entry that is not a dead letter can match: only the
// filters applied without reading the entry (target, since, seq) are set.
func (f *dlqFlags) matchesUnreadable() bool {
	return f.reason == "" && f.workflowID == "" && f.batchID == ""
}

// describe names the filters for messages: "target jobadder, reason write_failure".
func (f *dlqFlags) describe() string {
	var parts []string
	for _, p := range []struct{ name, value string }{
		{"target", f.target}, {"reason", f.reason}, {"workflow", f.workflowID}, {"batch", f.batchID}, {"since", f.since}, {"seq", f.seqs.String()},
	} {
		if p.value != "" {
			parts = append(parts, p.name+" "+p.value)
		}
	}
	return strings.Join(parts, ", ")
}

// warnReason notes a --reason no worker writes: probably a typo, since it matches nothing.
func (f *dlqFlags) warnReason(w io.Writer) {
	known := strings.Split(dlqReasons+", "+dlqClasses, ", ")
	if f.reason != "" && !slices.Contains(known, f.reason) {
		fmt.Fprintf(w, "enqueue: note: --reason %q is none of %s, %s; only a handler's own reason can match it\n", f.reason, dlqReasons, dlqClasses)
	}
}

// warnMissingSeqs names the --seq values that matched no entry.
func (f *dlqFlags) warnMissingSeqs(w io.Writer, seen map[uint64]bool) {
	for _, s := range f.seqs {
		if !seen[s] {
			fmt.Fprintf(w, "enqueue: no matching entry with seq %d (replayed, purged, expired, or filtered out)\n", s)
		}
	}
}

// seqList is a repeatable flag of comma-separated DLQ sequences.
type seqList []uint64

func (s *seqList) String() string {
	if s == nil {
		return ""
	}
	parts := make([]string, len(*s))
	for i, n := range *s {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}

func (s *seqList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a sequence number", part)
		}
		*s = append(*s, n)
	}
	return nil
}

// parseSince reads --since: RFC 3339, a date (UTC), or a duration back from now (2h, 7d).
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %q: the duration must be positive (2h means in the last 2 hours)", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23) or a duration (2h, 7d)", s)
}

// dlqFlagSet returns the flag set of a dlq subcommand, with its description and the filters.
func dlqFlagSet(a *app, name, synopsis, description string, f *dlqFlags) *flag.FlagSet {
	fs := a.flags("dlq "+name, synopsis)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: enqueue dlq %s %s\n\n%s\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
	}
	f.register(fs)
	return fs
}

// dlqConnect builds the filter of parsed flags and connects. It returns false, with the exit
// code, when the command must stop.
func dlqConnect(ctx context.Context, a *app, f *dlqFlags) (jobs.DLQFilter, int, bool) {
	flt, err := f.filter(time.Now())
	if err != nil {
		return flt, a.fail("%v", err), false
	}
	f.warnReason(a.stderr)
	if err := a.connect(ctx); err != nil {
		return flt, a.fail("%v", err), false
	}
	return flt, exitOK, true
}

func runDLQList(ctx context.Context, a *app, args []string) int {
	var f dlqFlags
	var limit int
	var asJSON bool
	fs := dlqFlagSet(a, "list", "[filters] [--limit N] [--json]",
		"Shows the dead-lettered jobs that match the filters, oldest first: one row per entry with\n"+
			"its sequence (SEQ, for --seq), job, workflow, target, profile, reason, class, attempts,\n"+
			"first and last attempt time, and the last error (shortened; --json has it whole).\n", &f)
	fs.IntVar(&limit, "limit", 100, "show at most N entries, 0 for all (with --json every entry unless --limit is given); the footer counts every match")
	fs.BoolVar(&asJSON, "json", false, "print the entries whole, as JSON lines: the DeadLetter fields plus dlq_seq, dlq_subject and dlq_time")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if limit < 0 {
		return a.fail("--limit %d: want 0 (all) or more", limit)
	}
	flt, code, ok := dlqConnect(ctx, a, &f)
	if !ok {
		return code
	}
	defer a.close()
	if asJSON && !flagSet(fs, "limit") {
		limit = 0
	}

	var shown []jobs.DLQEntry
	total := 0
	seen := map[uint64]bool{}
	for e, err := range jobs.DeadLetters(ctx, a.js, flt) {
		if errors.Is(err, jobs.ErrBadDeadLetter) {
			fmt.Fprintf(a.stderr, "enqueue: %v\n", err)
			continue
		}
		if err != nil {
			return a.fail("%v", err)
		}
		total++
		seen[e.Seq] = true
		if limit == 0 || len(shown) < limit {
			shown = append(shown, e)
		}
	}
	f.warnMissingSeqs(a.stderr, seen)
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, e := range shown {
			_ = enc.Encode(e)
		}
		return exitOK
	}
	printDLQTable(a.stdout, shown)
	fmt.Fprintf(a.stdout, "%s (%d shown)\n", plural(total, "entry", "entries"), len(shown))
	return exitOK
}

// maxErrorWidth is how much of the last error the table shows.
const maxErrorWidth = 60

func printDLQTable(w io.Writer, entries []jobs.DLQEntry) {
	if len(entries) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tJOB\tWORKFLOW\tTARGET\tPROFILE\tREASON\tCLASS\tATTEMPTS\tFIRST\tLAST\tERROR")
	for _, e := range entries {
		target := e.Target
		if t, ok := strings.CutPrefix(e.Subject, jobs.DLQSubjectPrefix); ok {
			target = t
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			e.Seq, cell(e.JobID, 40), cell(e.WorkflowID, 40), cell(target, 20), cell(e.ProfileKey, 40),
			cell(e.Reason, 30), cell(e.Class, 12), e.Attempts, when(e.FirstAttemptAt), when(e.LastAttemptAt),
			cell(e.Error, maxErrorWidth))
	}
	_ = tw.Flush()
}

// cell makes a value fit one table cell: one line, at most n runes, "-" when empty.
func cell(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// replayOptions say how to replay; now and sleep are the clock (tests use a fake one).
type replayOptions struct {
	limit  int
	rate   float64
	dryRun bool
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

func runDLQReplay(ctx context.Context, a *app, args []string) int {
	var f dlqFlags
	o := replayOptions{now: time.Now, sleep: sleepCtx}
	fs := dlqFlagSet(a, "replay", "[filters] [--limit N] [--rate R] [--dry-run]",
		"Enqueues the jobs of the matching entries again, oldest first, and removes each entry once\n"+
			"the jobs stream has stored its job. A replayed job keeps its id and batch (a success turns\n"+
			"the batch report's failure into created or updated) and gets a new message id, so that it\n"+
			"is not dropped as a duplicate of the original. A bad job (its entry holds no valid job)\n"+
			"cannot be replayed: fix it and enqueue it again, or purge its entry.\n\n"+
			"Exit 0 when every matching entry was replayed, 1 when some could not be.\n", &f)
	fs.IntVar(&o.limit, "limit", 0, "replay at most N jobs (default: every matching entry); entries that cannot be replayed are reported and not counted")
	fs.Float64Var(&o.rate, "rate", 50, "enqueue at most R jobs per second")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be replayed and change nothing")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	switch {
	case o.limit < 0:
		return a.fail("--limit %d: want 0 (all) or more", o.limit)
	case o.rate <= 0:
		return a.fail("--rate %g: want a positive number of jobs per second", o.rate)
	}
	flt, code, ok := dlqConnect(ctx, a, &f)
	if !ok {
		return code
	}
	defer a.close()
	return replayDeadLetters(ctx, a, &f, flt, o)
}

// replayDeadLetters replays the entries flt selects, printing a line per entry and a summary.
func replayDeadLetters(ctx context.Context, a *app, f *dlqFlags, flt jobs.DLQFilter, o replayOptions) int {
	p := newPacer(o.rate, o.now, o.sleep)
	var replayed, skipped, failed, kept, more int
	seen := map[uint64]bool{}
	var stop error
	for e, err := range jobs.DeadLetters(ctx, a.js, flt) {
		if err != nil && !errors.Is(err, jobs.ErrBadDeadLetter) {
			stop = err
			break
		}
		seen[e.Seq] = true
		if o.limit > 0 && replayed+failed == o.limit {
			more++
			continue
		}
		if err != nil {
			skipped++
			fmt.Fprintf(a.stdout, "skipped seq %d: %v\n", e.Seq, err)
			continue
		}
		job, err := e.Replayable()
		if err != nil {
			skipped++
			fmt.Fprintf(a.stdout, "skipped seq %d: %v\n", e.Seq, err)
			continue
		}
		if o.dryRun {
			replayed++
			fmt.Fprintf(a.stdout, "would replay seq %d job %s profile %s → %s\n", e.Seq, job.ID, job.ProfileKey, job.Subject())
			continue
		}
		if err := p.wait(ctx); err != nil {
			stop = err
			break
		}
		job, err = jobs.Replay(ctx, a.js, e)
		switch {
		case errors.Is(err, jobs.ErrDeadLetterKept):
			replayed++
			kept++
			fmt.Fprintf(a.stdout, "replayed seq %d job %s profile %s → %s, but the entry was kept (%v): remove it with 'enqueue dlq purge --seq %d --yes'\n",
				e.Seq, job.ID, job.ProfileKey, job.Subject(), err, e.Seq)
		case err != nil:
			failed++
			fmt.Fprintf(a.stdout, "failed seq %d: %v; the entry is kept\n", e.Seq, err)
		default:
			replayed++
			fmt.Fprintf(a.stdout, "replayed seq %d job %s profile %s → %s\n", e.Seq, job.ID, job.ProfileKey, job.Subject())
		}
	}
	if stop == nil {
		f.warnMissingSeqs(a.stderr, seen)
	}

	var sum strings.Builder
	switch {
	case o.dryRun:
		fmt.Fprintf(&sum, "dry run: would replay %s", plural(replayed, "job", "jobs"))
	default:
		fmt.Fprintf(&sum, "replayed %s", plural(replayed, "job", "jobs"))
	}
	if skipped > 0 {
		fmt.Fprintf(&sum, ", %s cannot be replayed (bad jobs: fix and enqueue them again, or purge them)", plural(skipped, "entry", "entries"))
	}
	if failed > 0 {
		fmt.Fprintf(&sum, ", %d failed (entries kept)", failed)
	}
	if kept > 0 {
		fmt.Fprintf(&sum, ", %d replayed but still in the DLQ", kept)
	}
	if more > 0 {
		fmt.Fprintf(&sum, ", %d more matching beyond --limit %d", more, o.limit)
	}
	if o.dryRun {
		sum.WriteString("; nothing changed")
	}
	fmt.Fprintln(a.stdout, sum.String())
	switch {
	case stop != nil && ctx.Err() != nil:
		fmt.Fprintln(a.stderr, "enqueue: interrupted; the entries not replayed are still in the DLQ")
		return exitFailed
	case stop != nil:
		return a.fail("%v", stop)
	case skipped > 0 || failed > 0 || kept > 0:
		return exitFailed
	}
	return exitOK
}

// pacer spaces out calls to at most rate per second.
type pacer struct {
	every time.Duration
	next  time.Time
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

func newPacer(rate float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	return &pacer{every: time.Duration(float64(time.Second) / rate), now: now, sleep: sleep}
}

// wait returns when the next call is due, at once for the first call.
func (p *pacer) wait(ctx context.Context) error {
	now := p.now()
	at := now
	if p.next.After(now) {
		at = p.next
		if err := p.sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
	p.next = at.Add(p.every)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func runDLQPurge(ctx context.Context, a *app, args []string) int {
	var f dlqFlags
	var yes bool
	fs := dlqFlagSet(a, "purge", "[filters] --yes",
		"Removes the matching entries from the DLQ for good. Without --yes it only counts them and\n"+
			"exits 2. Without any filter it removes every entry (--yes is still required).\n\n"+
			"Exit 0 when every matching entry was removed, 1 when some could not be.\n", &f)
	fs.BoolVar(&yes, "yes", false, "really remove the matching entries")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	flt, code, ok := dlqConnect(ctx, a, &f)
	if !ok {
		return code
	}
	defer a.close()
	what := func(n int) string {
		if f.empty() {
			return "ALL " + plural(n, "entry", "entries") + " of the DLQ (no filter given)"
		}
		return plural(n, "entry", "entries") + " matching " + f.describe()
	}

	var n, gone, failed int
	seen := map[uint64]bool{}
	for e, err := range jobs.DeadLetters(ctx, a.js, flt) {
		if errors.Is(err, jobs.ErrBadDeadLetter) && !f.matchesUnreadable() {
			continue
		}
		if err != nil && !errors.Is(err, jobs.ErrBadDeadLetter) {
			if n > 0 && yes {
				fmt.Fprintf(a.stdout, "purged %s before an error\n", what(n))
			}
			return a.fail("%v", err)
		}
		seen[e.Seq] = true
		if !yes {
			n++
			continue
		}
		switch err := jobs.PurgeDeadLetter(ctx, a.js, e.Seq); {
		case errors.Is(err, jobs.ErrDeadLetterNotFound):
			gone++
		case err != nil:
			failed++
			fmt.Fprintf(a.stderr, "enqueue: %v\n", err)
		default:
			n++
		}
	}
	f.warnMissingSeqs(a.stderr, seen)
	if !yes {
		fmt.Fprintf(a.stdout, "would purge %s\n", what(n))
		return a.fail("nothing purged: add --yes to purge them")
	}
	fmt.Fprintf(a.stdout, "purged %s\n", what(n))
	if gone > 0 {
		fmt.Fprintf(a.stdout, "%d were already gone (replayed or purged meanwhile)\n", gone)
	}
	if failed > 0 {
		fmt.Fprintf(a.stderr, "enqueue: %d entries could not be purged\n", failed)
		return exitFailed
	}
	return exitOK
}
