package jobaddertest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [Config].
const (
	DefaultClientID     = "jobaddertest-client"
	DefaultClientSecret = "jobaddertest-secret"
	DefaultRedirectURI  = "http://localhost/callback"
)

// Config configures a [Server]. The zero value is usable; every field documents its default.
type Config struct {
	// BaseURL is the scheme and host clients reach the server at, e.g. "http://127.0.0.1:8080".
	// The token response's api field is BaseURL+"/v2", and links in resources start with it.
	// NewServer sets it to the httptest server's URL. Empty with New: taken from each request's
	// Host header.
	BaseURL string

	// ClientID and ClientSecret are the only client credentials the identity server accepts.
	// Defaults: DefaultClientID and DefaultClientSecret.
	ClientID     string
	ClientSecret string
	// RedirectURI is the only redirect URI registered for the client. Default: DefaultRedirectURI.
	RedirectURI string
	// Scopes are the scopes the client may request. Default: read write read_candidate
	// write_candidate offline_access. A refresh token is issued only with offline_access.
	Scopes []string

	// AccessTokenTTL is the access token lifetime, reported as expires_in. Default: 1 hour.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token lives unused. Default: 14 days.
	RefreshTokenTTL time.Duration
	// CodeTTL is how long an authorization code may be exchanged. Default: 5 minutes.
	CodeTTL time.Duration

	// Latency delays every API and token call. Default: none.
	Latency time.Duration
	// RateLimitRate is the share of API calls (0 to 1) answered 429 with a Retry-After header.
	// Default: 0.
	RateLimitRate float64
	// RetryAfter is the Retry-After of those 429 answers, sent in whole seconds (rounded up).
	// Default: 1 second.
	RetryAfter time.Duration
	// ErrorRate is the share of API calls (0 to 1) answered 500 or 503. Default: 0.
	ErrorRate float64
	// TokenErrorRate is the share of token requests answered 503 temporarily_unavailable.
	// Default: 0.
	TokenErrorRate float64
	// SlowRate is the share of API calls (0 to 1) answered only after SlowLatency. Such a call
	// is processed at once, like any other, and only its answer is held back, as by a loaded
	// ATS whose write has committed but whose response is slow: a client that gives up or dies
	// while waiting has nevertheless written. Default: 0.
	SlowRate float64
	// SlowLatency is how long the answers picked by SlowRate are held back, on top of Latency.
	// Default: none (SlowRate then has no effect).
	SlowLatency time.Duration
	// Seed seeds the fault dice. The n-th API call's outcome depends only on Seed and n, so a
	// run is reproducible as far as the order of calls is. Default: 0.
	Seed uint64

	// Now is the clock for token, code and resource times. Default: time.Now.
	Now func() time.Time
	// MaxRecentFailures is how many refused requests State keeps. Default: 50.
	MaxRecentFailures int
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.ClientSecret = cmp.Or(c.ClientSecret, DefaultClientSecret)
	c.RedirectURI = cmp.Or(c.RedirectURI, DefaultRedirectURI)
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"read", "write", "read_candidate", "write_candidate", "offline_access"}
	} else {
		c.Scopes = slices.Clone(c.Scopes)
	}
	c.AccessTokenTTL = cmp.Or(c.AccessTokenTTL, time.Hour)
	c.RefreshTokenTTL = cmp.Or(c.RefreshTokenTTL, 14*24*time.Hour)
	c.CodeTTL = cmp.Or(c.CodeTTL, 5*time.Minute)
	c.RetryAfter = cmp.Or(c.RetryAfter, time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxRecentFailures = cmp.Or(c.MaxRecentFailures, 50)
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	return c
}

