package consent_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// gateway is a gateway serving the consent flow over TLS, a fake JobAdder whose registered
// redirect URI is the gateway's callback, and the NATS buckets behind both.
type gateway struct {
	t       *testing.T
	srv     *httptest.Server
	ja      *jobaddertest.Server
	buckets *jobs.Buckets
	store   *connections.Store
	clock   *targetstest.Clock
	log     *syncBuffer
}

// syncBuffer is the handler's log output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setup(t *testing.T, fake ...jobaddertest.Config) *gateway {
	t.Helper()
	_, js := brokertest.JetStream(t)
	buckets, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	callback := "https://" + srv.Listener.Addr().String() + "/oauth/callback"
	jaCfg := jobaddertest.Config{}
	if len(fake) > 0 {
		jaCfg = fake[0]
	}
	jaCfg.RedirectURI = callback
	ja := jobaddertest.NewServer(jaCfg)
	t.Cleanup(ja.Close)
	jc := ja.Config()
	g := &gateway{t: t, srv: srv, ja: ja, buckets: buckets, store: connections.NewStore(buckets.Connections),
		clock: targetstest.NewClock(time.Now()), log: &syncBuffer{}}
	h, err := consent.NewHandler(consent.Config{
		JobAdder: jobadder.AuthConfig{
			ClientID: jc.ClientID, ClientSecret: secret.Value(jc.ClientSecret), RedirectURI: callback,
			AuthorizationURL: ja.AuthURL(), TokenURL: ja.TokenURL(), Tokens: buckets.Tokens,
		},
		Connections: g.store,
		Flows:       buckets.Consent,
		Now:         g.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(g.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if err := g.store.Create(t.Context(), &connections.Connection{Name: "acme", Target: "jobadder"}); err != nil {
		t.Fatal(err)
	}
	return g
}

// link is what `enqueue connect NAME --target jobadder --gateway URL` prints.
func (g *gateway) link(target, name string) string {
	g.t.Helper()
	l, err := consent.NewLink(g.t.Context(), g.buckets.Consent, g.srv.URL, target, name, 0, g.clock.Now())
	if err != nil {
		g.t.Fatal(err)
	}
	return l
}

// browser is an HTTP client with a cookie jar that trusts the gateway; follow says whether it
// follows redirects.
func (g *gateway) browser(follow bool) *http.Client {
	g.t.Helper()
	c := *g.srv.Client() // a copy: the server's client is shared
	jar, err := cookiejar.New(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	c.Jar = jar
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &c
}

type answer struct {
	status int
	header http.Header
	body   string
	url    *url.URL // of the last request, after redirects
}

func get(t *testing.T, c *http.Client, u string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: res.StatusCode, header: res.Header, body: string(b), url: res.Request.URL}
}

// callbackURL runs the flow up to JobAdder's redirect to the callback, and returns that URL,
// not yet opened, with the browser that holds the session cookie.
func (g *gateway) callbackURL(name string) (string, *http.Client) {
	g.t.Helper()
	b := g.browser(false)
	a := get(g.t, b, g.link("jobadder", name))
	if a.status != http.StatusFound {
		g.t.Fatalf("/connect: %d %s", a.status, a.body)
	}
	a = get(g.t, b, a.header.Get("Location")) // JobAdder's authorize endpoint
	if a.status != http.StatusFound {
		g.t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	return a.header.Get("Location"), b
}

func wantProblem(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %s: %s", ct, problem.ContentType, a.body)
	}
	var d problem.Details
	if err := json.Unmarshal([]byte(a.body), &d); err != nil {
		t.Fatal(err)
	}
	if d.Code != code || d.Status != status || d.Type != problem.TypeBase+code || d.Detail == "" {
		t.Errorf("problem %+v, want code %s", d, code)
	}
}

// authorization is what the connection's token record says, read as the workers read it.
func (g *gateway) authorization(name string) jobadder.Authorization {
	g.t.Helper()
	auth, err := jobadder.StoredAuthorization(g.t.Context(), g.buckets.Tokens, g.ja.Config().ClientID, name)
	if err != nil {
		g.t.Fatal(err)
	}
	return auth
}

// flows counts the records left in the flows bucket.
func (g *gateway) flows() int {
	g.t.Helper()
	keys, err := g.buckets.Consent.ListKeys(g.t.Context())
	if err != nil {
		g.t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	return n
}

// TestConsent runs the whole flow in a browser-like client: the operator's link, the
// gateway's redirect to JobAdder, JobAdder's redirect back with a code, the exchange; then a
// worker, configured like any (the app, no code), pushes a candidate with the stored token.
func TestConsent(t *testing.T) {
	t.Parallel()
	g := setup(t)

	// The redirect to JobAdder, step by step.
	step := g.browser(false)
	a := get(t, step, g.link("jobadder", "acme"))
	if a.status != http.StatusFound {
		t.Fatalf("/connect: %d %s", a.status, a.body)
	}
	loc, err := url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != g.ja.AuthURL() || q.Get("client_id") != g.ja.Config().ClientID ||
		q.Get("redirect_uri") != g.srv.URL+"/oauth/callback" || q.Get("response_type") != "code" ||
		!strings.Contains(" "+q.Get("scope")+" ", " offline_access ") || len(q.Get("state")) < 26 {
		t.Errorf("redirected to %s", loc)
	}
	cookies := (&http.Response{Header: a.header}).Cookies()
	if len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode ||
		cookies[0].Path != "/oauth/callback" || cookies[0].MaxAge != 600 {
		t.Errorf("session cookie %+v", cookies)
	}
	if strings.Contains(a.header.Get("Set-Cookie"), q.Get("state")) {
		t.Error("the cookie holds the state")
	}

	// The whole flow, redirects followed.
	b := g.browser(true)
	a = get(t, b, g.link("jobadder", "acme"))
	if a.status != http.StatusOK || !strings.Contains(a.body, "JobAdder connection acme is authorised") ||
		!strings.Contains(a.body, "<code>"+g.ja.APIURL()+"</code>") || a.url.Path != "/oauth/callback" {
		t.Fatalf("callback: %d %s %s", a.status, a.url, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if auth := g.authorization("acme"); !auth.Authorised || auth.API != g.ja.APIURL() {
		t.Errorf("stored authorization %+v", auth)
	}
	code := a.url.Query().Get("code")
	if n := g.ja.State().Exchanges(code); n != 1 {
		t.Errorf("the code was sent %d times, want 1", n)
	}
	if n := g.flows(); n != 1 { // the first, unfinished flow's state; the links are spent
		t.Errorf("%d flow records left, want 1", n)
	}

	// A worker reads the connection's token and writes with it.
	jc := g.ja.Config()
	auth, err := jobadder.NewAuth(jobadder.AuthConfig{ClientID: jc.ClientID, ClientSecret: secret.Value(jc.ClientSecret),
		RedirectURI: jc.RedirectURI, TokenURL: g.ja.TokenURL(), Tokens: g.buckets.Tokens, Connection: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := jobadder.New(auth)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Candidates.Add(t.Context(), map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}, ""); err != nil {
		t.Fatalf("a worker with the stored token: %v", err)
	}
	if n := g.ja.State().Candidates; n != 1 {
		t.Errorf("%d candidates, want 1", n)
	}

	logs := g.log.String()
	if !strings.Contains(logs, "connection authorised") {
		t.Errorf("no log of the outcome:\n%s", logs)
	}
	for _, s := range []string{code, a.url.Query().Get("state"), q.Get("state"), jc.ClientSecret} {
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a secret %q:\n%s", s, logs)
		}
	}

	// The same callback again (a reload, a replay): the state is spent, the code not sent again.
	wantProblem(t, get(t, b, a.url.String()), http.StatusBadRequest, "invalid-state")
	if n := g.ja.State().Exchanges(code); n != 1 {
		t.Errorf("the code was sent %d times, want 1", n)
	}
}

// TestConsentDefaultConnection: "default", the workers' environment account, needs no
// stored connection.
func TestConsentDefaultConnection(t *testing.T) {
	t.Parallel()
	g := setup(t)
	a := get(t, g.browser(true), g.link("jobadder", "default"))
	if a.status != http.StatusOK || !strings.Contains(a.body, "connection default is authorised") {
		t.Fatalf("callback: %d %s", a.status, a.body)
	}
	if !g.authorization("default").Authorised {
		t.Error("no token stored for default")
	}
}

func TestConnectRefuses(t *testing.T) {
	t.Parallel()
	g := setup(t)
	base := g.srv.URL + "/connect/"
	for _, tt := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"no link", base + "acme?target=jobadder", http.StatusUnauthorized, "link-required"},
		{"a forged link", base + "acme?target=jobadder&token=AAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusUnauthorized, "invalid-link"},
		{"another connection's link", strings.Replace(g.link("jobadder", "beta"), "/connect/beta", "/connect/acme", 1), http.StatusUnauthorized, "invalid-link"},
		{"an unknown connection", g.link("jobadder", "ghost"), http.StatusNotFound, "unknown-connection"},
		{"bullhorn", base + "acme?target=bullhorn", http.StatusBadRequest, "no-consent-flow"},
		{"an unknown target", base + "acme?target=workday", http.StatusBadRequest, "unknown-target"},
		{"a bad name", base + "Acme!?target=jobadder", http.StatusBadRequest, "invalid-connection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := get(t, g.browser(false), tt.url)
			wantProblem(t, a, tt.status, tt.code)
			if a.header.Get("Set-Cookie") != "" {
				t.Errorf("a refused /connect set a cookie: %s", a.header.Get("Set-Cookie"))
			}
		})
	}

	t.Run("HEAD does not spend a link", func(t *testing.T) {
		t.Parallel()
		l := g.link("jobadder", "acme")
		req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := g.browser(false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("HEAD: %d", res.StatusCode)
		}
		if a := get(t, g.browser(false), l); a.status != http.StatusFound {
			t.Errorf("GET after HEAD: %d %s", a.status, a.body)
		}
	})

	t.Run("a link works once", func(t *testing.T) {
		t.Parallel()
		l := g.link("jobadder", "acme")
		if a := get(t, g.browser(false), l); a.status != http.StatusFound {
			t.Fatalf("first use: %d %s", a.status, a.body)
		}
		wantProblem(t, get(t, g.browser(false), l), http.StatusUnauthorized, "invalid-link")
	})
}

func TestConnectExpiredLink(t *testing.T) {
	t.Parallel()
	g := setup(t)
	l := g.link("jobadder", "acme")
	g.clock.Advance(consent.DefaultLinkTTL)
	wantProblem(t, get(t, g.browser(false), l), http.StatusUnauthorized, "invalid-link")
}

func TestCallbackRefuses(t *testing.T) {
	t.Parallel()

	t.Run("no state", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		wantProblem(t, get(t, g.browser(false), g.srv.URL+"/oauth/callback?code=x"), http.StatusBadRequest, "missing-state")
	})

	t.Run("an unknown state", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		wantProblem(t, get(t, g.browser(false), g.srv.URL+"/oauth/callback?code=x&state=nope"), http.StatusBadRequest, "invalid-state")
	})

	t.Run("an expired state", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, b := g.callbackURL("acme")
		g.clock.Advance(10 * time.Minute)
		wantProblem(t, get(t, b, cb), http.StatusBadRequest, "invalid-state")
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
	})

	t.Run("another session's state", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, mine := g.callbackURL("acme")
		// A browser without the cookie, and one with the cookie of a session of its own.
		wantProblem(t, get(t, g.browser(false), cb), http.StatusForbidden, "session-mismatch")
		_, other := g.callbackURL("acme")
		wantProblem(t, get(t, other, cb), http.StatusForbidden, "session-mismatch")
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
		// The state was not spent: the browser that started the flow finishes it.
		if a := get(t, mine, cb); a.status != http.StatusOK {
			t.Errorf("the right session after a wrong one: %d %s", a.status, a.body)
		}
	})

	t.Run("a connection removed during the consent", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, b := g.callbackURL("acme")
		if err := g.store.Delete(t.Context(), "jobadder", "acme"); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, get(t, b, cb), http.StatusNotFound, "unknown-connection")
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
		u, _ := url.Parse(cb)
		if n := g.ja.State().Exchanges(u.Query().Get("code")); n != 0 {
			t.Errorf("the code was sent %d times, want 0", n)
		}
	})

	t.Run("the user refuses", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		g.ja.DenyConsent(true)
		wantProblem(t, get(t, g.browser(true), g.link("jobadder", "acme")), http.StatusForbidden, "access-denied")
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
		// As a page for a browser that asks for HTML.
		a := get(t, g.browser(true), g.link("jobadder", "acme"), "Accept", "text/html,application/xhtml+xml")
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "<h1>Forbidden</h1>") || !strings.Contains(a.body, "refused to authorise the app for connection acme") {
			t.Errorf("HTML page: %d %s", a.status, a.body)
		}
	})

	t.Run("a hostile error is not echoed", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, b := g.callbackURL("acme")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Del("code")
		q.Set("error", "<script>alert(1)</script>")
		u.RawQuery = q.Encode()
		a := get(t, b, u.String(), "Accept", "text/html")
		if a.status != http.StatusBadGateway || strings.Contains(a.body, "<script>") || !strings.Contains(a.body, "an unknown error") {
			t.Errorf("%d %s", a.status, a.body)
		}
	})

	t.Run("a refused code stores nothing", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, b := g.callbackURL("acme")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("code", "not-a-code")
		u.RawQuery = q.Encode()
		a := get(t, b, u.String())
		wantProblem(t, a, http.StatusBadGateway, "code-refused")
		if !strings.Contains(a.body, "authorization code was refused") || strings.Contains(a.body, "not-a-code") {
			t.Errorf("problem %s", a.body)
		}
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
		if n := g.ja.State().Exchanges("not-a-code"); n != 1 {
			t.Errorf("the code was sent %d times, want 1", n)
		}
	})

	t.Run("a failing token endpoint: no retry, nothing stored", func(t *testing.T) {
		t.Parallel()
		g := setup(t, jobaddertest.Config{TokenErrorRate: 1})
		cb, b := g.callbackURL("acme")
		a := get(t, b, cb)
		wantProblem(t, a, http.StatusBadGateway, "exchange-failed")
		if !strings.Contains(a.body, "503") || !strings.Contains(a.body, "not sent again") {
			t.Errorf("problem %s", a.body)
		}
		if g.authorization("acme").Authorised {
			t.Error("a token was stored")
		}
		if n := g.ja.State().Requests["POST /connect/token 503"]; n != 1 {
			t.Errorf("%d token requests, want 1 (an exchange is never retried)", n)
		}
	})

	t.Run("a state used by two requests at once is consumed once", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		cb, b := g.callbackURL("acme")
		var wg sync.WaitGroup
		answers := make([]answer, 8)
		for i := range answers {
			wg.Go(func() { answers[i] = get(t, b, cb) })
		}
		wg.Wait()
		ok := 0
		for _, a := range answers {
			switch a.status {
			case http.StatusOK:
				ok++
			case http.StatusBadRequest:
				wantProblem(t, a, http.StatusBadRequest, "invalid-state")
			default:
				t.Errorf("%d %s", a.status, a.body)
			}
		}
		u, _ := url.Parse(cb)
		if n := g.ja.State().Exchanges(u.Query().Get("code")); ok != 1 || n != 1 {
			t.Errorf("%d answers 200 and the code was sent %d times; want 1 and 1", ok, n)
		}
	})
}

