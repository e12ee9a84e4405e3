package envconf_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hrpush/hrpush/pkg/envconf"
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
