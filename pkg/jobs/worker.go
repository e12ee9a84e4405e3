package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/goroutines"
)

// Handler pushes one job. It returns what happened, or an error whose class (see package
// targets: Permanent, RetryAfter, Credentials methods, or [Permanent] and [RetryAfter] here)
// decides what the runtime does next. Tag errors with [WithReason] to name the failed step.
type Handler interface {
	Handle(ctx context.Context, job *Job) (Result, error)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, job *Job) (Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, job *Job) (Result, error) { return f(ctx, job) }

// Result is what a handler did with a job.
type Result struct {
	Outcome Outcome // Created, Updated or Discarded
	Event   string  // run event; default "written", or "logics_discard" for Discarded
	ATSID   string  // the candidate's id at the ATS
}

// Config configures a [Worker]. Only JetStream and Handlers are required.
type Config struct {
	// JetStream is the connection's JetStream context.
	JetStream jetstream.JetStream
	// Handlers by target name ("jobadder", "bullhorn"). The worker consumes only these targets.
	Handlers map[string]Handler
	// Partition names the account a job writes to (its connection). Throttling, refused
	// credentials and outages pause the jobs of one partition of a target, never the others:
	// a job of a paused partition is put back without spending its delivery budget while the
	// others run. Default: every job of a target in one partition, "". A partition named ""
	// is reported under the target's name alone.
	Partition func(*Job) string
	// Concurrency is the number of jobs run at once per target. Default 8.
	Concurrency int
	// AckWait is how long JetStream waits for an ack before redelivering. Running jobs send
	// InProgress every AckWait/3, so a long job keeps its message. Default 30 s.
	AckWait time.Duration
	// MaxAckPending caps the jobs in flight for a target across all workers. Default 1000.
	MaxAckPending int
	// MaxDeliveries is the delivery budget of a job; a transient failure on the last delivery,
	// or a delivery past the budget (the worker of the last one died), dead-letters it. A last
	// delivery put back through no fault of the job (refused credentials, a shutdown) requeues
	// it as a new message instead, so that a paused target never dead-letters its backlog.
	// Default 10.
	MaxDeliveries int
	// RetryBudget bounds the in-process retries of one delivery (exponential backoff and
	// Retry-After waits) before the job is put back with a delay. Default 15 s.
	RetryBudget time.Duration
	// JobTimeout bounds one delivery. Default 2 minutes.
	JobTimeout time.Duration
	// RedeliveryDelay is the base of the delay between deliveries (doubled each delivery, with
	// ±20 % jitter, capped by MaxRedeliveryDelay). Defaults 2 s and 5 minutes.
	RedeliveryDelay    time.Duration
	MaxRedeliveryDelay time.Duration
	// CredentialsPause is the first pause of a target whose credentials were refused, or that
	// is down (see OutageAfter); it doubles up to 5 minutes while that lasts. Default 5 s.
	CredentialsPause time.Duration
	// OutageAfter is how many different jobs in a row, with no success between them, must end a
	// delivery unable to reach their services (connection refused or timed out, 502, 503 or
	// 504, after the in-process retries) for the target to count as down. A down target is
	// paused as for refused credentials (not ready, doubling pause, jobs put back without
	// spending their delivery budget) until a job succeeds, so that an outage does not
	// dead-letter the backlog. A single job that keeps failing so still ends in the DLQ.
	// Default 3.
	OutageAfter int
	// ConnectionMaxAckPending caps the jobs of one connection in flight across all workers:
	// the MaxAckPending of the connection's own consumer (jobs published on
	// hrpush.push.<target>.<connection>). MaxInFlight, when set, gives a connection its own
	// cap (its setting max_in_flight); 0 keeps the default. Default 64.
	ConnectionMaxAckPending int
	MaxInFlight             func(target, connection string) int
	// ScanInterval is how often the worker looks for connections with waiting jobs (one
	// stream info request for every target and connection): an idle connection costs no pull
	// loop, and a new job of an idle connection waits at most this long. Default 250 ms.
	ScanInterval time.Duration
	// PullExpiry is how long one pull request waits for jobs. Keep it short (a few seconds).
	// Default 2 s.
	PullExpiry time.Duration
	// ShutdownGrace is how long Stop lets running jobs finish before cancelling them.
	// Default 20 s.
	ShutdownGrace time.Duration
	// Name identifies this worker in events, DLQ entries and logs. Default host-pid.
	Name string
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called with each job's final event (metrics).
	Observe func(Event)
}

// WithDefaults returns the config with every unset field at its default.
func (c Config) WithDefaults() Config {
	c.Concurrency = cmp.Or(c.Concurrency, 8)
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, 1000)
	c.MaxDeliveries = cmp.Or(c.MaxDeliveries, 10)
	c.RetryBudget = cmp.Or(c.RetryBudget, 15*time.Second)
	c.JobTimeout = cmp.Or(c.JobTimeout, 2*time.Minute)
	c.RedeliveryDelay = cmp.Or(c.RedeliveryDelay, 2*time.Second)
	c.MaxRedeliveryDelay = cmp.Or(c.MaxRedeliveryDelay, 5*time.Minute)
	c.CredentialsPause = cmp.Or(c.CredentialsPause, 5*time.Second)
	c.OutageAfter = cmp.Or(c.OutageAfter, 3)
	c.PullExpiry = cmp.Or(c.PullExpiry, 2*time.Second)
	c.ConnectionMaxAckPending = cmp.Or(c.ConnectionMaxAckPending, 64)
	c.ScanInterval = cmp.Or(c.ScanInterval, 250*time.Millisecond)
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, 20*time.Second)
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.JetStream == nil {
		errs = append(errs, errors.New("JetStream is required"))
	}
	if len(c.Handlers) == 0 {
		errs = append(errs, errors.New("at least one handler is required"))
	}
	for name := range c.Handlers {
		if !slices.Contains(Targets, name) {
			errs = append(errs, fmt.Errorf("handler for unknown target %q", name))
		}
	}
	if c.RetryBudget >= c.AckWait*3 {
		errs = append(errs, fmt.Errorf("retry budget %s must stay well under 3×AckWait %s", c.RetryBudget, c.AckWait))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jobs: invalid config: %w", err)
	}
	return nil
}

