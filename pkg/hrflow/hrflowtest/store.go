package hrflowtest

import (
	"bytes"
	"cmp"
	_ "embed" // samples
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Keys of the profiles [Server.LoadSamples] adds.
const (
	// SampleProfileKey is the key of the assembled GET sample (Harry Potter, Paris), which has
	// a resume and an original attachment, empty location fields and an ongoing experience.
	SampleProfileKey = "3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718"
	// SampleFixtureKey is the key given to the SDK's indexing fixture (Harry James Potter),
	// which has none of its own. It has no attachments and no location fields.
	SampleFixtureKey = "627ee1ebad50e765908728155933543dcb9a4d1c"
)

var (
	//go:embed testdata/hrflow-profile-get-response.sample.json
	sampleResponse []byte
	//go:embed testdata/hrflow-profile-index-payload.sdk-fixture.json
	sampleFixture []byte
)

// placeholderOrigin stands for the server's origin in stored attachment URLs; it is replaced by
// the origin each request reached the server at. The .invalid TLD never resolves.
const placeholderOrigin = "http://hrflowtest.invalid"

// entry is one stored profile. Entries are immutable once stored: handlers use them after
// releasing the lock.
type entry struct {
	key, reference       string
	createdAt, updatedAt time.Time
	raw                  []byte          // the profile; attachment URLs under placeholderOrigin
	summary              []byte          // what a list without return_profile shows of it
	files                map[string]bool // attachment file names served under /files/
	pdf                  []byte          // the content of every attachment
}

// source holds the profiles of one source key.
type source struct {
	byKey map[string]*entry
	byRef map[string]*entry
	// order caches the entries sorted by created_at and by updated_at, ascending; a nil
	// slice is rebuilt on demand.
	order [2][]*entry
}

const (
	byCreated = iota
	byUpdated
)

func newSource() *source {
	return &source{byKey: map[string]*entry{}, byRef: map[string]*entry{}}
}

func (src *source) put(e *entry) {
	src.remove(e.key)
	src.byKey[e.key] = e
	if e.reference != "" {
		src.byRef[e.reference] = e
	}
	src.order = [2][]*entry{}
}

func (src *source) remove(key string) bool {
	old, ok := src.byKey[key]
	if !ok {
		return false
	}
	delete(src.byKey, key)
	if old.reference != "" && src.byRef[old.reference] == old {
		delete(src.byRef, old.reference)
	}
	src.order = [2][]*entry{}
	return true
}

// sorted returns the entries in ascending order of created_at (byCreated) or updated_at
// (byUpdated), ties broken by key. The caller holds the server's lock.
func (src *source) sorted(by int) []*entry {
	if src.order[by] == nil {
		list := make([]*entry, 0, len(src.byKey))
		for _, e := range src.byKey {
			list = append(list, e)
		}
		slices.SortFunc(list, entryOrder(by))
		src.order[by] = list
	}
	return src.order[by]
}

func entryOrder(by int) func(a, b *entry) int {
	return func(a, b *entry) int {
		ta, tb := a.createdAt, b.createdAt
		if by == byUpdated {
			ta, tb = a.updatedAt, b.updatedAt
		}
		return cmp.Or(ta.Compare(tb), strings.Compare(a.key, b.key))
	}
}

func (s *Server) store(sourceKey string, entries ...*entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[sourceKey]
	if !ok {
		src = newSource()
		s.sources[sourceKey] = src
	}
	for _, e := range entries {
		src.put(e)
	}
}

// lookup returns the entry of key (or, when key is empty, of reference) in sourceKey.
func (s *Server) lookup(sourceKey, key, reference string) (e *entry, sourceFound bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[sourceKey]
	if !ok {
		return nil, false
	}
	if key != "" {
		return src.byKey[key], true
	}
	return src.byRef[reference], true
}

// AddSource creates an empty source, so that listing it answers an empty page rather than
// "Unable to find object: source". Adding a profile creates its source too.
func (s *Server) AddSource(sourceKey string) {
	s.store(sourceKey)
}

// AddProfile stores profile, a JSON object, in the source sourceKey, replacing any profile with
// the same key, and returns its key. The profile must have a "key".
//
// The stored profile is adjusted the way HrFlow would serve it: its "source_key" and source
// key are set to sourceKey, and every attachment's "public_url" is rewritten to point at this
// server's /files/ endpoint, which serves a small PDF naming the profile.
//
// With webhooks, it delivers profile.storing.success, or profile.storing.update when it
// replaces a profile.
func (s *Server) AddProfile(sourceKey string, profile json.RawMessage) (string, error) {
	e, err := newEntry(sourceKey, profile)
	if err != nil {
		return "", err
	}
	old, _ := s.lookup(sourceKey, e.key, "")
	s.store(sourceKey, e)
	if old != nil {
		s.notify(EventStoringUpdate, e)
	} else {
		s.notify(EventStoringSuccess, e)
	}
	return e.key, nil
}

// SetPublicURL points the public_url of the stored profile's attachments of type typ at
// rawURL, as a hostile or broken profile would (a link to an internal address, say), and
// reports whether the profile has such an attachment. AddProfile rewrites every link to this
// server; this one is kept as given.
func (s *Server) SetPublicURL(sourceKey, key, typ, rawURL string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[sourceKey]
	if !ok || src.byKey[key] == nil {
		return false
	}
	e := src.byKey[key]
	var m map[string]json.RawMessage
	var atts []map[string]json.RawMessage
	if json.Unmarshal(e.raw, &m) != nil || json.Unmarshal(m["attachments"], &atts) != nil {
		return false
	}
	found := false
	for _, a := range atts {
		var t string
		if _ = json.Unmarshal(a["type"], &t); t == typ {
			a["public_url"], found = mustJSON(rawURL), true
		}
	}
	m["attachments"] = mustJSON(atts)
	e.raw = mustJSON(m)
	return found
}

// TouchProfile sets the updated_at of a stored profile to at, as an edit at HrFlow would, and
// reports whether the profile exists. Lists sorted by updated_at see it move. With webhooks,
// it delivers profile.storing.update.
func (s *Server) TouchProfile(sourceKey, key string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[sourceKey]
	if !ok || src.byKey[key] == nil {
		return false
	}
	old := src.byKey[key]
	var m map[string]json.RawMessage
	if json.Unmarshal(old.raw, &m) != nil {
		return false
	}
	m["updated_at"] = mustJSON(at.UTC().Format(layoutZone))
	e := *old // entries are immutable once stored: replace, do not edit
	e.raw, e.updatedAt = mustJSON(m), at.UTC().Truncate(time.Second)
	e.summary = summary(e.key, e.reference, sourceKey, m["created_at"], m["updated_at"])
	src.put(&e)
	s.notify(EventStoringUpdate, &e)
	return true
}

// RemoveProfile deletes a profile and reports whether it existed. Its source stays, empty or
// not.
func (s *Server) RemoveProfile(sourceKey, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[sourceKey]
	return ok && src.remove(key)
}

// Profile returns a stored profile as the API serves it to clients of [Server.URL].
func (s *Server) Profile(sourceKey, key string) (json.RawMessage, bool) {
	if key == "" {
		return nil, false
	}
	e, _ := s.lookup(sourceKey, key, "")
	if e == nil {
		return nil, false
	}
	return withOrigin(e.raw, s.origin()), true
}

// ReadProfile reads the profile document of a file that holds one, bare or in HrFlow's
// {"code": ..., "message": ..., "data": {...}} envelope (as the samples of the API notes do).
func ReadProfile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := unwrap(b)
	if err != nil {
		return nil, fmt.Errorf("hrflowtest: %s: %w", path, err)
	}
	return doc, nil
}

