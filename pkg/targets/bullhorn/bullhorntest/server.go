package bullhorntest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// Defaults of [Config].
const (
	DefaultClientID     = "bullhorntest-client"
	DefaultClientSecret = "bullhorntest-secret"
	DefaultUsername     = "bullhorntest.api"
	DefaultPassword     = "bullhorntest-password"
	DefaultCorpToken    = "e999"
)

// Paths of the fake, relative to [Config].BaseURL.
const (
	PathLoginInfo = "/rest-services/loginInfo"
	PathAuthorize = "/oauth/authorize"
	PathToken     = "/oauth/token"
	PathLogin     = "/rest-services/login"
	// PathCallback is the default registered redirect URI: the page a browser would land on.
	// A client never needs to follow the authorize redirect; [State].CallbacksFollowed counts
	// those that do.
	PathCallback = "/oauth/callback"
	// PathWrongDataCentre prefixes the same paths on a "wrong" data centre, for clients that
	// hard-code a global host instead of using loginInfo (see [Config].RedirectDataCentre).
	PathWrongDataCentre = "/wrong-dc"
	// PathState serves [Server.State] as JSON.
	PathState = "/_sandbox/state"
)

// Config configures a [Server]. The zero value is usable; every field documents its default.
type Config struct {
	// BaseURL is where clients reach the server, e.g. "http://127.0.0.1:8090/bullhorn". Every
	// URL the fake returns (loginInfo's oauthUrl and restUrl, login's restUrl, redirects)
	// derives from it, and its path is a prefix the handler strips (requests without it are
	// served too, so the handler may be mounted with or without http.StripPrefix).
	//
	// It may also be a path alone ("/bullhorn"): scheme and host then come from the httptest
	// listener (NewServer) or from each request's Host header (New). Default: NewServer uses the
	// listener's URL; New derives it from each request.
	BaseURL string

	// ClientID and ClientSecret are the only OAuth client credentials accepted. Defaults:
	// DefaultClientID and DefaultClientSecret.
	ClientID     string
	ClientSecret string
	// Username and Password are the only API user's credentials (the username compares without
	// regard to case). Defaults: DefaultUsername and DefaultPassword.
	Username string
	Password string
	// RedirectURI is the redirect URI registered for the client. An authorize request naming
	// another one is refused; one naming none is redirected to it. Default: BaseURL+PathCallback.
	RedirectURI string
	// CorpToken is the corporation token in the restUrl login returns. Default: DefaultCorpToken.
	CorpToken string

	// AccessTokenTTL is the OAuth access token lifetime, reported as expires_in. Default: 600 s.
	AccessTokenTTL time.Duration
	// SessionTTL is the REST session lifetime when login has no ttl parameter (ttl, in
	// minutes, is honoured otherwise). Sessions expire that long after login, however busy
	// (whether Bullhorn extends them on use is UNCONFIRMED; a fixed lifetime is the stricter
	// choice). Default: 10 minutes.
	SessionTTL time.Duration
	// CodeTTL is how long an authorization code can be exchanged (Bullhorn does not document
	// it: UNCONFIRMED). Default: 2 minutes.
	CodeTTL time.Duration
	// IndexLag is how long after its last write a candidate's new state becomes visible to
	// search: a candidate created less than IndexLag ago is not found at all. Default: 0.
	IndexLag time.Duration

	// MaxSessions caps concurrently live REST sessions; a login beyond it is refused with 429
	// (UNCONFIRMED status and text, see the package documentation). Default: 50; negative: no cap.
	MaxSessions int
	// CallsPerMinute caps REST calls (after login) per account in any sliding 60 seconds;
	// beyond it calls answer 429. Refused calls do not count. Default: 1500; negative: no cap.
	CallsPerMinute int
	// RetryAfterHeader adds a Retry-After header to 429 answers: the whole seconds until a call
	// fits the per-minute budget again (at least 1), or 1 for random 429s and the session cap.
	// Bullhorn does not document one (UNCONFIRMED). Default: false, no header.
	RetryAfterHeader bool

	// Latency delays every request but /_sandbox/state. Default: none.
	Latency time.Duration
	// RateLimitRate is the share (0 to 1) of REST calls answered 429 at random, before
	// anything else is done. Default: 0.
	RateLimitRate float64
	// ErrorRate is the share (0 to 1) of REST calls answered 500 or 503 with Bullhorn's
	// internal error body, before anything else is done (nothing is written). Default: 0.
	ErrorRate float64
	// AuthErrorRate is the share (0 to 1) of token and login requests answered 503. Default: 0.
	AuthErrorRate float64
	// SlowRate is the share (0 to 1) of REST calls answered only after SlowLatency. Such a
	// call is processed at once, like any other, and only its answer is held back, as by a
	// loaded Bullhorn whose write has committed but whose response is slow: a client that gives
	// up or dies while waiting has nevertheless written. Default: 0.
	SlowRate float64
	// SlowLatency is how long the answers picked by SlowRate are held back, on top of Latency.
	// Default: none (SlowRate then has no effect).
	SlowLatency time.Duration
	// Seed seeds the fault dice: the n-th call's roll depends only on Seed and n, so a run is
	// reproducible as far as the order of calls is. Default: 0.
	Seed uint64

	// Now is the clock of tokens, codes, sessions, the call budget, the index and dates.
	// Default: time.Now.
	Now func() time.Time

	// TermsNotAccepted makes authorize answer the consent page (200, no Location) to valid
	// credentials until [Server.AcceptTerms] is called. Default: false, terms accepted.
	TermsNotAccepted bool
	// RedirectDataCentre makes every path under PathWrongDataCentre (but loginInfo, which is
	// global) answer 307 to the same path on the right data centre. When false those paths
	// answer as a data centre that does not know the account: 401 for REST calls, 400
	// invalid_client for OAuth. Default: false.
	RedirectDataCentre bool
	// AllFieldsNotAllowed makes fields=* answer 400 "You are not authorized to request all
	// fields." as some tenants do (observed). Default: false, fields=* allowed.
	AllFieldsNotAllowed bool

	// MaxRecentRejections is how many refused requests State keeps. Default: 50.
	MaxRecentRejections int
}

