package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
)

// Names of the streams, subjects and buckets hrpush uses.
const (
	// JobsStream holds the jobs waiting to be pushed (WorkQueue retention: a job is removed
	// when a worker acks or terminates it).
	JobsStream = "PUSH_PROFILES"
	// SubjectPrefix is followed by the target: hrpush.push.jobadder.
	SubjectPrefix = "hrpush.push."
	// DLQStream holds dead-lettered jobs (Limits retention: kept until purged or MaxAge).
	DLQStream = "PUSH_PROFILES_DLQ"
	// DLQSubjectPrefix is followed by the target, or "unknown" when a bad job named none.
	DLQSubjectPrefix = "hrpush.dlq."
	// EventsStream holds one event per job outcome, and each batch's header, so that any process
	// can follow a batch.
	EventsStream = "PUSH_EVENTS"
	// EventsSubjectPrefix is followed by the batch id ("none" for jobs without batch).
	EventsSubjectPrefix = "hrpush.events."
	// BatchesSubjectPrefix is followed by the batch id; it carries the batch header.
	BatchesSubjectPrefix = "hrpush.batches."
	// TokensBucket holds the ATS tokens shared by all workers (the only secrets hrpush stores).
	TokensBucket = "hrpush_tokens"
	// IDsBucket maps profiles to ATS ids, so a redelivered job updates instead of creating.
	IDsBucket = "hrpush_ids"
	// LocksBucket holds short-lived locks (e.g. one writer per candidate email); its keys
	// expire on their own, so a lock left by a dead worker frees itself.
	LocksBucket = "hrpush_locks"
	// StateBucket holds workflow state, e.g. what incremental read mode last pushed.
	StateBucket = "hrpush_state"
	// ConnectionsBucket holds the ATS accounts (connections) workers write to, their
	// secrets sealed (package connections).
	ConnectionsBucket = "hrpush_connections"
	// ConsentBucket holds the gateway's consent flows: single-use links and OAuth states, by
	// hash, each expiring within minutes (the bucket drops anything older than an hour).
	ConsentBucket = "hrpush_consent"
	// IdempotencyBucket holds the gateway's Idempotency-Key records; they expire on their own.
	IdempotencyBucket = "hrpush_idempotency"
	// APIKeysBucket holds the gateway's API keys, hashed (package apikeys).
	APIKeysBucket = "hrpush_apikeys"
	// ConsumerPrefix is followed by the target: the durable pull consumer of that target.
	ConsumerPrefix = "hrpush-"
)

// bucketTable is every KV bucket hrpush uses: adding a bucket is one entry here (and a name
// constant above); every binary then creates it as it creates the others, enqueue setup
// reports and applies its changes, and [Buckets.KV] opens it. Replicas and storage come from
// the [StreamConfig].
var bucketTable = []jetstream.KeyValueConfig{ //nolint:gochecknoglobals // constant table
	{Bucket: TokensBucket, Description: "ATS tokens shared by workers", History: 1},
	{Bucket: IDsBucket, Description: "profile to ATS id", History: 1},
	{Bucket: LocksBucket, Description: "short-lived locks", History: 1, LimitMarkerTTL: time.Minute},
	{Bucket: StateBucket, Description: "workflow state", History: 1},
	{Bucket: ConnectionsBucket, Description: "ATS accounts (connections), secrets sealed", History: 5},
	{Bucket: ConsentBucket, Description: "consent flows: single-use links and OAuth states", History: 1, TTL: time.Hour},
	{Bucket: IdempotencyBucket, Description: "gateway Idempotency-Key records", History: 1, TTL: 24 * time.Hour},
	{Bucket: APIKeysBucket, Description: "gateway API keys, hashed", History: 1},
}

// Limits bound a stream. A zero field is unlimited (MaxAge: kept until removed).
type Limits struct {
	// MaxBytes is the most the stream stores (per replica).
	MaxBytes int64
	// MaxMsgs is the most messages the stream stores.
	MaxMsgs int64
	// MaxAge is how long a message is kept.
	MaxAge time.Duration
}

