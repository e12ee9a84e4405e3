package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// incremental runs enqueue source --incremental: list the profiles updated since the
// watermark, enqueue them, then move the watermark.
//
// HrFlow has no "updated after" filter (APIS.md §1.4), so a run lists the source by
// updated_at, newest first, and stops at the first profile older than the watermark. Newest
// first also makes offset pages safe against edits during the listing: an edited profile moves
// to page 1, which shifts the others to later pages (seen twice, not skipped), and its new
// updated_at is newer than the watermark this run sets, so the next run takes it.
type incremental struct {
	on      bool
	every   time.Duration // 0: one run
	overlap time.Duration // the watermark is the newest updated_at enqueued minus overlap
}

// lockTTL is how long a run's lock outlives its last renewal (renewed every lockTTL/4). The
// locks bucket's LimitMarkerTTL allows per-key TTLs.
const lockTTL = time.Minute

// errLockHeld is returned when another run of the same workflow, target and source holds the lock.
var errLockHeld = errors.New("another incremental run holds the lock")

// errLockLost cancels a run whose lock could not be renewed or was taken over.
var errLockLost = errors.New("lost the incremental run's lock")

// keyPart is what a watermark or lock key may hold of a source key or connection.
var keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func (inc *incremental) check(f jobFlags, wait bool, limit int, createdAfter, createdBefore string) error {
	switch {
	case !inc.on && inc.every != 0:
		return errors.New("--every needs --incremental")
	case !inc.on:
		return nil
	case limit != 0 || createdAfter != "" || createdBefore != "":
		return errors.New("--incremental lists what changed since the watermark: --limit, --created-after and --created-before do not apply")
	case inc.every < 0 || (inc.every > 0 && inc.every < time.Second):
		return fmt.Errorf("--every %s: want 1s or more", inc.every)
	case inc.every > 0 && (wait || f.batchID != ""):
		return errors.New("--every starts a batch per run: --wait and --batch-id do not apply")
	case inc.overlap < 0:
		return fmt.Errorf("--overlap %s: want 0 or more", inc.overlap)
	}
	return nil
}

// stateKey returns the key of the watermark (bucket jobs.StateBucket) and of the lock (bucket
// jobs.LocksBucket) of f's workflow, target, source and connection:
// incremental.<workflow>.<target>.<source>[.<connection>].
func stateKey(f jobFlags) (string, error) {
	if !keyPart.MatchString(f.workflowID) || !keyPart.MatchString(f.target) || !keyPart.MatchString(f.sourceKey) {
		return "", fmt.Errorf("--workflow-id, --target and --source-key must match %s for an incremental run", keyPart)
	}
	key := "incremental." + f.workflowID + "." + f.target + "." + f.sourceKey
	if f.connection != "" {
		key += "." + f.connection
	}
	return key, nil
}

// watermark is the value of a state key.
type watermark struct {
	// UpdatedAt: the next run enqueues the profiles updated at or after it.
	UpdatedAt time.Time `json:"updated_at"`
	BatchID   string    `json:"batch_id"`
	MovedAt   time.Time `json:"moved_at"`
}

// loadWatermark returns the watermark of key and its revision (0 and a zero watermark when
// there is none).
func loadWatermark(ctx context.Context, state jetstream.KeyValue, key string) (watermark, uint64, error) {
	var w watermark
	e, err := state.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return w, 0, nil
	}
	if err != nil {
		return w, 0, fmt.Errorf("read watermark %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &w); err != nil {
		return w, 0, fmt.Errorf("watermark %s: %w", key, err)
	}
	return w, e.Revision(), nil
}