// Worker pulls jobs of its targets and runs their handlers.
type Worker struct {
	cfg   Config
	log   *slog.Logger
	lanes []*lane

	mu         sync.Mutex
	started    bool
	softCancel context.CancelFunc
	hardCancel context.CancelCauseFunc
	pulling    sync.WaitGroup
	running    sync.WaitGroup
	stopOnce   sync.Once

	queued atomic.Pointer[map[Queue]uint64] // the last scan's, for Queued
	// goroutines run the jobs, each on a goroutine that ran an earlier one when one waits: a
	// job's goroutine grows its stack, and a new one for each job grew it again.
	goroutines *goroutines.Pool
}

// lane is one target's slots, its feeds (consumers) and the pause state of its partitions.
type lane struct {
	target  string
	handler Handler
	slots   chan struct{} // the jobs of the target run at once, shared fairly by its feeds
	running atomic.Int32

	mu    sync.Mutex
	gates map[string]*gate // by partition
	feeds map[string]*feed // by connection; "" is the target's own subject
	// consumers caches the connections' consumers, so that restarting a feed costs a read
	// rather than a write; refreshed (CreateOrUpdate, picking up a changed cap) once a minute.
	consumers map[string]cachedConsumer
}

type cachedConsumer struct {
	cons jetstream.Consumer
	at   time.Time
}

// feed is one consumer of a lane: the target's subject hrpush.push.<target> (connection "",
// jobs that name no connection or that producers publish there), or the subject
// hrpush.push.<target>.<connection> of one connection, pulled only while it has jobs.
type feed struct {
	connection string
	cons       jetstream.Consumer
	// due is when the pull loop must have gone round again (UnixNano), for Stalled.
	due atomic.Int64
}

// expect notes that the pull loop will go round again within d.
func (f *feed) expect(d time.Duration) { f.due.Store(time.Now().Add(d).UnixNano()) }

// activeFeeds is the number of feeds pulling now: each gets an equal share of the slots.
func (l *lane) activeFeeds() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(len(l.feeds), 1)
}

// gate is the pause state of one partition (connection) of a target.
type gate struct {
	mu          sync.Mutex
	pausedUntil time.Time
	blocked     error // set while the partition's credentials are refused or it is down
	blockPause  time.Duration
	// unreachable holds the jobs whose last delivery could not reach their services since the
	// last success; OutageAfter of them make the partition down.
	unreachable map[string]bool
}

// gate returns the gate of partition, created on first use.
func (l *lane) gate(partition string) *gate {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.gates[partition]
	if !ok {
		g = &gate{}
		if l.gates == nil {
			l.gates = map[string]*gate{}
		}
		l.gates[partition] = g
	}
	return g
}

// allPaused returns how long every partition of the lane stays paused, or 0 when one is not
// (or none is known yet): a lane whose every account is paused fetches nothing.
func (l *lane) allPaused() time.Duration {
	l.mu.Lock()
	gates := slices.Collect(maps.Values(l.gates))
	l.mu.Unlock()
	var least time.Duration
	for i, g := range gates {
		d := g.remaining()
		if d <= 0 {
			return 0
		}
		if i == 0 || d < least {
			least = d
		}
	}
	return least
}

// NewWorker checks the config and returns a worker; Start runs it.
func NewWorker(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.Name)}
	for target, h := range cfg.Handlers {
		w.lanes = append(w.lanes, &lane{target: target, handler: h, slots: make(chan struct{}, cfg.Concurrency)})
	}
	return w, nil
}

// Start creates or updates the durable consumer of each target and starts pulling. It returns
// once pulling has started; the worker runs until Stop.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("jobs: worker already started")
	}
	// On a fresh cluster, or while the jobs stream elects a leader, JetStream answers late:
	// wait for it (a minute at most) rather than fail the start.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, l := range w.lanes {
		var cons jetstream.Consumer
		err := retry(ctx, 0, 5*time.Second, func(ctx context.Context) (err error) {
			cons, err = w.cfg.JetStream.CreateOrUpdateConsumer(ctx, JobsStream, consumerConfig(l.target, "", w.cfg.AckWait, w.cfg.MaxAckPending))
			return err
		}, nil)
		if err != nil {
			return fmt.Errorf("jobs: consumer for %s: %w", l.target, err)
		}
		l.mu.Lock() // the health endpoint may already read the feeds (Stalled)
		l.feeds = map[string]*feed{"": {cons: cons}}
		l.mu.Unlock()
	}
	var stream jetstream.Stream
	if err := retry(ctx, 0, 5*time.Second, func(ctx context.Context) (err error) {
		stream, err = w.cfg.JetStream.Stream(ctx, JobsStream)
		return err
	}, nil); err != nil {
		return fmt.Errorf("jobs: stream %s: %w", JobsStream, err)
	}
	softCtx, softCancel := context.WithCancel(context.Background())
	hardCtx, hardCancel := context.WithCancelCause(context.Background())
	w.softCancel, w.hardCancel, w.started = softCancel, hardCancel, true
	w.goroutines = goroutines.New(hardCtx.Done())
	for _, l := range w.lanes {
		w.pulling.Add(1)
		go w.pull(softCtx, hardCtx, l, l.feeds[""])
	}
	w.pulling.Add(1)
	go w.schedule(softCtx, hardCtx, stream)
	w.log.Info("worker started", "targets", w.targets(), "concurrency", w.cfg.Concurrency)
	return nil
}

func (w *Worker) targets() []string {
	out := make([]string, len(w.lanes))
	for i, l := range w.lanes {
		out[i] = l.target
	}
	return out
}

// Stop stops pulling, lets running jobs finish until ctx ends or the shutdown grace passes,
// then cancels the rest with [ErrShutdown]; they are put back on the queue without delay. It is
// safe to call twice and before Start.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	var err error
	w.stopOnce.Do(func() {
		w.softCancel()
		w.pulling.Wait()
		done := make(chan struct{})
		go func() { w.running.Wait(); close(done) }()
		grace := time.NewTimer(w.cfg.ShutdownGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-grace.C:
			err = errors.New("jobs: shutdown grace period passed")
		}
		w.hardCancel(ErrShutdown)
		if err != nil {
			w.log.Warn("stopping: cancelled running jobs", "error", err)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				w.log.Error("stopping: jobs ignored cancellation; JetStream will redeliver them after AckWait")
			}
		}
		w.log.Info("worker stopped")
	})
	return err
}

// Ready returns nil when the worker is connected and no target is paused for its credentials
// or for an outage, and otherwise an error saying what is wrong (for /readyz).
func (w *Worker) Ready() error {
	if st := w.cfg.JetStream.Conn().Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats connection is %s", st)
	}
	var errs []error
	for _, st := range w.Status() {
		if st.Paused {
			errs = append(errs, fmt.Errorf("%s paused: %s", st.Target, st.Reason))
		}
	}
	return errors.Join(errs...)
}

// stallAfter is how many pull expiries late a pull loop must be for [Worker.Stalled].
const stallAfter = 3

// Stalled returns an error naming each target, or connection of a target, whose pull loop, at
// now, is more than three pull expiries late going round again (for /healthz): stuck on a
// pull that never ends, or waiting for a slot that jobs ignoring their cancellation never
// free. A loop waiting out a pause, or for slots that running jobs hold within JobTimeout, is
// not late; nor is a worker not started or stopped. A disconnected worker is not stalled
// either (its pulls fail and it tries again: see [Worker.Ready]).
func (w *Worker) Stalled(now time.Time) error {
	var errs []error
	for _, l := range w.lanes {
		l.mu.Lock()
		feeds := maps.Clone(l.feeds) // the target's own, and each connection's with jobs
		l.mu.Unlock()
		for _, connection := range slices.Sorted(maps.Keys(feeds)) {
			due := feeds[connection].due.Load()
			if due == 0 {
				continue // not pulling yet
			}
			if late := now.Sub(time.Unix(0, due)); late > stallAfter*w.cfg.PullExpiry {
				name := l.target
				if connection != "" {
					name += " connection " + connection
				}
				errs = append(errs, fmt.Errorf("%s: the pull loop is %s late (pull expiry %s)", name, late.Round(time.Second), w.cfg.PullExpiry))
			}
		}
	}
	return errors.Join(errs...)
}

// TargetStatus is a target's state in this worker, for metrics and health checks.
type TargetStatus struct {
	Target string
	// InFlight is the number of jobs running now.
	InFlight int
	// Paused is set while a partition's credentials are refused or it is down; Reason says
	// why, for each paused partition.
	Paused bool
	Reason string
	// Partitions are the partitions (connections) this worker has run jobs of.
	Partitions []PartitionStatus
}

// PartitionStatus is the state of one partition of a target.
type PartitionStatus struct {
	Name   string // the partition, "" for the target's default
	Paused bool
	Reason string
}

// Status returns the state of each target this worker consumes.
func (w *Worker) Status() []TargetStatus {
	out := make([]TargetStatus, 0, len(w.lanes))
	for _, l := range w.lanes {
		st := TargetStatus{Target: l.target, InFlight: int(l.running.Load())}
		l.mu.Lock()
		gates := maps.Clone(l.gates)
		l.mu.Unlock()
		var reasons []string
		for _, name := range slices.Sorted(maps.Keys(gates)) {
			g := gates[name]
			ps := PartitionStatus{Name: name}
			g.mu.Lock()
			if g.blocked != nil {
				ps.Paused, ps.Reason = true, g.blocked.Error()
				if name == "" {
					reasons = append(reasons, ps.Reason)
				} else {
					reasons = append(reasons, "connection "+name+": "+ps.Reason)
				}
			}
			g.mu.Unlock()
			st.Partitions = append(st.Partitions, ps)
		}
		if len(reasons) > 0 {
			st.Paused, st.Reason = true, strings.Join(reasons, "; ")
		}
		out = append(out, st)
	}
	return out
}

