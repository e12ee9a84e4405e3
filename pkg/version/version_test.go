package version_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/version"
)

func TestString(t *testing.T) {
	t.Parallel()
	if got := version.String(); !strings.Contains(got, runtime.Version()) || !strings.HasSuffix(got, ")") {
		t.Errorf("String() = %q; want the Go version in parentheses", got)
	}
}
