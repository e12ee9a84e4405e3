package consent

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
)

// Routes of the consent flow, as [Handler.Register] mounts them.
const (
	ConnectRoute  = "GET /connect/{connection}"
	CallbackRoute = "GET /oauth/callback"
)

// Config configures a [Handler]. JobAdder, Connections and Flows are required.
type Config struct {
	// JobAdder is the JobAdder app, as the workers have it (JOBADDER_CLIENT_ID,
	// JOBADDER_CLIENT_SECRET, JOBADDER_AUTHORIZATION_URL, JOBADDER_TOKEN_URL) and the tokens
	// bucket (jobs.TokensBucket). Its RedirectURI (JOBADDER_REDIRECT_URI) is the gateway's
	// public callback URL, https://<gateway>/oauth/callback, registered with the app: JobAdder
	// redirects there, and the session cookie is scoped to its path. It must be https but on a
	// loopback host (the sandbox). Connection and AuthorizationCode are set per callback.
	JobAdder jobadder.AuthConfig
	// Connections is the connections store: /connect/{connection} refuses a connection it does
	// not hold (but "default", the workers' environment account).
	Connections *connections.Store
	// Flows is the bucket of the flows' single-use links and states (jobs.ConsentBucket), shared
	// by every replica: the callback may reach another replica than /connect did.
	Flows jetstream.KeyValue
	// StateTTL is how long the operator has to approve the app once /connect redirected.
	// Default: 10 minutes.
	StateTTL time.Duration
	// ExchangeTimeout bounds the code exchange and the check call, which run to their end even
	// when the browser goes away (a code is spent once sent). Default: 1 minute.
	ExchangeTimeout time.Duration
	// CookieName is the session cookie's name. Default: "hrpush_consent".
	CookieName string
	// Logger defaults to discarding. Codes, states, links and tokens are never logged.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Handler serves the consent flow of JobAdder connections through the gateway:
//
//   - GET /connect/{connection}?target=jobadder&token=T opens a single-use link of [NewLink]
//     (what authenticates the operator), sets a session cookie (Secure, HttpOnly,
//     SameSite=Lax, scoped to the callback's path) and redirects to JobAdder's authorize URL
//     with a state bound to that session.
//   - GET /oauth/callback?code=C&state=S checks the state (known, unexpired, single use, of
//     this browser's session), exchanges the code once with [JobAdder] and answers a small
//     HTML page naming the connection and the account's API base.
//
// Errors are RFC 9457 problems (an HTML page when the browser asks for HTML). Bullhorn has no
// consent in a browser (its API user logs in headless): its /connect answers a problem saying
// to check the login with `enqueue connect NAME --target bullhorn`.
type Handler struct {
	cfg          Config
	app          *jobadder.Auth // for its authorize URL
	secureCookie bool
	cookiePath   string
}

// NewHandler returns the handler of cfg.
func NewHandler(cfg Config) (*Handler, error) {
	switch {
	case cfg.Connections == nil:
		return nil, errors.New("consent: a connections store is required")
	case cfg.Flows == nil:
		return nil, errors.New("consent: the flows bucket is required")
	}
	// NewAuth checks the app's fields; the code is set per callback.
	probe := cfg.JobAdder
	probe.AuthorizationCode = ""
	app, err := jobadder.NewAuth(probe)
	if err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	callback, err := url.Parse(cfg.JobAdder.RedirectURI)
	if err != nil || callback.Host == "" {
		return nil, fmt.Errorf("consent: the redirect URI %q is not an absolute URL", cfg.JobAdder.RedirectURI)
	}
	if callback.Scheme != "https" && !(callback.Scheme == "http" && loopback(callback.Hostname())) {
		return nil, fmt.Errorf("consent: the redirect URI %q must be https (http only on a loopback host)", cfg.JobAdder.RedirectURI)
	}
	cfg.StateTTL = cmp.Or(cfg.StateTTL, 10*time.Minute)
	cfg.ExchangeTimeout = cmp.Or(cfg.ExchangeTimeout, time.Minute)
	cfg.CookieName = cmp.Or(cfg.CookieName, "hrpush_consent")
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, app: app, secureCookie: callback.Scheme == "https", cookiePath: cmp.Or(callback.Path, "/")}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Register mounts [ConnectRoute] and [CallbackRoute] on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(ConnectRoute, h.Connect())
	mux.Handle(CallbackRoute, h.Callback())
}