func manageWatermark(ctx context.Context, a *app, f jobFlags, reset bool) int {
	key, err := stateKey(f)
	if err != nil {
		return a.fail("%v", err)
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	state, err := a.js.KeyValue(ctx, jobs.StateBucket)
	if err != nil {
		return a.fail("bucket %s: %v", jobs.StateBucket, err)
	}
	w, rev, err := loadWatermark(ctx, state, key)
	if err != nil {
		return a.fail("%v", err)
	}
	switch {
	case rev == 0:
		fmt.Fprintf(a.stdout, "%s: no watermark; the next incremental run lists the whole source\n", key)
	case reset:
		if err := state.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
			return a.fail("remove watermark %s: %v", key, err)
		}
		fmt.Fprintf(a.stdout, "%s: watermark %s removed; the next incremental run lists the whole source\n", key, w.UpdatedAt.Format(time.RFC3339))
	default:
		fmt.Fprintf(a.stdout, "%s: watermark %s (moved at %s by batch %s); the next incremental run enqueues the profiles updated since\n",
			key, w.UpdatedAt.Format(time.RFC3339), w.MovedAt.Format(time.RFC3339), w.BatchID)
	}
	return exitOK
}

// run runs once, or every inc.every until ctx ends. A repeated run that fails or finds the
// lock held is reported and tried again at the next tick.
func (inc *incremental) run(ctx context.Context, a *app, f jobFlags, client *hrflow.Client, asJSON bool) int {
	key, err := stateKey(f)
	if err != nil {
		return a.fail("%v", err)
	}
	state, err := a.js.KeyValue(ctx, jobs.StateBucket)
	if err != nil {
		return a.fail("bucket %s: %v", jobs.StateBucket, err)
	}
	locks, err := a.js.KeyValue(ctx, jobs.LocksBucket)
	if err != nil {
		return a.fail("bucket %s: %v", jobs.LocksBucket, err)
	}
	for {
		code := inc.once(ctx, a, f, client, state, locks, key, asJSON) // a new batch each run: f is a copy
		if inc.every == 0 {
			return code
		}
		timer := time.NewTimer(inc.every)
		select {
		case <-ctx.Done():
			timer.Stop()
			return exitOK
		case <-timer.C:
		}
	}
}

// once is one incremental run, under the lock: list and enqueue what changed since the
// watermark, record the batch, and only then move the watermark (with the revision read at
// the start, so that nothing else moved it meanwhile). A run interrupted before that leaves the
// watermark where it was: the next run lists the same profiles again, and the stream drops
// the jobs it already holds (same message id: workflow, target, source, profile, updated_at).
func (inc *incremental) once(ctx context.Context, a *app, f jobFlags, client *hrflow.Client, state, locks jetstream.KeyValue, key string, asJSON bool) int {
	ctx, release, err := takeLock(ctx, locks, key)
	if errors.Is(err, errLockHeld) {
		return a.fail("%v (key %s of bucket %s; the lock of a run that died frees itself within %s); not starting", err, key, jobs.LocksBucket, lockTTL)
	}
	if err != nil {
		return a.fail("%v", err)
	}
	defer release()

	old, rev, err := loadWatermark(ctx, state, key)
	if err != nil {
		return a.fail("%v", err)
	}
	now := time.Now()
	if f.batchID == "" {
		f.batchID = batch.NewID(now)
	}
	opts := &hrflow.ListOptions{SourceKeys: []string{f.sourceKey}, Limit: pageSize, OrderBy: hrflow.OrderDesc, SortBy: hrflow.SortByUpdatedAt}
	s, err := enqueueProfiles(ctx, a, f, now, client.Profiles.All(ctx, opts), func(p batch.Item) bool {
		// A profile without updated_at (where HrFlow sorts those is not documented) is
		// enqueued and does not end the listing.
		return p.UpdatedAt.IsZero() || !p.UpdatedAt.Before(old.UpdatedAt)
	}, true)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", err, context.Cause(ctx))
		}
		return a.fail("%v; watermark not moved", err)
	}
	since := "the beginning"
	if rev != 0 {
		since = old.UpdatedAt.Format(time.RFC3339)
	}
	if s.Stored+s.Duplicates+len(s.Failures) == 0 {
		if asJSON {
			writeJSON(a.stdout, map[string]any{"enqueued": 0, "duplicates": 0, "errors": 0})
			return exitOK
		}
		fmt.Fprintf(a.stdout, "no profile of source %s updated since %s: nothing enqueued\n", f.sourceKey, since)
		return exitOK
	}
	b := &jobs.Batch{ID: f.batchID, WorkflowID: f.workflowID, Target: f.target, Total: s.Stored, Duplicates: s.Duplicates, CreatedAt: now.UTC()}
	if err := jobs.PublishBatch(ctx, a.js, b); err != nil {
		return a.fail("%v; watermark not moved", err)
	}
	mark := s.Newest.Add(-inc.overlap)
	switch {
	case len(s.Failures) > 0:
		fmt.Fprintf(a.stderr, "enqueue: %d jobs not enqueued: watermark not moved (still %s)\n", len(s.Failures), since)
	case !mark.After(old.UpdatedAt):
		fmt.Fprintf(a.stderr, "enqueue: watermark stays at %s\n", since)
	default:
		if err := moveWatermark(ctx, state, key, rev, watermark{UpdatedAt: mark.UTC(), BatchID: b.ID, MovedAt: time.Now().UTC()}); err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stderr, "enqueue: watermark moved from %s to %s\n", since, mark.UTC().Format(time.RFC3339))
	}
	return report(ctx, a, b, 0, s.Failures, false, asJSON)
}

