package version

import (
	"strings"
	"testing"
)

// TestLinkerVersion: a version set by the build (-X) is the one reported.
func TestLinkerVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7"
	if got := Get().Version; got != "v9.8.7" {
		t.Errorf("Get().Version = %q", got)
	}
	if got := String(); !strings.HasPrefix(got, "v9.8.7 (") {
		t.Errorf("String() = %q", got)
	}
}