// Validate reports a configuration New would refuse.
func (c Config) Validate() error {
	var errs []error
	for name, rate := range map[string]float64{
		"RateLimitRate": c.RateLimitRate, "ErrorRate": c.ErrorRate, "TokenErrorRate": c.TokenErrorRate,
		"SlowRate": c.SlowRate,
	} {
		if rate < 0 || rate > 1 || math.IsNaN(rate) {
			errs = append(errs, fmt.Errorf("jobaddertest: %s %v is not between 0 and 1", name, rate))
		}
	}
	if c.RateLimitRate+c.ErrorRate > 1 {
		errs = append(errs, errors.New("jobaddertest: RateLimitRate+ErrorRate exceeds 1"))
	}
	for name, d := range map[string]time.Duration{
		"AccessTokenTTL": c.AccessTokenTTL, "RefreshTokenTTL": c.RefreshTokenTTL, "CodeTTL": c.CodeTTL,
		"Latency": c.Latency, "RetryAfter": c.RetryAfter, "SlowLatency": c.SlowLatency,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("jobaddertest: %s %v is negative", name, d))
		}
	}
	if c.MaxRecentFailures < 0 {
		errs = append(errs, errors.New("jobaddertest: MaxRecentFailures is negative"))
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		errs = append(errs, fmt.Errorf("jobaddertest: BaseURL %q is not an http(s) URL", c.BaseURL))
	}
	return errors.Join(errs...)
}

// Server is a fake JobAdder: identity server (/connect/authorize, /connect/token) and API v2
// (/v2/candidates...) in one http.Handler. It is safe for concurrent use.
type Server struct {
	cfg  Config
	spec *apiSpec
	ts   *httptest.Server // set by NewServer only

	apiCalls   atomic.Uint64 // fault dice counters
	tokenCalls atomic.Uint64
	slowCalls  atomic.Uint64

	mu    sync.Mutex
	store store
}

var _ http.Handler = (*Server)(nil)

// New returns a server that does not listen: serve [Server.Handler] yourself (the sandbox does).
// It panics if cfg is invalid (see [Config.Validate]), as httptest.NewServer does on failure.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Server{cfg: cfg.WithDefaults(), spec: mustSpec(), store: newStore()}
}

// NewServer starts a server on a loopback httptest server. Call Close when done (t.Cleanup).
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.ts = httptest.NewUnstartedServer(s)
	if s.cfg.BaseURL == "" {
		s.cfg.BaseURL = "http://" + s.ts.Listener.Addr().String()
	}
	s.ts.Start()
	return s
}

// URL returns the configured base URL: the httptest server's for NewServer, Config.BaseURL
// otherwise (empty when the server derives it from requests).
func (s *Server) URL() string { return s.cfg.BaseURL }

// APIURL returns the API base, as the token response's api field reports it: URL()+"/v2".
func (s *Server) APIURL() string { return s.cfg.BaseURL + basePath }

// AuthURL returns the authorization endpoint, for an oauth2.Endpoint.
func (s *Server) AuthURL() string { return s.cfg.BaseURL + "/connect/authorize" }

// TokenURL returns the token endpoint, for an oauth2.Endpoint.
func (s *Server) TokenURL() string { return s.cfg.BaseURL + "/connect/token" }

// Config returns the server's configuration, defaults applied.
func (s *Server) Config() Config {
	c := s.cfg
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

// Close shuts down the httptest server NewServer started; it does nothing for New.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// Handler returns the server's routes:
//
//	GET  /connect/authorize                      grant access, 302 to the redirect URI
//	POST /connect/token                          authorization_code and refresh_token grants
//	     /v2/candidates...                       the API (see the package documentation)
//	GET  /_sandbox/state                         State as JSON
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, route: "(unmatched)"}
	switch p := r.URL.Path; {
	case p == "/connect/authorize":
		rec.route = p
		s.authorize(rec, r)
	case p == "/connect/token":
		rec.route = p
		s.token(rec, r)
	case p == basePath || strings.HasPrefix(p, basePath+"/"):
		if s.slowAnswer() {
			held := &heldAnswer{header: http.Header{}}
			rec.ResponseWriter = held
			s.api(rec, r)
			held.send(r, w, s.cfg.SlowLatency)
		} else {
			s.api(rec, r)
		}
	case p == "/_sandbox/state" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.State())
		return
	default:
		writeJSON(rec, http.StatusNotFound, errorModel{Message: "Resource not found"})
	}
	s.mu.Lock()
	s.store.requests[r.Method+" "+rec.route+" "+strconv.Itoa(rec.status())]++
	s.mu.Unlock()
}