// Connect returns the handler of [ConnectRoute]; the connection is the path's last segment.
func (h *Handler) Connect() http.Handler { return http.HandlerFunc(h.connect) }

// Callback returns the handler of [CallbackRoute].
func (h *Handler) Callback() http.Handler { return http.HandlerFunc(h.callback) }

func (h *Handler) connect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !h.onlyGET(w, r) {
		return
	}
	name := cmp.Or(r.PathValue("connection"), strings.TrimPrefix(r.URL.Path[strings.LastIndex(r.URL.Path, "/"):], "/"))
	q := r.URL.Query()
	target := cmp.Or(q.Get("target"), "jobadder")
	if err := targets.CheckConnection(name); err != nil {
		h.fail(w, r, problem.New(http.StatusBadRequest, "invalid-connection", err.Error()))
		return
	}
	switch target {
	case "jobadder":
	case "bullhorn":
		h.fail(w, r, problem.New(http.StatusBadRequest, "no-consent-flow",
			"a Bullhorn connection logs in with its API user, without a consent in a browser: check its login with `enqueue connect "+name+" --target bullhorn`"))
		return
	default:
		h.fail(w, r, problem.New(http.StatusBadRequest, "unknown-target", "target must be jobadder (Bullhorn has no consent flow)"))
		return
	}
	token := q.Get("token")
	if token == "" {
		h.fail(w, r, problem.New(http.StatusUnauthorized, "link-required",
			"open the single-use link that `enqueue connect "+name+" --target jobadder --gateway URL` prints"))
		return
	}
	now := h.cfg.Now()
	key := linkKey(token)
	l, rev, err := read(r.Context(), h.cfg.Flows, key, func(l *link) time.Time { return l.Expires }, now)
	if err == nil && (l.Target != target || l.Connection != name) {
		err = errGone // a link for another connection opens nothing
	}
	if err == nil {
		err = take(r.Context(), h.cfg.Flows, key, rev)
	}
	if errors.Is(err, errGone) {
		h.fail(w, r, problem.New(http.StatusUnauthorized, "invalid-link",
			"this link is unknown, used or expired (links work once, for a few minutes): run `enqueue connect "+name+" --target jobadder --gateway URL` again"))
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !h.exists(w, r, target, name) {
		return
	}
	session, st := newSecret(), newSecret()
	b, err := json.Marshal(state{Target: target, Connection: name, Expires: now.Add(h.cfg.StateTTL), SessionSHA256: digest(session)})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if _, err := h.cfg.Flows.Create(r.Context(), stateKey(st), b); err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.cfg.CookieName, Value: session, Path: h.cookiePath, MaxAge: int(h.cfg.StateTTL / time.Second),
		Secure: h.secureCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	h.cfg.Logger.Info("consent: started", "target", target, "connection", name)
	http.Redirect(w, r, h.app.AuthCodeURL(st), http.StatusFound)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !h.onlyGET(w, r) {
		return
	}
	q := r.URL.Query()
	st := q.Get("state")
	if st == "" {
		h.fail(w, r, problem.New(http.StatusBadRequest, "missing-state", "the callback has no state: open the consent from a link of `enqueue connect NAME --target jobadder --gateway URL`"))
		return
	}
	key := stateKey(st)
	rec, rev, err := read(r.Context(), h.cfg.Flows, key, func(s *state) time.Time { return s.Expires }, h.cfg.Now())
	if errors.Is(err, errGone) {
		h.fail(w, r, problem.New(http.StatusBadRequest, "invalid-state",
			"this consent is unknown, used or expired (it works once, for a few minutes): start again with `enqueue connect NAME --target jobadder --gateway URL`"))
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	cookie, err := r.Cookie(h.cfg.CookieName)
	if err != nil || subtle.ConstantTimeCompare([]byte(digest(cookie.Value)), []byte(rec.SessionSHA256)) != 1 {
		// Not consumed: the browser that started the flow may still finish it.
		h.cfg.Logger.Warn("consent: a callback without the session that started the consent", "connection", rec.Connection)
		h.fail(w, r, problem.New(http.StatusForbidden, "session-mismatch",
			"this consent was started in another browser session: finish it in the browser that opened the link"))
		return
	}
	if err := take(r.Context(), h.cfg.Flows, key, rev); errors.Is(err, errGone) {
		h.fail(w, r, problem.New(http.StatusBadRequest, "invalid-state", "this consent was used already: every callback works once"))
		return
	} else if err != nil {
		h.unavailable(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: h.cfg.CookieName, Path: h.cookiePath, MaxAge: -1, Secure: h.secureCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		h.cfg.Logger.Info("consent: refused by the user or JobAdder", "connection", rec.Connection, "error", oauthCode(e))
		if e == "access_denied" {
			h.fail(w, r, problem.New(http.StatusForbidden, "access-denied",
				"the JobAdder user refused to authorise the app for connection "+rec.Connection+"; nothing was stored"))
			return
		}
		h.fail(w, r, problem.New(http.StatusBadGateway, "authorization-failed",
			"JobAdder answered "+oauthCode(e)+" for connection "+rec.Connection+"; nothing was stored"))
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, problem.New(http.StatusBadRequest, "missing-code", "the callback has neither a code nor an error; nothing was stored"))
		return
	}
	if !h.exists(w, r, rec.Target, rec.Connection) { // removed since /connect
		return
	}
	cfg := h.cfg.JobAdder
	cfg.Connection, cfg.AuthorizationCode = rec.Connection, secret.Value(code)
	cfg.Logger = h.cfg.Logger
	// The code is spent once sent: the exchange and the storing of its tokens outlive the request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.ExchangeTimeout)
	defer cancel()
	account, err := JobAdder(ctx, cfg)
	var checkErr *CheckError
	var credErr *targets.CredentialsError
	switch {
	case errors.As(err, &checkErr):
		h.cfg.Logger.Warn("consent: authorised, but the check call failed", "connection", rec.Connection, "error", err)
		h.fail(w, r, problem.New(http.StatusBadGateway, "check-failed", err.Error()))
		return
	case errors.As(err, &credErr):
		h.cfg.Logger.Warn("consent: the code was refused", "connection", rec.Connection, "error", err)
		h.fail(w, r, problem.New(http.StatusBadGateway, "code-refused", err.Error()))
		return
	case err != nil:
		h.cfg.Logger.Error("consent: the code exchange failed", "connection", rec.Connection, "error", err)
		h.fail(w, r, problem.New(http.StatusBadGateway, "exchange-failed", err.Error()+" (the code is not sent again: start the consent again)"))
		return
	}
	h.cfg.Logger.Info("consent: connection authorised", "connection", account.Connection, "api", account.APIURL)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = successPage.Execute(w, account)
}

// onlyGET refuses a method but GET (HEAD included: a link previewer must not spend a link or
// a state), and reports whether the request may go on.
func (h *Handler) onlyGET(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	h.fail(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "only GET opens this page"))
	return false
}

