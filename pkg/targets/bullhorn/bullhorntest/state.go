package bullhorntest

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Rejection is a request the fake refused: an error status, or an authorize request answered
// with the login or consent page.
type Rejection struct {
	Request string    `json:"request"` // "METHOD route"
	Status  int       `json:"status"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// State is a snapshot of what the server holds and has seen, for tests to assert on and for
// the sandbox to serve at PathState. Maps keyed by candidate id hold only candidates with a
// non-zero count.
type State struct {
	// Candidates counts stored candidates, soft-deleted ones included; DeletedCandidates those
	// with isDeleted true.
	Candidates        int `json:"candidates"`
	DeletedCandidates int `json:"deletedCandidates"`
	// CreatedWithoutName counts candidates created without a non-blank name: Bullhorn does not
	// derive it from firstName and lastName, so a client should always send it.
	CreatedWithoutName int `json:"createdWithoutName"`
	// CandidatesByEmail counts, per address (trimmed, lower-cased), the candidates not deleted
	// that carry it in email, email2 or email3; DuplicateEmails lists the addresses more than
	// one such candidate carries.
	CandidatesByEmail map[string]int `json:"candidatesByEmail"`
	DuplicateEmails   []string       `json:"duplicateEmails"`
	// PendingIndex counts writes search does not see yet (Config.IndexLag).
	PendingIndex int `json:"pendingIndex"`

	// Educations, WorkHistories and Files count each candidate's rows and files.
	Educations    map[int]int `json:"educations"`
	WorkHistories map[int]int `json:"workHistories"`
	Files         map[int]int `json:"files"`
	// DuplicateEducations and DuplicateWorkHistories count, per candidate, the rows (not
	// deleted) identical in every field to an earlier row of the same candidate.
	DuplicateEducations    map[int]int `json:"duplicateEducations"`
	DuplicateWorkHistories map[int]int `json:"duplicateWorkHistories"`
	// SuspectTimestamps counts Timestamp values written that read as seconds between 1897 and
	// 2128 (-2.3e9 to 5e9): as milliseconds they would be days around 1970-01-01, so they are
	// probably seconds. Bullhorn accepts them.
	SuspectTimestamps int `json:"suspectTimestamps"`

	// Authorizations counts authorize requests, CodesIssued the codes redirected with.
	Authorizations int `json:"authorizations"`
	CodesIssued    int `json:"codesIssued"`
	// TokenRequests counts token requests by grant_type ("(none)" when missing).
	TokenRequests map[string]int `json:"tokenRequests"`
	TokensIssued  int            `json:"tokensIssued"`
	Refreshes     int            `json:"refreshes"`
	InvalidGrants int            `json:"invalidGrants"`
	// CodesReused and RefreshTokensReused count the codes and refresh tokens presented more
	// than once (each is single-use).
	CodesReused         int `json:"codesReused"`
	RefreshTokensReused int `json:"refreshTokensReused"`
	// CallbacksFollowed counts requests to the default redirect URI: clients that followed the
	// authorize redirect instead of reading its Location.
	CallbacksFollowed int `json:"callbacksFollowed"`

	// Logins counts REST login requests, RefusedLogins those refused (bad access token,
	// session cap). SessionsOpened counts sessions opened (logins and IssueSession),
	// LiveSessions those live now, MaxLiveSessions the most live at once.
	Logins          int `json:"logins"`
	RefusedLogins   int `json:"refusedLogins"`
	SessionsOpened  int `json:"sessionsOpened"`
	LiveSessions    int `json:"liveSessions"`
	MaxLiveSessions int `json:"maxLiveSessions"`
	Logouts         int `json:"logouts"`

	DataCentreRedirects int `json:"dataCentreRedirects"`
	Searches            int `json:"searches"`

	// Requests counts requests by "METHOD route status", e.g.
	// "PUT /rest-services/{corpToken}/entity/Candidate 200".
	Requests map[string]int `json:"requests"`
	// Connections counts the connections the server accepted: with NewServer only (a server
	// made by New does not listen, and reports 0).
	Connections int `json:"connections"`
	// TooManyRequests counts 429 answers; OverBudget those due to Config.CallsPerMinute;
	// Faults the answers injected by RateLimitRate, ErrorRate and AuthErrorRate.
	TooManyRequests int `json:"tooManyRequests"`
	OverBudget      int `json:"overBudget"`
	Faults          int `json:"faults"`
	// SlowAnswers counts the REST calls whose answer Config.SlowRate held back.
	SlowAnswers int `json:"slowAnswers"`
	// Rejected counts refused requests; RecentRejections keeps the last
	// Config.MaxRecentRejections, oldest first.
	Rejected         int         `json:"rejected"`
	RecentRejections []Rejection `json:"recentRejections"`
}

// State returns a snapshot of the server's state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	now := s.cfg.Now()
	out := State{
		CreatedWithoutName:     st.createdWithoutName,
		CandidatesByEmail:      map[string]int{},
		DuplicateEmails:        []string{},
		PendingIndex:           len(st.pending),
		Educations:             map[int]int{},
		WorkHistories:          map[int]int{},
		Files:                  map[int]int{},
		DuplicateEducations:    map[int]int{},
		DuplicateWorkHistories: map[int]int{},
		SuspectTimestamps:      st.suspectTimestamps,
		Authorizations:         st.authorizations,
		CodesIssued:            st.codesIssued,
		TokenRequests:          maps.Clone(st.tokenRequests),
		TokensIssued:           st.tokensIssued,
		Refreshes:              st.refreshes,
		InvalidGrants:          st.invalidGrants,
		CallbacksFollowed:      st.callbacks,
		Logins:                 st.logins,
		RefusedLogins:          st.refusedLogins,
		SessionsOpened:         st.sessionsOpened,
		MaxLiveSessions:        st.maxLive,
		Logouts:                st.logouts,
		DataCentreRedirects:    st.dataCentreRedirects,
		Searches:               st.searches,
		Requests:               maps.Clone(st.requests),
		Connections:            s.conns.Opened(),
		TooManyRequests:        st.tooManyRequests,
		OverBudget:             st.overBudget,
		Faults:                 s.dice.Faults(),
		SlowAnswers:            s.dice.Slow.Hits(),
		Rejected:               st.rejected,
		RecentRejections:       slices.Clone(st.recentRejections),
	}
	for _, n := range st.codePresented {
		if n > 1 {
			out.CodesReused++
		}
	}
	for _, n := range st.refreshPresented {
		if n > 1 {
			out.RefreshTokensReused++
		}
	}
	for _, sess := range st.sessions {
		if now.Before(sess.expires) {
			out.LiveSessions++
		}
	}
	for id, c := range st.records[EntityCandidate] {
		out.Candidates++
		if deleted(c.fields) {
			out.DeletedCandidates++
		} else {
			for _, email := range candidateEmails(c.fields) {
				out.CandidatesByEmail[email]++
			}
		}
		if n := len(c.files); n > 0 {
			out.Files[id] = n
		}
		for _, x := range []struct {
			entity string
			ids    []int
			count  map[int]int
			dups   map[int]int
		}{
			{EntityEducation, c.educations, out.Educations, out.DuplicateEducations},
			{EntityWorkHistory, c.workHistories, out.WorkHistories, out.DuplicateWorkHistories},
		} {
			if len(x.ids) == 0 {
				continue
			}
			x.count[id] = len(x.ids)
			seen := map[string]bool{}
			for _, cid := range x.ids {
				child := st.records[x.entity][cid]
				if deleted(child.fields) {
					continue
				}
				b, _ := json.Marshal(child.fields) // map keys sort: a canonical form
				if seen[string(b)] {
					x.dups[id]++
				}
				seen[string(b)] = true
			}
		}
	}
	for email, n := range out.CandidatesByEmail {
		if n > 1 {
			out.DuplicateEmails = append(out.DuplicateEmails, email)
		}
	}
	sort.Strings(out.DuplicateEmails)
	return out
}

func deleted(fields map[string]any) bool {
	d, _ := fields["isDeleted"].(bool)
	return d
}

// candidateEmails returns the distinct addresses of email, email2 and email3, trimmed and
// lower-cased.
func candidateEmails(fields map[string]any) []string {
	var out []string
	for _, k := range []string{"email", "email2", "email3"} {
		e, _ := fields[k].(string)
		e = strings.ToLower(strings.TrimSpace(e))
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Candidate is a stored candidate with its education and work history rows and its files.
type Candidate struct {
	ID int
	// Fields holds the fields as written: string, int64 (Integer, Timestamp), float64,
	// bool, nil, map[string]any (address; to-one associations as {"id": int64}).
	Fields           map[string]any
	DateAdded        time.Time
	DateLastModified time.Time
	// Searchable reports whether search sees the candidate (in some state) yet.
	Searchable    bool
	Educations    []Record
	WorkHistories []Record
	Files         []File
}

// Record is a stored CandidateEducation or CandidateWorkHistory.
type Record struct {
	ID               int
	Fields           map[string]any
	DateAdded        time.Time
	DateLastModified time.Time
}

// File is a file attached to a candidate.
type File struct {
	ID            int
	ExternalID    string
	Name          string
	FileType      string
	Type          string
	ContentType   string
	Description   string
	FileExtension string
	Content       []byte
	DateAdded     time.Time
}

// Candidates returns the stored candidates by ascending id, with their rows and files.
func (s *Server) Candidates() []Candidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	out := make([]Candidate, 0, len(st.records[EntityCandidate]))
	for _, c := range st.records[EntityCandidate] {
		cand := Candidate{
			ID: c.id, Fields: cloneFields(c.fields), DateAdded: c.added, DateLastModified: c.modified,
			Searchable: c.indexed != nil,
		}
		for _, id := range c.educations {
			cand.Educations = append(cand.Educations, exportRecord(st.records[EntityEducation][id]))
		}
		for _, id := range c.workHistories {
			cand.WorkHistories = append(cand.WorkHistories, exportRecord(st.records[EntityWorkHistory][id]))
		}
		for _, id := range c.files {
			f := st.files[id]
			cand.Files = append(cand.Files, File{
				ID: f.id, ExternalID: f.externalID, Name: f.name, FileType: f.fileType, Type: f.typ,
				ContentType: f.contentType, Description: f.description, FileExtension: f.fileExtension,
				Content: slices.Clone(f.content), DateAdded: f.added,
			})
		}
		out = append(out, cand)
	}
	slices.SortFunc(out, func(a, b Candidate) int { return a.ID - b.ID })
	return out
}

func exportRecord(r *record) Record {
	return Record{ID: r.id, Fields: cloneFields(r.fields), DateAdded: r.added, DateLastModified: r.modified}
}