// WithDefaults returns a copy of c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.ClientSecret = cmp.Or(c.ClientSecret, DefaultClientSecret)
	c.Username = cmp.Or(c.Username, DefaultUsername)
	c.Password = cmp.Or(c.Password, DefaultPassword)
	c.CorpToken = cmp.Or(c.CorpToken, DefaultCorpToken)
	c.AccessTokenTTL = cmp.Or(c.AccessTokenTTL, 600*time.Second)
	c.SessionTTL = cmp.Or(c.SessionTTL, 10*time.Minute)
	c.CodeTTL = cmp.Or(c.CodeTTL, 2*time.Minute)
	c.MaxSessions = cmp.Or(c.MaxSessions, 50)
	c.CallsPerMinute = cmp.Or(c.CallsPerMinute, 1500)
	c.MaxRecentRejections = cmp.Or(c.MaxRecentRejections, 50)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	return c
}

// Validate reports a configuration New would refuse.
func (c Config) Validate() error {
	errs := targetstest.CheckRates("bullhorntest", map[string]float64{
		"RateLimitRate": c.RateLimitRate, "ErrorRate": c.ErrorRate, "AuthErrorRate": c.AuthErrorRate,
		"SlowRate": c.SlowRate,
	})
	if c.RateLimitRate+c.ErrorRate > 1 {
		errs = append(errs, errors.New("bullhorntest: RateLimitRate+ErrorRate exceeds 1"))
	}
	errs = append(errs, targetstest.CheckDurations("bullhorntest", map[string]time.Duration{
		"AccessTokenTTL": c.AccessTokenTTL, "SessionTTL": c.SessionTTL, "CodeTTL": c.CodeTTL,
		"IndexLag": c.IndexLag, "Latency": c.Latency, "SlowLatency": c.SlowLatency,
	})...)
	if c.MaxRecentRejections < 0 {
		errs = append(errs, errors.New("bullhorntest: MaxRecentRejections is negative"))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || u.RawQuery != "" || u.Fragment != "" ||
			!(strings.HasPrefix(c.BaseURL, "/") || (u.Scheme == "http" || u.Scheme == "https") && u.Host != "") {
			errs = append(errs, fmt.Errorf("bullhorntest: BaseURL %q is neither an http(s) URL nor a path", c.BaseURL))
		}
	}
	if c.CorpToken != "" && strings.ContainsAny(c.CorpToken, "/?#% ") {
		errs = append(errs, fmt.Errorf("bullhorntest: CorpToken %q is not a path segment", c.CorpToken))
	}
	return errors.Join(errs...)
}

// Server is a fake Bullhorn: loginInfo, OAuth (authorize, token), REST login and the REST API
// under the corporation's restUrl, in one http.Handler. It is safe for concurrent use.
type Server struct {
	cfg    Config
	prefix string           // path of cfg.BaseURL, stripped from requests
	ts     *httptest.Server // set by NewServer only

	dice  *targetstest.Dice
	conns targetstest.Conns // NewServer's only

	mu sync.Mutex
	st store
}

var _ http.Handler = (*Server)(nil)

