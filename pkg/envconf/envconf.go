// Package envconf is how every hrpush command reads its configuration from the environment:
// secrets also from files (NAME_FILE, as mounted secrets are), the settings struct with
// envconfig, one error naming every variable out of range, and the LOG_LEVEL / LOG_FORMAT
// logger. Only commands call it; packages take their settings as structs.
package envconf

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kelseyhightower/envconfig"

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