func moveWatermark(ctx context.Context, state jetstream.KeyValue, key string, rev uint64, w watermark) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("watermark not moved: %w", err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = state.Create(ctx, key, b)
	} else {
		_, err = state.Update(ctx, key, b, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("watermark %s changed during the run (reset, or another run): not moved: %w", key, err)
	case err != nil:
		return fmt.Errorf("move watermark %s: %w", key, err)
	}
	return nil
}

// acquire takes key once, or takes over a lock whose holder stopped renewing it. It returns
// errLockHeld when another run holds it.
func acquire(ctx context.Context, locks jetstream.KeyValue, key string) (uint64, error) {
	rev, err := locks.Create(ctx, key, newLockValue(), jetstream.KeyTTL(lockTTL))
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Renewals carry no TTL (Update takes none): a holder that died after renewing
		// leaves its key, which its Until says is stale.
		e, gerr := locks.Get(ctx, key)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound): // released meanwhile: take it
			rev, err = locks.Create(ctx, key, newLockValue(), jetstream.KeyTTL(lockTTL))
		case gerr != nil:
			return 0, fmt.Errorf("read lock %s: %w", key, gerr)
		default:
			var held lockValue
			if json.Unmarshal(e.Value(), &held) == nil && time.Now().Before(held.Until) {
				return 0, fmt.Errorf("%w of %s until %s", errLockHeld, held.Owner, held.Until.Format(time.RFC3339))
			}
			rev, err = locks.Update(ctx, key, newLockValue(), e.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, errLockHeld // another run was quicker
		}
	}
	if err != nil {
		return 0, fmt.Errorf("take lock %s: %w", key, err)
	}
	return rev, nil
}

// lockValue is the value of a run's lock: who holds it and until when, unless renewed.
type lockValue struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

func newLockValue() []byte {
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockValue{Owner: fmt.Sprintf("%s/%d", host, os.Getpid()), Until: time.Now().Add(lockTTL).UTC()})
	return b
}

// takeLock takes key in locks, or takes over a lock its holder stopped renewing, and renews it
// every lockTTL/4 until release is called, which deletes it. The returned context is
// cancelled with errLockLost when the lock is taken over or cannot be renewed for lockTTL/2,
// so that the run stops before moving the watermark. It returns errLockHeld when another run
// holds it.
func takeLock(ctx context.Context, locks jetstream.KeyValue, key string) (context.Context, func(), error) {
	rev, err := acquire(ctx, locks, key)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(lockTTL / 4)
		defer tick.Stop()
		cut := time.NewTimer(lockTTL / 2)
		defer cut.Stop()
		for {
			select {
			case <-done:
				return
			case <-cut.C:
				cancel(errLockLost)
				return
			case <-tick.C:
			}
			r, err := locks.Update(ctx, key, newLockValue(), rev)
			switch {
			case err == nil:
				rev = r
				cut.Reset(lockTTL / 2)
			case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
				cancel(errLockLost)
				return
			}
		}
	}()
	release := func() {
		close(done)
		<-stopped
		cancel(nil)
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		_ = locks.Delete(dctx, key, jetstream.LastRevision(rev))
	}
	return ctx, release, nil
}
