// Package batch enqueues batches of push jobs (a list of profile keys, or the profiles of an
// HrFlow source as they are listed) and shapes their reports: what `enqueue bulk`, `enqueue
// source` and the gateway's /v1/batches share.
//
// Every job of a batch carries the batch id, and its message id is the deterministic one of
// [jobs.Job.MsgID] (or, for versioned runs, that id and the profile's updated_at), so a batch
// enqueued again within the stream's duplicates window stores only what is missing.
package batch

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// PageSize is how many profiles a source listing asks for at once, and [Enqueue]'s default
// page: how many jobs it publishes at once, and so holds in memory.
const PageSize = 100

// KeysPageSize is the page for a list of keys already in memory: as many jobs in flight as
// the publisher's window, as many as one request can carry.
const KeysPageSize = 1024

// Spec describes the jobs of a batch.
type Spec struct {
	ID, WorkflowID, Target, SourceKey, Connection string
	// DedupKey, if set, is every job's message id (one-profile pushes only).
	DedupKey string
	// Force gives every job a message id of its own, so none is dropped as a duplicate.
	Force bool
}

// Job returns the job of profileKey.
func (s Spec) Job(profileKey string, now time.Time) *jobs.Job {
	j := &jobs.Job{
		Version: jobs.Version, ID: NewID(now), WorkflowID: s.WorkflowID, Target: s.Target,
		SourceKey: s.SourceKey, ProfileKey: profileKey, BatchID: s.ID, DedupKey: s.DedupKey, Connection: s.Connection,
		EnqueuedAt: now.UTC(),
	}
	if s.Force && j.DedupKey == "" {
		j.DedupKey = j.ID
	}
	return j
}

// NewID returns a job or batch id: sortable by time, and unique by 80 random bits. (Ids cut
// from a lower-cased NUID, as before, repeated within a few thousand: a NUID is sequential and
// case-sensitive.)
func NewID(now time.Time) string {
	return now.UTC().Format("20060102-150405") + "-" + strings.ToLower(rand.Text()[:16])
}

// Item is one profile to enqueue.
type Item struct {
	Key string
	// UpdatedAt is the profile's, when listed from HrFlow; zero for a key.
	UpdatedAt time.Time
}

// Keys yields the keys as items.
func Keys(keys []string) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for _, k := range keys {
			if !yield(Item{Key: k}, nil) {
				return
			}
		}
	}
}

// Profiles yields listed profiles as items.
func Profiles(profiles iter.Seq2[*hrflow.Profile, error]) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for p, err := range profiles {
			var it Item
			if p != nil {
				it = Item{Key: p.Key, UpdatedAt: p.UpdatedAt.Time}
			}
			if !yield(it, err) {
				return
			}
		}
	}
}

// Counts says what [Enqueue] did so far.
type Counts struct {
	// Stored jobs are new in the stream; Duplicates were dropped as already enqueued.
	Stored, Duplicates int
	// Failures are the jobs not enqueued: "profile key: error".
	Failures []string
	// Newest is the largest UpdatedAt among the items enqueued.
	Newest time.Time
}

// Options tune [Enqueue].
type Options struct {
	// More, if set, is asked before each item; false ends the batch there (the item is not
	// enqueued).
	More func(Item) bool
	// Versioned adds the item's UpdatedAt to each message id (unless the spec forces): the
	// same version enqueued twice is stored once, a newer version is stored again.
	Versioned bool
	// Progress, if set, is called after each page is published.
	Progress func(Counts)
	// PageSize is how many jobs are published at once (in flight). Default [PageSize].
	PageSize int
}

// Enqueue publishes one job per item, a page at a time as items come, until they end or
// opts.More says stop. It returns an error when listing fails or publishing is interrupted,
// with what was done so far; jobs the stream refused are counted in Failures. A full jobs
// stream ends the batch after the page it refused jobs of, with an error wrapping
// [jobs.ErrStreamFull] (whose text says what to do).
func Enqueue(ctx context.Context, pub *jobs.Publisher, spec Spec, now time.Time, items iter.Seq2[Item, error], opts Options) (Counts, error) {
	var c Counts
	size := cmp.Or(opts.PageSize, PageSize)
	page := make([]*jobs.Job, 0, size)
	var full error // said once, not per job
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		err := pub.PublishAll(ctx, page, func(r jobs.PublishResult) {
			switch {
			case errors.Is(r.Err, jobs.ErrStreamFull):
				full = r.Err
				c.Failures = append(c.Failures, r.Job.ProfileKey+": the jobs stream is full")
			case r.Err != nil:
				c.Failures = append(c.Failures, fmt.Sprintf("%s: %v", r.Job.ProfileKey, r.Err))
			case r.Duplicate:
				c.Duplicates++
			default:
				c.Stored++
			}
		})
		page = page[:0]
		if err != nil {
			return fmt.Errorf("publishing interrupted after %d jobs: %w", c.Stored, err)
		}
		if full != nil {
			return fmt.Errorf("%d jobs enqueued, then: %w", c.Stored, full)
		}
		if opts.Progress != nil {
			opts.Progress(c)
		}
		return nil
	}
	for it, err := range items {
		if err != nil {
			return c, fmt.Errorf("listing source %s: %w", spec.SourceKey, err)
		}
		if opts.More != nil && !opts.More(it) {
			break
		}
		j := spec.Job(it.Key, now)
		if opts.Versioned && !spec.Force {
			j.DedupKey = fmt.Sprintf("%s-%d", j.MsgID(), it.UpdatedAt.Unix())
		}
		page = append(page, j)
		if it.UpdatedAt.After(c.Newest) {
			c.Newest = it.UpdatedAt
		}
		if len(page) == size {
			if err := flush(); err != nil {
				return c, err
			}
		}
	}
	return c, flush()
}

// Summary is a batch's report as `enqueue status --json` prints it and the gateway's
// GET /v1/batches/{id} answers it.
type Summary struct {
	*jobs.Report
	Status string  `json:"status"`
	Done   int     `json:"done"`
	Took   float64 `json:"took_seconds,omitempty"`
}

// NewSummary returns the summary of r; took is how long the caller followed it (0: not).
func NewSummary(r *jobs.Report, took time.Duration) Summary {
	return Summary{Report: r, Status: r.Status(), Done: r.Done(), Took: took.Seconds()}
}
