package jobadder

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

const (
	testClientID    = "client-id"
	testSecret      = "client-secret-s3cr3t"
	testCode        = "code-c0de-one"
	testRedirectURI = "https://hrpush.example/callback"
)

// tokenServer is a JobAdder identity server: it accepts each valid code once and each refresh
// token it issued once (they rotate), and issues access-N and refresh-N.
type tokenServer struct {
	URL string
	api string

	mu         sync.Mutex
	validCodes map[string]bool // code → not used yet
	codes      []string        // codes received
	refreshes  []string        // refresh tokens received
	unspent    map[string]bool // the refresh tokens issued and not used yet
	issued     int
	refreshErr string // when set, refreshes are answered with this OAuth error

	// hold, when set, makes token requests signal entered and wait until hold is closed.
	hold    chan struct{}
	entered chan struct{}
}

func newTokenServer(t *testing.T, codes ...string) *tokenServer {
	t.Helper()
	ts := &tokenServer{validCodes: map[string]bool{}, unspent: map[string]bool{}, api: "https://api.jobadder.example/v2"}
	for _, c := range codes {
		ts.validCodes[c] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", ts.token)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

func (ts *tokenServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts.mu.Lock()
	hold, entered := ts.hold, ts.entered
	ts.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	oauthError := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret {
		oauthError("invalid_client")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		ts.codes = append(ts.codes, code)
		if !ts.validCodes[code] || r.PostForm.Get("redirect_uri") != testRedirectURI {
			oauthError("invalid_grant")
			return
		}
		ts.validCodes[code] = false
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		ts.refreshes = append(ts.refreshes, rt)
		if ts.refreshErr != "" {
			oauthError(ts.refreshErr)
			return
		}
		if !ts.unspent[rt] {
			oauthError("invalid_grant")
			return
		}
		delete(ts.unspent, rt)
	default:
		oauthError("unsupported_grant_type")
		return
	}
	ts.issued++
	refresh := fmt.Sprintf("refresh-%d", ts.issued)
	ts.unspent[refresh] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  fmt.Sprintf("access-%d", ts.issued),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": refresh,
		"api":           ts.api,
	})
}

// holdRequests makes token requests wait until the returned release is called.
func (ts *tokenServer) holdRequests() (entered <-chan struct{}, release func()) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	hold := make(chan struct{})
	ts.hold, ts.entered = hold, make(chan struct{}, 10)
	return ts.entered, sync.OnceFunc(func() { close(hold) })
}

// refuseRefreshes makes refreshes fail with the OAuth error code.
func (ts *tokenServer) refuseRefreshes(code string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.refreshErr = code
}

func (ts *tokenServer) calls() (codes, refreshes []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.codes), slices.Clone(ts.refreshes)
}

type authOptions struct {
	owner      string
	code       string
	secret     string
	connection string
	clock      *targetstest.Clock
}