// pull fetches as many jobs as the lane has free slots, and only then: a job waiting in the
// client's buffer would be running down its AckWait.
func (w *Worker) pull(softCtx, hardCtx context.Context, l *lane, f *feed) {
	defer w.pulling.Done()
	// Stopped: not stalled.
	defer f.due.Store(math.MaxInt64)
	idle := 0 // pulls in a row that brought nothing
	for softCtx.Err() == nil {
		f.expect(w.cfg.PullExpiry)
		if f.connection != "" && idle >= 2 {
			// The connection's jobs are done: stop pulling until the scan sees new ones.
			l.dropFeed(f.connection, false)
			return
		}
		// With partitions, the queue may hold jobs of accounts that are not paused behind
		// those of paused ones: fetching goes on, and process puts back, delayed until the
		// pause ends, each job of a paused partition.
		if d := l.allPaused(); d > 0 && w.cfg.Partition == nil {
			f.expect(d + w.cfg.PullExpiry)
			if !sleep(softCtx, d) {
				return
			}
			continue
		}
		// An idle feed beside others waits for its jobs without a slot: it looks again every
		// ScanInterval, holding a slot for that look only (FetchNoWait), so that the slots go to
		// the feeds that have jobs. (Waiting with a slot for a pull expiry, the target's own feed
		// took the only slot of a one-slot worker from its connections' jobs for 2 s at a time.)
		// Alone, it waits with one slot, so that its jobs start as soon as they come; a feed
		// started meanwhile gets that slot when the pull ends.
		probe := idle > 0 && l.activeFeeds() > 1
		if probe {
			f.expect(w.cfg.ScanInterval + w.cfg.PullExpiry)
			if !sleep(softCtx, w.cfg.ScanInterval) {
				return
			}
		}
		// Slots free within JobTimeout, when running jobs end or are cancelled.
		f.expect(w.cfg.JobTimeout + w.cfg.PullExpiry)
		select {
		case l.slots <- struct{}{}:
		case <-softCtx.Done():
			return
		}
		if w.cfg.Partition == nil && l.allPaused() > 0 {
			// A job that ended while this loop waited for a slot paused the lane: a job
			// fetched now would wait out the pause in process, spending a delivery.
			l.release(1)
			continue
		}
		// Each feed waits for one slot in turn (a channel serves its waiting senders in
		// order), then takes at most its share of the free ones: a connection with a large
		// backlog cannot starve one that has a few jobs. Only one slot waits for jobs to come:
		// more slots take the jobs that are there now (FetchNoWait), and a feed whose last pull
		// was empty waits with one slot. (The target's own feed, idle, used to hold every slot
		// for a whole pull expiry, and a connection's first jobs waited for that pull to end.)
		n, share := 1, cap(l.slots)/l.activeFeeds()
		if idle > 0 {
			share = 1
		}
	more:
		for n < share {
			select {
			case l.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		wait := w.cfg.PullExpiry
		if f.connection != "" {
			wait = min(wait, w.cfg.ScanInterval)
		}
		f.expect(wait)
		var batch jetstream.MessageBatch
		var err error
		if n > 1 || probe {
			batch, err = f.cons.FetchNoWait(n)
		} else {
			batch, err = f.cons.Fetch(n, jetstream.FetchMaxWait(wait))
		}
		if err != nil && f.connection != "" {
			// Its consumer may be gone (an hour unused): the next scan creates it again.
			l.release(n)
			w.log.Warn("pull failed", "target", l.target, "connection", f.connection, "error", err)
			l.dropFeed(f.connection, true)
			return
		}
		if err != nil {
			l.release(n)
			w.log.Warn("pull failed", "target", l.target, "error", err)
			f.expect(250*time.Millisecond + w.cfg.PullExpiry)
			sleep(softCtx, 250*time.Millisecond) // a consumer without leader: a new one comes within seconds
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if softCtx.Err() != nil {
				meta, _ := msg.Metadata()
				w.putBack(hardCtx, msg, meta, 0, w.log.With("target", l.target))
				l.release(1)
				continue
			}
			w.running.Add(1)
			l.running.Add(1)
			w.goroutines.Go(func() {
				defer w.running.Done()
				var once sync.Once
				free := func() { once.Do(func() { l.running.Add(-1); l.release(1) }) }
				defer free()
				w.process(hardCtx, l, f, msg, free)
			})
		}
		l.release(n - got)
		if got == 0 {
			idle++
		} else {
			idle = 0
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			w.log.Warn("pull ended with an error", "target", l.target, "connection", f.connection, "error", err)
			if f.connection != "" && (errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)) {
				l.dropFeed(f.connection, true) // the next scan creates it again
				return
			}
			f.expect(250*time.Millisecond + w.cfg.PullExpiry)
			sleep(softCtx, 250*time.Millisecond)
		}
	}
}

// schedule starts a feed for each connection that has jobs waiting, as one stream info
// request every ScanInterval shows, until softCtx ends. Idle connections have no feed.
func (w *Worker) schedule(softCtx, hardCtx context.Context, stream jetstream.Stream) {
	defer w.pulling.Done()
	lanes := map[string]*lane{}
	for _, l := range w.lanes {
		lanes[l.target] = l
	}
	for {
		ctx, cancel := context.WithTimeout(softCtx, 5*time.Second)
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
		cancel()
		switch {
		case softCtx.Err() != nil:
			return
		case err != nil:
			w.log.Warn("could not look for connections with waiting jobs", "error", err)
		default:
			queued := map[Queue]uint64{}
			for subject, n := range info.State.Subjects {
				target, connection, _ := strings.Cut(strings.TrimPrefix(subject, SubjectPrefix), ".")
				queued[Queue{Target: target, Connection: connection}] = n
				if l := lanes[target]; l != nil && n > 0 && connection != "" {
					w.startFeed(softCtx, hardCtx, l, connection)
				}
			}
			w.queued.Store(&queued)
		}
		if !sleep(softCtx, w.cfg.ScanInterval) {
			return
		}
	}
}

// Queue names the jobs of one connection of a target ("" the target's own subject).
type Queue struct{ Target, Connection string }

// Queued returns, as the last scan saw them (every ScanInterval), the jobs in the stream per
// target and connection: waiting, delayed or running. Nil before the first scan.
func (w *Worker) Queued() map[Queue]uint64 {
	if q := w.queued.Load(); q != nil {
		return *q
	}
	return nil
}

// startFeed starts pulling the jobs of connection, unless its feed runs. The connection's
// durable consumer caps its jobs in flight across the fleet; it is removed by the server after
// an hour without pulls.
func (w *Worker) startFeed(softCtx, hardCtx context.Context, l *lane, connection string) {
	l.mu.Lock()
	_, running := l.feeds[connection]
	l.mu.Unlock()
	if running || !ConnectionPattern.MatchString(connection) {
		return
	}
	cons, err := w.connectionConsumer(softCtx, l, connection)
	if err != nil {
		w.log.Warn("could not create the consumer of a connection", "target", l.target, "connection", connection, "error", err)
		return
	}
	f := &feed{connection: connection, cons: cons}
	l.mu.Lock()
	if _, running := l.feeds[connection]; running {
		l.mu.Unlock()
		return
	}
	l.feeds[connection] = f
	l.mu.Unlock()
	w.pulling.Add(1)
	go w.pull(softCtx, hardCtx, l, f)
}

// connectionConsumer returns the connection's durable consumer: the cached one while it
// exists, or one created (or updated, with the connection's current cap) when the cache is a
// minute old.
func (w *Worker) connectionConsumer(softCtx context.Context, l *lane, connection string) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(softCtx, 10*time.Second)
	defer cancel()
	l.mu.Lock()
	c, ok := l.consumers[connection]
	l.mu.Unlock()
	if ok && time.Since(c.at) < time.Minute {
		// A read, not a write: is it still there (the server removes it after an hour unused,
		// an operator may delete it)?
		if _, err := c.cons.Info(ctx); err == nil {
			return c.cons, nil
		}
	}
	limit := w.cfg.ConnectionMaxAckPending
	if w.cfg.MaxInFlight != nil {
		limit = cmp.Or(w.cfg.MaxInFlight(l.target, connection), limit)
	}
	cons, err := w.cfg.JetStream.CreateOrUpdateConsumer(ctx, JobsStream, consumerConfig(l.target, connection, w.cfg.AckWait, limit))
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.consumers == nil {
		l.consumers = map[string]cachedConsumer{}
	}
	l.consumers[connection] = cachedConsumer{cons: cons, at: time.Now()}
	l.mu.Unlock()
	return cons, nil
}

