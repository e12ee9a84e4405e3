package jobaddertest

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"time"
)

// store is everything the server remembers; Server.mu guards it.
type store struct {
	// identity
	codes            map[string]*authCode
	access           map[string]*accessToken
	refresh          map[string]*refreshToken
	codeExchanges    map[string]int // by fingerprint
	authStyles       map[string]int
	tokensIssued     int
	refreshes        int
	refusedRefreshes int
	invalidGrants    int

	// API
	nextCandidateID  int32
	nextAttachmentID int64
	candidates       map[int32]*candidate
	byEmail          map[string][]int32 // normalised email → ids, ascending
	overrideCodes    map[string]string  // normalised email → X-Allow-Duplicates code
	allowedDups      int
	conflicts        int

	// observations
	requests       map[string]int
	ignored        map[string]int
	failures       int
	recentFailures []ValidationFailure
}

func newStore() store {
	return store{
		codes:         map[string]*authCode{},
		access:        map[string]*accessToken{},
		refresh:       map[string]*refreshToken{},
		codeExchanges: map[string]int{},
		authStyles:    map[string]int{},
		candidates:    map[int32]*candidate{},
		byEmail:       map[string][]int32{},
		overrideCodes: map[string]string{},
		requests:      map[string]int{},
		ignored:       map[string]int{},
	}
}

// State is a snapshot of what the server saw and holds. It marshals to JSON; the sandbox serves
// it at /_sandbox/state. Codes and tokens never appear in it.
type State struct {
	// Candidates is the number of candidates.
	Candidates int `json:"candidates"`
	// CandidatesByEmail counts candidates per email, trimmed and lower-cased; candidates
	// without email are not counted.
	CandidatesByEmail map[string]int `json:"candidatesByEmail"`
	// Duplicates lists the emails held by more than one candidate, sorted.
	Duplicates []string `json:"duplicates"`
	// AllowedDuplicates counts candidates created, or emails changed, with a valid
	// X-Allow-Duplicates override code.
	AllowedDuplicates int `json:"allowedDuplicates"`
	// DuplicateConflicts counts 409 answers.
	DuplicateConflicts int `json:"duplicateConflicts"`
	// Attachments counts attachments per candidate id (candidates without any are left out).
	Attachments map[int32]int `json:"attachments"`

	// Requests counts answers by "METHOD route status", e.g. "POST /v2/candidates 201" or
	// "POST /connect/token 400"; route is the document's path template.
	Requests map[string]int `json:"requests"`
	// Connections counts the connections the server accepted: with NewServer only (a server
	// made by New does not listen, and reports 0).
	Connections int `json:"connections"`
	// Faults counts answers injected by RateLimitRate, ErrorRate and TokenErrorRate.
	Faults int `json:"faults"`
	// SlowAnswers counts the API calls whose answer SlowRate held back.
	SlowAnswers int `json:"slowAnswers"`
	// IgnoredFields counts request parts the real API would silently ignore, by
	// "METHOD route: kind name": undeclared query parameters ("query") and multipart parts
	// ("part"). The document forbids unknown JSON properties, so those are refused, not ignored.
	IgnoredFields map[string]int `json:"ignoredFields"`
	// ValidationFailures counts requests refused as invalid (415 and 422).
	ValidationFailures int `json:"validationFailures"`
	// RecentFailures holds the last Config.MaxRecentFailures of them, oldest first.
	RecentFailures []ValidationFailure `json:"recentFailures"`

	// CodeExchanges counts token requests per authorization code, keyed by a fingerprint of
	// the code (see [State.Exchanges]), including attempts with unknown or used codes.
	CodeExchanges map[string]int `json:"codeExchanges"`
	// TokenAuthStyles counts how clients sent credentials to the token endpoint: "basic"
	// (Authorization header) or "form" (client_id and client_secret fields).
	TokenAuthStyles map[string]int `json:"tokenAuthStyles"`
	// TokensIssued counts access tokens issued (code exchanges, refreshes, IssueToken).
	TokensIssued int `json:"tokensIssued"`
	// Refreshes counts successful refresh_token grants.
	Refreshes int `json:"refreshes"`
	// RefusedRefreshes counts refresh_token grants answered invalid_grant.
	RefusedRefreshes int `json:"refusedRefreshes"`
	// InvalidGrants counts every invalid_grant answer (codes and refresh tokens).
	InvalidGrants int `json:"invalidGrants"`
}