// StreamConfig describes hrpush's streams and buckets (their topology): every binary builds it
// from the same settings (see [StreamConfigFromEnv]) so that whoever comes first creates them
// the same way. The zero value suits one embedded server.
type StreamConfig struct {
	// Replicas of every stream and bucket. Default 1; use 3 in a NATS cluster.
	Replicas int
	// Storage of the streams. Default file storage.
	Storage jetstream.StorageType
	// DuplicatesWindow is how long a Nats-Msg-Id is remembered, so that a job enqueued twice in
	// that window is stored once. Default 20 minutes; must be at least 10 minutes, longer than a
	// producer's retry horizon.
	DuplicatesWindow time.Duration
	// Jobs limits the jobs stream. When it is full, publishing a job fails with
	// [ErrStreamFull] (discard new: no job already stored is dropped). Default unlimited.
	Jobs Limits
	// DLQ limits the dead letters. A full DLQ refuses new entries, and the jobs they belong to
	// stay in the jobs stream (redelivered later) rather than being lost. Default MaxAge 90 days.
	DLQ Limits
	// Events limits the job events (batch progress and reports). A full events stream drops
	// its oldest events. Default MaxAge 14 days.
	Events Limits
	// Logger receives the differences left unapplied and the progress of waiting for
	// JetStream. Default: discarded.
	Logger *slog.Logger
	// SetupTimeout bounds how long [Setup] waits for JetStream to answer (a fresh cluster
	// electing its leaders, another process creating the same streams). Default 1 minute.
	SetupTimeout time.Duration
}