// dropFeed forgets connection's feed, which is stopping, and its cached consumer too when the
// consumer may be gone.
func (l *lane) dropFeed(connection string, forgetConsumer bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.feeds, connection)
	if forgetConsumer {
		delete(l.consumers, connection)
	}
}

func (l *lane) release(n int) {
	for range n {
		<-l.slots
	}
}

// waitUnpaused waits until the gate's pause, if any, is over. It returns false if ctx ended.
func (g *gate) waitUnpaused(ctx context.Context) bool {
	for {
		d := g.remaining()
		if d <= 0 {
			return true
		}
		if !sleep(ctx, d) {
			return false
		}
	}
}

// remaining is how long the gate stays paused; 0 or less when it is not.
func (g *gate) remaining() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Until(g.pausedUntil)
}

// isBlocked reports whether the gate is paused for refused credentials or an outage.
func (g *gate) isBlocked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blocked != nil
}

// pause stops the partition from starting attempts for d (throttling is per account).
func (g *gate) pause(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := time.Now().Add(d); until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
}

// block pauses the partition with a doubling pause and marks it not ready, with err as the
// reason. It returns how long the partition stays paused. The jobs that fail while a pause set
// by another failure runs belong to the same probe (they were running together): the pause
// doubles once per probe.
func (g *gate) block(err error, first time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = err
	now := time.Now()
	if g.blockPause > 0 && now.Before(g.pausedUntil) {
		return g.pausedUntil.Sub(now)
	}
	g.blockPause = min(max(2*g.blockPause, first), 5*time.Minute)
	if until := now.Add(g.blockPause); until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
	return g.pausedUntil.Sub(now)
}

// unreachableFailure records that job's delivery could not reach its services, and reports
// whether the partition is down: it was already, or outageAfter different jobs in a row have
// now failed so.
func (g *gate) unreachableFailure(jobKey string, outageAfter int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unreachable == nil {
		g.unreachable = map[string]bool{}
	}
	if len(g.unreachable) < outageAfter { // enough to tell an outage; a backlog need not be kept
		g.unreachable[jobKey] = true
	}
	var down outageError
	return errors.As(g.blocked, &down) || len(g.unreachable) >= outageAfter
}

