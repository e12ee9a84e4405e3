package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StreamEnvUsage lists the environment variables [StreamConfigFromEnv] reads, for the
// commands' help.
const StreamEnvUsage = `Streams and buckets (the same for every binary: workers, enqueue, gateway):
  NATS_REPLICAS            replicas of every stream and bucket, 1 to 5 (default 1; 3 in a cluster)
  HRPUSH_JOBS_MAX_BYTES    size limit of the jobs stream, e.g. 1GiB (default unlimited); when it
  HRPUSH_JOBS_MAX_MSGS     (or the message limit) is reached, producers are refused
  HRPUSH_JOBS_MAX_AGE      how long a job may wait, e.g. 7d (default unlimited)
  HRPUSH_DLQ_MAX_BYTES, HRPUSH_DLQ_MAX_MSGS, HRPUSH_DLQ_MAX_AGE (default 90d)
                           dead letters; a full DLQ keeps the failing jobs in the jobs stream
  HRPUSH_EVENTS_MAX_BYTES, HRPUSH_EVENTS_MAX_MSGS, HRPUSH_EVENTS_MAX_AGE (default 14d)
                           job events (batch progress and reports); a full one drops its oldest
  HRPUSH_SETUP_TIMEOUT     how long a process waits for JetStream at start-up (default 1m): a fresh
                           cluster electing its leaders, streams another process is creating
Sizes take B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB; ages a Go duration or days (7d).
A process creates what is missing and only warns when an existing stream differs; apply
changes with 'enqueue setup --apply'.
`

// StreamConfigFromEnv reads the stream settings shared by every binary (see [StreamEnvUsage])
// through lookup (os.LookupEnv in a command). An invalid value is an error naming its
// variable.
func StreamConfigFromEnv(lookup func(string) (string, bool)) (StreamConfig, error) {
	var c StreamConfig
	var errs []error
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	if v := get("NATS_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			errs = append(errs, fmt.Errorf("NATS_REPLICAS out of range: %q, want 1 to 5", v))
		}
		c.Replicas = n
	}
	for _, s := range []struct {
		prefix string
		l      *Limits
	}{{"HRPUSH_JOBS_", &c.Jobs}, {"HRPUSH_DLQ_", &c.DLQ}, {"HRPUSH_EVENTS_", &c.Events}} {
		if v := get(s.prefix + "MAX_BYTES"); v != "" {
			n, err := ParseBytes(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%sMAX_BYTES=%q: %w", s.prefix, v, err))
			}
			s.l.MaxBytes = n
		}
		if v := get(s.prefix + "MAX_MSGS"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%sMAX_MSGS=%q: want a positive number", s.prefix, v))
			}
			s.l.MaxMsgs = n
		}
		if v := get(s.prefix + "MAX_AGE"); v != "" {
			d, err := parseAge(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%sMAX_AGE=%q: %w", s.prefix, v, err))
			}
			s.l.MaxAge = d
		}
	}
	if v := get("HRPUSH_SETUP_TIMEOUT"); v != "" {
		d, err := parseAge(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HRPUSH_SETUP_TIMEOUT=%q: %w", v, err))
		}
		c.SetupTimeout = d
	}
	return c, errors.Join(errs...)
}

// ParseBytes reads a positive size: a number of bytes, or a number followed by B, KB, MB, GB,
// TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n*float64(mult) >= 1<<62 {
		return 0, errors.New("want a positive size such as 500MB or 2GiB")
	}
	return int64(n * float64(mult)), nil
}

// parseAge reads a positive Go duration, or a number of days ("7d").
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n > 0 && n < 100_000 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, errors.New("want a positive duration such as 72h or 7d")
}
