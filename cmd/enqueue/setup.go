package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hrpush/hrpush/pkg/jobs"
)

// runSetup compares the streams and buckets with the settings every binary reads
// (NATS_REPLICAS, HRPUSH_*_MAX_*): by default it prints what it would create or change, with
// --apply it does so and prints what it did. The running processes only create what is
// missing: this is how a change of settings reaches existing streams.
func runSetup(ctx context.Context, a *app, args []string) int {
	var apply bool
	fs := a.flags("setup", "[--apply]")
	fs.BoolVar(&apply, "apply", false, "create and update the streams and buckets (default: only show what would change)")
	flagsUsage := fs.Usage
	fs.Usage = func() {
		flagsUsage()
		fmt.Fprint(fs.Output(), "\n"+jobs.StreamEnvUsage)
	}
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, err := jobs.StreamConfigFromEnv(os.LookupEnv)
	if err != nil {
		return a.fail("%v", err)
	}
	if err := a.dial(); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	mode := jobs.PlanChanges
	if apply {
		mode = jobs.ApplyChanges
	}
	cfg.Logger = a.progress()
	_, changes, err := jobs.Setup(ctx, a.js, cfg, mode)
	for _, c := range changes {
		switch {
		case c.Applied:
			fmt.Fprintln(a.stdout, "done:", c)
		case apply:
			fmt.Fprintln(a.stdout, "not done:", c)
		default:
			fmt.Fprintln(a.stdout, "would do:", c)
		}
	}
	if err != nil {
		return a.fail("%v", err)
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintf(a.stdout, "streams and buckets match the settings (replicas %d)\n", max(cfg.Replicas, 1))
	case !apply:
		fmt.Fprintln(a.stdout, "nothing changed; run 'enqueue setup --apply' to make these changes")
	}
	return exitOK
}
