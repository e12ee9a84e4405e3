package bullhorntest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

func TestLoginInfo(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, bullhorntest.Config{})
	if !strings.HasSuffix(srv.URL(), "/bullhorn") {
		t.Fatalf("URL %q does not keep the base path", srv.URL())
	}

	t.Run("known user", func(t *testing.T) {
		t.Parallel()
		res := do(t, http.MethodGet, srv.LoginInfoURL()+"?username="+url.QueryEscape(strings.ToUpper(bullhorntest.DefaultUsername)), nil)
		wantStatus(t, res, http.StatusOK)
		got := decode[map[string]any](t, res)
		if got["oauthUrl"] != srv.URL()+"/oauth" || got["restUrl"] != srv.URL()+"/rest-services" {
			t.Errorf("oauthUrl %v, restUrl %v; want under %s", got["oauthUrl"], got["restUrl"], srv.URL())
		}
		for _, k := range []string{"atsUrl", "coreUrl", "samlUrl", "dataCenterId", "superClusterId"} {
			if _, ok := got[k]; !ok {
				t.Errorf("no %s in %s", k, res.body)
			}
		}
	})
	for name, query := range map[string]string{"unknown user": "?username=someone.else", "no username": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := do(t, http.MethodGet, srv.LoginInfoURL()+query, nil)
			wantStatus(t, res, http.StatusBadRequest)
			if e := decode[apiError](t, res); e.ErrorMessage == "" {
				t.Errorf("no errorMessage: %s", res.body)
			}
		})
	}
	t.Run("handler mounted without the prefix", func(t *testing.T) {
		t.Parallel()
		u, _ := url.Parse(srv.URL())
		res := do(t, http.MethodGet, "http://"+u.Host+bullhorntest.PathLoginInfo+"?username="+bullhorntest.DefaultUsername, nil)
		wantStatus(t, res, http.StatusOK)
	})
}

