package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

func TestLoadConfigNamesWhatIsMissing(t *testing.T) {
	for _, name := range []string{"HRFLOW_API_SECRET", "HRFLOW_API_USER", "JOBADDER_CLIENT_ID", "JOBADDER_CLIENT_SECRET", "JOBADDER_REDIRECT_URI"} {
		t.Run(name, func(t *testing.T) {
			full := map[string]string{
				"HRFLOW_API_SECRET": "k", "HRFLOW_API_USER": "u@example.com", "JOBADDER_CLIENT_ID": "id",
				"JOBADDER_CLIENT_SECRET": "s", "JOBADDER_REDIRECT_URI": "https://example.com/cb",
			}
			for k, v := range full {
				if k == name {
					v = ""
				}
				t.Setenv(k, v)
			}
			var cfg config
			err := loadConfig(&cfg)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("loadConfig without %s = %v; want an error naming it", name, err)
			}
		})
	}
}

func TestLoadConfigReadsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HRFLOW_API_SECRET", "")
	t.Setenv("HRFLOW_API_SECRET_FILE", path)
	t.Setenv("HRFLOW_API_USER", "u@example.com")
	t.Setenv("JOBADDER_CLIENT_ID", "id")
	t.Setenv("JOBADDER_CLIENT_SECRET", "s")
	t.Setenv("JOBADDER_REDIRECT_URI", "https://example.com/cb")
	var cfg config
	if err := loadConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HrFlowAPISecret.Reveal() != "from-file" {
		t.Errorf("HRFLOW_API_SECRET from file = %q", cfg.HrFlowAPISecret.Reveal())
	}
}

// TestServeWithoutCodeOrToken: a worker that has no stored token and no code to exchange
// stops at start-up with a configuration error that says what to do.
func TestServeWithoutCodeOrToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 1, jobaddertest.Config{})
	cfg := e.config()
	cfg.JobAdderAuthorizationCode = ""
	err := serve(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "JOBADDER_AUTHORIZATION_CODE") {
		t.Fatalf("serve = %v; want a configuration error naming JOBADDER_AUTHORIZATION_CODE", err)
	}
}