// Exchanges returns how many times code was sent to the token endpoint.
func (st State) Exchanges(code string) int { return st.CodeExchanges[fingerprint(code)] }

// ValidationFailure is a request the API refused as invalid.
type ValidationFailure struct {
	Request string      `json:"request"` // "METHOD route"
	Status  int         `json:"status"`
	Message string      `json:"message"`
	Errors  []ErrorItem `json:"errors,omitempty"`
}

// State returns a snapshot of the server's state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.store
	out := State{
		Candidates:         len(st.candidates),
		CandidatesByEmail:  make(map[string]int, len(st.byEmail)),
		Duplicates:         []string{},
		AllowedDuplicates:  st.allowedDups,
		DuplicateConflicts: st.conflicts,
		Attachments:        map[int32]int{},
		Requests:           maps.Clone(st.requests),
		Connections:        s.conns.Opened(),
		Faults:             s.dice.Faults(),
		SlowAnswers:        s.dice.Slow.Hits(),
		IgnoredFields:      maps.Clone(st.ignored),
		ValidationFailures: st.failures,
		RecentFailures:     slices.Clone(st.recentFailures),
		CodeExchanges:      maps.Clone(st.codeExchanges),
		TokenAuthStyles:    maps.Clone(st.authStyles),
		TokensIssued:       st.tokensIssued,
		Refreshes:          st.refreshes,
		RefusedRefreshes:   st.refusedRefreshes,
		InvalidGrants:      st.invalidGrants,
	}
	for email, ids := range st.byEmail {
		out.CandidatesByEmail[email] = len(ids)
		if len(ids) > 1 {
			out.Duplicates = append(out.Duplicates, email)
		}
	}
	sort.Strings(out.Duplicates)
	for id, c := range st.candidates {
		if n := len(c.attachments); n > 0 {
			out.Attachments[id] = n
		}
	}
	return out
}

func (s *Server) recordFailure(f ValidationFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.store
	st.failures++
	st.recentFailures = append(st.recentFailures, f)
	if over := len(st.recentFailures) - s.cfg.MaxRecentFailures; over > 0 {
		st.recentFailures = slices.Delete(st.recentFailures, 0, over)
	}
}

func (s *Server) recordIgnored(request, kind string, names []string) {
	if len(names) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.store.ignored[request+": "+kind+" "+n]++
	}
}

// Candidate is a candidate as the server holds it.
type Candidate struct {
	ID        int32
	FirstName string
	LastName  string
	Email     string
	// Source is the source given at creation (the update command has none).
	Source string
	// Body is the JSON body of the last POST or PUT that wrote the candidate, as received.
	Body json.RawMessage
	// Attachments is the number of attachments uploaded.
	Attachments int
	// AllowedDuplicate is true when the candidate was created, or its email changed, with a
	// valid X-Allow-Duplicates code.
	AllowedDuplicate bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Candidates returns the candidates by ascending id.
func (s *Server) Candidates() []Candidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Candidate, 0, len(s.store.candidates))
	for _, c := range s.store.candidates {
		var source string
		if c.source != nil {
			source = *c.source
		}
		out = append(out, Candidate{
			ID:               c.id,
			FirstName:        stringField(c.body, "firstName"),
			LastName:         stringField(c.body, "lastName"),
			Email:            stringField(c.body, "email"),
			Source:           source,
			Body:             slices.Clone(c.raw),
			Attachments:      len(c.attachments),
			AllowedDuplicate: c.allowedDuplicate,
			CreatedAt:        c.createdAt,
			UpdatedAt:        c.updatedAt,
		})
	}
	slices.SortFunc(out, func(a, b Candidate) int { return int(a.ID) - int(b.ID) })
	return out
}

// Attachment is a file uploaded to a candidate.
type Attachment struct {
	ID          int64
	CandidateID int32
	// Type is the attachment type from the URL, e.g. "Resume".
	Type        string
	FileName    string
	ContentType string
	Data        []byte
	CreatedAt   time.Time
}

// Attachments returns the attachments of a candidate, oldest first; nil for an unknown id.
func (s *Server) Attachments(candidateID int32) []Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.store.candidates[candidateID]
	if !ok {
		return nil
	}
	out := make([]Attachment, 0, len(c.attachments))
	for _, a := range c.attachments {
		cp := *a
		cp.Data = slices.Clone(a.Data)
		out = append(out, cp)
	}
	return out
}