func TestAuthorize(t *testing.T) {
	t.Parallel()

	t.Run("redirects with a code it does not need followed", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			res := do(t, method, authorizeURL(srv, url.Values{"state": {"xyz"}}), nil)
			wantStatus(t, res, http.StatusFound)
			loc, err := url.Parse(res.header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := loc.Scheme+"://"+loc.Host+loc.Path, srv.URL()+bullhorntest.PathCallback; got != want {
				t.Errorf("%s: redirected to %s, want the default %s", method, got, want)
			}
			q := loc.Query()
			if q.Get("code") == "" || q.Get("client_id") != bullhorntest.DefaultClientID || q.Get("state") != "xyz" {
				t.Errorf("%s: Location query %v", method, q)
			}
			// The code carries a ':' that the Location percent-encodes, as Bullhorn's does.
			if !strings.Contains(loc.RawQuery, "%3A") {
				t.Errorf("%s: Location %s does not encode the code", method, loc)
			}
		}
		if st := srv.State(); st.CodesIssued != 2 || st.CallbacksFollowed != 0 {
			t.Errorf("codes issued %d, callbacks followed %d", st.CodesIssued, st.CallbacksFollowed)
		}
	})

	t.Run("form body", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		cfg := srv.Config()
		res := do(t, http.MethodPost, srv.OAuthURL()+"/authorize", url.Values{
			"client_id": {cfg.ClientID}, "response_type": {"code"}, "action": {"Login"},
			"username": {cfg.Username}, "password": {cfg.Password},
		})
		wantStatus(t, res, http.StatusFound)
	})

	t.Run("wrong credentials show the login page again", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		for name, extra := range map[string]url.Values{
			"wrong password": {"password": {"nope"}},
			"unknown user":   {"username": {"someone.else"}},
			"no action":      {"action": {""}},
		} {
			res := do(t, http.MethodGet, authorizeURL(srv, extra), nil)
			wantStatus(t, res, http.StatusOK)
			if loc := res.header.Get("Location"); loc != "" {
				t.Errorf("%s: Location %q", name, loc)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
			if !strings.Contains(string(res.body), `name="password"`) {
				t.Errorf("%s: not a login form: %s", name, res.body)
			}
		}
		st := srv.State()
		if st.CodesIssued != 0 || st.Rejected != 3 {
			t.Errorf("codes %d, rejected %d: %+v", st.CodesIssued, st.Rejected, st.RecentRejections)
		}
	})

	t.Run("terms not accepted show the consent page", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{TermsNotAccepted: true})
		res := do(t, http.MethodGet, authorizeURL(srv, nil), nil)
		wantStatus(t, res, http.StatusOK)
		if res.header.Get("Location") != "" || !strings.Contains(string(res.body), "Terms of Service") {
			t.Errorf("Location %q, body %s", res.header.Get("Location"), res.body)
		}
		srv.AcceptTerms()
		wantStatus(t, do(t, http.MethodGet, authorizeURL(srv, nil), nil), http.StatusFound)
	})

	t.Run("unknown client", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		res := do(t, http.MethodGet, authorizeURL(srv, url.Values{"client_id": {"other"}}), nil)
		wantStatus(t, res, http.StatusBadRequest)
		if e := decode[oauthError](t, res); e.Error != "invalid_client" {
			t.Errorf("error %q", e.Error)
		}
	})

	t.Run("registered redirect URI", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{RedirectURI: "https://app.example/cb"})
		res := do(t, http.MethodGet, authorizeURL(srv, url.Values{"redirect_uri": {"https://evil.example/cb"}}), nil)
		wantStatus(t, res, http.StatusBadRequest)

		res = do(t, http.MethodGet, authorizeURL(srv, url.Values{"redirect_uri": {"https://app.example/cb"}}), nil)
		wantStatus(t, res, http.StatusFound)
		loc, _ := url.Parse(res.header.Get("Location"))
		if loc.Host != "app.example" {
			t.Fatalf("Location %s", loc)
		}
		// The code was requested with redirect_uri: the token request must repeat it.
		res = tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}})
		wantStatus(t, res, http.StatusBadRequest)
		if e := decode[oauthError](t, res); e.Error != "invalid_grant" || e.Description != "Redirect URI mismatch." {
			t.Errorf("got %+v", e)
		}
	})
}

func TestToken(t *testing.T) {
	t.Parallel()

	t.Run("code is single-use", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		code := authCode(t, srv)
		res := exchange(t, srv, code)
		wantStatus(t, res, http.StatusOK)
		tok := decode[bullhorntest.Token](t, res)
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn != 600 {
			t.Errorf("token %+v", tok)
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", res.header.Get("Cache-Control"))
		}

		res = exchange(t, srv, code)
		wantStatus(t, res, http.StatusBadRequest)
		want := oauthError{Error: "invalid_grant", Description: "Invalid, expired, or revoked authorization code."}
		if diff := cmp.Diff(want, decode[oauthError](t, res)); diff != "" {
			t.Errorf("second exchange (-want +got):\n%s", diff)
		}
		if st := srv.State(); st.CodesReused != 1 || st.TokenRequests["authorization_code"] != 2 {
			t.Errorf("codes reused %d, token requests %v", st.CodesReused, st.TokenRequests)
		}
	})

	t.Run("code expires", func(t *testing.T) {
		t.Parallel()
		srv, clk := setup(t, bullhorntest.Config{CodeTTL: time.Minute})
		code := authCode(t, srv)
		clk.Advance(time.Minute)
		wantStatus(t, exchange(t, srv, code), http.StatusBadRequest)
	})

	t.Run("form body and Basic credentials", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		cfg := srv.Config()
		res := do(t, http.MethodPost, srv.OAuthURL()+"/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {authCode(t, srv)},
			"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret},
		})
		wantStatus(t, res, http.StatusOK)

		req := url.Values{"grant_type": {"authorization_code"}, "code": {authCode(t, srv)}}
		basic := "Basic " + basicAuth(cfg.ClientID, cfg.ClientSecret)
		wantStatus(t, do(t, http.MethodPost, srv.OAuthURL()+"/token", req, "Authorization", basic), http.StatusOK)
	})

	t.Run("wrong client secret", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		res := tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {authCode(t, srv)}, "client_secret": {"nope"}})
		wantStatus(t, res, http.StatusUnauthorized)
		if e := decode[oauthError](t, res); e.Error != "invalid_client" {
			t.Errorf("error %q", e.Error)
		}
	})

	t.Run("refresh rotates", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		first := srv.IssueToken()
		refresh := func(rt string) response {
			return tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		}
		res := refresh(first.RefreshToken)
		wantStatus(t, res, http.StatusOK)
		second := decode[bullhorntest.Token](t, res)
		if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
			t.Fatalf("refresh did not rotate: %+v after %+v", second, first)
		}
		res = refresh(first.RefreshToken)
		wantStatus(t, res, http.StatusBadRequest)
		if e := decode[oauthError](t, res); e.Error != "invalid_grant" {
			t.Errorf("old refresh token: %+v", e)
		}
		wantStatus(t, refresh(second.RefreshToken), http.StatusOK)
		if st := srv.State(); st.RefreshTokensReused != 1 || st.Refreshes != 2 || st.InvalidGrants != 1 {
			t.Errorf("reused %d, refreshes %d, invalid grants %d", st.RefreshTokensReused, st.Refreshes, st.InvalidGrants)
		}
	})

	t.Run("GET refused", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		wantStatus(t, do(t, http.MethodGet, srv.OAuthURL()+"/token?grant_type=refresh_token", nil), http.StatusMethodNotAllowed)
	})
}

