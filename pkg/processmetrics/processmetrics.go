// Package processmetrics builds the Prometheus registry every long-running hrpush process
// (the worker, the gateway) serves at /metrics: the Go runtime's and the process's own
// collectors, and hrpush_build_info, which says which build runs. Each process adds its own
// metrics to the registry it returns.
package processmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hrpush/hrpush/pkg/version"
)

// NewRegistry returns a registry holding the Go and process collectors and the gauge
// hrpush_build_info{version,revision,goversion} 1 of this build ([version.Get]); binary names
// the process in the gauge's help ("worker", "gateway").
func NewRegistry(binary string) *prometheus.Registry {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hrpush_build_info",
		Help: "1, labelled with the " + binary + "'s build: version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	b := version.Get()
	build.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