// recorder remembers the status written and the route a request matched.
type recorder struct {
	http.ResponseWriter
	code  int
	route string
}

func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) status() int { return cmp.Or(rec.code, http.StatusOK) }

// baseURL returns the base URL links and the token response use.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sleep waits cfg.Latency, or until the request is cancelled; it reports whether to go on.
func (s *Server) sleep(r *http.Request) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// dice returns the n-th roll in [0, 1) of the stream for seed: a SplitMix64 hash, so rolls need
// no shared generator state.
func dice(seed, stream, n uint64) (roll float64, bit bool) {
	z := seed + stream*0xD1B54A32D192ED03 + n*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / (1 << 53), z&1 == 1
}

// retryAfterSeconds is cfg.RetryAfter in whole seconds, rounded up.
func (s *Server) retryAfterSeconds() string {
	secs := (s.cfg.RetryAfter + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(secs), 10)
}

// apiFault answers an injected fault for the next API call; it reports whether it did.
func (s *Server) apiFault(w http.ResponseWriter) bool {
	if s.cfg.RateLimitRate == 0 && s.cfg.ErrorRate == 0 {
		return false
	}
	roll, bit := dice(s.cfg.Seed, 1, s.apiCalls.Add(1))
	switch {
	case roll < s.cfg.RateLimitRate:
		w.Header().Set("Retry-After", s.retryAfterSeconds())
		writeJSON(w, http.StatusTooManyRequests, errorModel{Message: "Too many requests"})
	case roll < s.cfg.RateLimitRate+s.cfg.ErrorRate:
		if bit {
			writeJSON(w, http.StatusServiceUnavailable, errorModel{Message: "Service unavailable"})
		} else {
			writeJSON(w, http.StatusInternalServerError, errorModel{Message: "An error has occurred."})
		}
	default:
		return false
	}
	s.mu.Lock()
	s.store.faults++
	s.mu.Unlock()
	return true
}

// slowAnswer reports whether the answer to the next API call is held back SlowLatency.
func (s *Server) slowAnswer() bool {
	if s.cfg.SlowRate == 0 || s.cfg.SlowLatency <= 0 {
		return false
	}
	if roll, _ := dice(s.cfg.Seed, 3, s.slowCalls.Add(1)); roll >= s.cfg.SlowRate {
		return false
	}
	s.mu.Lock()
	s.store.slowAnswers++
	s.mu.Unlock()
	return true
}

// heldAnswer is an answer written in full, to be sent later.
type heldAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (h *heldAnswer) Header() http.Header { return h.header }

func (h *heldAnswer) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *heldAnswer) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// send waits d, or until the client goes away (what it asked is done all the same), then
// writes the answer to w.
func (h *heldAnswer) send(r *http.Request, w http.ResponseWriter, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	maps.Copy(w.Header(), h.header)
	w.WriteHeader(cmp.Or(h.code, http.StatusOK))
	_, _ = w.Write(h.body.Bytes())
}

// tokenFault answers an injected fault for the next token request; it reports whether it did.
func (s *Server) tokenFault(w http.ResponseWriter) bool {
	if s.cfg.TokenErrorRate == 0 {
		return false
	}
	if roll, _ := dice(s.cfg.Seed, 2, s.tokenCalls.Add(1)); roll >= s.cfg.TokenErrorRate {
		return false
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
	s.mu.Lock()
	s.store.faults++
	s.mu.Unlock()
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
