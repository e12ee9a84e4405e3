// Package ingest is the gateway's HTTP ingest API (/v1): push jobs posted one at a time or in
// arrays, batches enqueued in the background from a list of profile keys or a whole HrFlow
// source, batch reports and their progress as server-sent events, and the API's OpenAPI
// document.
//
// # State
//
// The API keeps nothing in memory that another replica would need: jobs and batch headers go to
// JetStream, Idempotency-Key records and API keys to KV buckets (jobs.IdempotencyBucket,
// jobs.APIKeysBucket). The one exception is the rate limiters, kept per replica: a key's limit
// applies to each replica it reaches (see [Config.RatePerSecond]).
//
// # Errors
//
// Every error is an RFC 9457 problem (package problem) whose code names it; nothing is
// enqueued by a request answered with a 4xx.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// Sources lists the profiles of an HrFlow source ((*hrflow.Client).Profiles).
type Sources interface {
	All(ctx context.Context, opts *hrflow.ListOptions) iter.Seq2[*hrflow.Profile, error]
}

// Config is what the API needs. JetStream and Buckets are required.
type Config struct {
	JetStream jetstream.JetStream
	// Buckets are those of jobs.EnsureStreams: Idempotency, APIKeys and Connections are used.
	Buckets *jobs.Buckets
	// Workflows, if set, are the only workflow ids accepted, each with its target; nil
	// accepts every workflow id, as a worker without WORKFLOWS_FILE does.
	Workflows *workflow.Set
	// Sources lists an HrFlow source for whole-source batches; nil refuses them (503).
	Sources Sources
	// MaxBodyBytes bounds a request body. Default 1 MiB.
	MaxBodyBytes int64
	// MaxJobs bounds the jobs of one POST /v1/jobs. Default 1000.
	MaxJobs int
	// MaxBatchKeys bounds the profile keys of one POST /v1/batches. Default 10000.
	MaxBatchKeys int
	// RatePerSecond and Burst are the default request rate of an API key, on each replica:
	// with N replicas behind a load balancer a key gets up to N times this. Keys may have
	// their own. Defaults 50 and 100.
	RatePerSecond float64
	Burst         int
	// StaleAfter is how long a batch header may go without an update while enqueuing before
	// its report calls it stalled (the replica enqueuing it died). Default 2 minutes.
	StaleAfter time.Duration
	Logger     *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 1<<20)
	c.MaxJobs = cmp.Or(c.MaxJobs, 1000)
	c.MaxBatchKeys = cmp.Or(c.MaxBatchKeys, 10000)
	c.RatePerSecond = cmp.Or(c.RatePerSecond, 50)
	c.Burst = cmp.Or(c.Burst, 100)
	c.StaleAfter = cmp.Or(c.StaleAfter, 2*time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// API serves /v1. Create it with [New], mount it with [API.Register], and stop its background
// batches with [API.Shutdown].
type API struct {
	cfg         Config
	js          jetstream.JetStream
	pub         *jobs.Publisher
	keys        *apikeys.Store
	idem        jetstream.KeyValue
	connections *connections.Store
	limits      limiters

	// bg is the context of background batches; stop cancels it.
	bg      context.Context
	stop    context.CancelFunc
	running sync.WaitGroup
}

// New returns the API.
func New(cfg Config) (*API, error) {
	cfg = cfg.withDefaults()
	if cfg.JetStream == nil || cfg.Buckets == nil || cfg.Buckets.Idempotency == nil || cfg.Buckets.APIKeys == nil || cfg.Buckets.Connections == nil {
		return nil, errors.New("ingest: JetStream and the idempotency, API keys and connections buckets are required")
	}
	if cfg.MaxBodyBytes < 1024 || cfg.MaxJobs < 1 || cfg.MaxBatchKeys < 1 || cfg.RatePerSecond < 0 || cfg.Burst < 1 {
		return nil, errors.New("ingest: body limit under 1 KiB, or job, key, rate or burst limits not positive")
	}
	bg, stop := context.WithCancel(context.Background())
	return &API{
		cfg:         cfg,
		js:          cfg.JetStream,
		pub:         jobs.NewPublisher(cfg.JetStream),
		keys:        apikeys.NewStore(cfg.Buckets.APIKeys),
		idem:        cfg.Buckets.Idempotency,
		connections: connections.NewStore(cfg.Buckets.Connections),
		limits:      limiters{m: map[string]*rate.Limiter{}},
		bg:          bg,
		stop:        stop,
	}, nil
}

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	mux.Handle("POST /v1/jobs", a.authenticated(a.postJobs))
	mux.Handle("POST /v1/batches", a.authenticated(a.postBatch))
	mux.Handle("GET /v1/batches/{id}", a.authenticated(a.getBatch))
	mux.Handle("GET /v1/batches/{id}/events", a.authenticated(a.batchEvents))
}

// Shutdown waits for the batches being enqueued in the background until ctx ends, then
// interrupts them: their headers say "interrupted" with what was enqueued, and posting the
// batch again enqueues the rest (the jobs already stored are dropped as duplicates).
func (a *API) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.running.Wait(); close(done) }()
	select {
	case <-done:
		a.stop()
		return nil
	case <-ctx.Done():
		a.stop()
		<-done
		return ctx.Err()
	}
}
