package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/secret"
)

func runSource(ctx context.Context, a *app, args []string) int {
	var f jobFlags
	var wait, asJSON bool
	var apiURL, createdAfter, createdBefore string
	var limit int
	fs := a.flags("source", "--workflow-id W --target T --source-key S [--created-after D] [--wait]")
	f.register(fs)
	fs.StringVar(&apiURL, "hrflow-api-url", cmpEnv("HRFLOW_API_URL", hrflow.DefaultBaseURL), "HrFlow API base URL (env HRFLOW_API_URL); the key and the user come from HRFLOW_API_SECRET (or HRFLOW_API_SECRET_FILE) and HRFLOW_API_USER")
	fs.StringVar(&createdAfter, "created-after", "", "only profiles created on or after this date (YYYY-MM-DD)")
	fs.StringVar(&createdBefore, "created-before", "", "only profiles created on or before this date (YYYY-MM-DD)")
	fs.IntVar(&limit, "limit", 0, "enqueue at most this many profiles (0: all)")
	fs.BoolVar(&wait, "wait", false, "follow the batch to its end with a progress display, print the report, exit 1 if any job failed")
	fs.BoolVar(&asJSON, "json", false, "print the summary (and with --wait the report) as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := f.check(); err != nil {
		fs.Usage()
		return a.fail("%v", err)
	}
	opts := &hrflow.ListOptions{SourceKeys: []string{f.sourceKey}, Limit: 100, OrderBy: hrflow.OrderAsc, SortBy: hrflow.SortByCreatedAt}
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
	var keys []string
	last := time.Now()
	for p, err := range client.Profiles.All(ctx, opts) {
		if err != nil {
			return a.fail("listing source %s: %v", f.sourceKey, err)
		}
		keys = append(keys, p.Key)
		if time.Since(last) > 2*time.Second {
			fmt.Fprintf(a.stderr, "listed %d profiles of source %s...\n", len(keys), f.sourceKey)
			last = time.Now()
		}
		if limit > 0 && len(keys) == limit {
			break
		}
	}
	if len(keys) == 0 {
		return a.fail("source %s has no profiles matching the filters", f.sourceKey)
	}
	return enqueueBatch(ctx, a, f, keys, 0, wait, asJSON)
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