func (c StreamConfig) withDefaults() StreamConfig {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.DuplicatesWindow = cmp.Or(c.DuplicatesWindow, 20*time.Minute)
	c.DLQ.MaxAge = cmp.Or(c.DLQ.MaxAge, 90*24*time.Hour)
	c.Events.MaxAge = cmp.Or(c.Events.MaxAge, 14*24*time.Hour)
	c.SetupTimeout = cmp.Or(c.SetupTimeout, time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c StreamConfig) validate() error {
	var errs []error
	if c.DuplicatesWindow < 10*time.Minute {
		errs = append(errs, fmt.Errorf("duplicates window %s is shorter than 10 minutes", c.DuplicatesWindow))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: want 1 to 5", c.Replicas))
	}
	for _, l := range []struct {
		name string
		l    Limits
	}{{"jobs", c.Jobs}, {"dlq", c.DLQ}, {"events", c.Events}} {
		if l.l.MaxBytes < 0 || l.l.MaxMsgs < 0 || l.l.MaxAge < 0 {
			errs = append(errs, fmt.Errorf("%s limits must not be negative", l.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jobs: invalid stream config: %w", err)
	}
	return nil
}

// Streams returns the streams hrpush uses, as the settings make them.
func (c StreamConfig) Streams() []jetstream.StreamConfig {
	c = c.withDefaults()
	subjects := make([]string, 0, 2*len(Targets))
	for _, t := range Targets {
		subjects = append(subjects, SubjectPrefix+t, SubjectPrefix+t+".*")
	}
	limited := func(sc jetstream.StreamConfig, l Limits) jetstream.StreamConfig {
		sc.Storage, sc.Replicas = c.Storage, c.Replicas
		sc.MaxBytes, sc.MaxMsgs, sc.MaxAge = unlimited(l.MaxBytes), unlimited(l.MaxMsgs), l.MaxAge
		return sc
	}
	return []jetstream.StreamConfig{
		limited(jetstream.StreamConfig{
			Name:        JobsStream,
			Description: "hrpush push-profile jobs",
			Subjects:    subjects,
			Retention:   jetstream.WorkQueuePolicy,
			Duplicates:  c.DuplicatesWindow,
			Discard:     jetstream.DiscardNew,
		}, c.Jobs),
		limited(jetstream.StreamConfig{
			Name:        DLQStream,
			Description: "hrpush dead-lettered jobs, with error and attempts",
			Subjects:    []string{DLQSubjectPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  2 * time.Minute,
			Discard:     jetstream.DiscardNew,
		}, c.DLQ),
		limited(jetstream.StreamConfig{
			Name:        EventsStream,
			Description: "hrpush job outcomes and batch headers",
			Subjects:    []string{EventsSubjectPrefix + ">", BatchesSubjectPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  2 * time.Minute,
			Discard:     jetstream.DiscardOld,
		}, c.Events),
	}
}

// unlimited turns the zero of a limit into JetStream's -1.
func unlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// consumerConfig is the durable pull consumer of the jobs stream for target's own subject
// (connection "") or for one connection's subject. The workers own the consumers: they create
// and update them (with their AckWait and caps) as they start and as connections get jobs. A
// connection's consumer is removed by the server after an hour unused.
func consumerConfig(target, connection string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	c := jetstream.ConsumerConfig{
		Durable:       ConsumerPrefix + target,
		Description:   "hrpush workers for " + target,
		FilterSubject: SubjectPrefix + target,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1, // the runtime enforces MaxDeliveries itself, so the last one still reaches the DLQ
		MaxAckPending: maxAckPending,
	}
	if connection != "" {
		c.Durable += "-" + connection
		c.Description += " connection " + connection
		c.FilterSubject += "." + connection
		c.InactiveThreshold = time.Hour
	}
	return c
}

// Buckets returns the KV buckets hrpush uses, as the settings make them.
func (c StreamConfig) Buckets() []jetstream.KeyValueConfig {
	c = c.withDefaults()
	out := slices.Clone(bucketTable)
	for i := range out {
		out[i].Replicas, out[i].Storage = c.Replicas, c.Storage
	}
	return out
}

// Buckets are the KV buckets shared by the workers and tools.
type Buckets struct {
	Tokens jetstream.KeyValue
	IDs    jetstream.KeyValue
	Locks  jetstream.KeyValue
	State  jetstream.KeyValue
	// Connections is read through package connections.
	Connections jetstream.KeyValue
	// Consent is read through package consent.
	Consent jetstream.KeyValue
	// Idempotency and APIKeys are the gateway's (Idempotency-Key records, API keys).
	Idempotency jetstream.KeyValue
	APIKeys     jetstream.KeyValue

	all map[string]jetstream.KeyValue
}

// KV returns the bucket name (one of the ...Bucket constants), or nil if it is not one of
// hrpush's.
func (b *Buckets) KV(name string) jetstream.KeyValue { return b.all[name] }

// SetupMode says what [Setup] does with streams and buckets that exist but differ from the
// settings.
type SetupMode int

const (
	// CreateMissing creates what is missing and changes nothing that exists: what differs is
	// reported. Every process starts in this mode, so that none silently undoes another's
	// settings.
	CreateMissing SetupMode = iota
	// ApplyChanges also updates what differs (enqueue setup --apply, a worker with
	// HRPUSH_APPLY_TOPOLOGY=true).
	ApplyChanges
	// PlanChanges changes nothing and reports what ApplyChanges would do (enqueue setup).
	PlanChanges
)

// Change is a stream or bucket that was, or would be, created or updated.
type Change struct {
	Kind string // "stream" or "bucket"
	Name string
	// Create is set when it does not exist; Diffs otherwise says what differs, each as
	// "setting: now → wanted".
	Create bool
	Diffs  []string
	// Applied is set when Setup made the change.
	Applied bool
}

func (c Change) String() string {
	what := strings.Join(c.Diffs, ", ")
	if c.Create {
		what = "create"
	}
	return c.Kind + " " + c.Name + ": " + what
}

// ErrSetupTimeout is returned by [Setup] when JetStream did not answer within the config's
// SetupTimeout.
var ErrSetupTimeout = errors.New("jobs: JetStream did not answer in time")

// EnsureStreams creates the streams and buckets that are missing, and returns the buckets;
// what exists but differs from cfg is left as it is and logged as a warning on cfg.Logger.
// Every binary calls it at start-up: it is [Setup] with [CreateMissing].
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (*Buckets, error) {
	b, changes, err := Setup(ctx, js, cfg, CreateMissing)
	if err != nil {
		return nil, err
	}
	log := cfg.withDefaults().Logger
	for _, c := range changes {
		if !c.Applied {
			log.Warn("NATS "+c.Kind+" differs from the settings; left as it is (apply with enqueue setup --apply, or a worker with HRPUSH_APPLY_TOPOLOGY=true)",
				"name", c.Name, "differences", strings.Join(c.Diffs, ", "))
		}
	}
	return b, nil
}

// Setup brings the streams and buckets to cfg as mode says, and returns the buckets (nil with
// [PlanChanges]) and the changes made, or found and left. A fresh cluster still electing its
// leaders, or another process creating the same streams, is waited for, up to
// cfg.SetupTimeout, with progress on cfg.Logger.
func Setup(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, mode SetupMode) (*Buckets, []Change, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.SetupTimeout, ErrSetupTimeout)
	defer cancel()
	s := setup{js: js, mode: mode, log: cfg.Logger, start: time.Now()}
	var changes []Change
	for _, want := range cfg.Streams() {
		c, err := s.stream(ctx, want)
		if err != nil {
			return nil, changes, s.failed(ctx, "stream "+want.Name, err)
		}
		if c != nil {
			changes = append(changes, *c)
		}
	}
	b := &Buckets{all: map[string]jetstream.KeyValue{}}
	for _, want := range cfg.Buckets() {
		kv, c, err := s.bucket(ctx, want)
		if err != nil {
			return nil, changes, s.failed(ctx, "bucket "+want.Bucket, err)
		}
		if c != nil {
			changes = append(changes, *c)
		}
		b.all[want.Bucket] = kv
	}
	if mode == PlanChanges {
		return nil, changes, nil
	}
	b.fill()
	return b, changes, nil
}

// fill sets the named fields from all.
func (b *Buckets) fill() {
	b.Tokens, b.IDs, b.Locks = b.all[TokensBucket], b.all[IDsBucket], b.all[LocksBucket]
	b.State, b.Connections = b.all[StateBucket], b.all[ConnectionsBucket]
	b.Consent, b.Idempotency, b.APIKeys = b.all[ConsentBucket], b.all[IdempotencyBucket], b.all[APIKeysBucket]
}

// OpenBuckets binds the named buckets, which must exist, without looking at any other stream
// or bucket: for a process whose NATS user may read only those (the gateway). A missing one
// is an error wrapping jetstream.ErrBucketNotFound; the other fields stay nil.
func OpenBuckets(ctx context.Context, js jetstream.JetStream, names ...string) (*Buckets, error) {
	b := &Buckets{all: make(map[string]jetstream.KeyValue, len(names))}
	for _, name := range names {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("jobs: bucket %s: %w", name, err)
		}
		b.all[name] = kv
	}
	b.fill()
	return b, nil
}

// setup is one run of [Setup].
type setup struct {
	js    jetstream.JetStream
	mode  SetupMode
	log   *slog.Logger
	start time.Time
	// logged is when the last "waiting" line was logged.
	logged time.Time
}

func (s *setup) failed(ctx context.Context, what string, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrSetupTimeout) {
		return fmt.Errorf("%w: setting up %s after %s: %w", ErrSetupTimeout, what, time.Since(s.start).Round(time.Second), err)
	}
	return fmt.Errorf("jobs: %s: %w", what, err)
}

// stream creates, reads, or updates one stream.
func (s *setup) stream(ctx context.Context, want jetstream.StreamConfig) (*Change, error) {
	for {
		var have *jetstream.StreamInfo
		err := s.retry(ctx, "stream "+want.Name, func(ctx context.Context) error {
			st, err := s.js.Stream(ctx, want.Name)
			if err == nil {
				have = st.CachedInfo()
			}
			return err
		})
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			c := &Change{Kind: "stream", Name: want.Name, Create: true}
			if s.mode == PlanChanges {
				return c, nil
			}
			err = s.retry(ctx, "stream "+want.Name, func(ctx context.Context) error {
				_, err := s.js.CreateStream(ctx, want)
				return err
			})
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // another process came first: compare with what it made
			}
			if err != nil {
				return nil, err
			}
			c.Applied = true
			s.log.Info("NATS stream created", "name", want.Name, "replicas", want.Replicas)
			return c, nil
		case err != nil:
			return nil, err
		}
		diffs := streamDiffs(have.Config, want)
		if len(diffs) == 0 {
			return nil, nil
		}
		c := &Change{Kind: "stream", Name: want.Name, Diffs: diffs}
		if s.mode != ApplyChanges {
			return c, nil
		}
		if err := s.retry(ctx, "stream "+want.Name, func(ctx context.Context) error {
			_, err := s.js.UpdateStream(ctx, want)
			return err
		}); err != nil {
			return nil, fmt.Errorf("update (%s): %w", strings.Join(diffs, ", "), err)
		}
		c.Applied = true
		s.log.Info("NATS stream updated", "name", want.Name, "changes", strings.Join(diffs, ", "))
		return c, nil
	}
}

// bucket creates, opens, or updates one bucket.
func (s *setup) bucket(ctx context.Context, want jetstream.KeyValueConfig) (jetstream.KeyValue, *Change, error) {
	for {
		var kv jetstream.KeyValue
		var have jetstream.KeyValueConfig
		err := s.retry(ctx, "bucket "+want.Bucket, func(ctx context.Context) error {
			var err error
			if kv, err = s.js.KeyValue(ctx, want.Bucket); err != nil {
				return err
			}
			st, err := kv.Status(ctx)
			if err != nil {
				return err
			}
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				have = bs.Config()
			}
			return nil
		})
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			c := &Change{Kind: "bucket", Name: want.Bucket, Create: true}
			if s.mode == PlanChanges {
				return nil, c, nil
			}
			err = s.retry(ctx, "bucket "+want.Bucket, func(ctx context.Context) error {
				var err error
				kv, err = s.js.CreateKeyValue(ctx, want)
				return err
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			c.Applied = true
			s.log.Info("NATS bucket created", "name", want.Bucket, "replicas", want.Replicas)
			return kv, c, nil
		case err != nil:
			return nil, nil, err
		}
		diffs := bucketDiffs(have, want)
		if len(diffs) == 0 {
			return kv, nil, nil
		}
		c := &Change{Kind: "bucket", Name: want.Bucket, Diffs: diffs}
		if s.mode != ApplyChanges {
			return kv, c, nil
		}
		if err := s.retry(ctx, "bucket "+want.Bucket, func(ctx context.Context) error {
			var err error
			kv, err = s.js.UpdateKeyValue(ctx, want)
			return err
		}); err != nil {
			return nil, nil, fmt.Errorf("update (%s): %w", strings.Join(diffs, ", "), err)
		}
		c.Applied = true
		s.log.Info("NATS bucket updated", "name", want.Bucket, "changes", strings.Join(diffs, ", "))
		return kv, c, nil
	}
}

// retry runs op, each call bounded to a few seconds, until it succeeds, fails for good, or ctx
// ends. JetStream that is not there yet (a fresh cluster electing its meta leader, a stream
// being created by another process, a leader lost) answers late, not at all, or 503: such
// errors are retried, with a line on the logger every few seconds.
//
// A server that runs without JetStream answers like one still starting it: past a short
// grace, its "not enabled" or no answer at all is an [ErrJetStreamOff] at once, rather than a
// wait of SetupTimeout for what will never come.
func (s *setup) retry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	return retry(ctx, 0, 5*time.Second, func(ctx context.Context) error {
		err := op(ctx)
		if jetStreamOff(s.js.Conn(), err) && time.Since(s.start) >= jetStreamOffGrace {
			return fmt.Errorf("%w (%s): %v", ErrJetStreamOff, s.js.Conn().ConnectedUrlRedacted(), err)
		}
		return err
	}, func(err error) {
		if time.Since(s.logged) >= 2*time.Second {
			s.logged = time.Now()
			s.log.Info("waiting for JetStream", "for", what, "waited", time.Since(s.start).Round(time.Second), "error", err)
		}
	})
}

