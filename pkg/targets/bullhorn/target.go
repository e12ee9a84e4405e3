package bullhorn

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	randv2 "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/targets"
)

var _ targets.Target = (*Target)(nil)

// Reserved members of the payload; see the package documentation.
const (
	keyEducations    = "educations"
	keyWorkHistories = "workHistories"
	keyRow           = "key"
)

// Defaults of [TargetConfig].
const (
	// defaultLockTTL is how long the lock of a push outlives a worker that died holding it.
	defaultLockTTL = 10 * time.Second
	// defaultIndexLag bounds how long Bullhorn's search takes to show a write.
	defaultIndexLag = 30 * time.Second
)

// TargetConfig configures a [Target]. Client, IDs and Locks are required.
type TargetConfig struct {
	Client *Client
	// Connection names the account, so that its records are its own (targets.Namespace).
	// Default "": the default connection.
	Connection string
	// IDs is the KV bucket that remembers which candidate, rows and file each profile became.
	IDs jetstream.KeyValue
	// Locks is the KV bucket of the per-candidate locks. Locks expire with a per-key TTL, so
	// the bucket must be created with LimitMarkerTTL set (e.g. a minute).
	Locks jetstream.KeyValue
	// LockTTL is how long a lock outlives a worker that died holding it. The holder renews
	// its lock every LockTTL/4 while the push runs; a push that could not renew it for
	// LockTTL/2 is cut off. Default 10 seconds.
	LockTTL time.Duration
	// IndexLag bounds how long Bullhorn's search index takes to show a write. A push that
	// finds that an earlier push of its profile may have created the candidate without
	// recording its id (the worker died, or the answer was lost) looks for it by search, and
	// concludes that it does not exist only once IndexLag has passed since that creation was
	// sent. Default 30 seconds.
	IndexLag time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Target writes candidates to one Bullhorn account; see the package documentation for how a
// push stays idempotent.
type Target struct {
	ns       string // the account's namespace of record keys
	client   *Client
	ids      targets.Records
	locks    jetstream.KeyValue
	lockTTL  time.Duration
	indexLag time.Duration
	logger   *slog.Logger
	now      func() time.Time
	owner    string
	rows     []rowKind
}

// Options are the options a workflow may set for Bullhorn: allow_duplicates (bool), which
// creates a candidate without looking for one with the same email.
var Options = targets.OptionKinds{"allow_duplicates": targets.OptionBool} //nolint:gochecknoglobals // read-only declaration

// NewTarget returns a Target for cfg.
func NewTarget(cfg TargetConfig) (*Target, error) {
	if cfg.Client == nil || cfg.IDs == nil || cfg.Locks == nil {
		return nil, errors.New("bullhorn: target needs a client, an ids KV bucket and a locks KV bucket")
	}
	t := &Target{
		ns:       targets.Namespace("bullhorn", cfg.Connection),
		client:   cfg.Client,
		ids:      targets.Records{KV: cfg.IDs, Name: "bullhorn: record"},
		locks:    cfg.Locks,
		lockTTL:  cmp.Or(cfg.LockTTL, defaultLockTTL),
		indexLag: cmp.Or(cfg.IndexLag, defaultIndexLag),
		logger:   cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      cfg.Now,
		owner:    rand.Text(),
	}
	if t.now == nil {
		t.now = time.Now
	}
	c := cfg.Client
	t.rows = []rowKind{{
		member: keyEducations,
		match:  "school",
		ids:    func(r *idRecord) map[string]int { return r.Educations },
		create: c.Educations.Create,
		update: c.Educations.Update,
		list: func(ctx context.Context, id int) ([]existingRow, error) {
			eds, _, err := c.Educations.List(ctx, id)
			rows := make([]existingRow, len(eds))
			for i, e := range eds {
				rows[i] = existingRow{e.ID, e.School, e.StartDate}
			}
			return rows, err
		},
	}, {
		member: keyWorkHistories,
		match:  "companyName",
		ids:    func(r *idRecord) map[string]int { return r.WorkHistories },
		create: c.WorkHistories.Create,
		update: c.WorkHistories.Update,
		list: func(ctx context.Context, id int) ([]existingRow, error) {
			whs, _, err := c.WorkHistories.List(ctx, id)
			rows := make([]existingRow, len(whs))
			for i, w := range whs {
				rows[i] = existingRow{w.ID, w.CompanyName, w.StartDate}
			}
			return rows, err
		},
	}}
	return t, nil
}

// Name returns "bullhorn".
func (t *Target) Name() string { return "bullhorn" }

// idRecord is the JSON value of a profile's key in the IDs bucket.
type idRecord struct {
	CandidateID int `json:"candidate_id"`
	// CreatedBy is the job id of the push that created the candidate: a retry of that job
	// reports Created.
	CreatedBy string `json:"created_by,omitempty"`
	// Educations and WorkHistories map each row's key (see the package documentation) to
	// its Bullhorn id.
	Educations    map[string]int `json:"educations"`
	WorkHistories map[string]int `json:"work_histories"`
	// FileID is the resume uploaded with FileExternalID.
	FileID         int    `json:"file_id,omitempty"`
	FileExternalID string `json:"file_external_id,omitempty"`
	// CreatingAt and CreatingJob are set, before a candidate is created, to when and by which
	// job, and cleared with the candidate's id: a push that finds them set without an id
	// knows that the candidate may exist although no record names it.
	CreatingAt  time.Time `json:"creating_at,omitzero"`
	CreatingJob string    `json:"creating_job,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func newRecord(candidateID int) idRecord {
	return idRecord{CandidateID: candidateID, Educations: map[string]int{}, WorkHistories: map[string]int{}}
}

// Push creates or updates the candidate of item's profile, then its education and
// work-history rows, then uploads its resume once.
func (t *Target) Push(ctx context.Context, item *targets.Item) (*targets.Result, error) {
	p, err := parsePayload(item.Payload)
	if err != nil {
		return nil, targets.Permanent(err)
	}
	key := targets.RecordKey(t.ns, item.SourceKey, item.ProfileKey)
	byEmail := p.email != "" && !item.Options.Bool("allow_duplicates", false)
	lock := key
	if byEmail {
		lock = t.ns + "\x00email\x00" + strings.ToLower(p.email) // one account's email
		if t.ns == "bullhorn" {
			lock = "email\x00" + strings.ToLower(p.email) // the key the default account always used
		}
	}
	// The work under the lock ends if the lock cannot be renewed.
	ctx, unlock, err := t.lock(ctx, "bullhorn.lock."+hash(lock)[:16])
	if err != nil {
		return nil, err
	}
	defer unlock()

	rec, err := t.load(ctx, key)
	if err != nil {
		return nil, err
	}
	res := &targets.Result{Action: targets.Updated}
	if rec.CandidateID != 0 {
		_, _, err := t.client.Candidates.Update(ctx, rec.CandidateID, p.candidate)
		if isNotFound(err) {
			t.logger.Info("bullhorn: candidate deleted in Bullhorn, pushing it again",
				"candidate_id", rec.CandidateID, "profile_key", item.ProfileKey)
			rec = newRecord(0)
		} else if err != nil {
			return nil, err
		} else if item.JobID != "" && rec.CreatedBy == item.JobID {
			res.Action = targets.Created // a retry of the job that created it
		}
	}
	fresh := false // the candidate was created by this push: it has no rows and no files
	if rec.CandidateID == 0 {
		creatingJob := rec.CreatingJob
		id, how, err := t.findOrCreate(ctx, key, &rec, p, byEmail, item.JobID)
		if err != nil {
			return nil, err
		}
		rec, fresh = newRecord(id), how == createdNow
		switch {
		case how == createdNow:
			res.Action, rec.CreatedBy = targets.Created, item.JobID
		case how == foundUnrecorded:
			rec.CreatedBy = creatingJob
			if item.JobID != "" && creatingJob == item.JobID {
				res.Action = targets.Created // a retry of the job that created it
			}
		}
		if err := t.save(ctx, key, &rec); err != nil {
			return nil, err
		}
		if byEmail {
			if err := t.ids.Put(ctx, t.emailKey(p.email), emailRecord{CandidateID: id}); err != nil {
				return nil, err
			}
		}
	}
	res.ID = strconv.Itoa(rec.CandidateID)
	for i := range t.rows {
		if err := t.pushRows(ctx, key, &rec, &t.rows[i], p.rows[i], fresh); err != nil {
			return nil, err
		}
	}
	if item.Resume != nil {
		if res.ResumeUploaded, err = t.pushResume(ctx, key, &rec, item, fresh); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// origin says how findOrCreate got a candidate.
type origin int

const (
	foundByEmail    origin = iota // the candidate that has the payload's email
	foundUnrecorded               // created by an earlier push of the profile that did not record it
	createdNow                    // created by this push: it has no rows and no files
)

// findOrCreate returns the candidate of a profile whose record has no id, updated: the one an
// earlier push of the profile may have created without recording it (rec.CreatingAt is set),
// or else the one that has the payload's email (byEmail), or else a new one. The email is
// looked up in the IDs bucket first, as Bullhorn's search index lags.
//
// Before creating, it records when and by which job (jobID) in rec under key, and the new
// candidate carries the profile's external id: a push that comes after a creation whose
// answer was lost finds the candidate by that id, or by its email, once the search index shows
// it, and waits until IndexLag after that creation before creating another.
func (t *Target) findOrCreate(ctx context.Context, key string, rec *idRecord, p *payload, byEmail bool, jobID string) (int, origin, error) {
	ext := ""
	if _, own := p.candidate["externalID"]; !own {
		ext = externalID(key)
	}
	id, how, err := t.find(ctx, rec, p, byEmail, ext)
	if err != nil || id != 0 {
		return id, how, err
	}
	if !rec.CreatingAt.IsZero() {
		if wait := rec.CreatingAt.Add(t.indexLag).Sub(t.now()); wait > 0 {
			t.logger.Info("bullhorn: an earlier push of this profile may have created its candidate; waiting for the search index before creating one",
				"key", key, "wait", wait.Round(time.Millisecond), "creating_job", rec.CreatingJob)
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return 0, 0, fmt.Errorf("bullhorn: wait for the search index to show an earlier creation: %w", context.Cause(ctx))
			}
			if id, how, err = t.find(ctx, rec, p, byEmail, ext); err != nil || id != 0 {
				return id, how, err
			}
		}
	}

	rec.CreatingAt, rec.CreatingJob = t.now(), jobID
	if err := t.save(ctx, key, rec); err != nil {
		return 0, 0, err
	}
	body := p.candidate
	if ext != "" {
		body = maps.Clone(body)
		body["externalID"] = ext
	}
	c, _, err := t.client.Candidates.Create(ctx, body)
	if err != nil {
		if answered(err) {
			// Bullhorn refused it: nothing was created, so the next push need not look. The
			// record names no candidate, so it holds nothing else.
			rec.CreatingAt, rec.CreatingJob = time.Time{}, ""
			if derr := t.ids.Delete(ctx, key); derr != nil {
				t.logger.Warn("bullhorn: could not clear a creation mark; the next push will look for the candidate first", "key", key, "error", derr)
			}
		}
		return 0, 0, err
	}
	return c.ChangedEntityID, createdNow, nil
}

// find returns the existing candidate of a profile whose record has no id, updated, or 0: with
// the payload's email when byEmail, else, when an earlier push may have created it, the one
// with the profile's external id ext.
func (t *Target) find(ctx context.Context, rec *idRecord, p *payload, byEmail bool, ext string) (int, origin, error) {
	var id int
	switch {
	case byEmail:
		var er emailRecord
		if _, err := t.ids.Get(ctx, t.emailKey(p.email), &er); err != nil {
			return 0, 0, err
		}
		if id = er.CandidateID; id == 0 {
			var err error
			if id, err = t.searchEmail(ctx, p.email); err != nil {
				return 0, 0, err
			}
		}
	case !rec.CreatingAt.IsZero() && ext != "":
		l, _, err := t.client.Candidates.Search(ctx, "externalID:"+escapeLucene(ext)+" AND isDeleted:0",
			&SearchOptions{Fields: []string{"id"}, Sort: "id", Count: 5})
		if err != nil {
			return 0, 0, err
		}
		if len(l.Data) > 0 {
			id = l.Data[0].ID
		}
	}
	if id == 0 {
		return 0, 0, nil
	}
	if _, _, err := t.client.Candidates.Update(ctx, id, p.candidate); err != nil {
		if isNotFound(err) {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	if !rec.CreatingAt.IsZero() {
		t.logger.Info("bullhorn: found the candidate an earlier push may have created without recording it",
			"candidate_id", id, "creating_job", rec.CreatingJob)
		return id, foundUnrecorded, nil
	}
	return id, foundByEmail, nil
}

// externalID is the externalID of the candidates the target creates for the profile whose
// record is key: at most 50 characters, as Bullhorn allows.
func externalID(key string) string { return "hrflow:" + hash(key)[:32] }

// answered reports whether err is Bullhorn's answer to a request it did not carry out (an
// error status), rather than a failure to get an answer (timeout, connection lost, a gateway's
// 502 or 504), after which the request may have been carried out.
func answered(err error) bool {
	var e *targets.ErrorResponse
	return errors.As(err, &e) && e.StatusCode != http.StatusBadGateway && e.StatusCode != http.StatusGatewayTimeout
}

// searchEmail returns the oldest live candidate with email as one of its addresses, or 0.
func (t *Target) searchEmail(ctx context.Context, email string) (int, error) {
	l, _, err := t.client.Candidates.Search(ctx, EmailQuery(email),
		&SearchOptions{Fields: []string{"id", "email", "email2", "email3"}, Sort: "id", Count: 20})
	if err != nil {
		return 0, err
	}
	for _, c := range l.Data {
		if strings.EqualFold(c.Email, email) || strings.EqualFold(c.Email2, email) || strings.EqualFold(c.Email3, email) {
			return c.ID, nil
		}
	}
	return 0, nil
}

// rowKind is one kind of a candidate's rows: CandidateEducation or CandidateWorkHistory.
type rowKind struct {
	member string // payload member
	match  string // the field that, with startDate, matches a row to an existing one
	ids    func(*idRecord) map[string]int
	create func(context.Context, any) (*ChangeResult, *Response, error)
	update func(context.Context, int, any) (*ChangeResult, *Response, error)
	list   func(context.Context, int) ([]existingRow, error)
}

// existingRow is a row found at Bullhorn.
type existingRow struct {
	id    int
	name  string
	start int64
}

// pushRows updates the rows the record knows and creates the others. Unless the candidate is
// fresh, a row unknown to the record is first matched to an existing row of the candidate
// (same name and startDate), so that a lost record or a candidate found by email does not get
// its rows twice.
func (t *Target) pushRows(ctx context.Context, key string, rec *idRecord, k *rowKind, rows []row, fresh bool) error {
	ids := k.ids(rec)
	var existing []existingRow
	listed := fresh
	for _, r := range rows {
		if id := ids[r.key]; id != 0 {
			_, _, err := k.update(ctx, id, r.body)
			if !isNotFound(err) {
				if err != nil {
					return err
				}
				continue
			}
			delete(ids, r.key)
		}
		if !listed {
			all, err := k.list(ctx, rec.CandidateID)
			if err != nil {
				return err
			}
			known := map[int]bool{}
			for _, id := range ids {
				known[id] = true
			}
			for _, e := range all {
				if !known[e.id] {
					existing = append(existing, e)
				}
			}
			listed = true
		}
		if id := takeMatch(&existing, r.body[k.match], r.body["startDate"]); id != 0 {
			if _, _, err := k.update(ctx, id, r.body); err != nil {
				return err
			}
			ids[r.key] = id
		} else {
			body := maps.Clone(r.body)
			body["candidate"] = map[string]any{"id": rec.CandidateID}
			c, _, err := k.create(ctx, body)
			if err != nil {
				return err
			}
			ids[r.key] = c.ChangedEntityID
		}
		if err := t.save(ctx, key, rec); err != nil {
			return err
		}
	}
	return nil
}

// takeMatch removes from rows the first row with the name and start given and returns its id,
// or 0.
func takeMatch(rows *[]existingRow, name, start any) int {
	n, _ := name.(string)
	s, _ := toInt64(start)
	for i, e := range *rows {
		if strings.EqualFold(strings.TrimSpace(e.name), strings.TrimSpace(n)) && e.start == s {
			*rows = append((*rows)[:i], (*rows)[i+1:]...)
			return e.id
		}
	}
	return 0
}

// pushResume uploads the resume unless the record or, for a candidate not fresh, its files
// show that it was uploaded already. It reports whether it uploaded it.
func (t *Target) pushResume(ctx context.Context, key string, rec *idRecord, item *targets.Item, fresh bool) (bool, error) {
	doc := item.Resume
	f := &File{Name: cmp.Or(doc.Name, "resume"), ContentType: doc.ContentType, Type: "Resume"}
	// The external id names the file's content when HrFlow gave its hash, so that the same
	// resume reached through a second profile of the same email is recognised.
	identity := item.SourceKey + "\x00" + item.ProfileKey + "\x00" + f.Name
	if doc.ID != "" {
		identity = "alt\x00" + doc.ID
	}
	f.ExternalID = "hrflow-" + hash(identity)[:32]
	if rec.FileExternalID == f.ExternalID {
		return false, nil
	}
	if !fresh {
		files, _, err := t.client.Candidates.FileAttachments(ctx, rec.CandidateID)
		if err != nil {
			return false, err
		}
		for _, a := range files {
			if a.ExternalID == f.ExternalID {
				rec.FileID, rec.FileExternalID = a.ID, f.ExternalID
				return false, t.save(ctx, key, rec)
			}
		}
	}
	rc, err := doc.Open(ctx)
	if err != nil {
		return false, fmt.Errorf("bullhorn: open resume: %w", err)
	}
	defer rc.Close()
	id, _, err := t.client.Files.Upload(ctx, rec.CandidateID, f, rc)
	if errors.Is(err, ErrFileTooLarge) {
		return false, targets.Permanent(err)
	}
	if err != nil {
		return false, err
	}
	rec.FileID, rec.FileExternalID = id, f.ExternalID
	return true, t.save(ctx, key, rec)
}

// lockValue is the value of a lock: who holds it, and until when unless renewed.
type lockValue struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// errLockHeld means another push holds the lock.
var errLockHeld = errors.New("bullhorn: lock held by another push")

// errLockLost is the cause of a push's context cancelled because its lock could not be renewed
// in time: another push may take it over.
var errLockLost = errors.New("bullhorn: the push's lock could not be renewed in time")

// lock takes key in the Locks bucket, waiting while another push holds it. It returns a
// context derived from ctx that is cancelled (cause errLockLost) when the lock cannot be
// renewed in time, and the function that releases the lock.
//
// A lock is created with a per-key TTL of lockTTL, and its value says until when it holds;
// the holder renews that every lockTTL/4 by compare-and-swap. A worker that dies holding a
// lock thus frees it within lockTTL: the key expires if it was never renewed, and otherwise
// the next push takes over a lock whose time is up. The holder stops its push once it could
// not renew the lock for lockTTL/2, before anyone may take it over.
func (t *Target) lock(ctx context.Context, key string) (context.Context, func(), error) {
	wait := 20 * time.Millisecond
	for {
		rev, err := t.acquire(ctx, key)
		if err == nil {
			ctx, release := t.hold(ctx, key, rev)
			return ctx, release, nil
		}
		if !errors.Is(err, errLockHeld) {
			return nil, nil, err
		}
		timer := time.NewTimer(wait/2 + randv2.N(wait))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, fmt.Errorf("bullhorn: wait for another push of the same candidate: %w", ctx.Err())
		}
		wait = min(2*wait, time.Second, max(t.lockTTL/4, 20*time.Millisecond))
	}
}

// lockValue returns this target's lock value, valid lockTTL from now.
func (t *Target) lockValue() []byte {
	b, _ := json.Marshal(lockValue{Owner: t.owner, Until: t.now().Add(t.lockTTL)})
	return b
}

// acquire takes key once, or takes over a lock whose holder stopped renewing it. It returns
// errLockHeld when another push holds it.
func (t *Target) acquire(ctx context.Context, key string) (uint64, error) {
	rev, err := t.locks.Create(ctx, key, t.lockValue(), jetstream.KeyTTL(t.lockTTL))
	if err == nil {
		return rev, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("bullhorn: take lock %s: %w", key, err)
	}
	e, err := t.locks.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, errLockHeld // released meanwhile: try again
	}
	if err != nil {
		return 0, fmt.Errorf("bullhorn: read lock %s: %w", key, err)
	}
	var held lockValue
	if json.Unmarshal(e.Value(), &held) != nil || held.Until.IsZero() || t.now().Before(held.Until) {
		return 0, errLockHeld // (a value without a time expires with its key's TTL)
	}
	rev, err = t.locks.Update(ctx, key, t.lockValue(), e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, errLockHeld
	}
	if err != nil {
		return 0, fmt.Errorf("bullhorn: take over lock %s: %w", key, err)
	}
	t.logger.Info("bullhorn: took over the lock of a push whose worker stopped renewing it", "key", key, "holder", held.Owner)
	return rev, nil
}

// hold renews the lock key, taken at revision rev, until the returned release func is
// called, which deletes it. The returned context is cancelled when the lock cannot be renewed
// for lockTTL/2.
func (t *Target) hold(ctx context.Context, key string, rev uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done, stopped := make(chan struct{}), make(chan struct{})
	lost := false // set before stopped is closed
	go func() {
		defer close(stopped)
		tick := time.NewTicker(t.lockTTL / 4)
		defer tick.Stop()
		cut := time.NewTimer(t.lockTTL / 2)
		defer cut.Stop()
		for {
			select {
			case <-done:
				return
			case <-cut.C:
				t.logger.Warn("bullhorn: could not renew a push's lock in time; stopping the push", "key", key)
				lost = true
				cancel(errLockLost)
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), t.lockTTL/4)
			r, err := t.locks.Update(rctx, key, t.lockValue(), rev)
			rcancel()
			switch {
			case err == nil:
				rev = r
				cut.Reset(t.lockTTL / 2)
			case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
				t.logger.Warn("bullhorn: a push's lock was taken over; stopping the push", "key", key, "error", err)
				lost = true
				cancel(errLockLost)
				return
			default:
				t.logger.Warn("bullhorn: could not renew a push's lock; trying again", "key", key, "error", err)
			}
		}
	}()
	release := func() {
		close(done)
		<-stopped
		cancel(nil)
		if lost {
			return // it is someone else's now, or expires on its own
		}
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), targets.StoreTimeout)
		defer dcancel()
		if err := t.locks.Delete(dctx, key, jetstream.LastRevision(rev)); err != nil {
			t.logger.Warn("bullhorn: could not release a lock; it expires on its own", "key", key, "error", err)
		}
	}
	return ctx, release
}

func isNotFound(err error) bool {
	var e *targets.ErrorResponse
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// load reads a profile's record; a missing one is empty.
func (t *Target) load(ctx context.Context, key string) (idRecord, error) {
	rec := newRecord(0)
	if _, err := t.ids.Get(ctx, key, &rec); err != nil {
		return rec, err
	}
	if rec.Educations == nil {
		rec.Educations = map[string]int{}
	}
	if rec.WorkHistories == nil {
		rec.WorkHistories = map[string]int{}
	}
	return rec, nil
}

// save stores rec under key, even when ctx is done: what it records was written at Bullhorn,
// and forgetting it would duplicate it on the next push.
func (t *Target) save(ctx context.Context, key string, rec *idRecord) error {
	rec.UpdatedAt = t.now()
	return t.ids.Put(ctx, key, rec)
}

// emailRecord is the JSON value of an email's key in the IDs bucket.
type emailRecord struct {
	CandidateID int `json:"candidate_id"`
}

// emailKey is the key of the record of the account's candidate with that email.
func (t *Target) emailKey(email string) string {
	return t.ns + "-email." + hash(strings.ToLower(email))[:32]
}