func TestNewHandlerValidates(t *testing.T) {
	t.Parallel()
	_, js := brokertest.JetStream(t)
	buckets, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	app := jobadder.AuthConfig{ClientID: "c", ClientSecret: "s", Tokens: buckets.Tokens}
	for redirect, ok := range map[string]bool{
		"https://gw.example/oauth/callback":    true,
		"http://127.0.0.1:8080/oauth/callback": true,
		"http://localhost/oauth/callback":      true,
		"http://gw.example/oauth/callback":     false,
		"/oauth/callback":                      false,
	} {
		app.RedirectURI = redirect
		_, err := consent.NewHandler(consent.Config{JobAdder: app, Connections: connections.NewStore(buckets.Connections), Flows: buckets.Consent})
		if (err == nil) != ok {
			t.Errorf("redirect URI %s: error %v", redirect, err)
		}
	}
	app.RedirectURI = "https://gw.example/oauth/callback"
	if _, err := consent.NewHandler(consent.Config{JobAdder: app, Flows: buckets.Consent}); err == nil {
		t.Error("no connections store: no error")
	}
	if _, err := consent.NewHandler(consent.Config{JobAdder: app, Connections: connections.NewStore(buckets.Connections)}); err == nil {
		t.Error("no flows bucket: no error")
	}
}