// exists reports whether the connection target/name exists ("default" always does), and
// answers a problem when it does not.
func (h *Handler) exists(w http.ResponseWriter, r *http.Request, target, name string) bool {
	if name == connections.Default {
		return true
	}
	_, _, err := h.cfg.Connections.Get(r.Context(), target, name)
	switch {
	case errors.Is(err, connections.ErrNotFound):
		h.fail(w, r, problem.New(http.StatusNotFound, "unknown-connection",
			"there is no "+target+" connection "+name+": add it with `enqueue connections add "+name+" --target "+target+"`; nothing was stored"))
		return false
	case err != nil:
		h.unavailable(w, r, err)
		return false
	}
	return true
}

// oauthCode is an OAuth error code fit for a message: a hostile callback may put anything there.
func oauthCode(s string) string {
	if len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || r == '_') }) {
		return "an unknown error"
	}
	return s
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.Error("consent: NATS", "error", err)
	h.fail(w, r, problem.New(http.StatusServiceUnavailable, "store-unavailable", "the gateway cannot reach its store now; try again in a minute"))
}

// fail answers d: an RFC 9457 problem, or a small HTML page for a browser that asks for HTML.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, d *problem.Details) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		problem.Write(w, d, 0)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_ = problemPage.Execute(w, d)
}

//nolint:gochecknoglobals // parsed once, read-only
var (
	successPage = template.Must(template.New("ok").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>hrpush: connection authorised</title>
<h1>JobAdder connection {{.Connection}} is authorised</h1>
<p>hrpush reached the account at <code>{{.APIURL}}</code> ({{.Candidates}} candidates). The workers use it from their next job; you can close this page.</p>
</html>
`))
	problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>hrpush: {{.Title}}</title>
<h1>{{.Title}}</h1>
<p>{{.Detail}}</p>
<p><small>{{.Code}}</small></p>
</html>
`))
)
