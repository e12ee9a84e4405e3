package jobadder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/goroutines"
	"github.com/hrpush/hrpush/pkg/targets"
)

var _ targets.Target = (*Target)(nil)

// TargetConfig configures a [Target]. Client and IDs are required.
type TargetConfig struct {
	Client *Client
	// Connection names the account, so that its records are its own (targets.Namespace).
	// Default "": the default connection.
	Connection string
	// AllowDuplicates is the account's default for the option allow_duplicates (see
	// [Options]): create a candidate even when JobAdder reports the email exists, with its
	// X-Allow-Duplicates override code, instead of updating the existing one.
	AllowDuplicates bool
	// IDs is the KV bucket that remembers which candidate each profile became.
	IDs jetstream.KeyValue
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Target writes candidates to one JobAdder account; see the package documentation for how a
// push stays idempotent.
type Target struct {
	ns     string // the account's namespace of record keys
	dups   bool   // the account's allow_duplicates
	client *Client
	ids    targets.Records
	logger *slog.Logger
	now    func() time.Time
	// goroutines download resumes while candidates are created, on goroutines whose stacks
	// have grown for an earlier download.
	goroutines *goroutines.Pool
}

// NewTarget returns a Target for cfg.
func NewTarget(cfg TargetConfig) (*Target, error) {
	if cfg.Client == nil || cfg.IDs == nil {
		return nil, errors.New("jobadder: target needs a client and an ids KV bucket")
	}
	t := &Target{
		ns:     targets.Namespace("jobadder", cfg.Connection),
		dups:   cfg.AllowDuplicates,
		client: cfg.Client,
		ids:    targets.Records{KV: cfg.IDs, Name: "jobadder: candidate id record"},
		logger: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:    cfg.Now,

		goroutines: goroutines.New(nil),
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// Options are the options a workflow may set for JobAdder: allow_duplicates (bool).
var Options = targets.OptionKinds{"allow_duplicates": targets.OptionBool} //nolint:gochecknoglobals // read-only declaration

// allowDuplicates is the item's allow_duplicates option, else the account's.
func (t *Target) allowDuplicates(item *targets.Item) bool {
	return item.Options.Bool("allow_duplicates", t.dups)
}

// Name returns "jobadder".
func (t *Target) Name() string { return "jobadder" }

// idRecord is the JSON value of a profile's key in the IDs bucket.
type idRecord struct {
	CandidateID    int    `json:"candidate_id"`
	CreatedBy      string `json:"created_by,omitempty"` // job id of the push that created it
	ResumeUploaded bool   `json:"resume_uploaded,omitempty"`
	// ResumeID is the HrFlow hash of the uploaded resume ([targets.Document].ID), "" when
	// HrFlow gave none: a push whose resume has another hash uploads it as a new Resume.
	ResumeID string `json:"resume_id,omitempty"`
	// CreatingAt and CreatingJob are set, before a candidate that JobAdder's duplicate check
	// cannot find again (no email, or duplicates allowed) is created, to when and by which
	// job; they are cleared with the candidate's id. A push that finds them set without an id
	// looks for the candidate an earlier push may have created (findUnrecorded).
	CreatingAt  time.Time `json:"creating_at,omitzero"`
	CreatingJob string    `json:"creating_job,omitempty"`
	// UploadingAt is set before the resume is uploaded and cleared when the upload is
	// recorded: a push that finds it set looks at the candidate's resumes before uploading.
	UploadingAt time.Time `json:"uploading_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Push creates or updates the candidate of item's profile, then uploads its resume once.
func (t *Target) Push(ctx context.Context, item *targets.Item) (*targets.Result, error) {
	if len(item.Payload) == 0 {
		return nil, targets.Permanent(errors.New("jobadder: empty payload"))
	}
	key := targets.RecordKey(t.ns, item.SourceKey, item.ProfileKey)
	var file io.ReadCloser // the resume, when opened while creating the candidate
	rec, err := t.load(ctx, key)
	if err != nil {
		return nil, err
	}
	res := &targets.Result{Action: targets.Updated}
	if rec.CandidateID != 0 {
		err := t.update(ctx, rec.CandidateID, item)
		if isNotFound(err) {
			t.logger.Info("jobadder: candidate deleted in JobAdder, creating it again",
				"candidate_id", rec.CandidateID, "profile_key", item.ProfileKey)
			rec = idRecord{}
		} else if err != nil {
			return nil, err
		} else if item.JobID != "" && rec.CreatedBy == item.JobID {
			res.Action = targets.Created // a retry of the job that created it
		}
	}
	if rec.CandidateID == 0 && !rec.CreatingAt.IsZero() {
		// An earlier push may have created the candidate and died before recording it.
		id, err := t.findUnrecorded(ctx, item, rec.CreatingAt)
		if err != nil {
			return nil, err
		}
		if id != 0 {
			if err := t.update(ctx, id, item); err != nil {
				return nil, err
			}
			rec.CandidateID, rec.CreatedBy = id, rec.CreatingJob
			if item.JobID != "" && rec.CreatingJob == item.JobID {
				res.Action = targets.Created // a retry of the job that created it
			}
			rec.CreatingAt, rec.CreatingJob = time.Time{}, ""
			if err := t.save(ctx, key, &rec); err != nil {
				return nil, err
			}
		}
	}
	if rec.CandidateID == 0 {
		if email, _ := item.Payload["email"].(string); strings.TrimSpace(email) == "" || t.allowDuplicates(item) {
			rec.CreatingAt, rec.CreatingJob = t.now(), item.JobID
			if err := t.save(ctx, key, &rec); err != nil {
				return nil, err
			}
		}
		// The resume, which a new candidate has not, is opened while the candidate is
		// created (the push waits for the longer of the two rather than for both), and before
		// the id is recorded, so that one write records both the id and the upload mark
		// (uploadResume's first write).
		opened := t.openConcurrently(ctx, &rec, item.Resume)
		rec.CandidateID, res.Action, err = t.create(ctx, item)
		o := opened(err != nil)
		if o.file != nil {
			defer o.file.Close()
		}
		if err != nil {
			return nil, err
		}
		if res.Action == targets.Created {
			rec.CreatedBy = item.JobID
		}
		rec.CreatingAt, rec.CreatingJob = time.Time{}, ""
		if o.err != nil {
			if serr := t.save(ctx, key, &rec); serr != nil {
				return nil, serr
			}
			return nil, o.err
		}
		if file = o.file; file != nil {
			rec.UploadingAt = t.now()
		}
		if err := t.save(ctx, key, &rec); err != nil {
			return nil, err
		}
	}
	res.ID = strconv.Itoa(rec.CandidateID)

	if wantsResume(&rec, item.Resume) {
		uploaded, err := t.uploadResume(ctx, key, &rec, item.Resume, file)
		if err != nil {
			return nil, err
		}
		res.ResumeUploaded = uploaded
		rec.ResumeUploaded, rec.ResumeID, rec.UploadingAt = true, item.Resume.ID, time.Time{}
		if err := t.save(ctx, key, &rec); err != nil {
			// The push succeeded; the next push of this profile uploads the resume again.
			t.logger.Warn("jobadder: could not record the resume upload", "key", key, "error", err)
		}
	}
	return res, nil
}

// create adds the candidate. On 409 it forces a duplicate when the item allows it, and
// otherwise updates the candidate that has the payload's email.
func (t *Target) create(ctx context.Context, item *targets.Item) (int, targets.Action, error) {
	c, _, err := t.client.Candidates.Add(ctx, item.Payload, "")
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		if err != nil {
			return 0, "", err
		}
		return c.CandidateID, targets.Created, nil
	}
	if t.allowDuplicates(item) {
		if conflict.OverrideCode == "" {
			return 0, "", targets.Permanent(fmt.Errorf("%w (without a duplicate override code)", conflict))
		}
		if c, _, err = t.client.Candidates.Add(ctx, item.Payload, conflict.OverrideCode); err != nil {
			return 0, "", err
		}
		return c.CandidateID, targets.Created, nil
	}
	email, _ := item.Payload["email"].(string)
	if email == "" {
		return 0, "", targets.Permanent(fmt.Errorf("%w; cannot find the existing candidate: %w", conflict, targets.ErrNoEmail))
	}
	id, err := t.findByEmail(ctx, email)
	if err != nil {
		return 0, "", err
	}
	if id == 0 {
		return 0, "", targets.Permanent(fmt.Errorf("%w; no candidate has exactly this email: "+
			"allow duplicates in the workflow to create one anyway", conflict))
	}
	if err := t.update(ctx, id, item); err != nil {
		return 0, "", err
	}
	return id, targets.Updated, nil
}

// findByEmail returns the id of the first candidate whose email is email (ignoring case), or 0.
func (t *Target) findByEmail(ctx context.Context, email string) (int, error) {
	l, _, err := t.client.Candidates.List(ctx, &ListOptions{Email: email})
	if err != nil {
		return 0, err
	}
	for _, c := range l.Items {
		if strings.EqualFold(c.Email, email) {
			return c.CandidateID, nil
		}
	}
	return 0, nil
}

// update replaces candidate id with the payload minus source, which UpdateCandidateCommand
// does not have. A 409 (the email belongs to another candidate) is resolved only when the item
// allows duplicates.
func (t *Target) update(ctx context.Context, id int, item *targets.Item) error {
	body := maps.Clone(item.Payload)
	delete(body, "source")
	_, err := t.client.Candidates.Update(ctx, id, body, "")
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		return err
	}
	if !t.allowDuplicates(item) || conflict.OverrideCode == "" {
		return targets.Permanent(fmt.Errorf("%w; allow duplicates in the workflow to update it anyway", conflict))
	}
	_, err = t.client.Candidates.Update(ctx, id, body, conflict.OverrideCode)
	return err
}

// uploadResume uploads the resume of rec's candidate, recording under key that it does so
// first. If an earlier push recorded an upload it did not see the end of, the candidate's
// resumes are looked at first: one with the same file name uploaded since then is that upload,
// and nothing is uploaded. file, when not nil, is the resume already opened, and rec is
// recorded with its upload mark. It reports whether it uploaded the file.
func (t *Target) uploadResume(ctx context.Context, key string, rec *idRecord, doc *targets.Document, file io.Reader) (bool, error) {
	name := cmp.Or(doc.Name, "resume")
	if file == nil {
		if !rec.UploadingAt.IsZero() {
			found, err := t.findResume(ctx, rec.CandidateID, name, rec.UploadingAt)
			if err != nil || found {
				return false, err
			}
		}
		rc, err := t.openResume(ctx, doc)
		if err != nil {
			return false, err
		}
		defer rc.Close()
		rec.UploadingAt = t.now()
		if err := t.save(ctx, key, rec); err != nil {
			return false, err
		}
		file = rc
	}
	_, _, err := t.client.Candidates.UploadAttachment(ctx, rec.CandidateID, "Resume", name, doc.ContentType, file)
	if errors.Is(err, ErrAttachmentTooLarge) {
		return false, targets.Permanent(err)
	}
	return err == nil, err
}

// opening is the outcome of openResume: the file, or why it could not be opened.
type opening struct {
	file io.ReadCloser
	err  error
}

// openConcurrently opens doc in another goroutine when rec's candidate wants it, and returns
// a func that waits for the outcome (none when the candidate does not want doc), cancelling
// the download first when abandon is set.
func (t *Target) openConcurrently(ctx context.Context, rec *idRecord, doc *targets.Document) func(abandon bool) opening {
	if !wantsResume(rec, doc) {
		return func(bool) opening { return opening{} }
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan opening, 1)
	t.goroutines.Go(func() {
		file, err := t.openResume(ctx, doc)
		done <- opening{file: file, err: err}
	})
	return func(abandon bool) opening {
		if abandon {
			cancel()
		}
		o := <-done
		if o.file != nil {
			o.file = cancelOnClose{ReadCloser: o.file, cancel: cancel}
		} else {
			cancel()
		}
		return o
	}
}

// cancelOnClose cancels the context of a download when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// openResume starts reading the resume.
func (t *Target) openResume(ctx context.Context, doc *targets.Document) (io.ReadCloser, error) {
	rc, err := doc.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobadder: open resume: %w", err)
	}
	return rc, nil
}

// wantsResume reports whether doc is to be uploaded to rec's candidate: a resume it has not
// uploaded, or another one than it did.
func wantsResume(rec *idRecord, doc *targets.Document) bool {
	return doc != nil && (!rec.ResumeUploaded || resumeChanged(rec, doc))
}

// resumeChanged reports whether doc is another file than the resume rec says was uploaded, as
// far as their HrFlow hashes tell.
func resumeChanged(rec *idRecord, doc *targets.Document) bool {
	return rec.ResumeID != "" && doc.ID != "" && doc.ID != rec.ResumeID
}

// clockSkew is how far JobAdder's clock and the workers' may differ: a candidate or file
// JobAdder dates this much before a push started may still be that push's.
const clockSkew = time.Minute

// findUnrecorded returns the candidate an earlier push of item's profile may have created at
// since (its creation mark) without recording its id, or 0. JobAdder has no field that
// identifies the profile and that it can search exactly, so the candidate is looked up by name
// (and by email when the item has one) and must have the payload's names, email, phone and
// mobile, and have been created since that push started.
func (t *Target) findUnrecorded(ctx context.Context, item *targets.Item, since time.Time) (int, error) {
	str := func(k string) string { s, _ := item.Payload[k].(string); return strings.TrimSpace(s) }
	first, last, email := str("firstName"), str("lastName"), str("email")
	opts := &ListOptions{Name: strings.TrimSpace(first + " " + last), Limit: 100}
	if email != "" {
		opts = &ListOptions{Email: email, Limit: 100}
	}
	if opts.Name == "" && opts.Email == "" {
		return 0, nil
	}
	seen := 0
	for c, err := range t.client.Candidates.ListIter(ctx, opts) {
		if err != nil {
			return 0, err
		}
		if seen++; seen > 500 {
			break
		}
		created, ok := parseTime(c.CreatedAt)
		if ok && !created.Before(since.Add(-clockSkew)) &&
			strings.EqualFold(strings.TrimSpace(c.FirstName), first) && strings.EqualFold(strings.TrimSpace(c.LastName), last) &&
			strings.EqualFold(strings.TrimSpace(c.Email), email) &&
			strings.TrimSpace(c.Phone) == str("phone") && strings.TrimSpace(c.Mobile) == str("mobile") {
			t.logger.Info("jobadder: found the candidate an earlier push created without recording it",
				"candidate_id", c.CandidateID, "profile_key", item.ProfileKey)
			return c.CandidateID, nil
		}
	}
	return 0, nil
}

// findResume reports whether candidate id has a Resume attachment named name uploaded since
// (less the clock skew).
func (t *Target) findResume(ctx context.Context, id int, name string, since time.Time) (bool, error) {
	var l struct {
		Items []struct {
			Type      string `json:"type"`
			FileName  string `json:"fileName"`
			CreatedAt string `json:"createdAt"`
		} `json:"items"`
	}
	r := &request{method: http.MethodGet, path: []string{"candidates", strconv.Itoa(id), "attachments"},
		query: url.Values{"Type": {"Resume"}, "Limit": {"100"}}}
	if _, err := t.client.do(ctx, r, &l); err != nil {
		return false, err
	}
	for _, a := range l.Items {
		if created, ok := parseTime(a.CreatedAt); ok && !created.Before(since.Add(-clockSkew)) && a.FileName == name {
			t.logger.Info("jobadder: found the resume an earlier push uploaded without recording it", "candidate_id", id)
			return true, nil
		}
	}
	return false, nil
}

// parseTime reads one of JobAdder's date-times: ISO 8601, with or without a zone (UTC then).
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isNotFound(err error) bool {
	var e *targets.ErrorResponse
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

func (t *Target) load(ctx context.Context, key string) (idRecord, error) {
	var rec idRecord
	_, err := t.ids.Get(ctx, key, &rec)
	return rec, err
}

// save stores rec under key, even when ctx is done: what it records was written at JobAdder,
// and forgetting it would duplicate it on the next push.
func (t *Target) save(ctx context.Context, key string, rec *idRecord) error {
	rec.UpdatedAt = t.now()
	return t.ids.Put(ctx, key, rec)
}
