package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// StreamConfig says how the streams are created. The zero value suits one embedded server.
type StreamConfig struct {
	// Replicas of every stream and bucket. Default 1; use 3 in a NATS cluster.
	Replicas int
	// Storage of the streams. Default file storage.
	Storage jetstream.StorageType
	// DuplicatesWindow is how long a Nats-Msg-Id is remembered, so that a job enqueued twice in
	// that window is stored once. Default 20 minutes; must be at least 10 minutes, longer than a
	// producer's retry horizon.
	DuplicatesWindow time.Duration
	// DLQMaxAge is how long dead letters are kept. Default 90 days.
	DLQMaxAge time.Duration
	// EventsMaxAge is how long job events (batch progress and reports) are kept. Default 14 days.
	EventsMaxAge time.Duration
}

func (c StreamConfig) withDefaults() StreamConfig {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.DuplicatesWindow = cmp.Or(c.DuplicatesWindow, 20*time.Minute)
	c.DLQMaxAge = cmp.Or(c.DLQMaxAge, 90*24*time.Hour)
	c.EventsMaxAge = cmp.Or(c.EventsMaxAge, 14*24*time.Hour)
	return c
}

// Buckets are the KV buckets shared by workers.
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
}

// EnsureStreams creates or updates the jobs, DLQ and events streams and the KV buckets. Both
// binaries call it at start-up; it is idempotent.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (*Buckets, error) {
	cfg = cfg.withDefaults()
	if cfg.DuplicatesWindow < 10*time.Minute {
		return nil, fmt.Errorf("jobs: duplicates window %s is shorter than 10 minutes", cfg.DuplicatesWindow)
	}
	subjects := make([]string, 0, len(Targets))
	for _, t := range Targets {
		subjects = append(subjects, SubjectPrefix+t, SubjectPrefix+t+".*")
	}
	streams := []jetstream.StreamConfig{{
		Name:        JobsStream,
		Description: "hrpush push-profile jobs",
		Subjects:    subjects,
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     cfg.Storage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicatesWindow,
		Discard:     jetstream.DiscardNew,
	}, {
		Name:        DLQStream,
		Description: "hrpush dead-lettered jobs, with error and attempts",
		Subjects:    []string{DLQSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     cfg.Storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.DLQMaxAge,
		Duplicates:  2 * time.Minute,
	}, {
		Name:        EventsStream,
		Description: "hrpush job outcomes and batch headers",
		Subjects:    []string{EventsSubjectPrefix + ">", BatchesSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     cfg.Storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.EventsMaxAge,
		Duplicates:  2 * time.Minute,
	}}
	for _, sc := range streams {
		if err := retrySetup(ctx, func() error { _, err := js.CreateOrUpdateStream(ctx, sc); return err }); err != nil {
			return nil, fmt.Errorf("jobs: ensure stream %s: %w", sc.Name, err)
		}
	}
	var b Buckets
	for _, kc := range []struct {
		cfg jetstream.KeyValueConfig
		kv  *jetstream.KeyValue
	}{
		{jetstream.KeyValueConfig{Bucket: TokensBucket, Description: "ATS tokens shared by workers", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.Tokens},
		{jetstream.KeyValueConfig{Bucket: IDsBucket, Description: "profile to ATS id", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.IDs},
		{jetstream.KeyValueConfig{Bucket: LocksBucket, Description: "short-lived locks", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage, LimitMarkerTTL: time.Minute}, &b.Locks},
		{jetstream.KeyValueConfig{Bucket: StateBucket, Description: "workflow state", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.State},
		{jetstream.KeyValueConfig{Bucket: ConnectionsBucket, Description: "ATS accounts (connections), secrets sealed", History: 5, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.Connections},
		{jetstream.KeyValueConfig{Bucket: ConsentBucket, Description: "consent flows: single-use links and OAuth states", History: 1, TTL: time.Hour, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.Consent},
		{jetstream.KeyValueConfig{Bucket: IdempotencyBucket, Description: "gateway Idempotency-Key records", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage, TTL: 24 * time.Hour}, &b.Idempotency},
		{jetstream.KeyValueConfig{Bucket: APIKeysBucket, Description: "gateway API keys, hashed", History: 1, Replicas: cfg.Replicas, Storage: cfg.Storage}, &b.APIKeys},
	} {
		var kv jetstream.KeyValue
		err := retrySetup(ctx, func() (err error) { kv, err = js.CreateOrUpdateKeyValue(ctx, kc.cfg); return err })
		if err != nil {
			return nil, fmt.Errorf("jobs: ensure bucket %s: %w", kc.cfg.Bucket, err)
		}
		*kc.kv = kv
	}
	return &b, nil
}

// retrySetup retries a stream or bucket creation that timed out: workers starting together on
// an empty NATS cluster make the meta leader answer late, and one of them would otherwise exit.
func retrySetup(ctx context.Context, op func() error) error {
	bo := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(), 6), ctx)
	return backoff.Retry(func() error {
		err := op()
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
		return backoff.Permanent(err)
	}, bo)
}
