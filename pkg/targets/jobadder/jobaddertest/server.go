package jobaddertest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
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

	// Latency is how long after it arrived an API call is answered: the call is processed at
	// once and its answer held back for the rest of Latency, as by a remote API whose round
	// trip takes Latency with its processing inside (a client that gives up or dies while
	// waiting has nevertheless written, as with SlowLatency). A token call waits Latency
	// before it is processed. Default: none.
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
	// SlowLatency is how long the answers picked by SlowRate are held back, on top of Latency
	// (counted from the call's arrival).
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
	errs := targetstest.CheckRates("jobaddertest", map[string]float64{
		"RateLimitRate": c.RateLimitRate, "ErrorRate": c.ErrorRate, "TokenErrorRate": c.TokenErrorRate,
		"SlowRate": c.SlowRate,
	})
	if c.RateLimitRate+c.ErrorRate > 1 {
		errs = append(errs, errors.New("jobaddertest: RateLimitRate+ErrorRate exceeds 1"))
	}
	errs = append(errs, targetstest.CheckDurations("jobaddertest", map[string]time.Duration{
		"AccessTokenTTL": c.AccessTokenTTL, "RefreshTokenTTL": c.RefreshTokenTTL, "CodeTTL": c.CodeTTL,
		"Latency": c.Latency, "RetryAfter": c.RetryAfter, "SlowLatency": c.SlowLatency,
	})...)
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

	dice  *targetstest.Dice
	conns targetstest.Conns // NewServer's only
	down  atomic.Bool       // SetDown
	deny  atomic.Bool       // DenyConsent

	// identity, when set, is the server whose identity endpoints issue this account's codes
	// and tokens (see [Server.AddAccount]); nil: this server's own.
	identity *Server

	mu    sync.Mutex
	store store
}

var _ http.Handler = (*Server)(nil)

// AddAccount starts another JobAdder account behind s's identity server, as JobAdder serves
// many accounts behind id.jobadder.com: the account's codes ([Server.IssueCode] on it) are
// exchanged at s's token endpoint, and the token's api field points at the account's own API,
// which refuses the tokens of any other account. The account has its own candidates and
// State (its identity counters stay on s). Close it when done.
func (s *Server) AddAccount(cfg Config) *Server {
	id := s.idServer()
	cfg.ClientID, cfg.ClientSecret, cfg.RedirectURI = id.cfg.ClientID, id.cfg.ClientSecret, id.cfg.RedirectURI
	cfg.Scopes, cfg.AccessTokenTTL, cfg.RefreshTokenTTL, cfg.CodeTTL = id.cfg.Scopes, id.cfg.AccessTokenTTL, id.cfg.RefreshTokenTTL, id.cfg.CodeTTL
	a := NewServer(cfg)
	a.identity = id
	return a
}

// idServer is the server that holds s's codes and tokens.
func (s *Server) idServer() *Server {
	if s.identity != nil {
		return s.identity
	}
	return s
}

// New returns a server that does not listen: serve [Server.Handler] yourself (the sandbox does).
// It panics if cfg is invalid (see [Config.Validate]), as httptest.NewServer does on failure.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Server{cfg: cfg.WithDefaults(), spec: mustSpec(), dice: targetstest.NewDice(cfg.Seed), store: newStore()}
}

// NewServer starts a server on a loopback httptest server. Call Close when done (t.Cleanup).
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Config.ConnState = s.conns.Track
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
	rec := &recorder{Recorder: targetstest.Recorder{ResponseWriter: w}, route: "(unmatched)"}
	switch p := r.URL.Path; {
	case p == "/connect/authorize":
		rec.route = p
		s.authorize(rec, r)
	case p == "/connect/token":
		rec.route = p
		s.token(rec, r)
	case (p == basePath || strings.HasPrefix(p, basePath+"/")) && s.down.Load():
		rec.route = "(down)"
		writeJSON(rec, http.StatusServiceUnavailable, errorModel{Message: "Service unavailable"})
	case p == basePath || strings.HasPrefix(p, basePath+"/"):
		// The call is done at once and its answer sent Latency after it arrived (plus
		// SlowLatency for a slow answer).
		var hold time.Duration
		if s.cfg.SlowLatency > 0 && s.dice.Slow.Hit(s.cfg.SlowRate) {
			hold = s.cfg.SlowLatency
		}
		if hold += s.cfg.Latency; hold > 0 {
			start := time.Now()
			held := &targetstest.HeldAnswer{}
			rec.ResponseWriter = held
			s.api(rec, r)
			held.Send(w, r, hold-time.Since(start))
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
	s.store.requests[r.Method+" "+rec.route+" "+strconv.Itoa(rec.Status())]++
	s.mu.Unlock()
}

// SetDown takes the API down (every API call answered 503, nothing done) or brings it back,
// as an outage of JobAdder would. The token endpoint keeps answering.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// DenyConsent makes /connect/authorize answer as when the user refuses the app (deny true):
// it redirects to the redirect URI with error=access_denied and the state, and no code.
func (s *Server) DenyConsent(deny bool) { s.deny.Store(deny) }

// recorder remembers the status written and the route a request matched.
type recorder struct {
	targetstest.Recorder
	route string
}

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

// retryAfterSeconds is cfg.RetryAfter in whole seconds, rounded up.
func (s *Server) retryAfterSeconds() string {
	secs := (s.cfg.RetryAfter + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(secs), 10)
}

// apiFault answers an injected fault for the next API call; it reports whether it did.
func (s *Server) apiFault(w http.ResponseWriter) bool {
	switch s.dice.API.Fault(s.cfg.RateLimitRate, s.cfg.ErrorRate) {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", s.retryAfterSeconds())
		writeJSON(w, http.StatusTooManyRequests, errorModel{Message: "Too many requests"})
	case http.StatusServiceUnavailable:
		writeJSON(w, http.StatusServiceUnavailable, errorModel{Message: "Service unavailable"})
	case http.StatusInternalServerError:
		writeJSON(w, http.StatusInternalServerError, errorModel{Message: "An error has occurred."})
	default:
		return false
	}
	return true
}

// tokenFault answers an injected fault for the next token request; it reports whether it did.
func (s *Server) tokenFault(w http.ResponseWriter) bool {
	if !s.dice.Auth.Hit(s.cfg.TokenErrorRate) {
		return false
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
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