// New returns a server that does not listen: serve [Server.Handler] yourself (the sandbox
// does). It panics if cfg is invalid (see [Config.Validate]), as httptest.NewServer panics
// when it cannot listen.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &Server{cfg: cfg.WithDefaults(), dice: targetstest.NewDice(cfg.Seed)}
	s.setBase(s.cfg.BaseURL)
	s.st = newStore(!s.cfg.TermsNotAccepted)
	return s
}

// NewServer starts a server on a loopback httptest server. Call Close when done (t.Cleanup).
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Config.ConnState = s.conns.Track
	if s.cfg.BaseURL == "" || strings.HasPrefix(s.cfg.BaseURL, "/") {
		s.setBase("http://" + s.ts.Listener.Addr().String() + s.cfg.BaseURL)
	}
	s.ts.Start()
	return s
}

func (s *Server) setBase(base string) {
	s.cfg.BaseURL = base
	s.prefix = base
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		s.prefix = u.Path
	}
	s.prefix = strings.TrimSuffix(s.prefix, "/")
}

// Close shuts down the httptest server NewServer started; it does nothing for New.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// URL returns the base URL: the httptest server's (plus any path of Config.BaseURL) for
// NewServer, Config.BaseURL otherwise (empty or a path when the server derives it from
// requests).
func (s *Server) URL() string { return s.cfg.BaseURL }

// LoginInfoURL returns the loginInfo endpoint, the one fixed address a client needs.
func (s *Server) LoginInfoURL() string { return s.cfg.BaseURL + PathLoginInfo }

// OAuthURL returns what loginInfo reports as oauthUrl: URL()+"/oauth".
func (s *Server) OAuthURL() string { return s.cfg.BaseURL + "/oauth" }

// RestURL returns the restUrl login returns, with its trailing slash:
// URL()+"/rest-services/"+CorpToken+"/".
func (s *Server) RestURL() string { return restURL(s.cfg.BaseURL, s.cfg.CorpToken) }

// WrongDataCentreURL returns the base of the "wrong" data centre (see Config.RedirectDataCentre).
func (s *Server) WrongDataCentreURL() string { return s.cfg.BaseURL + PathWrongDataCentre }

// Config returns the server's configuration, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the server's routes (see the package documentation).
func (s *Server) Handler() http.Handler { return s }

func restURL(base, corp string) string { return base + "/rest-services/" + corp + "/" }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if s.prefix != "" && (p == s.prefix || strings.HasPrefix(p, s.prefix+"/")) {
		p = p[len(s.prefix):]
	}
	if p == PathState && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, s.State())
		return
	}
	rec := &recorder{Recorder: targetstest.Recorder{ResponseWriter: w}, route: "(unmatched)"}
	base := s.baseURL(r)
	if targetstest.Sleep(r.Context(), s.cfg.Latency) {
		s.route(rec, r, p, base)
	}
	s.record(r.Method, rec)
}

func (s *Server) route(w *recorder, r *http.Request, p, base string) {
	switch {
	case p == PathWrongDataCentre || strings.HasPrefix(p, PathWrongDataCentre+"/"):
		s.wrongDataCentre(w, r, strings.TrimPrefix(p, PathWrongDataCentre), base)
	case p == PathLoginInfo:
		w.route = p
		s.loginInfo(w, r, base)
	case p == PathAuthorize:
		w.route = p
		s.authorize(w, r, base)
	case p == PathToken:
		w.route = p
		s.token(w, r)
	case p == PathCallback:
		w.route = p
		s.callback(w)
	case p == PathLogin:
		w.route = p
		s.login(w, r, base)
	case strings.HasPrefix(p, "/rest-services/"):
		s.rest(w, r, strings.TrimPrefix(p, "/rest-services/"), base)
	default:
		s.fail(w, http.StatusNotFound, notFoundError("Resource not found"))
	}
}

// wrongDataCentre answers a request to the wrong data centre.
func (s *Server) wrongDataCentre(w *recorder, r *http.Request, p, base string) {
	w.route = PathWrongDataCentre + "/..."
	if p == PathLoginInfo {
		w.route = PathWrongDataCentre + PathLoginInfo
		s.loginInfo(w, r, base) // loginInfo is global
		return
	}
	if s.cfg.RedirectDataCentre {
		target := base + p
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusTemporaryRedirect)
		s.mu.Lock()
		s.st.dataCentreRedirects++
		s.mu.Unlock()
		return
	}
	if strings.HasPrefix(p, "/oauth/") {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_client", Description: "Bad client credentials"})
		return
	}
	s.fail(w, http.StatusUnauthorized, errInvalidRestToken())
}