func TestLogin(t *testing.T) {
	t.Parallel()

	t.Run("session and restUrl", func(t *testing.T) {
		t.Parallel()
		srv, clk := setup(t, bullhorntest.Config{CorpToken: "abc123"})
		res := exchange(t, srv, authCode(t, srv))
		wantStatus(t, res, http.StatusOK)
		tok := decode[bullhorntest.Token](t, res)

		res = login(t, srv, tok.AccessToken)
		wantStatus(t, res, http.StatusOK)
		sess := decode[bullhorntest.Session](t, res)
		if sess.BhRestToken == "" || sess.RestURL != srv.URL()+"/rest-services/abc123/" || sess.RestURL != srv.RestURL() {
			t.Fatalf("session %+v", sess)
		}

		// The token is accepted as a header, a query parameter (either spelling) and a cookie.
		for name, send := range map[string]func() response{
			"header": func() response { return call(t, sess, http.MethodGet, "ping", nil) },
			"query": func() response {
				return do(t, http.MethodGet, sess.RestURL+"ping?BhRestToken="+sess.BhRestToken, nil)
			},
			"query BHRestToken": func() response {
				return do(t, http.MethodGet, sess.RestURL+"ping?BHRestToken="+sess.BhRestToken, nil)
			},
			"cookie": func() response {
				return do(t, http.MethodGet, sess.RestURL+"ping", nil, "Cookie", "BhRestToken="+sess.BhRestToken)
			},
		} {
			res := send()
			wantStatus(t, res, http.StatusOK)
			want := clk.Now().Add(10 * time.Minute).UnixMilli()
			if got := decode[map[string]int64](t, res)["sessionExpires"]; got != want {
				t.Errorf("%s: sessionExpires %d, want %d", name, got, want)
			}
		}
		if st := srv.State(); st.SessionsOpened != 1 || st.LiveSessions != 1 || st.Logins != 1 {
			t.Errorf("sessions %d, live %d, logins %d", st.SessionsOpened, st.LiveSessions, st.Logins)
		}
	})

	t.Run("ttl in minutes", func(t *testing.T) {
		t.Parallel()
		srv, clk := setup(t, bullhorntest.Config{})
		res := login(t, srv, srv.IssueToken().AccessToken, "ttl", "60")
		wantStatus(t, res, http.StatusOK)
		sess := decode[bullhorntest.Session](t, res)
		got := decode[map[string]int64](t, call(t, sess, http.MethodGet, "ping", nil))["sessionExpires"]
		if want := clk.Now().Add(time.Hour).UnixMilli(); got != want {
			t.Errorf("sessionExpires %d, want %d", got, want)
		}
		clk.Advance(59 * time.Minute)
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
	})

	t.Run("expired access token", func(t *testing.T) {
		t.Parallel()
		srv, clk := setup(t, bullhorntest.Config{})
		tok := srv.IssueToken()
		clk.Advance(600 * time.Second)
		res := login(t, srv, tok.AccessToken)
		wantStatus(t, res, http.StatusBadRequest)
		want := apiError{ErrorMessageKey: "errors.internalError", ErrorMessage: "Invalid or expired OAuth access token.", ErrorCode: 400}
		if diff := cmp.Diff(want, decode[apiError](t, res)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		fresh := srv.IssueToken()
		srv.ExpireAccessTokens()
		wantStatus(t, login(t, srv, fresh.AccessToken), http.StatusBadRequest)
		// The refresh token still works.
		res = tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}})
		wantStatus(t, res, http.StatusOK)
		wantStatus(t, login(t, srv, decode[bullhorntest.Token](t, res).AccessToken), http.StatusOK)
	})

	t.Run("version required", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		res := do(t, http.MethodGet, srv.URL()+"/rest-services/login?access_token="+srv.IssueToken().AccessToken, nil)
		wantStatus(t, res, http.StatusBadRequest)
	})

	t.Run("max sessions", func(t *testing.T) {
		t.Parallel()
		srv, clk := setup(t, bullhorntest.Config{MaxSessions: 2})
		tok := srv.IssueToken().AccessToken
		wantStatus(t, login(t, srv, tok, "ttl", "5"), http.StatusOK)
		wantStatus(t, login(t, srv, tok, "ttl", "20"), http.StatusOK)
		res := login(t, srv, tok)
		wantStatus(t, res, http.StatusTooManyRequests)
		if e := decode[apiError](t, res); e.ErrorMessage == "" || res.header.Get("Retry-After") != "" {
			t.Errorf("body %s, Retry-After %q", res.body, res.header.Get("Retry-After"))
		}
		clk.Advance(5 * time.Minute) // the first session expires
		wantStatus(t, login(t, srv, tok), http.StatusOK)
		st := srv.State()
		if st.SessionsOpened != 3 || st.MaxLiveSessions != 2 || st.LiveSessions != 2 || st.RefusedLogins != 1 {
			t.Errorf("opened %d, max live %d, live %d, refused %d", st.SessionsOpened, st.MaxLiveSessions, st.LiveSessions, st.RefusedLogins)
		}
		if _, err := srv.IssueSession(); err == nil {
			t.Error("IssueSession beyond MaxSessions succeeded")
		}
	})
}

func TestRESTAuthentication(t *testing.T) {
	t.Parallel()

	t.Run("missing token", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, bullhorntest.Config{})
		res := do(t, http.MethodGet, srv.RestURL()+"entity/Candidate/1?fields=id", nil)
		wantStatus(t, res, http.StatusPreconditionFailed)
		if e := decode[apiError](t, res); e.ErrorMessage != "Missing BhRestToken" {
			t.Errorf("body %s", res.body)
		}
	})

	t.Run("session timeout", func(t *testing.T) {
		t.Parallel()
		srv, sess, clk := setupSession(t, bullhorntest.Config{SessionTTL: 5 * time.Minute})
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusOK)
		clk.Advance(5 * time.Minute)
		res := call(t, sess, http.MethodGet, "ping", nil)
		wantStatus(t, res, http.StatusUnauthorized)
		want := apiError{ErrorMessage: "Bad 'BhRestToken' or timed-out.", ErrorMessageKey: "errors.authentication.invalidRestToken", ErrorCode: 401}
		if diff := cmp.Diff(want, decode[apiError](t, res)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if st := srv.State(); st.LiveSessions != 0 {
			t.Errorf("live sessions %d", st.LiveSessions)
		}
	})

	t.Run("ExpireSessions", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{})
		srv.ExpireSessions()
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusUnauthorized)
	})

	t.Run("unknown token and wrong corp token", func(t *testing.T) {
		t.Parallel()
		_, sess, _ := setupSession(t, bullhorntest.Config{})
		wantStatus(t, do(t, http.MethodGet, sess.RestURL+"ping", nil, "BhRestToken", "nope"), http.StatusUnauthorized)
		other := strings.Replace(sess.RestURL, bullhorntest.DefaultCorpToken, "other", 1)
		wantStatus(t, do(t, http.MethodGet, other+"ping", nil, "BhRestToken", sess.BhRestToken), http.StatusUnauthorized)
	})

	t.Run("logout", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{})
		res := call(t, sess, http.MethodGet, "logout", nil)
		wantStatus(t, res, http.StatusOK)
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusUnauthorized)
		if st := srv.State(); st.LiveSessions != 0 || st.Logouts != 1 {
			t.Errorf("live %d, logouts %d", st.LiveSessions, st.Logouts)
		}
	})

	t.Run("RevokeAll", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{})
		tok := srv.IssueToken()
		srv.RevokeAll()
		wantStatus(t, call(t, sess, http.MethodGet, "ping", nil), http.StatusUnauthorized)
		wantStatus(t, login(t, srv, tok.AccessToken), http.StatusBadRequest)
		wantStatus(t, tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}), http.StatusBadRequest)
	})
}

func TestWrongDataCentre(t *testing.T) {
	t.Parallel()

	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{RedirectDataCentre: true})
		wrong := srv.WrongDataCentreURL() + "/rest-services/" + bullhorntest.DefaultCorpToken + "/ping?BhRestToken=" + sess.BhRestToken
		res := do(t, http.MethodGet, wrong, nil)
		wantStatus(t, res, http.StatusTemporaryRedirect)
		if got, want := res.header.Get("Location"), sess.RestURL+"ping?BhRestToken="+sess.BhRestToken; got != want {
			t.Errorf("Location %s, want %s", got, want)
		}
		// loginInfo is global: it answers on any data centre.
		wantStatus(t, do(t, http.MethodGet, srv.WrongDataCentreURL()+bullhorntest.PathLoginInfo+"?username="+bullhorntest.DefaultUsername, nil), http.StatusOK)
	})

	t.Run("no redirect", func(t *testing.T) {
		t.Parallel()
		srv, sess, _ := setupSession(t, bullhorntest.Config{})
		res := do(t, http.MethodGet, srv.WrongDataCentreURL()+"/rest-services/"+bullhorntest.DefaultCorpToken+"/ping", nil, "BhRestToken", sess.BhRestToken)
		wantStatus(t, res, http.StatusUnauthorized)
	})
}

func TestStateEndpoint(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{})
	createCandidate(t, sess, map[string]any{"firstName": "A", "lastName": "B", "email": "a@example.com"})
	wantStatus(t, call(t, sess, http.MethodPut, "entity/Candidate", map[string]any{"firstName": "A", "bogus": 1}), http.StatusBadRequest)
	res := do(t, http.MethodGet, srv.URL()+bullhorntest.PathState, nil)
	wantStatus(t, res, http.StatusOK)
	st := decode[bullhorntest.State](t, res)
	if st.Candidates != 1 || st.CreatedWithoutName != 1 || st.CandidatesByEmail["a@example.com"] != 1 || st.SessionsOpened != 1 {
		t.Errorf("state %+v", st)
	}
	if st.Requests["PUT /rest-services/{corpToken}/entity/Candidate 200"] != 1 || st.Requests["PUT /rest-services/{corpToken}/entity/Candidate 400"] != 1 {
		t.Errorf("requests %v", st.Requests)
	}
	if len(st.RecentRejections) != 1 || !strings.Contains(st.RecentRejections[0].Message, "'bogus' does not exist on Candidate") {
		t.Errorf("rejections %+v", st.RecentRejections)
	}
}
