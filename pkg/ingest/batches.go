package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
)

// batchRequest is the body of POST /v1/batches: the jobs' common fields and either profile
// keys or a whole source, with the filters of `enqueue source`.
type batchRequest struct {
	WorkflowID  string        `json:"workflow_id"`
	Target      string        `json:"target"`
	SourceKey   string        `json:"source_key"`
	Connection  string        `json:"connection,omitempty"`
	ProfileKeys []string      `json:"profile_keys,omitempty"`
	WholeSource *sourceFilter `json:"whole_source,omitempty"`
	// Force enqueues even the profiles enqueued for this workflow within the duplicates window.
	Force bool `json:"force,omitempty"`
}

type sourceFilter struct {
	// CreatedAfter and CreatedBefore are dates (YYYY-MM-DD), inclusive.
	CreatedAfter  string `json:"created_after,omitempty"`
	CreatedBefore string `json:"created_before,omitempty"`
	// Limit is the most profiles enqueued; 0: all.
	Limit int `json:"limit,omitempty"`
}

// batchAccepted is the answer to POST /v1/batches.
type batchAccepted struct {
	BatchID string `json:"batch_id"`
	// Expected is the number of jobs to enqueue (profile keys less repeats); 0 for a whole
	// source, whose size is known once listed.
	Expected int `json:"expected"`
	// RepeatedKeys were given more than once and are enqueued once.
	RepeatedKeys int    `json:"repeated_keys"`
	StatusURL    string `json:"status_url"`
	EventsURL    string `json:"events_url"`
}

// batchReport is GET /v1/batches/{id}: the report of `enqueue status --json`, and whether the
// producer enqueuing it stopped updating its header (died) while enqueuing.
type batchReport struct {
	batch.Summary
	Stalled bool `json:"stalled,omitempty"`
}

func (a *API) postBatch(w http.ResponseWriter, r *http.Request, key *apikeys.Key) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	it, ok := a.reserve(w, r, key, body)
	if !ok {
		return
	}
	var req batchRequest
	if p := decode(body, &req); p != nil {
		a.release(r, it)
		problem.Write(w, p, 0)
		return
	}
	now := a.cfg.Now()
	spec := batch.Spec{ID: batch.NewID(now), WorkflowID: req.WorkflowID, Target: req.Target, SourceKey: req.SourceKey, Connection: req.Connection, Force: req.Force}
	keys, repeated, items, opts, p := a.batchItems(req, spec, now)
	if p == nil {
		p = a.admit(r.Context(), key, []*jobs.Job{spec.Job("profile", now)}, func(int) string { return "" })
	}
	if p != nil {
		a.release(r, it)
		problem.Write(w, p, retryAfter(p))
		return
	}
	header := &jobs.Batch{
		ID: spec.ID, WorkflowID: spec.WorkflowID, Target: spec.Target, CreatedAt: now.UTC(),
		State: jobs.BatchEnqueuing, Expected: keys, UpdatedAt: now.UTC(),
	}
	// The header goes first, so that the report exists (enqueuing, 0 of expected) before
	// the 202 and whichever replica serves the GET.
	if err := jobs.PublishBatch(r.Context(), a.js, header); err != nil {
		a.release(r, it)
		a.unavailable(w, r, "cannot record the batch", err)
		return
	}
	a.running.Add(1)
	go a.enqueue(header, spec, now, items, opts)
	loc := "/v1/batches/" + spec.ID
	a.respond(w, r, it, http.StatusAccepted, loc, batchAccepted{
		BatchID: spec.ID, Expected: keys, RepeatedKeys: repeated, StatusURL: loc, EventsURL: loc + "/events",
	})
}