// recorder remembers the status written, the route a request matched and why it was refused.
type recorder struct {
	targetstest.Recorder
	route    string
	msg      string // message of a refusal
	rejected bool   // refused although the status is not an error (login and consent pages)
}

// record counts a request by route and status, and keeps refusals.
func (s *Server) record(method string, rec *recorder) {
	status := rec.Status()
	key := method + " " + rec.route + " " + strconv.Itoa(status)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	st.requests[key]++
	if status == http.StatusTooManyRequests {
		st.tooManyRequests++
	}
	if status < 400 && !rec.rejected {
		return
	}
	st.rejected++
	st.recentRejections = append(st.recentRejections, Rejection{
		Request: method + " " + rec.route, Status: status, Message: rec.msg, At: s.cfg.Now(),
	})
	if over := len(st.recentRejections) - s.cfg.MaxRecentRejections; over > 0 {
		st.recentRejections = st.recentRejections[over:]
	}
}

// baseURL returns the base URL returned URLs start with.
func (s *Server) baseURL(r *http.Request) string {
	if strings.HasPrefix(s.cfg.BaseURL, "http://") || strings.HasPrefix(s.cfg.BaseURL, "https://") {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.cfg.BaseURL
}

// restFault answers an injected fault for the next REST call; it reports whether it did.
func (s *Server) restFault(w *recorder) bool {
	switch status := s.dice.API.Fault(s.cfg.RateLimitRate, s.cfg.ErrorRate); status {
	case 0:
		return false
	case http.StatusTooManyRequests:
		if s.cfg.RetryAfterHeader {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, status, errTooManyRequests())
	default:
		s.fail(w, status, errInternal())
	}
	return true
}

// authFault answers an injected 503 for the next token or login request; it reports whether
// it did.
func (s *Server) authFault(w *recorder) bool {
	if !s.dice.Auth.Hit(s.cfg.AuthErrorRate) {
		return false
	}
	s.fail(w, http.StatusServiceUnavailable, errInternal())
	return true
}

// apiError is Bullhorn's REST error body. Persistence errors carry entityName and errors.
type apiError struct {
	ErrorMessage    string       `json:"errorMessage"`
	ErrorMessageKey string       `json:"errorMessageKey,omitempty"`
	ErrorCode       int          `json:"errorCode,omitempty"`
	EntityName      string       `json:"entityName,omitempty"`
	Errors          []FieldError `json:"errors,omitempty"`
}

// FieldError is one entry of the errors list of a refused create or update (the layout seen
// in Bullhorn's answers; the type values the fake uses are its own).
type FieldError struct {
	DetailMessage string `json:"detailMessage"`
	PropertyName  string `json:"propertyName"`
	Severity      string `json:"severity"`
	Type          string `json:"type"`
}

// oauthError is the OAuth endpoints' error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func errInternal() apiError {
	return apiError{ErrorMessage: "An internal error has occurred", ErrorMessageKey: "errors.internalError"}
}

func errTooManyRequests() apiError {
	return apiError{ErrorMessage: "Too many requests. Please slow down.", ErrorMessageKey: "errors.tooManyRequests", ErrorCode: http.StatusTooManyRequests}
}

func errInvalidRestToken() apiError {
	return apiError{ErrorMessage: "Bad 'BhRestToken' or timed-out.", ErrorMessageKey: "errors.authentication.invalidRestToken", ErrorCode: http.StatusUnauthorized}
}

func badRequest(msg string) apiError {
	return apiError{ErrorMessage: msg, ErrorMessageKey: "errors.badRequest", ErrorCode: http.StatusBadRequest}
}

func notFoundError(msg string) apiError {
	return apiError{ErrorMessage: msg, ErrorMessageKey: "errors.notFound", ErrorCode: http.StatusNotFound}
}

// notImplemented answers 501 for what the fake does not do, so a test never mistakes an
// ignored request for an answer.
func notImplemented(what string) apiError {
	return apiError{ErrorMessage: "bullhorntest: " + what + " is not implemented by the fake", ErrorMessageKey: "bullhorntest.notImplemented", ErrorCode: http.StatusNotImplemented}
}

func methodNotAllowed(method string) apiError {
	return apiError{ErrorMessage: "HTTP method " + method + " is not supported by this URL", ErrorMessageKey: "errors.methodNotAllowed", ErrorCode: http.StatusMethodNotAllowed}
}

// fail answers an error body and remembers its message for State.
func (s *Server) fail(w *recorder, status int, body any) {
	switch b := body.(type) {
	case apiError:
		w.msg = b.ErrorMessage
		for _, e := range b.Errors {
			w.msg += "; " + e.DetailMessage
		}
	case oauthError:
		w.msg = b.Error
		if b.Description != "" {
			w.msg += ": " + b.Description
		}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
