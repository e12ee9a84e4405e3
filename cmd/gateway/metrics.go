package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hrpush/hrpush/pkg/processmetrics"
)

// metrics are the gateway's Prometheus metrics, served at /metrics with those of every hrpush
// process (processmetrics: Go runtime, process, hrpush_build_info).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: processmetrics.NewRegistry("gateway"),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hrpush_gateway_request_seconds",
			Help:    "Time to answer a request, by route (the mux pattern) and status code; its _count is the request count.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.requests)
	return m
}

// instrument times every request of mux by its route: the pattern that matches it (never the
// raw path, which comes from outside and would make labels without bound).
func (m *metrics) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		mux.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush (server-sent events).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
