package envconf_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
)

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("  s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENVCONF_PASSWORD_FILE", path)
	t.Setenv("ENVCONF_TOKEN", "direct")
	t.Setenv("ENVCONF_TOKEN_FILE", filepath.Join(t.TempDir(), "ignored: the variable wins"))
	t.Setenv("ENVCONF_COUNT", "3")
	var cfg struct {
		Password secret.Value `envconfig:"ENVCONF_PASSWORD"`
		Token    secret.Value `envconfig:"ENVCONF_TOKEN"`
		Count    int          `envconfig:"ENVCONF_COUNT"`
	}
	if err := envconf.Load(&cfg, "ENVCONF_PASSWORD", "ENVCONF_TOKEN"); err != nil {
		t.Fatal(err)
	}
	if cfg.Password.Reveal() != "s3cr3t" || cfg.Token.Reveal() != "direct" || cfg.Count != 3 {
		t.Fatalf("%q %q %d", cfg.Password.Reveal(), cfg.Token.Reveal(), cfg.Count)
	}
	if v, set := os.LookupEnv("ENVCONF_PASSWORD"); set {
		t.Fatalf("the secret read from its file stayed in the environment: %q", v)
	}
	t.Setenv("ENVCONF_MISSING_FILE", filepath.Join(t.TempDir(), "nope"))
	if err := envconf.Load(&cfg, "ENVCONF_MISSING"); err == nil {
		t.Fatal("a NAME_FILE that cannot be read must be an error")
	}
}

func TestOutOfRange(t *testing.T) {
	if err := envconf.OutOfRange("x", envconf.Check{Name: "A", Bad: false}); err != nil {
		t.Fatal(err)
	}
	err := envconf.OutOfRange("must be positive", envconf.Check{Name: "A", Bad: true}, envconf.Check{Name: "B"}, envconf.Check{Name: "C", Bad: true})
	if err == nil || err.Error() != "A, C out of range: must be positive" {
		t.Fatalf("%v", err)
	}
}

func TestLoadWithStreams(t *testing.T) {
	t.Setenv("ENVCONF_COUNT", "3")
	t.Setenv("NATS_REPLICAS", "3")
	t.Setenv("HRPUSH_JOBS_MAX_MSGS", "1000")
	var cfg struct {
		Count   int               `envconfig:"ENVCONF_COUNT"`
		Streams jobs.StreamConfig `ignored:"true"`
	}
	if err := envconf.LoadWithStreams(&cfg, &cfg.Streams); err != nil {
		t.Fatal(err)
	}
	if cfg.Count != 3 || cfg.Streams.Replicas != 3 || cfg.Streams.Jobs.MaxMsgs != 1000 {
		t.Fatalf("%+v", cfg)
	}
	t.Setenv("NATS_REPLICAS", "9")
	if err := envconf.LoadWithStreams(&cfg, &cfg.Streams); err == nil || !strings.Contains(err.Error(), "NATS_REPLICAS") {
		t.Fatalf("NATS_REPLICAS=9: %v; want an error naming it", err)
	}
}

func TestExitCode(t *testing.T) {
	cause := fmt.Errorf("open x: %w", fs.ErrNotExist)
	ce := envconf.Errorf("WORKFLOWS_FILE: %w", cause)
	if ce.Error() != "WORKFLOWS_FILE: open x: file does not exist" || !errors.Is(ce, fs.ErrNotExist) {
		t.Errorf("Errorf = %q, must read as fmt.Errorf's and wrap its %%w", ce)
	}
	for err, want := range map[error]int{
		nil:                               0,
		cause:                             1,
		ce:                                2,
		fmt.Errorf("start: %w", ce):       2,
		errors.Join(cause, ce):            2,
		errors.New("NATS_URL refused us"): 1,
	} {
		if got := envconf.ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
