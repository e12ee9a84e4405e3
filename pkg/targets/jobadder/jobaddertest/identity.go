package jobaddertest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// Token is the token endpoint's JSON answer.
type Token struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// API is the base URL of the account's API: the server's URL + "/v2".
	API string `json:"api"`
}

// The account a code or token was issued for is the server whose API it opens (nil: the
// identity server's own).
type authCode struct {
	redirectURI string
	scopes      []string
	issuedAt    time.Time
	account     *Server
}

type accessToken struct {
	scopes  []string
	expires time.Time
	account *Server
}

type refreshToken struct {
	scopes   []string
	lastUsed time.Time
	account  *Server
}

// OAuth2 error codes the token endpoint answers with.
const (
	errInvalidClient   = "invalid_client"
	errInvalidGrant    = "invalid_grant"
	errInvalidRequest  = "invalid_request"
	errUnsupportedType = "unsupported_grant_type"
)

// newSecret returns an opaque random string for codes and tokens.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand docs)
	return hex.EncodeToString(b)
}

// fingerprint stands for a code or token in State, which must never show one.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

// authorize handles GET /connect/authorize: it simulates the administrator granting access (or
// refusing it, see [Server.DenyConsent]) and redirects to the client's redirect URI with a code
// bound to the client, the redirect URI and the scopes, valid CodeTTL and once. Like the real
// one, it never redirects to an unregistered redirect URI or for an unknown client.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.cfg.ClientID || q.Get("redirect_uri") != s.cfg.RedirectURI {
		// The identity server never redirects to an unregistered URI: it shows an error page.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><h1>Sorry, there was an error: unauthorized_client</h1><p>" +
			html.EscapeString("unknown client_id or redirect_uri") + "</p>"))
		return
	}
	redirect, err := url.Parse(s.cfg.RedirectURI)
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	params := redirect.Query()
	if state := q.Get("state"); state != "" {
		params.Set("state", state)
	}
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		params.Set("error", "unsupported_response_type")
	case !s.validScopes(scopes):
		params.Set("error", "invalid_scope")
	case s.deny.Load():
		params.Set("error", "access_denied")
	default:
		params.Set("code", s.issueCode(scopes))
	}
	redirect.RawQuery = params.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// validScopes reports whether the client may request scopes: at least one, all configured,
// and offline_access only together with another scope.
func (s *Server) validScopes(scopes []string) bool {
	if len(scopes) == 0 {
		return false
	}
	for _, sc := range scopes {
		if !slices.Contains(s.cfg.Scopes, sc) {
			return false
		}
	}
	return slices.ContainsFunc(scopes, func(sc string) bool { return sc != "offline_access" })
}

// IssueCode returns a fresh authorization code for all configured scopes and the configured
// redirect URI, as if an administrator had granted access through /connect/authorize.
func (s *Server) IssueCode() string {
	return s.issueCode(slices.Clone(s.cfg.Scopes))
}

func (s *Server) issueCode(scopes []string) string {
	code := newSecret()
	id := s.idServer()
	id.mu.Lock()
	defer id.mu.Unlock()
	id.store.codes[code] = &authCode{redirectURI: s.cfg.RedirectURI, scopes: scopes, issuedAt: s.cfg.Now(), account: s.account()}
	return code
}

// account is s as the account tokens are issued for: nil for the identity server itself.
func (s *Server) account() *Server {
	if s.identity == nil {
		return nil
	}
	return s
}

// IssueToken returns tokens for all configured scopes without the code flow, for tests of the
// API that do not care how the token was obtained. Its API field is relative ("/v2") when the
// server has no BaseURL.
func (s *Server) IssueToken() Token {
	id := s.idServer()
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.issueAccountTokenLocked(slices.Clone(s.cfg.Scopes), s.cfg.BaseURL, s.account())
}

func (s *Server) issueTokenLocked(scopes []string, base string) Token {
	return s.issueAccountTokenLocked(scopes, base, nil)
}

// issueAccountTokenLocked issues tokens for account (nil: s's own API, at base).
func (s *Server) issueAccountTokenLocked(scopes []string, base string, account *Server) Token {
	if account != nil {
		base = account.cfg.BaseURL
	}
	now := s.cfg.Now()
	tok := Token{
		AccessToken: newSecret(),
		ExpiresIn:   int(s.cfg.AccessTokenTTL / time.Second),
		TokenType:   "Bearer",
		Scope:       strings.Join(scopes, " "),
		API:         base + basePath,
	}
	s.store.access[tok.AccessToken] = &accessToken{scopes: scopes, expires: now.Add(s.cfg.AccessTokenTTL), account: account}
	if slices.Contains(scopes, "offline_access") {
		tok.RefreshToken = newSecret()
		s.store.refresh[tok.RefreshToken] = &refreshToken{scopes: scopes, lastUsed: now, account: account}
	}
	s.store.tokensIssued++
	return tok
}

