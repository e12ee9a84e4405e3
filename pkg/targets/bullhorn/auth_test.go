package bullhorn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

const (
	testClientID = "client-id"
	testSecret   = "client-s3cr3t"
	testUser     = "api.user"
	testPassword = "p4ssw0rd-s3cr3t"
)

// authServer is Bullhorn's loginInfo, OAuth and login endpoints plus one API call
// (GET /rest-services/corp1/ping) and the client's redirect URI (GET /callback), which must
// not be followed. Codes are single-use, only the latest refresh token is
// valid, and it issues code-N, access-N, refresh-N and session-N.
type authServer struct {
	URL string

	mu            sync.Mutex
	calls         []string // loginInfo, authorize, callback, token:<grant_type>, login, ping
	termsPending  bool
	refuseRefresh bool
	codes         map[string]bool // code → not used yet
	access        map[string]bool // valid access tokens
	refresh       string          // the valid refresh token
	sessions      map[string]bool // valid BhRestTokens
	n             int
	tokenForms    []url.Values
	logins        []url.Values

	// hold, when set, makes login requests signal entered and wait until hold is closed.
	hold    chan struct{}
	entered chan struct{}
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	as := &authServer{codes: map[string]bool{}, access: map[string]bool{}, sessions: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest-services/loginInfo", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/west/rest-services/loginInfo?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /west/rest-services/loginInfo", as.loginInfo)
	mux.HandleFunc("POST /oauth/authorize", as.authorize)
	mux.HandleFunc("POST /oauth/token", as.token)
	mux.HandleFunc("POST /rest-services/login", as.login)
	mux.HandleFunc("GET /rest-services/corp1/ping", as.ping)
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) { as.record("callback") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	as.URL = srv.URL
	return as
}

func (as *authServer) record(call string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.calls = append(as.calls, call)
}

func (as *authServer) loginInfo(w http.ResponseWriter, r *http.Request) {
	as.record("loginInfo")
	if r.URL.Query().Get("username") != testUser {
		writeJSON(w, http.StatusOK, `{"dataCenterId": 3}`)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"oauthUrl": %q, "restUrl": %q, "atsUrl": "https://cls33.example"}`,
		as.URL+"/oauth", as.URL+"/rest-services"))
}

func (as *authServer) authorize(w http.ResponseWriter, r *http.Request) {
	as.record("authorize")
	q := r.URL.Query()
	if q.Get("client_id") != testClientID || q.Get("response_type") != "code" || q.Get("action") != "Login" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if q.Get("username") != testUser || q.Get("password") != testPassword {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><form>Invalid credentials <input name="username"><input name='password' TYPE = 'Password'></form></html>`)
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.termsPending {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><form>Terms of service… <button>Agree</button></form></html>")
		return
	}
	as.n++
	code := fmt.Sprintf("code-%d", as.n)
	as.codes[code] = true
	http.Redirect(w, r, as.URL+"/callback?code="+code+"&client_id="+testClientID, http.StatusFound)
}

func (as *authServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	as.record("token:" + r.Form.Get("grant_type"))
	as.mu.Lock()
	defer as.mu.Unlock()
	as.tokenForms = append(as.tokenForms, r.Form)
	oauthError := func(code string) {
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"error": %q, "error_description": "refused"}`, code))
	}
	if r.Form.Get("client_id") != testClientID || r.Form.Get("client_secret") != testSecret {
		oauthError("invalid_client")
		return
	}
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		code := r.Form.Get("code")
		if !as.codes[code] {
			oauthError("invalid_grant")
			return
		}
		as.codes[code] = false
	case "refresh_token":
		if as.refuseRefresh || r.Form.Get("refresh_token") != as.refresh {
			oauthError("invalid_grant")
			return
		}
	default:
		oauthError("unsupported_grant_type")
		return
	}
	as.n++
	access := fmt.Sprintf("access-%d", as.n)
	as.access[access] = true
	as.refresh = fmt.Sprintf("refresh-%d", as.n)
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"access_token": %q, "token_type": "Bearer", "expires_in": 600, "refresh_token": %q}`,
		access, as.refresh))
}

func (as *authServer) login(w http.ResponseWriter, r *http.Request) {
	as.record("login")
	as.mu.Lock()
	hold, entered := as.hold, as.entered
	as.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	q := r.URL.Query()
	as.logins = append(as.logins, q)
	if q.Get("version") != "2.0" || !as.access[q.Get("access_token")] {
		writeJSON(w, http.StatusBadRequest, `{"errorMessageKey": "errors.internalError",
			"errorMessage": "Invalid or expired OAuth access token.", "errorCode": 400}`)
		return
	}
	as.n++
	s := fmt.Sprintf("session-%d", as.n)
	as.sessions[s] = true
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"BhRestToken": %q, "restUrl": %q}`, s, as.URL+"/rest-services/corp1/"))
}

func (as *authServer) ping(w http.ResponseWriter, r *http.Request) {
	as.record("ping")
	as.mu.Lock()
	defer as.mu.Unlock()
	if !as.sessions[r.Header.Get("BhRestToken")] {
		writeJSON(w, http.StatusUnauthorized, `{"errorMessage": "Bad 'BhRestToken' or timed-out."}`)
		return
	}
	writeJSON(w, http.StatusOK, `{"sessionExpires": 1740833400000}`)
}

// holdLogins makes login requests wait until the returned release is called.
func (as *authServer) holdLogins() (entered <-chan struct{}, release func()) {
	as.mu.Lock()
	defer as.mu.Unlock()
	hold := make(chan struct{})
	as.hold, as.entered = hold, make(chan struct{}, 10)
	return as.entered, sync.OnceFunc(func() { close(hold) })
}

// waitEntered waits for a held login request.
func waitEntered(t *testing.T, entered <-chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no login request arrived")
	}
}

// set changes the server's state under its lock.
func (as *authServer) set(f func(as *authServer)) {
	as.mu.Lock()
	defer as.mu.Unlock()
	f(as)
}

// takeCalls returns the calls received since the last takeCalls.
func (as *authServer) takeCalls() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	calls := as.calls
	as.calls = nil
	return calls
}

func wantCalls(t *testing.T, as *authServer, want ...string) {
	t.Helper()
	if diff := gocmp.Diff(want, as.takeCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

type authOptions struct {
	owner      string
	password   string
	connection string
	clock      *targetstest.Clock
}

func newTestAuth(t *testing.T, as *authServer, kv jetstream.KeyValue, o authOptions) *Auth {
	t.Helper()
	cfg := AuthConfig{
		LoginInfoURL: as.URL + "/rest-services/loginInfo",
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Username:     testUser,
		Password:     secret.Value(cmp.Or(o.password, testPassword)),
		Tokens:       kv,
		Owner:        o.owner,
		Connection:   o.connection,
	}
	if o.clock != nil {
		cfg.Now = o.clock.Now
	}
	a, err := NewAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustSession(t *testing.T, a *Auth) *Session {
	t.Helper()
	s, err := a.Session(t.Context())
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

func wantSession(t *testing.T, s *Session, want string) {
	t.Helper()
	if got := s.BhRestToken.Reveal(); got != want {
		t.Errorf("BhRestToken = %q, want %q", got, want)
	}
}

// wantCredentialsError checks that err is a credentials error whose message contains want and
// no secret.
func wantCredentialsError(t *testing.T, err error, want string) {
	t.Helper()
	var ce *targets.CredentialsError
	if !errors.As(err, &ce) || !credentials(err) {
		t.Fatalf("error = %v, want a *targets.CredentialsError", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	wantNoSecret(t, err)
}

func wantNoSecret(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{testSecret, testPassword, "wr0ng", "code-", "access-", "refresh-", "session-"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q reveals %q", err, s)
		}
	}
}

func storedRecord(t *testing.T, kv jetstream.KeyValue) sessionRecord {
	t.Helper()
	e, err := kv.Get(t.Context(), "bullhorn."+hash(testUser)[:16])
	if err != nil {
		t.Fatal(err)
	}
	var rec sessionRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestAuth(t *testing.T) {
	t.Parallel()

	t.Run("loginInfo, authorize without following, code exchange, login", func(t *testing.T) {
		t.Parallel()
		as, kv, clk := newAuthServer(t), newBucket(t), newClock()
		s := mustSession(t, newTestAuth(t, as, kv, authOptions{owner: "a", clock: clk}))
		wantSession(t, s, "session-3")
		if want := as.URL + "/rest-services/corp1/"; s.RestURL != want {
			t.Errorf("RestURL = %q, want %q", s.RestURL, want)
		}
		if want := clk.Now().Add(time.Hour); !s.Expiry.Equal(want) {
			t.Errorf("Expiry = %v, want %v", s.Expiry, want)
		}
		wantCalls(t, as, "loginInfo", "authorize", "token:authorization_code", "login")

		form := as.tokenForms[0]
		if form.Get("code") != "code-1" || form.Has("ttl") || form.Has("redirect_uri") {
			t.Errorf("token request = %v", form)
		}
		login := as.logins[0]
		if login.Get("access_token") != "access-2" || login.Get("ttl") != "60" || login.Get("version") != "2.0" {
			t.Errorf("login request = %v", login)
		}
		rec := storedRecord(t, kv)
		want := sessionRecord{
			OAuthURL: as.URL + "/oauth", LoginRestURL: as.URL + "/rest-services",
			AccessToken: "access-2", AccessExpiry: clk.Now().Add(10 * time.Minute), AccessIssued: clk.Now(), RefreshToken: "refresh-2",
			BhRestToken: "session-3", RestURL: as.URL + "/rest-services/corp1/", SessionExpiry: clk.Now().Add(time.Hour),
			SessionIssued: clk.Now(),
			Lease:         targets.Lease{UpdatedAt: rec.UpdatedAt},
		}
		if diff := gocmp.Diff(want, rec); diff != "" {
			t.Errorf("stored record (-want +got):\n%s", diff)
		}
	})

	t.Run("terms not accepted", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		as.set(func(as *authServer) { as.termsPending = true })
		_, err := newTestAuth(t, as, kv, authOptions{owner: "a"}).Session(t.Context())
		wantCredentialsError(t, err, "the API user has not accepted Bullhorn's terms of service")
		wantCalls(t, as, "loginInfo", "authorize")
	})

	t.Run("a wrong password is sent once per minute by the fleet", func(t *testing.T) {
		t.Parallel()
		as, kv, clk := newAuthServer(t), newBucket(t), newClock()
		_, err := newTestAuth(t, as, kv, authOptions{owner: "a", password: "wr0ng", clock: clk}).Session(t.Context())
		wantCredentialsError(t, err, "BULLHORN_PASSWORD")
		wantCalls(t, as, "loginInfo", "authorize")

		fixed := newTestAuth(t, as, kv, authOptions{owner: "b", clock: clk})
		_, err = fixed.Session(t.Context())
		wantCredentialsError(t, err, "BULLHORN_PASSWORD")
		wantCalls(t, as)

		clk.Advance(refusalHold)
		wantSession(t, mustSession(t, fixed), "session-3")
		wantCalls(t, as, "loginInfo", "authorize", "token:authorization_code", "login")
		if rec := storedRecord(t, kv); rec.RefusedReason != "" {
			t.Errorf("refusal kept after a login: %q", rec.RefusedReason)
		}
	})

	t.Run("a refusal names the connection, what to check and how to check the login", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		_, err := newTestAuth(t, as, kv, authOptions{owner: "a", password: "wr0ng"}).Session(t.Context())
		wantCredentialsError(t, err, "bullhorn: credentials refused: connection default: the username or password was refused: "+
			"check BULLHORN_USERNAME and BULLHORN_PASSWORD, then run `enqueue connect default` to check the login")

		as, kv = newAuthServer(t), newBucket(t)
		_, err = newTestAuth(t, as, kv, authOptions{owner: "a", password: "wr0ng", connection: "acme"}).Session(t.Context())
		wantCredentialsError(t, err, "connection acme: the username or password was refused: "+
			"check the username and password of connection acme, then run `enqueue connect acme` to check the login")
		if strings.Contains(err.Error(), "BULLHORN_") {
			t.Errorf("error %q names the default connection's variables", err)
		}
		// Another worker returns the recorded refusal as it was.
		_, again := newTestAuth(t, as, kv, authOptions{owner: "b", connection: "acme"}).Session(t.Context())
		if again == nil || again.Error() != err.Error() {
			t.Errorf("recorded refusal = %v, want %v", again, err)
		}
	})

	t.Run("an unknown user", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		a, err := NewAuth(AuthConfig{
			LoginInfoURL: as.URL + "/rest-services/loginInfo", ClientID: testClientID, ClientSecret: testSecret,
			Username: "nobody", Password: testPassword, Tokens: kv,
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Session(t.Context())
		wantCredentialsError(t, err, "BULLHORN_USERNAME")
	})

	t.Run("a wrong client secret", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		a, err := NewAuth(AuthConfig{
			LoginInfoURL: as.URL + "/rest-services/loginInfo", ClientID: testClientID, ClientSecret: "wr0ng",
			Username: testUser, Password: testPassword, Tokens: kv,
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Session(t.Context())
		wantCredentialsError(t, err, "BULLHORN_CLIENT_SECRET")
	})

	t.Run("racing workers share one session", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		auths := []*Auth{
			newTestAuth(t, as, kv, authOptions{owner: "a"}),
			newTestAuth(t, as, kv, authOptions{owner: "b"}),
		}
		entered, release := as.holdLogins()
		defer release()
		sessions := make([]*Session, len(auths))
		errs := make([]error, len(auths))
		var wg sync.WaitGroup
		for i, a := range auths {
			wg.Go(func() { sessions[i], errs[i] = a.Session(t.Context()) })
		}
		waitEntered(t, entered) // one worker holds the lease and logs in; the other waits
		release()
		wg.Wait()
		for i := range auths {
			if errs[i] != nil {
				t.Fatalf("Session %d: %v", i, errs[i])
			}
			wantSession(t, sessions[i], "session-3")
		}
		wantCalls(t, as, "loginInfo", "authorize", "token:authorization_code", "login")
		if n := auths[0].SessionsOpened() + auths[1].SessionsOpened(); n != 1 {
			t.Errorf("%d sessions opened, want 1", n)
		}
		if rec := storedRecord(t, kv); rec.LeaseOwner != "" {
			t.Errorf("lease kept by %q", rec.LeaseOwner)
		}
	})

	t.Run("an expiring session is renewed once with the refresh token", func(t *testing.T) {
		t.Parallel()
		as, kv, clk := newAuthServer(t), newBucket(t), newClock()
		a := newTestAuth(t, as, kv, authOptions{owner: "a", clock: clk})
		b := newTestAuth(t, as, kv, authOptions{owner: "b", clock: clk})
		wantSession(t, mustSession(t, a), "session-3")
		wantSession(t, mustSession(t, b), "session-3")
		clk.Advance(58 * time.Minute)
		wantSession(t, mustSession(t, a), "session-3") // still valid for 2 minutes
		as.takeCalls()

		clk.Advance(time.Minute)
		wantSession(t, mustSession(t, a), "session-5")
		wantSession(t, mustSession(t, b), "session-5")
		wantCalls(t, as, "token:refresh_token", "login")
		if rec := storedRecord(t, kv); rec.RefreshToken != "refresh-4" || rec.AccessToken != "access-4" {
			t.Errorf("stored tokens %q, %q; want access-4, refresh-4", rec.AccessToken, rec.RefreshToken)
		}
	})

	t.Run("a 401 logs in again with the access token still valid", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		a := newTestAuth(t, as, kv, authOptions{owner: "a"})
		client, err := New(a)
		if err != nil {
			t.Fatal(err)
		}
		ping := func() {
			t.Helper()
			if _, err := client.do(t.Context(), &request{method: http.MethodGet, path: []string{"ping"}}, nil); err != nil {
				t.Fatalf("ping: %v", err)
			}
		}
		ping()
		as.takeCalls()
		as.set(func(as *authServer) { clear(as.sessions) }) // Bullhorn ended the session
		ping()
		wantCalls(t, as, "ping", "login", "ping")
		if n := a.SessionsOpened(); n != 2 {
			t.Errorf("%d sessions opened, want 2", n)
		}
		// Another worker holding the ended session reads the new one.
		b := newTestAuth(t, as, kv, authOptions{owner: "b"})
		b.Invalidate("session-3")
		wantSession(t, mustSession(t, b), "session-4")
		wantCalls(t, as)
	})

	t.Run("a refused refresh falls back on the password", func(t *testing.T) {
		t.Parallel()
		as, kv, clk := newAuthServer(t), newBucket(t), newClock()
		a := newTestAuth(t, as, kv, authOptions{owner: "a", clock: clk})
		mustSession(t, a)
		as.takeCalls()
		as.set(func(as *authServer) { as.refuseRefresh = true })
		clk.Advance(time.Hour)
		wantSession(t, mustSession(t, a), "session-6")
		wantCalls(t, as, "token:refresh_token", "authorize", "token:authorization_code", "login")
		if rec := storedRecord(t, kv); rec.RefreshToken != "refresh-5" {
			t.Errorf("stored refresh token %q, want refresh-5", rec.RefreshToken)
		}
	})

	t.Run("three worker runtimes open one session per session lifetime", func(t *testing.T) {
		t.Parallel()
		as, kv, clk := newAuthServer(t), newBucket(t), newClock()
		var auths []*Auth
		for _, owner := range []string{"a", "b", "c"} {
			auths = append(auths, newTestAuth(t, as, kv, authOptions{owner: owner, clock: clk}))
		}
		for period := range 3 {
			var wg sync.WaitGroup
			for job := range 300 {
				wg.Go(func() {
					if _, err := auths[job%3].Session(t.Context()); err != nil {
						t.Errorf("Session: %v", err)
					}
				})
			}
			wg.Wait()
			var opened int64
			for _, a := range auths {
				opened += a.SessionsOpened()
			}
			if want := int64(period + 1); opened != want {
				t.Errorf("after period %d: %d sessions opened, want %d", period, opened, want)
			}
			clk.Advance(time.Hour)
		}
	})

	t.Run("a waiting worker honours its context", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		entered, release := as.holdLogins()
		defer release()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = newTestAuth(t, as, kv, authOptions{owner: "a"}).Session(t.Context())
		}()
		waitEntered(t, entered)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := newTestAuth(t, as, kv, authOptions{owner: "b"}).Session(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
		release()
		<-done
	})

	t.Run("transport errors do not reveal the password", func(t *testing.T) {
		t.Parallel()
		as, kv := newAuthServer(t), newBucket(t)
		a := newTestAuth(t, as, kv, authOptions{owner: "a"})
		mustSession(t, a)
		// The account moved to a data centre that drops the connection.
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		dead := httptest.NewServer(mux)
		t.Cleanup(dead.Close)
		rec := storedRecord(t, kv)
		rec.OAuthURL, rec.AccessToken, rec.RefreshToken, rec.BhRestToken = dead.URL+"/oauth", "", "", ""
		b, _ := json.Marshal(rec)
		if _, err := kv.Put(t.Context(), a.key, b); err != nil {
			t.Fatal(err)
		}
		a.Invalidate("session-3")
		_, err := a.Session(t.Context())
		if err == nil || credentials(err) || permanent(err) {
			t.Fatalf("error = %v, want a transient error", err)
		}
		wantNoSecret(t, err)
	})
}

func TestNewAuthValidates(t *testing.T) {
	t.Parallel()
	kv := newBucket(t)
	valid := AuthConfig{ClientID: testClientID, ClientSecret: testSecret, Username: testUser, Password: testPassword, Tokens: kv}
	for name, change := range map[string]func(*AuthConfig){
		"client id":     func(c *AuthConfig) { c.ClientID = "" },
		"client secret": func(c *AuthConfig) { c.ClientSecret = "" },
		"username":      func(c *AuthConfig) { c.Username = "" },
		"password":      func(c *AuthConfig) { c.Password = "" },
		"bucket":        func(c *AuthConfig) { c.Tokens = nil },
		"short TTL":     func(c *AuthConfig) { c.SessionTTL = time.Minute },
		"long TTL":      func(c *AuthConfig) { c.SessionTTL = 49 * time.Hour },
		"connection":    func(c *AuthConfig) { c.Connection = "Acme" },
	} {
		cfg := valid
		change(&cfg)
		if _, err := NewAuth(cfg); err == nil {
			t.Errorf("NewAuth without a valid %s: no error", name)
		}
	}
	if _, err := NewAuth(valid); err != nil {
		t.Errorf("NewAuth: %v", err)
	}
}

func TestAuthorizeErrorRedirect(t *testing.T) {
	t.Parallel()
	as, kv := newAuthServer(t), newBucket(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/callback?error=access_denied&error_description=locked", http.StatusFound)
	}))
	t.Cleanup(refusing.Close)
	a := newTestAuth(t, as, kv, authOptions{owner: "a"})
	_, err := a.authorize(t.Context(), &sessionRecord{OAuthURL: refusing.URL + "/oauth"})
	wantCredentialsError(t, err, "access_denied locked")
}
