package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
)

// Records is a NATS KV bucket of JSON records that the workers of a target share: what the
// target remembers of the profiles it wrote (their ids at the ATS), and an account's token or
// session. Record writes that follow a write at the ATS must not be lost: [Records.Put] and
// [Records.Keep] go on for up to StoreTimeout after their context is done.
type Records struct {
	KV jetstream.KeyValue
	// Name prefixes the errors, e.g. "jobadder: token record".
	Name string
}

// StoreTimeout bounds how long [Records.Put] and [Records.Keep] go on after their context is
// done.
const StoreTimeout = 10 * time.Second

// OpTimeout bounds one read or compare-and-swap of a record, whatever the caller's deadline
// (a job's is minutes): a request to a bucket whose leader was just lost may get no answer,
// and a caller waiting out its own deadline holds up every job waiting for the same record.
// The error is transient; the job layer retries.
const OpTimeout = 5 * time.Second

// ErrRecordChanged means that another writer changed the record since it was read.
var ErrRecordChanged = errors.New("record changed by another worker")

// Get decodes key's value into v and returns its revision. A missing key leaves v as it is
// and returns revision 0.
func (r Records) Get(ctx context.Context, key string, v any) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	e, err := r.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: read %s: %w", r.Name, key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("%s %s is not valid JSON: %w", r.Name, key, err)
	}
	return e.Revision(), nil
}

// Put stores v under key, whatever its revision. A failed write is tried again until
// StoreTimeout: the bucket's leader lost, a new one is elected within seconds.
func (r Records) Put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	err = broker.Retry(context.WithoutCancel(ctx), StoreTimeout, OpTimeout, func(ctx context.Context) error {
		_, err := r.KV.Put(ctx, key, b)
		return err
	}, func(error) bool { return true }, nil)
	if err != nil {
		return fmt.Errorf("%s: store %s: %w", r.Name, key, err)
	}
	return nil
}

// Swap stores v under key if the record is still at revision rev (0: if there is none), and
// returns the new revision. It returns [ErrRecordChanged] if another writer came first.
func (r Records) Swap(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	if rev == 0 {
		rev, err = r.KV.Create(ctx, key, b)
	} else {
		rev, err = r.KV.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, ErrRecordChanged
	}
	if err != nil {
		return 0, fmt.Errorf("%s: store %s: %w", r.Name, key, err)
	}
	return rev, nil
}

// Keep is [Records.Swap] for a write that must not be lost (a rotated refresh token): it goes
// on after ctx is done, and tries again until StoreTimeout (a bucket's leader lost is replaced
// within seconds) unless the record changed.
func (r Records) Keep(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	var newRev uint64
	err := broker.Retry(context.WithoutCancel(ctx), StoreTimeout, OpTimeout, func(ctx context.Context) (err error) {
		newRev, err = r.Swap(ctx, key, v, rev)
		return err
	}, func(err error) bool { return !errors.Is(err, ErrRecordChanged) }, nil)
	return newRev, err
}

// WaitChange waits until key's revision moves past rev, at most d (e.g. the rest of another
// worker's lease). It returns ctx's error if ctx is done, and nil otherwise.
func (r Records) WaitChange(ctx context.Context, key string, rev uint64, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	w, err := r.KV.Watch(wctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: watch %s: %w", r.Name, key, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok || (e != nil && e.Revision() > rev) {
				return ctx.Err()
			}
		case <-wctx.Done():
			return ctx.Err()
		}
	}
}

// Lease is the part of a shared record that says which worker is renewing what the record
// holds (a token, a session) and until when the others wait for it, and when the record was
// last written.
type Lease struct {
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// lease makes the records that embed a Lease [SharedRecord] values.
func (l *Lease) lease() *Lease { return l }

// HeldByOther reports whether a worker other than owner holds the lease at now.
func (l Lease) HeldByOther(owner string, now time.Time) bool {
	return l.LeaseOwner != "" && l.LeaseOwner != owner && now.Before(l.LeaseUntil)
}

// Namespace is the first token of the keys an account (connection) owns in the IDs bucket:
// the target's name for the default connection ("" or "default"), whose keys are those hrpush
// always wrote, so that nothing needs migrating and workers of two versions agree during a
// rolling upgrade; "target-connection" for the others, which no key of another connection or
// of the default can start with (target names hold no "-").
func Namespace(target, connection string) string {
	if connection == "" || connection == "default" {
		return target
	}
	return target + "-" + connection
}

// RecordKey is the key of a profile's record in the IDs bucket of target: readable
// ("target.source.profile") when both keys are made of [A-Za-z0-9_-] only, and otherwise
// "target." followed by the hex SHA-256 of the source key, a NUL byte and the profile key.
// target is a [Namespace].
func RecordKey(target, sourceKey, profileKey string) string {
	if plainKey(sourceKey) && plainKey(profileKey) {
		return target + "." + sourceKey + "." + profileKey
	}
	sum := sha256.Sum256([]byte(sourceKey + "\x00" + profileKey))
	return target + "." + hex.EncodeToString(sum[:])
}

// plainKey reports whether s is made of [A-Za-z0-9_-] only.
func plainKey(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	})
}

// Delete removes key's record, even when ctx is done (for up to StoreTimeout).
func (r Records) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StoreTimeout)
	defer cancel()
	if err := r.KV.Delete(ctx, key); err != nil {
		return fmt.Errorf("%s: delete %s: %w", r.Name, key, err)
	}
	return nil
}
