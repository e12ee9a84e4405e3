package main

import (
	"cmp"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/processmetrics"
)

// metrics are the worker's Prometheus metrics, served at /metrics with those of every hrpush
// process (processmetrics: Go runtime, process, hrpush_build_info).
type metrics struct {
	reg        *prometheus.Registry
	jobs       *prometheus.CounterVec
	deliveries *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: processmetrics.NewRegistry("worker"),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrpush_jobs_total",
			Help: "Jobs finished by this worker, by target, connection (ATS account), outcome (created, updated, discarded, failed) and run event.",
		}, []string{"target", "connection", "outcome", "event"}),
		deliveries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hrpush_job_deliveries",
			Help:    "Deliveries a job needed before it finished, by target and outcome.",
			Buckets: []float64{1, 2, 3, 5, 8, 13},
		}, []string{"target", "outcome"}),
	}
	m.reg.MustRegister(m.jobs, m.deliveries)
	return m
}

// observe counts a finished job (jobs.Config.Observe).
func (m *metrics) observe(e jobs.Event) {
	m.jobs.WithLabelValues(e.Target, cmp.Or(e.Connection, "default"), string(e.Outcome), e.Event).Inc()
	m.deliveries.WithLabelValues(e.Target, string(e.Outcome)).Observe(float64(e.Attempts))
}

// watch registers the gauges read from the worker at scrape time.
func (m *metrics) watch(w *jobs.Worker) {
	m.reg.MustRegister(&statusCollector{
		w:        w,
		inFlight: prometheus.NewDesc("hrpush_jobs_in_flight", "Jobs running now in this worker.", []string{"target"}, nil),
		paused:   prometheus.NewDesc("hrpush_target_paused", "1 while a connection of the target is paused (credentials refused, or down).", []string{"target"}, nil),
		queued: prometheus.NewDesc("hrpush_jobs_queued", "Jobs in the stream per target and connection (waiting, delayed or running), as the worker's last scan saw them; the same on every worker: use max, not sum.",
			[]string{"target", "connection"}, nil),
		connPaused: prometheus.NewDesc("hrpush_connection_paused", "1 while the connection (ATS account) is paused (credentials refused, or down), for the connections this worker has run jobs of.",
			[]string{"target", "connection"}, nil),
	})
}

// statusCollector reports each target's running jobs and pause state.
type statusCollector struct {
	w                                    *jobs.Worker
	inFlight, paused, connPaused, queued *prometheus.Desc
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inFlight
	ch <- c.paused
	ch <- c.connPaused
	ch <- c.queued
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	for q, n := range c.w.Queued() {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(n), q.Target, cmp.Or(q.Connection, "default"))
	}
	for _, st := range c.w.Status() {
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight), st.Target)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, st.Target)
		for _, ps := range st.Partitions {
			v := 0.0
			if ps.Paused {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.connPaused, prometheus.GaugeValue, v, st.Target, cmp.Or(ps.Name, "default"))
		}
	}
}
