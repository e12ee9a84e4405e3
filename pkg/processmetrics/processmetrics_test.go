package processmetrics_test

import (
	"runtime"
	"testing"

	"github.com/hrpush/hrpush/pkg/processmetrics"
	"github.com/hrpush/hrpush/pkg/version"
)

func TestNewRegistry(t *testing.T) {
	t.Parallel()
	families, err := processmetrics.NewRegistry("gateway").Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		if f.GetName() != "hrpush_build_info" {
			continue
		}
		if got, want := f.GetHelp(), "1, labelled with the gateway's build: version, VCS revision and Go version."; got != want {
			t.Errorf("help %q, want %q", got, want)
		}
		m := f.GetMetric()
		if len(m) != 1 || m[0].GetGauge().GetValue() != 1 {
			t.Fatalf("hrpush_build_info: %v; want one series of value 1", m)
		}
		labels := map[string]string{}
		for _, l := range m[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		b := version.Get()
		if labels["version"] != b.Version || labels["revision"] != b.Revision || labels["goversion"] != runtime.Version() {
			t.Errorf("labels %v; want those of %+v", labels, b)
		}
	}
	for _, name := range []string{"hrpush_build_info", "go_goroutines", "process_start_time_seconds"} {
		if !seen[name] {
			t.Errorf("the registry lacks %s", name)
		}
	}
}