// succeeded records a success: the partition is neither blocked nor counting an outage. It
// returns the error the gate was blocked with, or nil.
func (g *gate) succeeded() (was error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was = g.blocked
	g.blocked, g.blockPause = nil, 0
	clear(g.unreachable)
	return was
}

// outageError is the reason of a lane paused because its target is down.
type outageError struct{ err error }

func (e outageError) Error() string { return "unreachable: " + e.err.Error() }
func (e outageError) Unwrap() error { return e.err }

// maxJobSize is the largest job document accepted; jobs are a few hundred bytes.
const maxJobSize = 64 << 10

// process runs one delivery of a job to its end: ack, put back with a delay, or dead-letter.
// It calls free once the handler has succeeded: recording the outcome and acking may wait for
// a new JetStream leader, and meanwhile the slot runs another job. (A failure keeps its slot
// until settled, so that the pause it may set holds back the next fetch.)
func (w *Worker) process(hardCtx context.Context, l *lane, f *feed, msg jetstream.Msg, free func()) {
	start := time.Now()
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("message without JetStream metadata", "target", l.target, "error", err)
		_ = msg.Term()
		return
	}
	attempt := int(meta.NumDelivered)
	job, err := Decode(msg.Data())
	switch {
	case len(msg.Data()) > maxJobSize:
		err = fmt.Errorf("%w: job document is %d bytes, more than %d", ErrBadJob, len(msg.Data()), maxJobSize)
	case err == nil && job.Target != l.target:
		err = fmt.Errorf("%w: target %q does not match subject %s", ErrBadJob, job.Target, msg.Subject())
	case err == nil && f.connection != "" && job.Connection != f.connection:
		err = fmt.Errorf("%w: connection %q does not match subject %s", ErrBadJob, job.Connection, msg.Subject())
	}
	if job == nil {
		job = &Job{}
	}
	log := w.log.With("target", l.target, "job_id", job.ID, "workflow_id", job.WorkflowID,
		"batch_id", job.BatchID, "profile_key", job.ProfileKey, "attempt", attempt)
	d := &DeadLetter{
		JobID: job.ID, WorkflowID: job.WorkflowID, Target: l.target, SourceKey: job.SourceKey,
		ProfileKey: job.ProfileKey, BatchID: job.BatchID, Attempts: attempt,
		EnqueuedAt: job.EnqueuedAt, FirstAttemptAt: meta.Timestamp, LastAttemptAt: start.UTC(),
		Subject: msg.Subject(), StreamSeq: meta.Sequence.Stream, Worker: w.cfg.Name,
	}
	if err != nil {
		d.Reason, d.Class, d.Error = ReasonBadJob, "permanent", err.Error()
		w.fail(hardCtx, msg, job, d, log)
		return
	}
	if attempt > w.cfg.MaxDeliveries {
		d.Reason, d.Class = ReasonExhausted, "exhausted"
		d.Error = fmt.Sprintf("delivery %d is past the budget of %d: the worker running the last delivery stopped before finishing it", attempt, w.cfg.MaxDeliveries)
		w.fail(hardCtx, msg, job, d, log)
		return
	}

	partition := ""
	if w.cfg.Partition != nil {
		partition = w.cfg.Partition(job)
	}
	if partition != "" {
		log = log.With("connection", partition)
	}
	d.Connection = partition
	g := l.gate(partition)
	if pause := g.remaining(); pause > 0 && (g.isBlocked() || pause > w.cfg.RetryBudget) {
		// Its account is paused while the others run: do not hold a slot for the pause.
		log.Info("connection paused; job put back", "pause", pause.Round(time.Millisecond))
		w.putBack(hardCtx, msg, meta, pause, log)
		return
	}

	ctx, cancel := context.WithTimeout(hardCtx, w.cfg.JobTimeout)
	defer cancel()
	// InProgress goes on until the job is settled: recording its outcome and acking it may wait
	// for a new JetStream leader.
	stopBeat := heartbeat(msg, w.cfg.AckWait/3)
	defer stopBeat()
	res, errs, err := w.attempts(ctx, l.handler, g, job)

	if err == nil {
		free()
		// Only a write shows that the target is back: a discarded job never reached it.
		var was error
		if res.Outcome != Discarded {
			was = g.succeeded()
		}
		var down outageError
		switch {
		case errors.As(was, &down):
			log.Info("target reachable again; target resumed")
		case was != nil:
			log.Info("target credentials accepted again; target resumed")
		}
		ev := w.event(job, attempt)
		ev.Connection = partition
		ev.Outcome, ev.Event, ev.ATSID = res.Outcome, cmp.Or(res.Event, "written"), res.ATSID
		if res.Outcome == Discarded {
			ev.Event = cmp.Or(res.Event, "logics_discard")
		}
		if perr := w.publishEvent(hardCtx, ev); perr != nil {
			log.Warn("could not record the outcome; the job will run again", "error", perr)
			w.putBack(hardCtx, msg, meta, w.cfg.RedeliveryDelay, log)
			return
		}
		if aerr := w.settle(hardCtx, msg, ackAck); aerr != nil {
			log.Warn("ack not confirmed; JetStream may redeliver and the job will update what it wrote", "error", aerr)
		}
		log.Info("job done", "outcome", ev.Outcome, "ats_id", ev.ATSID, "duration", time.Since(start).Round(time.Millisecond))
		return
	}

	c, wait := classify(ctx, err)
	d.Error, d.Errors = err.Error(), errs
	d.Reason = reasonOf(err, "write_failure")
	down := c == classTransient && isUnavailable(err) && g.unreachableFailure(jobKey(job, meta), w.cfg.OutageAfter)
	switch v := decide(c, down, attempt, w.cfg.MaxDeliveries); v {
	case putBackNow:
		log.Info("job interrupted by shutdown; put back on the queue")
		w.putBack(hardCtx, msg, meta, 0, log)
	case deadLetterNow:
		d.Class = "permanent"
		w.fail(hardCtx, msg, job, d, log)
	case deadLetterExhausted:
		d.Class = "exhausted"
		d.Error = fmt.Sprintf("gave up after %d deliveries: %s", attempt, err)
		w.fail(hardCtx, msg, job, d, log)
	case pauseCredentials:
		pause := g.block(err, w.cfg.CredentialsPause)
		log.Error("target credentials refused; target paused, job put back", "pause", pause, "error", err)
		w.putBack(hardCtx, msg, meta, pause, log)
	case pauseOutage:
		pause := g.block(outageError{err}, w.cfg.CredentialsPause)
		log.Error("target unreachable; target paused, job put back", "pause", pause, "error", err)
		w.putBack(hardCtx, msg, meta, pause, log)
	default: // retryLater
		delay := w.redeliveryDelay(attempt)
		if c == classThrottled {
			delay = max(delay, wait)
		}
		log.Warn("job failed; will retry", "class", c, "delay", delay.Round(time.Millisecond), "error", err)
		w.nak(hardCtx, msg, delay, log)
	}
}