// unwrap returns the "data" member of an envelope, or b itself when it has none.
func unwrap(b []byte) ([]byte, error) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	if env.Data != nil {
		return env.Data, nil
	}
	return b, nil
}

// LoadSamples adds the two sample profiles of the API notes to the source sourceKey and
// returns their keys, [SampleProfileKey] and [SampleFixtureKey]. Their attachments are served
// by this server.
func (s *Server) LoadSamples(sourceKey string) []string {
	data, err := unwrap(sampleResponse)
	var sample, fixture *entry
	if err == nil {
		sample, err = newEntry(sourceKey, data)
	}
	if err == nil {
		fixture, err = newEntry(sourceKey, withKey(sampleFixture, SampleFixtureKey))
	}
	if err != nil {
		// The samples are embedded and tested: this cannot happen at run time.
		panic(fmt.Sprintf("hrflowtest: embedded sample: %v", err))
	}
	s.store(sourceKey, sample, fixture)
	return []string{sample.key, fixture.key}
}

// withKey returns the JSON object obj with a "key" member added in front.
func withKey(obj []byte, key string) []byte {
	rest := bytes.TrimPrefix(bytes.TrimSpace(obj), []byte("{"))
	return slices.Concat([]byte(`{"key":"`+key+`",`), rest)
}

