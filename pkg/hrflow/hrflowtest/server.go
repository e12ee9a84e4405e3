package hrflowtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// Paths the server counts requests by in [Server.Stats].
const (
	PathProfile  = "/v1/profile/indexing"
	PathProfiles = "/v1/storing/profiles"
	PathFiles    = "/files/"
	PathOther    = "other" // any other request, answered 404
)

// Config configures a [Server]. The zero Config is a server that accepts any credentials and
// injects no faults.
type Config struct {
	// APIKey and UserEmail are the X-API-KEY and X-USER-EMAIL every API request must carry;
	// others are answered 401. Empty: any value is accepted.
	APIKey    secret.Value
	UserEmail string

	// Latency is how long after it arrived an API request is answered (not attachment
	// downloads): the request is processed at once and its answer held back for the rest of
	// Latency, as by a remote API whose round trip takes Latency with its processing inside.
	Latency time.Duration

	// ErrorRate is the share of API requests answered with a server error, alternately a
	// 503 JSON envelope and a 502 HTML page from a gateway.
	ErrorRate float64
	// RateLimitRate is the share of API requests answered 429 with "Retry-After: 1".
	RateLimitRate float64
	// DownloadErrorRate is the share of attachment downloads answered 503. Default 0:
	// downloads are never faulted.
	DownloadErrorRate float64
	// Seed seeds the fault dice: one seed gives the same sequence of faults. The dice are
	// thrown before a request is processed, in the order requests arrive.
	Seed int64

	// Webhook, when its URL is set, makes the server deliver signed profile webhooks as
	// HrFlow does; see [Webhook].
	Webhook Webhook
}

func (cfg Config) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"ErrorRate", cfg.ErrorRate}, {"RateLimitRate", cfg.RateLimitRate}, {"DownloadErrorRate", cfg.DownloadErrorRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("hrflowtest: %s %v is not within [0, 1]", r.name, r.v)
		}
	}
	if cfg.ErrorRate+cfg.RateLimitRate > 1 {
		return errors.New("hrflowtest: ErrorRate and RateLimitRate add up to more than 1")
	}
	if cfg.Latency < 0 {
		return fmt.Errorf("hrflowtest: negative Latency %s", cfg.Latency)
	}
	return cfg.Webhook.validate()
}

// Server is a fake HrFlow API. It is safe for concurrent use, including adding and removing
// profiles while it serves.
type Server struct {
	cfg  Config
	ts   *httptest.Server
	dice dice

	mu      sync.Mutex // guards sources
	sources map[string]*source

	statsMu sync.Mutex
	stats   map[Stat]int

	conns targetstest.Conns

	hooks *hooks // nil without webhooks
}

// Stat identifies a counter of [Server.Stats]: an endpoint (one of the Path constants) and the
// HTTP status it answered.
type Stat struct {
	Path   string
	Status int
}

// NewServer starts a fake HrFlow server on a loopback port. It panics if cfg is invalid (a rate
// outside [0, 1], a negative latency), as httptest.NewServer panics when it cannot listen.
// Close it when done.
func NewServer(cfg Config) *Server {
	s, err := newServer(cfg)
	if err != nil {
		panic(err)
	}
	s.ts = httptest.NewUnstartedServer(s.routes())
	s.ts.Config.ConnState = s.conns.Track
	s.ts.Start()
	if cfg.Webhook.URL != "" {
		s.hooks = newHooks(cfg.Webhook)
	}
	return s
}

// Listen starts a fake HrFlow server on addr, for example "127.0.0.1:8081", for programs that
// need a fixed address. Close it when done.
func Listen(addr string, cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hrflowtest: %w", err)
	}
	s.ts = httptest.NewUnstartedServer(s.routes())
	_ = s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Config.ConnState = s.conns.Track
	s.ts.Start()
	if cfg.Webhook.URL != "" {
		s.hooks = newHooks(cfg.Webhook)
	}
	return s, nil
}

func newServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg,
		dice: dice{
			errorRate: cfg.ErrorRate, rateLimitRate: cfg.RateLimitRate, downloadErrorRate: cfg.DownloadErrorRate,
			rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x68726670)), //nolint:gosec // fault dice, not crypto
		},
		sources: map[string]*source{},
		stats:   map[Stat]int{},
	}, nil
}

// URL returns the API base URL, ending in "/v1", for hrflow.WithBaseURL.
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// origin is the server's scheme://host:port.
func (s *Server) origin() string { return s.ts.URL }

// Close shuts the server down, waiting for requests in progress; webhook deliveries not yet
// made are dropped.
func (s *Server) Close() {
	s.ts.Close()
	if s.hooks != nil {
		s.hooks.close()
	}
}

// Stats returns how many requests the server answered, by endpoint and status.
func (s *Server) Stats() map[Stat]int {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return maps.Clone(s.stats)
}

// Connections returns how many connections the server accepted: API calls and downloads.
func (s *Server) Connections() int { return s.conns.Opened() }