// retry is [broker.Retry] of what is transient here.
func retry(ctx context.Context, total, each time.Duration, op func(ctx context.Context) error, waiting func(error)) error {
	return broker.Retry(ctx, total, each, op, transient, waiting)
}

// transient is [broker.Transient], or a stream not created yet that setup waits for.
func transient(err error) bool { return errors.Is(err, errNotYet) || broker.Transient(err) }

// streamDiffs says how have differs from want, in the settings hrpush sets.
func streamDiffs(have, want jetstream.StreamConfig) []string {
	var d diffs
	d.add("description", have.Description, want.Description)
	hs, ws := slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(want.Subjects))
	d.add("subjects", strings.Join(hs, " "), strings.Join(ws, " "))
	d.add("retention", have.Retention, want.Retention)
	d.add("storage", have.Storage, want.Storage)
	d.add("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.add("discard", have.Discard, want.Discard)
	d.add("duplicates", have.Duplicates, want.Duplicates)
	d.add("max_bytes", limitString(have.MaxBytes), limitString(want.MaxBytes))
	d.add("max_msgs", limitString(have.MaxMsgs), limitString(want.MaxMsgs))
	d.add("max_age", ageString(have.MaxAge), ageString(want.MaxAge))
	return d
}

// bucketDiffs says how have differs from want, in the settings hrpush sets.
func bucketDiffs(have, want jetstream.KeyValueConfig) []string {
	var d diffs
	d.add("description", have.Description, want.Description)
	d.add("history", max(have.History, 1), max(want.History, 1))
	d.add("ttl", ageString(have.TTL), ageString(want.TTL))
	d.add("max_bytes", limitString(have.MaxBytes), limitString(want.MaxBytes))
	d.add("storage", have.Storage, want.Storage)
	d.add("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.add("limit_marker_ttl", ageString(have.LimitMarkerTTL), ageString(want.LimitMarkerTTL))
	return d
}

type diffs []string

func (d *diffs) add(name string, have, want any) {
	h, w := fmt.Sprint(have), fmt.Sprint(want)
	if h != w {
		*d = append(*d, fmt.Sprintf("%s %s → %s", name, cmp.Or(h, `""`), cmp.Or(w, `""`)))
	}
}

func limitString(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func ageString(d time.Duration) string {
	if d <= 0 {
		return "unlimited"
	}
	return d.String()
}

// WaitStreams waits until the named streams exist and answer (created by another process: a
// worker, enqueue setup), up to cfg.SetupTimeout, with progress on cfg.Logger. It creates
// nothing: for producers whose NATS user may not create streams.
func WaitStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, names ...string) error {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.SetupTimeout, ErrSetupTimeout)
	defer cancel()
	s := setup{js: js, log: cfg.Logger, start: time.Now()}
	for _, name := range names {
		err := s.retry(ctx, "stream "+name+" (created by a worker or enqueue setup)", func(ctx context.Context) error {
			_, err := js.Stream(ctx, name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%w: %w", errNotYet, err)
			}
			return err
		})
		if err != nil {
			return s.failed(ctx, "stream "+name, err)
		}
	}
	return nil
}