func newTestAuth(t *testing.T, ts *tokenServer, kv jetstream.KeyValue, o authOptions) *Auth {
	t.Helper()
	cfg := AuthConfig{
		ClientID:          testClientID,
		ClientSecret:      secret.Value(cmp.Or(o.secret, testSecret)),
		AuthorizationCode: secret.Value(o.code),
		RedirectURI:       testRedirectURI,
		TokenURL:          ts.URL + "/connect/token",
		Tokens:            kv,
		Owner:             o.owner,
		Connection:        o.connection,
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

func mustToken(t *testing.T, a *Auth) *Token {
	t.Helper()
	tok, err := a.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

func wantAccess(t *testing.T, tok *Token, want string) {
	t.Helper()
	if got := tok.AccessToken.Reveal(); got != want {
		t.Errorf("access token = %q, want %q", got, want)
	}
}

func wantCalls(t *testing.T, ts *tokenServer, wantCodes, wantRefreshes []string) {
	t.Helper()
	codes, refreshes := ts.calls()
	if !slices.Equal(codes, wantCodes) {
		t.Errorf("codes sent = %q, want %q", codes, wantCodes)
	}
	if !slices.Equal(refreshes, wantRefreshes) {
		t.Errorf("refresh tokens sent = %q, want %q", refreshes, wantRefreshes)
	}
}

// wantCredentialsError checks that err is a credentials error whose message contains want and
// no secret.
func wantCredentialsError(t *testing.T, err error, want string) {
	t.Helper()
	var ce *targets.CredentialsError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *targets.CredentialsError", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	wantNoSecret(t, err)
}

func wantNoSecret(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{testSecret, "wrong-s3cr3t", testCode, "code-c0de-two", "access-", "refresh-"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q reveals %q", err, s)
		}
	}
}

// legacyKey is the key of the token record before connections existed.
var legacyKey = "jobadder." + hash(testClientID)[:16] //nolint:gochecknoglobals // constant

func storedRecord(t *testing.T, kv jetstream.KeyValue) tokenRecord {
	t.Helper()
	return storedRecordAt(t, kv, legacyKey)
}

func storedRecordAt(t *testing.T, kv jetstream.KeyValue, key string) tokenRecord {
	t.Helper()
	e, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var rec tokenRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestAuth(t *testing.T) {
	t.Parallel()

	t.Run("the code is exchanged once by racing workers", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode})
		b := newTestAuth(t, ts, kv, authOptions{owner: "b", code: testCode})
		entered, release := ts.holdRequests()
		defer release()

		toks := make([]*Token, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, auth := range []*Auth{a, b} {
			wg.Go(func() { toks[i], errs[i] = auth.Token(t.Context()) })
		}
		<-entered // one worker holds the lease and is exchanging; the other waits or reads
		release()
		wg.Wait()
		for i := range toks {
			if errs[i] != nil {
				t.Fatalf("Token %d: %v", i, errs[i])
			}
			wantAccess(t, toks[i], "access-1")
			if toks[i].APIURL != ts.api {
				t.Errorf("APIURL = %q, want %q", toks[i].APIURL, ts.api)
			}
		}
		wantCalls(t, ts, []string{testCode}, nil)
		if rec := storedRecord(t, kv); rec.CodeSHA256 != hash(testCode) || rec.RefreshToken != "refresh-1" || rec.LeaseOwner != "" {
			t.Errorf("stored record = %+v", rec)
		}
	})

	t.Run("a restarted worker uses the stored token", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode}))
		restarted := newTestAuth(t, ts, kv, authOptions{owner: "a2", code: testCode})
		wantAccess(t, mustToken(t, restarted), "access-1")
		wantCalls(t, ts, []string{testCode}, nil)
	})

	t.Run("an expiring token is refreshed and the rotated refresh token stored", func(t *testing.T) {
		t.Parallel()
		ts, kv, clk := newTokenServer(t, testCode), newBucket(t), newClock()
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk})
		first := mustToken(t, a)
		if want := clk.Now().Add(time.Hour); !first.Expiry.Equal(want) {
			t.Errorf("Expiry = %v, want %v", first.Expiry, want)
		}
		clk.Advance(58 * time.Minute)
		wantAccess(t, mustToken(t, a), "access-1") // still valid for 2 minutes: cached
		clk.Advance(time.Minute)
		wantAccess(t, mustToken(t, a), "access-2")
		if rec := storedRecord(t, kv); rec.AccessToken != "access-2" || rec.RefreshToken != "refresh-2" {
			t.Errorf("stored record has %q, %q; want access-2, refresh-2", rec.AccessToken, rec.RefreshToken)
		}
		clk.Advance(time.Hour)
		other := newTestAuth(t, ts, kv, authOptions{owner: "b", clock: clk})
		wantAccess(t, mustToken(t, other), "access-3")
		wantCalls(t, ts, []string{testCode}, []string{"refresh-1", "refresh-2"})
	})

	t.Run("workers refreshing at once make one refresh", func(t *testing.T) {
		t.Parallel()
		ts, kv, clk := newTokenServer(t, testCode), newBucket(t), newClock()
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk})
		b := newTestAuth(t, ts, kv, authOptions{owner: "b", code: testCode, clock: clk})
		mustToken(t, a)
		mustToken(t, b)
		clk.Advance(time.Hour)
		entered, release := ts.holdRequests()
		defer release()

		toks := make([]*Token, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, auth := range []*Auth{a, b} {
			wg.Go(func() { toks[i], errs[i] = auth.Token(t.Context()) })
		}
		<-entered
		release()
		wg.Wait()
		for i := range toks {
			if errs[i] != nil {
				t.Fatalf("Token %d: %v", i, errs[i])
			}
			wantAccess(t, toks[i], "access-2")
		}
		wantCalls(t, ts, []string{testCode}, []string{"refresh-1"})
	})

	t.Run("an expired lease is taken over", func(t *testing.T) {
		t.Parallel()
		ts, kv, clk := newTokenServer(t, testCode), newBucket(t), newClock()
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk})
		mustToken(t, a)
		// A worker took the lease to refresh, then died.
		rec := storedRecord(t, kv)
		rec.LeaseOwner, rec.LeaseUntil = "dead", clk.Now().Add(time.Hour+leaseTTL)
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(t.Context(), a.key, b); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour + leaseTTL + time.Second)
		wantAccess(t, mustToken(t, a), "access-2")
		wantCalls(t, ts, []string{testCode}, []string{"refresh-1"})
	})

	t.Run("an invalidated token is renewed", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode})
		a.Invalidate(mustToken(t, a).AccessToken)
		wantAccess(t, mustToken(t, a), "access-2")
		wantCalls(t, ts, []string{testCode}, []string{"refresh-1"})
	})

	t.Run("a refused refresh is a credentials error for every worker", func(t *testing.T) {
		t.Parallel()
		ts, kv, clk := newTokenServer(t, testCode), newBucket(t), newClock()
		ts.refuseRefreshes("invalid_grant")
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk})
		mustToken(t, a)
		clk.Advance(time.Hour)
		_, err := a.Token(t.Context())
		wantCredentialsError(t, err, "refresh token was refused")

		b := newTestAuth(t, ts, kv, authOptions{owner: "b", code: testCode, clock: clk})
		_, err = b.Token(t.Context())
		wantCredentialsError(t, err, "JOBADDER_AUTHORIZATION_CODE")
		wantCalls(t, ts, []string{testCode}, []string{"refresh-1"})
	})

	t.Run("a refused refresh exchanges a new code", func(t *testing.T) {
		t.Parallel()
		const newCode = "code-c0de-two"
		ts, kv, clk := newTokenServer(t, testCode, newCode), newBucket(t), newClock()
		ts.refuseRefreshes("invalid_grant")
		mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk}))
		clk.Advance(time.Hour)
		b := newTestAuth(t, ts, kv, authOptions{owner: "b", code: newCode, clock: clk})
		wantAccess(t, mustToken(t, b), "access-2")
		wantCalls(t, ts, []string{testCode, newCode}, []string{"refresh-1"})
	})

	t.Run("Exchange sends a new code over a valid token, once", func(t *testing.T) {
		t.Parallel()
		const newCode = "code-c0de-two"
		ts, kv := newTokenServer(t, testCode, newCode), newBucket(t)
		wantAccess(t, mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode})), "access-1")
		again := newTestAuth(t, ts, kv, authOptions{owner: "op", code: newCode})
		for range 2 { // the second call sends nothing: the record says the code was exchanged
			tok, err := again.Exchange(t.Context())
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			wantAccess(t, tok, "access-2")
		}
		wantCalls(t, ts, []string{testCode, newCode}, nil)
		if rec := storedRecord(t, kv); rec.RefreshToken != "refresh-2" || rec.CodeSHA256 != hash(newCode) || rec.LeaseOwner != "" {
			t.Errorf("stored record = %+v", rec)
		}
	})

	t.Run("Exchange of a refused code keeps the stored token and is not sent again", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode}))
		bad := newTestAuth(t, ts, kv, authOptions{owner: "op", code: "code-c0de-two"})
		_, err := bad.Exchange(t.Context())
		wantCredentialsError(t, err, "authorization code was refused")
		if rec := storedRecord(t, kv); rec.RefreshToken != "refresh-1" {
			t.Errorf("stored record = %+v, want refresh-1 kept", rec)
		}
		wantAccess(t, mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "b"})), "access-1")

		// On a connection without a token, the refused code is remembered and never sent again.
		fresh := newBucket(t)
		for range 2 {
			_, err := newTestAuth(t, ts, fresh, authOptions{owner: "op", code: "code-c0de-two"}).Exchange(t.Context())
			wantCredentialsError(t, err, "authorization code was refused")
		}
		wantCalls(t, ts, []string{testCode, "code-c0de-two", "code-c0de-two"}, nil)
	})

	t.Run("a refused code is sent once", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t), newBucket(t)
		for _, owner := range []string{"a", "b"} {
			_, err := newTestAuth(t, ts, kv, authOptions{owner: owner, code: testCode}).Token(t.Context())
			wantCredentialsError(t, err, "authorization code")
		}
		wantCalls(t, ts, []string{testCode}, nil)
	})

	t.Run("a refused client secret is a credentials error", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		_, err := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, secret: "wrong-s3cr3t"}).Token(t.Context())
		wantCredentialsError(t, err, "client secret")
		// The code was not spent: the right secret exchanges it.
		wantAccess(t, mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "b", code: testCode})), "access-1")
	})

	t.Run("no code and no token", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t), newBucket(t)
		_, err := newTestAuth(t, ts, kv, authOptions{owner: "a"}).Token(t.Context())
		wantCredentialsError(t, err, "no usable token")
		wantCalls(t, ts, nil, nil)
	})

	t.Run("two connections of one app keep separate tokens; the default one keeps the old key", func(t *testing.T) {
		t.Parallel()
		const acmeCode = "code-c0de-two"
		ts, kv, clk := newTokenServer(t, testCode, acmeCode), newBucket(t), newClock()
		def := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, clock: clk})
		acme := newTestAuth(t, ts, kv, authOptions{owner: "a", code: acmeCode, connection: "acme", clock: clk})
		wantAccess(t, mustToken(t, def), "access-1")
		wantAccess(t, mustToken(t, acme), "access-2")
		if rec := storedRecord(t, kv); rec.RefreshToken != "refresh-1" {
			t.Errorf("default connection's record at %s holds %q, want refresh-1", legacyKey, rec.RefreshToken)
		}
		if rec := storedRecordAt(t, kv, legacyKey+".acme"); rec.RefreshToken != "refresh-2" {
			t.Errorf("acme's record at %s.acme holds %q, want refresh-2", legacyKey, rec.RefreshToken)
		}

		// Each connection refreshes with its own refresh token; "default" and "" are one.
		clk.Advance(time.Hour)
		wantAccess(t, mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "b", connection: "default", clock: clk})), "access-3")
		wantAccess(t, mustToken(t, newTestAuth(t, ts, kv, authOptions{owner: "b", connection: "acme", clock: clk})), "access-4")
		wantAccess(t, mustToken(t, def), "access-3")
		wantAccess(t, mustToken(t, acme), "access-4")
		wantCalls(t, ts, []string{testCode, acmeCode}, []string{"refresh-1", "refresh-2"})
	})

	t.Run("a refusal names the connection and how to authorise it again", func(t *testing.T) {
		t.Parallel()
		ts, kv, clk := newTokenServer(t, testCode), newBucket(t), newClock()
		ts.refuseRefreshes("invalid_grant")
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode, connection: "acme", clock: clk})
		mustToken(t, a)
		clk.Advance(time.Hour)
		_, err := a.Token(t.Context())
		wantCredentialsError(t, err, "jobadder: credentials refused: connection acme: the refresh token was refused")
		if !strings.HasSuffix(err.Error(), ": run `enqueue connect acme`") {
			t.Errorf("error %q does not end with the command that authorises the connection", err)
		}
		_, err = newTestAuth(t, ts, kv, authOptions{owner: "b", connection: "acme"}).Token(t.Context())
		wantCredentialsError(t, err, "connection acme: no usable token")
		wantCredentialsError(t, err, "run `enqueue connect acme`")
	})

	t.Run("a waiting worker honours its context", func(t *testing.T) {
		t.Parallel()
		ts, kv := newTokenServer(t, testCode), newBucket(t)
		entered, release := ts.holdRequests()
		defer release()
		a := newTestAuth(t, ts, kv, authOptions{owner: "a", code: testCode})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = a.Token(t.Context())
		}()
		<-entered
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := newTestAuth(t, ts, kv, authOptions{owner: "b", code: testCode}).Token(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want context.DeadlineExceeded", err)
		}
		release()
		<-done
	})
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	a, err := NewAuth(AuthConfig{
		ClientID: testClientID, ClientSecret: testSecret, RedirectURI: testRedirectURI, Tokens: newBucket(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(a.AuthCodeURL("st4te"))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != "https://id.jobadder.com/connect/authorize" {
		t.Errorf("authorization endpoint = %q", got)
	}
	want := url.Values{
		"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {testRedirectURI},
		"scope": {"read write offline_access"}, "state": {"st4te"},
	}
	if got := u.Query(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("query = %v, want %v", got, want)
	}
}

func TestNewAuthValidates(t *testing.T) {
	t.Parallel()
	kv := newBucket(t)
	for name, cfg := range map[string]AuthConfig{
		"client id":    {ClientSecret: testSecret, RedirectURI: testRedirectURI, Tokens: kv},
		"secret":       {ClientID: testClientID, RedirectURI: testRedirectURI, Tokens: kv},
		"redirect URI": {ClientID: testClientID, ClientSecret: testSecret, Tokens: kv},
		"bucket":       {ClientID: testClientID, ClientSecret: testSecret, RedirectURI: testRedirectURI},
		"valid connection name": {ClientID: testClientID, ClientSecret: testSecret, RedirectURI: testRedirectURI,
			Tokens: kv, Connection: "Acme.eu"},
		"short connection name": {ClientID: testClientID, ClientSecret: testSecret, RedirectURI: testRedirectURI,
			Tokens: kv, Connection: strings.Repeat("a", 65)},
	} {
		if _, err := NewAuth(cfg); err == nil {
			t.Errorf("NewAuth without %s: no error", name)
		}
	}
}