// putBack returns a delivery that did not fail through the job's fault (refused credentials, a
// target down, a shutdown, an outcome that could not be recorded) to the queue after delay. JetStream counts
// every delivery, and the delivery after the last permitted one is dead-lettered (see process):
// so on the job's last permitted delivery, putBack requeues it instead. Without this, a target
// paused for its credentials longer than MaxDeliveries probes would have its backlog
// dead-lettered, and so would a job stopped by a restart on its last delivery.
func (w *Worker) putBack(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, delay time.Duration, log *slog.Logger) {
	switch {
	case meta != nil && int(meta.NumDelivered) >= w.cfg.MaxDeliveries:
		w.requeue(ctx, msg, meta.Sequence.Stream, delay, log)
	default:
		w.nak(ctx, msg, delay, log)
	}
}

// Acknowledgement bodies (JetStream's protocol, as nats.go sends them).
const (
	ackAck  = "+ACK"
	ackNak  = "-NAK"
	ackTerm = "+TERM"
)

// settle sends an acknowledgement of msg (ackAck, a nak, a term) and waits for the consumer's
// leader to confirm it, sending it again while JetStream elects a new leader (no responders,
// no answer), for up to AckWait, also after ctx ends (a shutdown). An acknowledgement lost with
// its leader would leave the job to wait out AckWait, and then run again.
func (w *Worker) settle(ctx context.Context, msg jetstream.Msg, body string) error {
	nc := w.cfg.JetStream.Conn()
	return retry(context.WithoutCancel(ctx), w.cfg.AckWait, 2*time.Second, func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, msg.Reply(), []byte(body))
		return err
	}, nil)
}

// nak puts msg back on the queue after delay (at once when 0), confirmed (see settle).
func (w *Worker) nak(ctx context.Context, msg jetstream.Msg, delay time.Duration, log *slog.Logger) {
	body := ackNak
	if delay > 0 {
		body = fmt.Sprintf(`%s {"delay": %d}`, ackNak, delay.Nanoseconds())
	}
	if err := w.settle(ctx, msg, body); err != nil {
		log.Warn("put back not confirmed; JetStream redelivers the job after AckWait", "error", err)
	}
}

// term terminates msg with reason, confirmed (see settle).
func (w *Worker) term(ctx context.Context, msg jetstream.Msg, reason string) error {
	return w.settle(ctx, msg, ackTerm+" "+reason)
}

// requeue puts the job back on the queue as a new message, whose delivery count starts at zero,
// and terminates the delivered one. The new message's id is derived from the original's
// stream sequence, so a worker that dies between the publish and the termination does not
// enqueue the job twice (within the stream's duplicates window). If the publish fails, the job
// is put back with delay as usual.
func (w *Worker) requeue(ctx context.Context, msg jetstream.Msg, seq uint64, delay time.Duration, log *slog.Logger) {
	err := retry(context.WithoutCancel(ctx), w.cfg.AckWait, 5*time.Second, func(ctx context.Context) error { // also on shutdown
		_, err := w.cfg.JetStream.Publish(ctx, msg.Subject(), msg.Data(),
			jetstream.WithMsgID("requeue-"+strconv.FormatUint(seq, 10)), jetstream.WithExpectStream(JobsStream))
		return err
	}, nil)
	if err != nil {
		log.Warn("could not requeue the job; put back instead", "error", err)
		w.nak(ctx, msg, delay, log)
		return
	}
	if err := w.term(ctx, msg, "requeued"); err != nil {
		log.Warn("could not terminate the requeued delivery", "error", err)
	}
	log.Info("job requeued as a new message: its delivery budget is not spent on what is not its failure")
}