// Downloads returns how many attachments the server served successfully.
func (s *Server) Downloads() int {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats[Stat{PathFiles, http.StatusOK}]
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+PathProfile, s.api(PathProfile, s.getProfile))
	mux.Handle("GET "+PathProfiles, s.api(PathProfiles, s.listProfiles))
	mux.Handle("GET "+PathFiles+"{source}/{key}/{name}", s.counted(PathFiles, s.download))
	mux.Handle("/", s.counted(PathOther, func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "Not found")
	}))
	return mux
}

// counted wraps h to count its answers under path.
func (s *Server) counted(path string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before it goes out: a client that has its answer finds it counted. An API
		// request is counted when processed, even if its client leaves during the latency.
		h(&targetstest.Recorder{ResponseWriter: w, OnCode: func(code int) {
			s.statsMu.Lock()
			s.stats[Stat{path, code}]++
			s.statsMu.Unlock()
		}}, r)
	})
}

// api wraps an API endpoint with fault injection and authentication, in that order, and
// sends its answer Latency after the request arrived.
func (s *Server) api(path string, h http.HandlerFunc) http.Handler {
	served := s.counted(path, func(w http.ResponseWriter, r *http.Request) {
		switch s.dice.api() {
		case faultUnavailable:
			writeError(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
			return
		case faultBadGateway:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, badGatewayPage)
			return
		case faultRateLimited:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "Too many requests. Please retry later.")
			return
		case faultNone:
		}
		if !s.authorized(r) {
			// HrFlow echoes the refused key; the fake never risks echoing the real one.
			writeError(w, http.StatusUnauthorized, "Unauthorized. Invalid secret key: xxxxx ")
			return
		}
		h(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Latency <= 0 {
			served.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		held := &targetstest.HeldAnswer{}
		served.ServeHTTP(held, r)
		held.Send(w, r, s.cfg.Latency-time.Since(start))
	})
}

const badGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

func (s *Server) authorized(r *http.Request) bool {
	if key := s.cfg.APIKey; !key.IsZero() &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-KEY")), []byte(key.Reveal())) != 1 {
		return false
	}
	email := s.cfg.UserEmail
	return email == "" || strings.EqualFold(r.Header.Get("X-USER-EMAIL"), email)
}

// Error messages HrFlow answers with.
const (
	msgSourceNotFound  = "Invalid parameters. Unable to find object: source"
	msgProfileNotFound = "Invalid parameters. Unable to find object: profile"
)

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sourceKey, key, reference := q.Get("source_key"), q.Get("key"), q.Get("reference")
	if sourceKey == "" || (key == "" && reference == "") {
		writeError(w, http.StatusBadRequest, "Invalid parameters. source_key and one of key or reference are required")
		return
	}
	e, found := s.lookup(sourceKey, key, reference)
	switch {
	case !found:
		writeError(w, http.StatusBadRequest, msgSourceNotFound)
	case e == nil:
		writeError(w, http.StatusBadRequest, msgProfileNotFound)
	default:
		writeData(w, "Profile details", nil, withOrigin(e.raw, requestOrigin(r)))
	}
}

// listQuery is a parsed GET /storing/profiles query.
type listQuery struct {
	sourceKeys     []string
	page, limit    int
	full           bool // return_profile
	desc           bool
	by             int // byCreated or byUpdated
	minAt, maxAt   time.Time
	maxIsInclusive bool // maxAt is a date: profiles created that day match
}

func parseListQuery(q url.Values) (listQuery, error) {
	get := q.Get
	lq := listQuery{page: 1, limit: 30, desc: true}
	if err := json.Unmarshal([]byte(get("source_keys")), &lq.sourceKeys); err != nil || len(lq.sourceKeys) == 0 {
		return lq, errors.New(`source_keys must be a JSON list of source keys, e.g. ["k1"]`)
	}
	slices.Sort(lq.sourceKeys)
	lq.sourceKeys = slices.Compact(lq.sourceKeys)
	for _, p := range []struct {
		name string
		dst  *int
	}{{"page", &lq.page}, {"limit", &lq.limit}} {
		if v := get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return lq, fmt.Errorf("%s must be a positive integer", p.name)
			}
			*p.dst = n
		}
	}
	if v := get("return_profile"); v != "" {
		full, err := strconv.ParseBool(v)
		if err != nil {
			return lq, errors.New("return_profile must be a boolean")
		}
		lq.full = full
	}
	switch get("order_by") {
	case "", "desc":
	case "asc":
		lq.desc = false
	default:
		return lq, errors.New("order_by must be asc or desc")
	}
	switch get("sort_by") {
	case "", "created_at":
	case "updated_at":
		lq.by = byUpdated
	default:
		return lq, errors.New("sort_by must be created_at or updated_at (the only sorts the fake supports)")
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_at_min", &lq.minAt}, {"created_at_max", &lq.maxAt}} {
		if v := get(p.name); v != "" {
			if *p.dst = parseTime(v); p.dst.IsZero() {
				return lq, fmt.Errorf("%s must be a date (YYYY-MM-DD)", p.name)
			}
		}
	}
	lq.maxIsInclusive = len(get("created_at_max")) == len(time.DateOnly)
	return lq, nil
}

