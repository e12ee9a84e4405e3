package targets_test

import (
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets"
)

func TestRenewAt(t *testing.T) {
	t.Parallel()
	issued := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		issued   time.Time
		lifetime time.Duration
		want     time.Duration // after issued
	}{
		{"20 s token: a fifth of its lifetime", issued, 20 * time.Second, 16 * time.Second},
		{"2-minute session", issued, 2 * time.Minute, 96 * time.Second},
		{"1-hour token: at most a minute", issued, time.Hour, 59 * time.Minute},
		{"unknown issue time: a minute", time.Time{}, time.Hour, 59 * time.Minute},
	} {
		if got := targets.RenewAt(c.issued, issued.Add(c.lifetime)); !got.Equal(issued.Add(c.want)) {
			t.Errorf("%s: RenewAt = %s after issue, want %s", c.name, got.Sub(issued), c.want)
		}
	}
}

func TestCheckConnection(t *testing.T) {
	t.Parallel()
	for name, valid := range map[string]bool{
		"default": true, "acme-eu_2": true, "": false, "Acme": false, "acme.eu": false, "a/b": false,
		string(make([]byte, 65)): false,
	} {
		if err := targets.CheckConnection(name); (err == nil) != valid {
			t.Errorf("CheckConnection(%q) = %v, want valid %t", name, err, valid)
		}
	}
}