// RevokeAll invalidates every access and refresh token, as when the user who authorised the
// client is deleted: API calls answer 401 and refreshes answer invalid_grant.
//
// On an account of [Server.AddAccount], it revokes that account's tokens only.
func (s *Server) RevokeAll() {
	id := s.idServer()
	id.mu.Lock()
	defer id.mu.Unlock()
	mine := s.account()
	maps.DeleteFunc(id.store.access, func(_ string, t *accessToken) bool { return t.account == mine })
	maps.DeleteFunc(id.store.refresh, func(_ string, t *refreshToken) bool { return t.account == mine })
}

// ExpireAccessTokens makes every access token issued so far expired; refresh tokens still work.
func (s *Server) ExpireAccessTokens() {
	id := s.idServer()
	id.mu.Lock()
	defer id.mu.Unlock()
	now := s.cfg.Now()
	for _, t := range id.store.access {
		if t.account == s.account() {
			t.expires = now
		}
	}
}

// token handles POST /connect/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError(errInvalidRequest))
		return
	}
	if !targetstest.Sleep(r.Context(), s.cfg.Latency) || s.tokenFault(w) {
		return
	}
	if mediaType(r) != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, oauthError(errInvalidRequest))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError(errInvalidRequest))
		return
	}
	if status, ok := s.authenticateClient(w, r); !ok {
		writeJSON(w, status, oauthError(errInvalidClient))
		return
	}
	base := s.baseURL(r)
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, r, base)
	case "refresh_token":
		s.refresh(w, r, base)
	default:
		writeJSON(w, http.StatusBadRequest, oauthError(errUnsupportedType))
	}
}

func oauthError(code string) map[string]string { return map[string]string{"error": code} }

// authenticateClient checks the client credentials, sent either with HTTP Basic authentication
// (URL-encoded first, as RFC 6749 §2.3.1 and golang.org/x/oauth2 do) or as form fields. On
// failure it returns the status to answer invalid_client with.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, secret, basic := r.BasicAuth()
	style := "form"
	if basic {
		style = "basic"
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			id, secret = "", ""
		}
		if formID := r.PostForm.Get("client_id"); formID != "" && formID != id {
			id = "" // two different clients in one request
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	s.store.authStyles[style]++
	s.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) == 1 {
		return 0, true
	}
	if basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="jobaddertest"`)
		return http.StatusUnauthorized, false
	}
	return http.StatusBadRequest, false
}

// exchangeCode answers the authorization_code grant. Like IdentityServer, it removes the code on
// the first exchange attempt, so a code never works twice even when the first attempt failed.
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, base string) {
	code := r.PostForm.Get("code")
	s.mu.Lock()
	now := s.cfg.Now()
	s.store.codeExchanges[fingerprint(code)]++
	c, ok := s.store.codes[code]
	delete(s.store.codes, code)
	if !ok || !now.Before(c.issuedAt.Add(s.cfg.CodeTTL)) || r.PostForm.Get("redirect_uri") != c.redirectURI {
		s.store.invalidGrants++
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, oauthError(errInvalidGrant))
		return
	}
	tok := s.issueAccountTokenLocked(c.scopes, base, c.account)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
}

// refresh answers the refresh_token grant: a new access token and a new refresh token; the
// refresh token used is refused from then on.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, base string) {
	rt := r.PostForm.Get("refresh_token")
	s.mu.Lock()
	now := s.cfg.Now()
	t, ok := s.store.refresh[rt]
	delete(s.store.refresh, rt)
	if !ok || !now.Before(t.lastUsed.Add(s.cfg.RefreshTokenTTL)) {
		s.store.invalidGrants++
		s.store.refusedRefreshes++
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, oauthError(errInvalidGrant))
		return
	}
	tok := s.issueAccountTokenLocked(t.scopes, base, t.account)
	s.store.refreshes++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
}

// authenticate checks the request's bearer token and that it holds one of scopes. It answers
// 401 or 403 itself and reports whether the request may go on.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, scopes []string) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	id := s.idServer()
	id.mu.Lock()
	t, ok := id.store.access[tok]
	// A token opens the API of the account it was issued for only.
	valid := ok && t.account == s.account() && strings.EqualFold(scheme, "Bearer") && tok != "" && s.cfg.Now().Before(t.expires)
	var granted []string
	if valid {
		granted = t.scopes
	}
	id.mu.Unlock()
	if !valid {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", "Bearer")
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		writeJSON(w, http.StatusUnauthorized, errorModel{Message: "Unauthorized"})
		return false
	}
	if len(scopes) > 0 && !slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(granted, sc) }) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		writeJSON(w, http.StatusForbidden, errorModel{Message: "Forbidden"})
		return false
	}
	return true
}
