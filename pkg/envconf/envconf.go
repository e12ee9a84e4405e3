// Package envconf is how every hrpush command reads its configuration from the environment:
// secrets also from files (NAME_FILE, as mounted secrets are), the settings struct with
// envconfig and the stream settings every binary shares, one error naming every variable out
// of range, the configuration [Error] that makes a command exit with code 2, and the
// LOG_LEVEL / LOG_FORMAT logger. Only commands call it; packages take their settings as
// structs.
package envconf

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
)

// Secret returns the secret the variable name holds or, when it is empty, the content of the
// file NAME_FILE names, without surrounding white space. Both empty: a zero value.
func Secret(name string) (secret.Value, error) {
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

// Load fills cfg (a pointer to a struct with envconfig tags) from the environment; each of
// secretVars may be given as NAME_FILE instead. A secret read from a file is in the
// environment only while cfg is filled: the process's environment, which child processes
// inherit, never holds it.
func Load(cfg any, secretVars ...string) error {
	for _, name := range secretVars {
		v, err := Secret(name)
		if err != nil {
			return err
		}
		if !v.IsZero() && os.Getenv(name) == "" {
			if err := os.Setenv(name, v.Reveal()); err != nil {
				return err
			}
			defer os.Unsetenv(name) //nolint:errcheck // restores the environment as it was
		}
	}
	return envconfig.Process("", cfg)
}

// LoadWithStreams fills cfg as [Load] does, then streams with the stream settings every binary
// shares ([jobs.StreamConfigFromEnv]: NATS_REPLICAS, HRPUSH_*_MAX_*, HRPUSH_SETUP_TIMEOUT).
func LoadWithStreams(cfg any, streams *jobs.StreamConfig, secretVars ...string) error {
	if err := Load(cfg, secretVars...); err != nil {
		return err
	}
	s, err := jobs.StreamConfigFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	*streams = s
	return nil
}

// Check is a rule on one variable: Bad when its value is out of range.
type Check struct {
	Name string
	Bad  bool
}

// OutOfRange returns nil when no check is bad, else an error naming every bad variable,
// followed by hint (what the ranges are).
func OutOfRange(hint string, checks ...Check) error {
	var bad []string
	for _, c := range checks {
		if c.Bad {
			bad = append(bad, c.Name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s out of range: %s", strings.Join(bad, ", "), hint)
}

// Error is a configuration problem found once the environment was read: a file a variable
// names that cannot be used, settings that do not go together, a server that cannot be
// reached at start-up. A command exits with code 2 for it ([ExitCode]), as for a variable
// missing or out of range.
type Error struct{ err error }

// Errorf returns an *[Error] whose message is what fmt.Errorf makes of format and a (%w
// wraps, as there).
func Errorf(format string, a ...any) error { return &Error{fmt.Errorf(format, a...)} }

func (e *Error) Error() string { return e.err.Error() }

func (e *Error) Unwrap() error { return e.err }

// ExitCode is the exit code of a command whose run ended with err: 0 for nil, 2 for a
// configuration problem (an *[Error] in err's chain), else 1.
func ExitCode(err error) int {
	var ce *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		return 2
	default:
		return 1
	}
}

// Logger returns the command's logger on stderr: level debug, info, warn or error (info when
// unknown), format "text" or else JSON.
func Logger(level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