// ErrJetStreamOff is returned by [Setup], [WaitStreams], [StreamExists] and [CompareStreams]
// when the NATS server they are connected to runs without JetStream.
var ErrJetStreamOff = errors.New("jobs: the NATS server runs without JetStream: start it with -js, or a jetstream block in its configuration file, or point NATS_URL at one that has it")

// jetStreamOffGrace is how long a server that says it has no JetStream is waited for anyway:
// a server still starting, or a cluster whose JetStream servers are still electing, answers so
// for a moment.
const jetStreamOffGrace = 2 * time.Second

// jetStreamOff reports whether err is JetStream's absence (no responders, "not enabled") on a
// connection whose server announces it has no JetStream.
func jetStreamOff(nc *nats.Conn, err error) bool {
	if err == nil || nc == nil {
		return false
	}
	if on, _ := nc.ConnectedServerJetStream(); on {
		return false
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}

// errNotYet marks a missing stream that WaitStreams waits for.
var errNotYet = errors.New("not created yet")

// StreamExists reports whether the stream name exists, waiting through the errors of a
// JetStream that is not ready yet, up to cfg.SetupTimeout.
func StreamExists(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, name string) (bool, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.SetupTimeout, ErrSetupTimeout)
	defer cancel()
	s := setup{js: js, log: cfg.Logger, start: time.Now()}
	err := s.retry(ctx, "stream "+name, func(ctx context.Context) error {
		_, err := js.Stream(ctx, name)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	case err != nil:
		return false, s.failed(ctx, "stream "+name, err)
	}
	return true, nil
}

// CompareStreams returns how the named streams differ from cfg (a missing one is a Change to
// create), changing nothing: for producers, whose NATS user may read only the streams it uses.
func CompareStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, names ...string) ([]Change, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.SetupTimeout, ErrSetupTimeout)
	defer cancel()
	s := setup{js: js, mode: PlanChanges, log: cfg.Logger, start: time.Now()}
	var changes []Change
	for _, want := range cfg.Streams() {
		if !slices.Contains(names, want.Name) {
			continue
		}
		c, err := s.stream(ctx, want)
		if err != nil {
			return changes, s.failed(ctx, "stream "+want.Name, err)
		}
		if c != nil {
			changes = append(changes, *c)
		}
	}
	return changes, nil
}