// withOrigin returns raw with attachment URLs pointing at origin.
func withOrigin(raw []byte, origin string) []byte {
	return bytes.ReplaceAll(raw, []byte(`"`+placeholderOrigin+`/files/`), []byte(`"`+origin+`/files/`))
}

// fileURL is the stored public_url of an attachment.
func fileURL(sourceKey, key, name string) string {
	return placeholderOrigin + "/files/" + url.PathEscape(sourceKey) + "/" + url.PathEscape(key) + "/" + name
}

// newEntry prepares a caller's profile for storing.
func newEntry(sourceKey string, profile json.RawMessage) (*entry, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(profile, &m); err != nil {
		return nil, fmt.Errorf("hrflowtest: profile is not a JSON object: %w", err)
	}
	var head struct {
		Key       string `json:"key"`
		Reference string `json:"reference"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
		Info      struct {
			FullName string `json:"full_name"`
			Email    string `json:"email"`
		} `json:"info"`
	}
	if err := json.Unmarshal(profile, &head); err != nil {
		return nil, fmt.Errorf("hrflowtest: profile: %w", err)
	}
	if head.Key == "" {
		return nil, errors.New("hrflowtest: profile has no key")
	}
	m["source_key"] = mustJSON(sourceKey)
	src := map[string]json.RawMessage{}
	_ = json.Unmarshal(m["source"], &src) // absent or not an object: replaced whole
	src["key"] = mustJSON(sourceKey)
	m["source"] = mustJSON(src)

	e := &entry{key: head.Key, reference: head.Reference}
	if raw, ok := m["attachments"]; ok && string(raw) != "null" {
		var atts []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &atts); err != nil {
			return nil, fmt.Errorf("hrflowtest: profile %s: attachments: %w", head.Key, err)
		}
		e.files = map[string]bool{}
		for _, a := range atts {
			var typ, ext string
			_ = json.Unmarshal(a["type"], &typ)
			_ = json.Unmarshal(a["extension"], &ext)
			name := fileName(typ, ext, e.files)
			e.files[name] = true
			a["public_url"] = mustJSON(fileURL(sourceKey, head.Key, name))
		}
		m["attachments"] = mustJSON(atts)
		if len(atts) > 0 {
			e.pdf = resumePDF(head.Info.FullName, head.Info.Email, "", head.Key)
		}
	}
	e.raw = mustJSON(m)
	e.createdAt, e.updatedAt = parseTime(head.CreatedAt), parseTime(head.UpdatedAt)
	e.summary = summary(head.Key, head.Reference, sourceKey, m["created_at"], m["updated_at"])
	return e, nil
}

// fileName returns a URL-safe attachment file name, unique among taken.
func fileName(typ, ext string, taken map[string]bool) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return -1
		}, strings.ToLower(s))
	}
	base, ext := cmp.Or(clean(typ), "file"), "."+cmp.Or(clean(ext), "pdf")
	name := base + ext
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
	return name
}

// summary is a profile as a list without return_profile shows it: keys, reference and dates.
func summary(key, reference, sourceKey string, createdAt, updatedAt json.RawMessage) []byte {
	return mustJSON(struct {
		Key       string          `json:"key"`
		Reference *string         `json:"reference"`
		SourceKey string          `json:"source_key"`
		CreatedAt json.RawMessage `json:"created_at"`
		UpdatedAt json.RawMessage `json:"updated_at"`
	}{key, nilIfEmpty(reference), sourceKey, nullIfEmpty(createdAt), nullIfEmpty(updatedAt)})
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// mustJSON marshals values that cannot fail to marshal: strings, and maps and structs of
// json.RawMessage already validated by decoding.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("hrflowtest: marshal %T: %v", v, err))
	}
	return b
}

// parseTime parses the date formats HrFlow sends, and YYYY-MM-DD as query filters use; it
// returns the zero time for anything else.
func parseTime(s string) time.Time {
	for _, layout := range [...]string{"2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