// batchItems checks the request and returns what to enqueue: the keys' count (0 for a
// source), the repeats dropped, and the items.
func (a *API) batchItems(req batchRequest, spec batch.Spec, now time.Time) (int, int, iter.Seq2[batch.Item, error], batch.Options, *problem.Details) {
	invalid := func(pointer, detail string) (int, int, iter.Seq2[batch.Item, error], batch.Options, *problem.Details) {
		p := problem.New(http.StatusUnprocessableEntity, "invalid-batch", "the batch is not valid; nothing was enqueued")
		p.Errors = []problem.FieldError{{Pointer: pointer, Detail: detail}}
		return 0, 0, nil, batch.Options{}, p
	}
	if err := spec.Job("profile", now).Validate(); err != nil {
		return invalid("", err.Error())
	}
	switch {
	case (len(req.ProfileKeys) > 0) == (req.WholeSource != nil):
		return invalid("", "give either profile_keys (a non-empty list) or whole_source")
	case req.WholeSource != nil:
		if a.cfg.Sources == nil {
			return 0, 0, nil, batch.Options{}, problem.New(http.StatusServiceUnavailable, "sources-unavailable",
				"this gateway has no HrFlow account to list sources with (HRFLOW_API_SECRET, HRFLOW_API_USER); post profile_keys instead")
		}
		f := req.WholeSource
		opts := &hrflow.ListOptions{SourceKeys: []string{req.SourceKey}, Limit: batch.PageSize, OrderBy: hrflow.OrderAsc, SortBy: hrflow.SortByCreatedAt}
		for _, d := range []struct {
			name, value string
			dst         *time.Time
		}{{"created_after", f.CreatedAfter, &opts.CreatedAtMin}, {"created_before", f.CreatedBefore, &opts.CreatedAtMax}} {
			if d.value == "" {
				continue
			}
			t, err := time.Parse(time.DateOnly, d.value)
			if err != nil {
				return invalid("/whole_source/"+d.name, "want a date like 2026-11-23")
			}
			*d.dst = t
		}
		if f.Limit < 0 {
			return invalid("/whole_source/limit", "want 0 (all) or more")
		}
		n := 0
		more := func(batch.Item) bool { n++; return f.Limit == 0 || n <= f.Limit }
		return 0, 0, a.listSource(opts), batch.Options{More: more}, nil
	}
	if len(req.ProfileKeys) > a.cfg.MaxBatchKeys {
		p := problem.New(http.StatusRequestEntityTooLarge, "too-many-keys",
			fmt.Sprintf("%d profile keys in one batch; at most %d: split it, or use whole_source", len(req.ProfileKeys), a.cfg.MaxBatchKeys))
		return 0, 0, nil, batch.Options{}, p
	}
	seen := make(map[string]bool, len(req.ProfileKeys))
	keys := make([]string, 0, len(req.ProfileKeys))
	for i, k := range req.ProfileKeys {
		if err := spec.Job(k, now).Validate(); err != nil {
			return invalid(fmt.Sprintf("/profile_keys/%d", i), "not a valid profile key (1 to 256 characters)")
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return len(keys), len(req.ProfileKeys) - len(keys), batch.Keys(keys), batch.Options{PageSize: batch.KeysPageSize}, nil
}

// listSource lists a source in the background batch's context.
func (a *API) listSource(opts *hrflow.ListOptions) iter.Seq2[batch.Item, error] {
	return func(yield func(batch.Item, error) bool) {
		for it, err := range batch.Profiles(a.cfg.Sources.All(a.bg, opts)) {
			if !yield(it, err) {
				return
			}
		}
	}
}

// enqueue publishes a batch's jobs in the background, updating its header after each page
// (what is enqueued so far, and a heartbeat) and at the end. If this replica dies meanwhile,
// the header stays "enqueuing" with the count of the last page and an old updated_at: the
// report calls it stalled, and posting the batch again enqueues what is missing (the jobs
// already stored are dropped as duplicates within the stream's duplicates window).
func (a *API) enqueue(header *jobs.Batch, spec batch.Spec, now time.Time, items iter.Seq2[batch.Item, error], opts batch.Options) {
	defer a.running.Done()
	log := a.cfg.Logger.With("batch_id", header.ID, "workflow_id", header.WorkflowID, "target", header.Target)
	log.Info("enqueuing batch", "expected", header.Expected)
	update := func(ctx context.Context, c batch.Counts) {
		header.Total, header.Duplicates, header.NotEnqueued, header.UpdatedAt = c.Stored, c.Duplicates, len(c.Failures), a.cfg.Now().UTC()
		if err := jobs.PublishBatch(ctx, a.js, header); err != nil {
			log.Warn("cannot update the batch header", "error", err)
		}
	}
	opts.Progress = func(c batch.Counts) { update(a.bg, c) }
	c, err := batch.Enqueue(a.bg, a.pub, spec, now, items, opts)
	header.State = jobs.BatchEnqueued
	if err != nil {
		header.State, header.Error = jobs.BatchInterrupted, err.Error()
		log.Error("batch interrupted", "enqueued", c.Stored, "error", err)
	}
	// The last update must land even when the gateway is stopping.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	update(ctx, c)
	log.Info("batch enqueued", "state", header.State, "enqueued", c.Stored, "duplicates", c.Duplicates, "not_enqueued", len(c.Failures))
}

// loadReport reads a batch's report from the events stream; it answers and returns nil when
// the batch is unknown or out of the key's scope.
func (a *API) loadReport(w http.ResponseWriter, r *http.Request, key *apikeys.Key) *jobs.Report {
	id := r.PathValue("id")
	rep, err := jobs.FollowBatch(r.Context(), a.js, id, false, func(*jobs.Report) bool { return true })
	if errors.Is(err, jobs.ErrBatchNotFound) || (err == nil && !key.AllowsWorkflow(rep.Batch.WorkflowID)) {
		// Out of scope reads as unknown: a key learns nothing of other workflows' batches.
		problem.Write(w, problem.New(http.StatusNotFound, "batch-not-found", fmt.Sprintf("no batch %q (batches are kept 14 days)", id)), 0)
		return nil
	}
	if err != nil {
		a.unavailable(w, r, "cannot read the batch", err)
		return nil
	}
	return rep
}

func (a *API) summary(rep *jobs.Report) batchReport {
	b := rep.Batch
	return batchReport{
		Summary: batch.NewSummary(rep, 0),
		Stalled: b.State == jobs.BatchEnqueuing && a.cfg.Now().Sub(b.UpdatedAt) > a.cfg.StaleAfter,
	}
}

func (a *API) getBatch(w http.ResponseWriter, r *http.Request, key *apikeys.Key) {
	rep := a.loadReport(w, r, key)
	if rep == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(a.summary(rep))
}

// batchEvents streams a batch's report as server-sent events: a "progress" event whenever it
// changes (at most every 200 ms), then "done" with the final report (or "stalled" when its
// producer died) and the end of the stream. A comment line every 15 s keeps proxies from
// closing an idle stream.
func (a *API) batchEvents(w http.ResponseWriter, r *http.Request, key *apikeys.Key) {
	rep := a.loadReport(w, r, key)
	if rep == nil {
		return
	}
	id := rep.Batch.ID
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last []byte
	var lastSent, lastHeader time.Time
	send := func(event string, s batchReport) bool {
		data, _ := json.Marshal(s)
		if event == "progress" && string(data) == string(last) {
			if time.Since(lastSent) > 15*time.Second {
				_, _ = fmt.Fprint(w, ": keep-alive\n\n")
				lastSent = time.Now()
				return rc.Flush() == nil
			}
			return true
		}
		last, lastSent = data, time.Now()
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		return err == nil && rc.Flush() == nil
	}
	final := ""
	_, err := jobs.FollowBatch(r.Context(), a.js, id, true, func(rep *jobs.Report) bool {
		// The header changes while the batch is enqueued: read it again now and then.
		if time.Since(lastHeader) > time.Second {
			if b, err := jobs.LoadBatch(r.Context(), a.js, id); err == nil {
				rep.Batch = *b
			}
			lastHeader = time.Now()
		}
		s := a.summary(rep)
		switch {
		case s.Status != jobs.StatusRunning:
			final = "done"
		case s.Stalled:
			final = "stalled"
		case time.Since(lastSent) < 200*time.Millisecond && last != nil:
			return true
		default:
			return send("progress", s)
		}
		send(final, s)
		return false
	})
	if err != nil && r.Context().Err() == nil {
		a.cfg.Logger.Warn("batch events", "batch_id", id, "error", err)
	}
}