// attempts runs the handler, retrying transient failures with exponential backoff and waiting
// out throttling, within the retry budget. It returns the errors of the failed attempts.
func (w *Worker) attempts(ctx context.Context, h Handler, g *gate, job *Job) (Result, []string, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 200 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = w.cfg.RetryBudget
	bo.Reset()
	var errs []string
	for {
		if !g.waitUnpaused(ctx) {
			return Result{}, errs, fmt.Errorf("%w: %w", context.Cause(ctx), ctx.Err())
		}
		res, err := safeHandle(ctx, h, job)
		if err == nil {
			return res, errs, nil
		}
		if len(errs) < 10 {
			errs = append(errs, truncate(err.Error(), 1024))
		}
		c, wait := classify(ctx, err)
		var next time.Duration
		switch c {
		case classThrottled:
			g.pause(wait)
			if bo.GetElapsedTime()+wait > w.cfg.RetryBudget {
				return res, errs, err
			}
		case classTransient:
			if next = bo.NextBackOff(); next == backoff.Stop {
				return res, errs, err
			}
		default:
			return res, errs, err
		}
		if !sleep(ctx, next) {
			return res, errs, err
		}
	}
}

// safeHandle runs the handler, turning a panic into a permanent error.
func safeHandle(ctx context.Context, h Handler, job *Job) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := string(debug.Stack())
			err = Permanent(WithReason(ReasonPanic, fmt.Errorf("handler panicked: %v\n%s", r, truncate(stack, 2048))))
		}
	}()
	return h.Handle(ctx, job)
}

// fail dead-letters the job, with the delivered document, records its failure event, then
// terminates it.
func (w *Worker) fail(ctx context.Context, msg jetstream.Msg, job *Job, d *DeadLetter, log *slog.Logger) {
	if json.Valid(msg.Data()) && len(msg.Data()) <= maxJobSize {
		d.Job = json.RawMessage(msg.Data())
	} else {
		d.RawJob = truncate(string(msg.Data()), maxRawJob)
	}
	if err := retry(ctx, w.cfg.AckWait, 5*time.Second, func(ctx context.Context) error { return deadLetter(ctx, w.cfg.JetStream, d) }, nil); err != nil {
		log.Error("could not dead-letter the job; it will be redelivered", "error", err)
		w.nak(ctx, msg, w.cfg.RedeliveryDelay, log)
		return
	}
	ev := w.event(job, d.Attempts)
	ev.Connection = cmp.Or(d.Connection, job.Connection)
	ev.Outcome, ev.Event, ev.Reason, ev.Error = Failed, d.Reason, d.Class, truncate(d.Error, 512)
	if ev.JobID == "" {
		ev.JobID = "seq-" + strconv.FormatUint(d.StreamSeq, 10)
	}
	if err := w.publishEvent(ctx, ev); err != nil {
		log.Warn("could not record the failure event", "error", err)
	}
	if err := w.term(ctx, msg, d.Reason); err != nil {
		log.Warn("could not terminate the dead-lettered job", "error", err)
	}
	log.Error("job dead-lettered", "reason", d.Reason, "class", d.Class, "error", d.Error)
}

func (w *Worker) event(job *Job, attempt int) Event {
	return Event{
		JobID: job.ID, BatchID: job.BatchID, WorkflowID: job.WorkflowID, Target: job.Target,
		SourceKey: job.SourceKey, ProfileKey: job.ProfileKey, Attempts: attempt,
		Worker: w.cfg.Name, At: time.Now().UTC(),
	}
}

func (w *Worker) publishEvent(ctx context.Context, ev Event) error {
	if w.cfg.Observe != nil {
		w.cfg.Observe(ev)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	// Retried while the events stream elects a new leader: a job whose outcome is not
	// recorded runs again.
	return retry(ctx, w.cfg.AckWait, 5*time.Second, func(ctx context.Context) error {
		_, err := w.cfg.JetStream.Publish(ctx, eventsSubject(ev.BatchID), data,
			jetstream.WithMsgID("evt-"+ev.JobID+"-"+string(ev.Outcome)))
		return err
	}, nil)
}

// jobKey identifies a job for the outage count: its id, or its stream sequence.
func jobKey(job *Job, meta *jetstream.MsgMetadata) string {
	if job.ID != "" {
		return job.ID
	}
	return "seq-" + strconv.FormatUint(meta.Sequence.Stream, 10)
}

// redeliveryDelay is the delay before delivery attempt+1: base·2^(attempt-1), capped, ±20 %.
func (w *Worker) redeliveryDelay(attempt int) time.Duration {
	d := w.cfg.RedeliveryDelay << min(attempt-1, 20)
	d = min(d, w.cfg.MaxRedeliveryDelay)
	jitter := 0.8 + 0.4*rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	return time.Duration(float64(d) * jitter)
}

// heartbeat sends InProgress every interval until the returned func is called; none is sent
// once it has returned. It runs on a timer rather than a goroutine of its own: most jobs end
// before their first beat.
func heartbeat(msg jetstream.Msg, every time.Duration) func() {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock() // the first beat waits for t
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			_ = msg.InProgress()
			t.Reset(every)
		}
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

// sleep waits d or until ctx ends; it reports whether it waited the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
