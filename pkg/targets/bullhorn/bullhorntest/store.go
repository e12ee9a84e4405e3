package bullhorntest

import (
	"time"
)

// store is everything the server holds; Server.mu guards it.
type store struct {
	// identity
	termsAccepted    bool
	codes            map[string]*authCode
	access           map[string]time.Time // access token → expiry
	refresh          map[string]struct{}  // live refresh tokens
	sessions         map[string]*session  // BhRestToken → session
	codePresented    map[string]int       // code fingerprint → times presented
	refreshPresented map[string]int       // refresh token fingerprint → times presented
	calls            []time.Time          // REST calls of the last minute, oldest first

	// data
	records    map[string]map[int]*record // entity type → id → record
	nextID     map[string]int
	files      map[int]*file
	nextFileID int
	pending    []pendingIndex              // writes not yet visible to search, oldest first
	terms      map[string]map[int]struct{} // search index: field+"\x00"+normalised value → candidate ids

	// counters
	requests            map[string]int
	rejected            int
	recentRejections    []Rejection
	tooManyRequests     int
	overBudget          int
	authorizations      int
	codesIssued         int
	tokenRequests       map[string]int
	tokensIssued        int
	refreshes           int
	invalidGrants       int
	logins              int
	refusedLogins       int
	sessionsOpened      int
	maxLive             int
	logouts             int
	callbacks           int
	dataCentreRedirects int
	createdWithoutName  int
	suspectTimestamps   int
	searches            int
}

func newStore(termsAccepted bool) store {
	return store{
		termsAccepted:    termsAccepted,
		codes:            map[string]*authCode{},
		access:           map[string]time.Time{},
		refresh:          map[string]struct{}{},
		sessions:         map[string]*session{},
		codePresented:    map[string]int{},
		refreshPresented: map[string]int{},
		records: map[string]map[int]*record{
			EntityCandidate: {}, EntityEducation: {}, EntityWorkHistory: {},
		},
		// Each type counts in its own range, so an id used as the wrong type is never found.
		nextID: map[string]int{
			EntityCandidate: 100000, EntityEducation: 200000, EntityWorkHistory: 300000,
		},
		files:         map[int]*file{},
		nextFileID:    400000,
		terms:         map[string]map[int]struct{}{},
		requests:      map[string]int{},
		tokenRequests: map[string]int{},
	}
}

// record is a stored entity.
type record struct {
	id       int
	entity   string
	fields   map[string]any // decoded: string, int64, float64, bool, nil, map[string]any (address, to-one)
	added    time.Time
	modified time.Time

	// Children (CandidateEducation, CandidateWorkHistory): the candidate they belong to.
	candidateID int

	// Candidate only.
	educations    []int
	workHistories []int
	files         []int
	indexed       map[string]any // what search sees; nil until first indexed
}

// pendingIndex is a write that search sees from visible on.
type pendingIndex struct {
	id      int
	doc     map[string]any
	visible time.Time
}

// file is an attached file.
type file struct {
	id            int
	candidateID   int
	externalID    string
	name          string
	fileType      string
	typ           string
	contentType   string
	description   string
	fileExtension string
	content       []byte
	added         time.Time
}

// cloneFields copies a fields map and the maps nested in it (address, to-one).
func cloneFields(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			cp := make(map[string]any, len(sub))
			for sk, sv := range sub {
				cp[sk] = sv
			}
			v = cp
		}
		out[k] = v
	}
	return out
}