// keep reports whether e passes the query's date filters.
func (lq *listQuery) keep(e *entry) bool {
	if !lq.minAt.IsZero() && e.createdAt.Before(lq.minAt) {
		return false
	}
	switch {
	case lq.maxAt.IsZero():
		return true
	case lq.maxIsInclusive:
		return e.createdAt.Before(lq.maxAt.AddDate(0, 0, 1))
	default:
		return !e.createdAt.After(lq.maxAt)
	}
}

// page returns the page of entries lq selects and how many entries match in all; ok is false
// when a source does not exist.
func (s *Server) page(lq *listQuery) (items []*entry, total int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*entry
	for i, k := range lq.sourceKeys {
		src, found := s.sources[k]
		if !found {
			return nil, 0, false
		}
		part := src.sorted(lq.by) // shared cache: never modified, only replaced
		if !lq.minAt.IsZero() || !lq.maxAt.IsZero() {
			part = slices.DeleteFunc(slices.Clone(part), func(e *entry) bool { return !lq.keep(e) })
		}
		if i == 0 {
			list = part
		} else {
			list = append(slices.Clip(list), part...)
		}
	}
	if len(lq.sourceKeys) > 1 {
		slices.SortFunc(list, entryOrder(lq.by))
	}
	total = len(list)
	start := (lq.page - 1) * lq.limit
	if start >= total || start < 0 { // start < 0: the product overflowed
		return nil, total, true
	}
	n := min(lq.limit, total-start)
	items = make([]*entry, n)
	for i := range n {
		if lq.desc {
			items[i] = list[total-1-start-i]
		} else {
			items[i] = list[start+i]
		}
	}
	return items, total, true
}

// listMeta is the "meta" member of a list answer.
type listMeta struct {
	Page    int `json:"page"`
	MaxPage int `json:"maxPage"`
	Count   int `json:"count"`
	Total   int `json:"total"`
}

func (s *Server) listProfiles(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid parameters. "+err.Error())
		return
	}
	items, total, ok := s.page(&lq)
	if !ok {
		writeError(w, http.StatusBadRequest, msgSourceNotFound)
		return
	}
	var data bytes.Buffer
	data.WriteByte('[')
	for i, e := range items {
		if i > 0 {
			data.WriteByte(',')
		}
		if lq.full {
			data.Write(e.raw)
		} else {
			data.Write(e.summary)
		}
	}
	data.WriteByte(']')
	meta := &listMeta{Page: lq.page, MaxPage: max(1, (total+lq.limit-1)/lq.limit), Count: len(items), Total: total}
	writeData(w, "List of profiles", meta, withOrigin(data.Bytes(), requestOrigin(r)))
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if s.dice.download() {
		writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	}
	key := r.PathValue("key")
	var e *entry
	if key != "" {
		e, _ = s.lookup(r.PathValue("source"), key, "")
	}
	if e == nil || !e.files[r.PathValue("name")] {
		writeS3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.pdf)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.pdf)
}

// requestOrigin is the scheme://host the request reached the server at.
func requestOrigin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// writeData writes a success envelope around data, a JSON value.
func writeData(w http.ResponseWriter, message string, meta *listMeta, data []byte) {
	var b bytes.Buffer
	b.Grow(len(data) + 128)
	b.WriteString(`{"code":200,"message":`)
	b.Write(mustJSON(message))
	if meta != nil {
		b.WriteString(`,"meta":`)
		b.Write(mustJSON(meta))
	}
	b.WriteString(`,"data":`)
	b.Write(data)
	b.WriteByte('}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// writeError writes an error envelope; HrFlow's HTTP status mirrors its code.
func writeError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(mustJSON(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message}))
}

// writeS3Error writes an error the way the S3 bucket holding attachments does.
func writeS3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, message)
}

type fault int

const (
	faultNone fault = iota
	faultUnavailable
	faultBadGateway
	faultRateLimited
)

// dice decides faults. One throw per request keeps a seed's sequence reproducible.
type dice struct {
	errorRate, rateLimitRate, downloadErrorRate float64

	mu           sync.Mutex
	rng          *rand.Rand
	serverErrors int // alternates 503 and 502
}

func (d *dice) api() fault {
	if d.errorRate == 0 && d.rateLimitRate == 0 {
		return faultNone
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch u := d.rng.Float64(); {
	case u < d.errorRate:
		d.serverErrors++
		if d.serverErrors%2 == 1 {
			return faultUnavailable
		}
		return faultBadGateway
	case u < d.errorRate+d.rateLimitRate:
		return faultRateLimited
	}
	return faultNone
}

func (d *dice) download() bool {
	if d.downloadErrorRate == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64() < d.downloadErrorRate
}
