package jobadder

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/targets"
)

var _ targets.Target = (*Target)(nil)

// TargetConfig configures a [Target]. Client and IDs are required.
type TargetConfig struct {
	Client *Client
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
	client *Client
	ids    jetstream.KeyValue
	logger *slog.Logger
	now    func() time.Time
}

// NewTarget returns a Target for cfg.
func NewTarget(cfg TargetConfig) (*Target, error) {
	if cfg.Client == nil || cfg.IDs == nil {
		return nil, errors.New("jobadder: target needs a client and an ids KV bucket")
	}
	t := &Target{
		client: cfg.Client,
		ids:    cfg.IDs,
		logger: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:    cfg.Now,
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// Name returns "jobadder".
func (t *Target) Name() string { return "jobadder" }

// idRecord is the JSON value of a profile's key in the IDs bucket.
type idRecord struct {
	CandidateID    int       `json:"candidate_id"`
	CreatedBy      string    `json:"created_by,omitempty"` // job id of the push that created it
	ResumeUploaded bool      `json:"resume_uploaded,omitempty"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Push creates or updates the candidate of item's profile, then uploads its resume once.
func (t *Target) Push(ctx context.Context, item *targets.Item) (*targets.Result, error) {
	if len(item.Payload) == 0 {
		return nil, &permanentError{errors.New("jobadder: empty payload")}
	}
	key := idKey(item.SourceKey, item.ProfileKey)
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
	if rec.CandidateID == 0 {
		if rec.CandidateID, res.Action, err = t.create(ctx, item); err != nil {
			return nil, err
		}
		if res.Action == targets.Created {
			rec.CreatedBy = item.JobID
		}
		if err := t.save(ctx, key, &rec); err != nil {
			return nil, err
		}
	}
	res.ID = strconv.Itoa(rec.CandidateID)

	if item.Resume != nil && !rec.ResumeUploaded {
		if err := t.uploadResume(ctx, rec.CandidateID, item.Resume); err != nil {
			return nil, err
		}
		res.ResumeUploaded = true
		rec.ResumeUploaded = true
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
	if item.AllowDuplicates {
		if conflict.OverrideCode == "" {
			return 0, "", &permanentError{fmt.Errorf("%w (without a duplicate override code)", conflict)}
		}
		if c, _, err = t.client.Candidates.Add(ctx, item.Payload, conflict.OverrideCode); err != nil {
			return 0, "", err
		}
		return c.CandidateID, targets.Created, nil
	}
	email, _ := item.Payload["email"].(string)
	if email == "" {
		return 0, "", &permanentError{fmt.Errorf("%w; cannot find the existing candidate: %w", conflict, targets.ErrNoEmail)}
	}
	id, err := t.findByEmail(ctx, email)
	if err != nil {
		return 0, "", err
	}
	if id == 0 {
		return 0, "", &permanentError{fmt.Errorf("%w; no candidate has exactly this email: "+
			"allow duplicates in the workflow to create one anyway", conflict)}
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
	if !item.AllowDuplicates || conflict.OverrideCode == "" {
		return &permanentError{fmt.Errorf("%w; allow duplicates in the workflow to update it anyway", conflict)}
	}
	_, err = t.client.Candidates.Update(ctx, id, body, conflict.OverrideCode)
	return err
}

func (t *Target) uploadResume(ctx context.Context, id int, doc *targets.Document) error {
	rc, err := doc.Open(ctx)
	if err != nil {
		return fmt.Errorf("jobadder: open resume: %w", err)
	}
	defer rc.Close()
	_, _, err = t.client.Candidates.UploadAttachment(ctx, id, "Resume", cmp.Or(doc.Name, "resume"), doc.ContentType, rc)
	if errors.Is(err, ErrAttachmentTooLarge) {
		return &permanentError{err}
	}
	return err
}

func isNotFound(err error) bool {
	var e *targets.ErrorResponse
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

func (t *Target) load(ctx context.Context, key string) (idRecord, error) {
	var rec idRecord
	e, err := t.ids.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("jobadder: read candidate id: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, fmt.Errorf("jobadder: candidate id record %s: %w", key, err)
	}
	return rec, nil
}

func (t *Target) save(ctx context.Context, key string, rec *idRecord) error {
	rec.UpdatedAt = t.now()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := t.ids.Put(ctx, key, b); err != nil {
		return fmt.Errorf("jobadder: store candidate id %d: %w", rec.CandidateID, err)
	}
	return nil
}

// idKey is the IDs bucket key of a profile: readable when the keys allow it, hashed otherwise.
func idKey(sourceKey, profileKey string) string {
	if plainKey(sourceKey) && plainKey(profileKey) {
		return "jobadder." + sourceKey + "." + profileKey
	}
	sum := sha256.Sum256([]byte(sourceKey + "\x00" + profileKey))
	return "jobadder." + hex.EncodeToString(sum[:])
}

// plainKey reports whether s is made of [A-Za-z0-9_-] only.
func plainKey(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	})
}

// permanentError marks an error that sending the same item again cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }
