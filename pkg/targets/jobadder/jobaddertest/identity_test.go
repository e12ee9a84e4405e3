package jobaddertest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

func TestCodeExchange(t *testing.T) {
	t.Parallel()

	t.Run("once then invalid_grant", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, jobaddertest.Config{})
		code := srv.IssueCode()

		res := exchange(t, srv, code)
		wantStatus(t, res, http.StatusOK)
		tok := decode[jobaddertest.Token](t, res)
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("token %+v lacks a token", tok)
		}
		if diff := cmp.Diff(jobaddertest.Token{ExpiresIn: 3600, TokenType: "Bearer", API: srv.URL() + "/v2",
			Scope: "read write read_candidate write_candidate offline_access"}, tok,
			ignoreTokens); diff != "" {
			t.Errorf("token (-want +got):\n%s", diff)
		}
		if got := res.header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
			t.Errorf("Content-Type %q", got)
		}
		wantStatus(t, call(t, srv, tok.AccessToken, http.MethodGet, "/v2/candidates", nil), http.StatusOK)

		res = exchange(t, srv, code)
		wantStatus(t, res, http.StatusBadRequest)
		if diff := cmp.Diff(map[string]string{"error": "invalid_grant"}, decode[map[string]string](t, res)); diff != "" {
			t.Errorf("second exchange (-want +got):\n%s", diff)
		}
		st := srv.State()
		if st.Exchanges(code) != 2 || st.InvalidGrants != 1 || st.TokensIssued != 2 {
			t.Errorf("exchanges %d, invalid grants %d, tokens issued %d; want 2, 1, 2 (one from setup)",
				st.Exchanges(code), st.InvalidGrants, st.TokensIssued)
		}
		if st.Requests["POST /connect/token 200"] != 1 || st.Requests["POST /connect/token 400"] != 1 {
			t.Errorf("requests %v", st.Requests)
		}
		data, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{code, tok.AccessToken, tok.RefreshToken} {
			if strings.Contains(string(data), secret) {
				t.Errorf("State JSON shows a code or token: %s", data)
			}
		}
	})

	t.Run("code expires after CodeTTL", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv, _ := setup(t, jobaddertest.Config{Now: clk.Now})
		fresh, stale := srv.IssueCode(), srv.IssueCode()
		clk.Advance(5*time.Minute - time.Second)
		wantStatus(t, exchange(t, srv, fresh), http.StatusOK)
		clk.Advance(time.Second)
		res := exchange(t, srv, stale)
		wantStatus(t, res, http.StatusBadRequest)
		if got := decode[map[string]string](t, res)["error"]; got != "invalid_grant" {
			t.Errorf("error %q, want invalid_grant", got)
		}
	})

	t.Run("redirect_uri must match", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, jobaddertest.Config{})
		code := srv.IssueCode()
		cfg := srv.Config()
		res := postForm(t, srv, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://evil.example/cb"},
			"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret},
		}, "", "")
		wantStatus(t, res, http.StatusBadRequest)
		// The failed attempt used the code up.
		wantStatus(t, exchange(t, srv, code), http.StatusBadRequest)
	})
}

var ignoreTokens = cmp.FilterPath(func(p cmp.Path) bool { //nolint:gochecknoglobals // test option
	s := p.String()
	return s == "AccessToken" || s == "RefreshToken"
}, cmp.Ignore())

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	cfg := jobaddertest.Config{ClientID: "client:1", ClientSecret: "s3cr3t/+=&%"}
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		style      string
	}{
		{"form", url.Values{"client_id": {"client:1"}, "client_secret": {"s3cr3t/+=&%"}}, "", "", http.StatusOK, "form"},
		{"basic", nil, "client:1", "s3cr3t/+=&%", http.StatusOK, "basic"},
		{"form wrong secret", url.Values{"client_id": {"client:1"}, "client_secret": {"nope"}}, "", "", http.StatusBadRequest, "form"},
		{"basic wrong secret", nil, "client:1", "nope", http.StatusUnauthorized, "basic"},
		{"no credentials", url.Values{}, "", "", http.StatusBadRequest, "form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := setup(t, cfg)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {srv.IssueCode()}, "redirect_uri": {jobaddertest.DefaultRedirectURI}}
			for k, v := range tt.form {
				form[k] = v
			}
			res := postForm(t, srv, form, tt.user, tt.pass)
			wantStatus(t, res, tt.status)
			if tt.status != http.StatusOK {
				if got := decode[map[string]string](t, res)["error"]; got != "invalid_client" {
					t.Errorf("error %q, want invalid_client", got)
				}
			}
			if got := srv.State().TokenAuthStyles; got[tt.style] != 1 {
				t.Errorf("auth styles %v, want one %q", got, tt.style)
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, jobaddertest.Config{})
	first := decode[jobaddertest.Token](t, exchange(t, srv, srv.IssueCode()))

	res := refresh(t, srv, first.RefreshToken)
	wantStatus(t, res, http.StatusOK)
	second := decode[jobaddertest.Token](t, res)
	if second.AccessToken == first.AccessToken || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh did not rotate both tokens")
	}

	res = refresh(t, srv, first.RefreshToken)
	wantStatus(t, res, http.StatusBadRequest)
	if got := decode[map[string]string](t, res)["error"]; got != "invalid_grant" {
		t.Errorf("old refresh token: error %q, want invalid_grant", got)
	}
	wantStatus(t, refresh(t, srv, second.RefreshToken), http.StatusOK)

	st := srv.State()
	if st.Refreshes != 2 || st.RefusedRefreshes != 1 || st.InvalidGrants != 1 {
		t.Errorf("refreshes %d, refused %d, invalid grants %d; want 2, 1, 1", st.Refreshes, st.RefusedRefreshes, st.InvalidGrants)
	}
}

func TestRefreshTokenIdleExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, _ := setup(t, jobaddertest.Config{Now: clk.Now})
	tok := decode[jobaddertest.Token](t, exchange(t, srv, srv.IssueCode()))
	clk.Advance(14 * 24 * time.Hour)
	wantStatus(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest)
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, jobaddertest.Config{})
	authorize := func(q url.Values) response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.AuthURL()+"?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return send(t, req)
	}
	valid := func() url.Values {
		return url.Values{
			"response_type": {"code"}, "client_id": {jobaddertest.DefaultClientID},
			"redirect_uri": {jobaddertest.DefaultRedirectURI}, "scope": {"read write offline_access"}, "state": {"xyz"},
		}
	}

	t.Run("grants a code", func(t *testing.T) {
		t.Parallel()
		res := authorize(valid())
		wantStatus(t, res, http.StatusFound)
		loc, err := url.Parse(res.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != jobaddertest.DefaultRedirectURI {
			t.Errorf("redirected to %s", got)
		}
		if loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect query %v lacks state or code", loc.Query())
		}
		tok := decode[jobaddertest.Token](t, exchange(t, srv, loc.Query().Get("code")))
		if tok.Scope != "read write offline_access" || tok.RefreshToken == "" {
			t.Errorf("token %+v", tok)
		}
	})
	t.Run("no refresh token without offline_access", func(t *testing.T) {
		t.Parallel()
		q := valid()
		q.Set("scope", "read_candidate write_candidate")
		loc, _ := url.Parse(authorize(q).header.Get("Location"))
		tok := decode[jobaddertest.Token](t, exchange(t, srv, loc.Query().Get("code")))
		if tok.RefreshToken != "" || tok.AccessToken == "" {
			t.Errorf("token %+v", tok)
		}
	})
	t.Run("a code works once and for 5 minutes only", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv, _ := setup(t, jobaddertest.Config{Now: clk.Now})
		codeOf := func() string {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.AuthURL()+"?"+valid().Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(send(t, req).header.Get("Location"))
			return loc.Query().Get("code")
		}
		code := codeOf()
		wantStatus(t, exchange(t, srv, code), http.StatusOK)
		wantStatus(t, exchange(t, srv, code), http.StatusBadRequest)
		late := codeOf()
		clk.Advance(5 * time.Minute)
		wantStatus(t, exchange(t, srv, late), http.StatusBadRequest)
	})
	t.Run("a refusing user", func(t *testing.T) {
		t.Parallel()
		srv, _ := setup(t, jobaddertest.Config{})
		srv.DenyConsent(true)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.AuthURL()+"?"+valid().Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res := send(t, req)
		wantStatus(t, res, http.StatusFound)
		loc, _ := url.Parse(res.header.Get("Location"))
		if q := loc.Query(); q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("code") != "" {
			t.Errorf("redirect query %v, want error=access_denied and the state", q)
		}
	})
	for name, change := range map[string][2]string{
		"unknown client":        {"client_id", "other"},
		"unregistered redirect": {"redirect_uri", "http://evil.example/cb"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := valid()
			q.Set(change[0], change[1])
			res := authorize(q)
			wantStatus(t, res, http.StatusBadRequest)
			if res.header.Get("Location") != "" {
				t.Errorf("redirected to %s", res.header.Get("Location"))
			}
		})
	}
	for name, scope := range map[string]string{"unknown scope": "read admin", "offline_access alone": "offline_access", "none": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := valid()
			q.Set("scope", scope)
			res := authorize(q)
			wantStatus(t, res, http.StatusFound)
			loc, _ := url.Parse(res.header.Get("Location"))
			if loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("code") != "" {
				t.Errorf("redirect query %v, want error=invalid_scope", loc.Query())
			}
		})
	}
}

// TestOAuth2Library checks the identity server against golang.org/x/oauth2, which the client
// uses: auto-detected credential style, exchange, and refresh through a TokenSource.
func TestOAuth2Library(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv, _ := setup(t, jobaddertest.Config{Now: clk.Now})
	conf := &oauth2.Config{
		ClientID:     jobaddertest.DefaultClientID,
		ClientSecret: jobaddertest.DefaultClientSecret,
		RedirectURL:  jobaddertest.DefaultRedirectURI,
		Scopes:       []string{"read", "write", "offline_access"},
		Endpoint:     oauth2.Endpoint{AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL()},
	}
	tok, err := conf.Exchange(t.Context(), srv.IssueCode())
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if api, _ := tok.Extra("api").(string); api != srv.URL()+"/v2" {
		t.Errorf("api %q", api)
	}
	// Expire the token as oauth2 sees it: its expiry comes from the real clock.
	tok.Expiry = time.Now().Add(-time.Minute)
	srv.ExpireAccessTokens()
	fresh, err := conf.TokenSource(t.Context(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == tok.RefreshToken {
		t.Error("refresh token not rotated")
	}
	wantStatus(t, call(t, srv, tok.AccessToken, http.MethodGet, "/v2/candidates", nil), http.StatusUnauthorized)
	wantStatus(t, call(t, srv, fresh.AccessToken, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
	if st := srv.State(); st.TokenAuthStyles["basic"] == 0 || st.Refreshes != 1 {
		t.Errorf("state %+v", st)
	}
}

func TestTokenEndpointRequests(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, jobaddertest.Config{})
	cfg := srv.Config()
	creds := url.Values{"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}}

	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range creds {
		form[k] = v
	}
	res := postForm(t, srv, form, "", "")
	wantStatus(t, res, http.StatusBadRequest)
	if got := decode[map[string]string](t, res)["error"]; got != "unsupported_grant_type" {
		t.Errorf("error %q", got)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.TokenURL(),
		strings.NewReader(`{"grant_type":"authorization_code"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	wantStatus(t, send(t, req), http.StatusBadRequest)
}

func TestTokenRevocation(t *testing.T) {
	t.Parallel()

	t.Run("RevokeAll", func(t *testing.T) {
		t.Parallel()
		srv, access := setup(t, jobaddertest.Config{})
		tok := decode[jobaddertest.Token](t, exchange(t, srv, srv.IssueCode()))
		srv.RevokeAll()
		for _, a := range []string{access, tok.AccessToken} {
			wantStatus(t, call(t, srv, a, http.MethodGet, "/v2/candidates", nil), http.StatusUnauthorized)
		}
		res := refresh(t, srv, tok.RefreshToken)
		wantStatus(t, res, http.StatusBadRequest)
		if got := decode[map[string]string](t, res)["error"]; got != "invalid_grant" {
			t.Errorf("error %q", got)
		}
	})

	t.Run("ExpireAccessTokens", func(t *testing.T) {
		t.Parallel()
		srv, access := setup(t, jobaddertest.Config{})
		srv.ExpireAccessTokens()
		res := call(t, srv, access, http.MethodGet, "/v2/candidates", nil)
		wantStatus(t, res, http.StatusUnauthorized)
		if !strings.Contains(res.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
		}
		wantStatus(t, call(t, srv, srv.IssueToken().AccessToken, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
	})

	t.Run("access token TTL", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv, access := setup(t, jobaddertest.Config{Now: clk.Now, AccessTokenTTL: time.Minute})
		wantStatus(t, call(t, srv, access, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
		clk.Advance(time.Minute)
		wantStatus(t, call(t, srv, access, http.MethodGet, "/v2/candidates", nil), http.StatusUnauthorized)
	})
}

// TestAccounts: two accounts behind one identity server: each code gives a token whose api
// field points at its own account, which refuses the other account's token; revoking one
// account's tokens leaves the other's working.
func TestAccounts(t *testing.T) {
	t.Parallel()
	a := jobaddertest.NewServer(jobaddertest.Config{})
	t.Cleanup(a.Close)
	b := a.AddAccount(jobaddertest.Config{})
	t.Cleanup(b.Close)
	cfg := a.Config()
	exchange := func(code string) jobaddertest.Token {
		t.Helper()
		resp, err := http.PostForm(a.TokenURL(), url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {cfg.RedirectURI}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok jobaddertest.Token
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil {
			t.Fatalf("exchange: %s", resp.Status)
		}
		return tok
	}
	list := func(api, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api+"/candidates", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ta, tb := exchange(a.IssueCode()), exchange(b.IssueCode())
	if ta.API != a.APIURL() || tb.API != b.APIURL() || ta.API == tb.API {
		t.Fatalf("api fields %s and %s; want %s and %s", ta.API, tb.API, a.APIURL(), b.APIURL())
	}
	if list(ta.API, ta.AccessToken) != 200 || list(tb.API, tb.AccessToken) != 200 {
		t.Error("an account refused its own token")
	}
	if list(tb.API, ta.AccessToken) != 401 || list(ta.API, tb.AccessToken) != 401 {
		t.Error("an account accepted another account's token")
	}
	b.RevokeAll()
	if list(tb.API, tb.AccessToken) != 401 || list(ta.API, ta.AccessToken) != 200 {
		t.Error("revoking b's tokens did not revoke b's only")
	}
}
