package bullhorntest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Token is the token endpoint's JSON answer.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Session is a REST session: login's answer, plus when the session expires.
type Session struct {
	BhRestToken string    `json:"BhRestToken"`
	RestURL     string    `json:"restUrl"`
	Expires     time.Time `json:"-"`
}

type authCode struct {
	redirect string // where the code was sent
	explicit bool   // the authorize request named redirect_uri
	issued   time.Time
}

type session struct {
	expires time.Time
}

// newUUID returns a random UUID-shaped string, the form of BhRestTokens and of the tokens'
// second part.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// fingerprint stands for a code or token in State, which must never show one.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// params merges the query string and, for a form-encoded body, the form: Bullhorn's OAuth and
// login endpoints take their parameters in the query string, and clients also post forms.
func params(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.Form, true
}

// loginInfo serves GET /rest-services/loginInfo?username=…: where the user's data centre is.
func (s *Server) loginInfo(w *recorder, r *http.Request, base string) {
	if r.Method != http.MethodGet {
		s.fail(w, http.StatusMethodNotAllowed, methodNotAllowed(r.Method))
		return
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		s.fail(w, http.StatusBadRequest, badRequest("Missing required parameter: username"))
		return
	}
	if !strings.EqualFold(username, s.cfg.Username) {
		s.fail(w, http.StatusBadRequest, apiError{
			ErrorMessage: "Unable to find user with username: " + username, ErrorMessageKey: "errors.loginInfo.userNotFound", ErrorCode: http.StatusBadRequest,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"atsUrl":            base + "/ats",
		"billingSyncUrl":    base + "/billing-sync-services",
		"coreUrl":           base + "/core",
		"documentEditorUrl": base + "/document/",
		"mobileUrl":         base + "/mobile",
		"oauthUrl":          base + "/oauth",
		"restUrl":           base + "/rest-services",
		"samlUrl":           base + "/BullhornStaffing/SAML/Login.cfm",
		"novoUrl":           base + "/novo",
		"pulseInboxUrl":     base + "/pulse-inbox",
		"canvasUrl":         base + "/canvas/cgi-bin/cognosisapi.dll",
		"npsSurveyUrl":      base + "/surveys{{path}}?sl=33&{{params}}",
		"ulUrl":             base + "/universal-login",
		"dataCenterId":      3,
		"superClusterId":    33,
	})
}

// registeredRedirect is the client's registered redirect URI.
func (s *Server) registeredRedirect(base string) string {
	if s.cfg.RedirectURI != "" {
		return s.cfg.RedirectURI
	}
	return base + PathCallback
}

// authorize serves GET or POST /oauth/authorize: the headless login (action=Login with username
// and password) redirects 302 with a code; anything short of that shows an HTML page, 200 and no
// Location, as Bullhorn's login form does.
func (s *Server) authorize(w *recorder, r *http.Request, base string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, methodNotAllowed(r.Method))
		return
	}
	q, ok := params(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "Unreadable parameters"})
		return
	}
	s.mu.Lock()
	s.st.authorizations++
	s.mu.Unlock()
	if !equalSecret(q.Get("client_id"), s.cfg.ClientID) {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_client", Description: "Invalid client_id"})
		return
	}
	if q.Get("response_type") != "code" {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "unsupported_response_type", Description: "Unsupported response types: [" + q.Get("response_type") + "]"})
		return
	}
	registered := s.registeredRedirect(base)
	redirect := q.Get("redirect_uri")
	if redirect != "" && redirect != registered {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "Invalid redirect: " + redirect + " does not match one of the registered values."})
		return
	}
	if q.Get("action") != "Login" {
		s.htmlPage(w, "login page (no action=Login)", loginPage(""))
		return
	}
	if !strings.EqualFold(q.Get("username"), s.cfg.Username) || !equalSecret(q.Get("password"), s.cfg.Password) {
		s.htmlPage(w, "login page: invalid username or password", loginPage(msgBadCredentials))
		return
	}
	s.mu.Lock()
	accepted := s.st.termsAccepted
	s.mu.Unlock()
	if !accepted {
		s.htmlPage(w, "consent page: terms of service not accepted", consentPage)
		return
	}
	code := "22:" + newUUID()
	s.mu.Lock()
	s.st.codes[code] = &authCode{redirect: registered, explicit: redirect != "", issued: s.cfg.Now()}
	s.st.codesIssued++
	s.mu.Unlock()
	target, err := url.Parse(registered)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, errInternal())
		return
	}
	v := target.Query()
	v.Set("code", code)
	v.Set("client_id", s.cfg.ClientID)
	if state := q.Get("state"); state != "" {
		v.Set("state", state)
	}
	target.RawQuery = v.Encode()
	w.Header().Set("Location", target.String())
	w.WriteHeader(http.StatusFound)
}

const msgBadCredentials = "Invalid username or password. Please try again."

func loginPage(errMsg string) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><title>Bullhorn Login</title></head><body>`)
	if errMsg != "" {
		b.WriteString(`<div class="error">` + html.EscapeString(errMsg) + `</div>`)
	}
	b.WriteString(`<form method="post" action="authorize"><input name="username"><input name="password" type="password">` +
		`<button type="submit">Log In</button></form></body></html>`)
	return b.String()
}

const consentPage = `<!DOCTYPE html><html><head><title>Bullhorn Terms of Service</title></head><body>` +
	`<h1>Terms of Service</h1><p>Please read and accept the terms of service to allow this application access to your data.</p>` +
	`<form method="post" action="authorize"><button name="agree" value="true">Agree</button></form></body></html>`

// htmlPage answers an HTML page with 200 and records it as a refusal.
func (s *Server) htmlPage(w *recorder, why, body string) {
	w.msg = why
	w.rejected = true
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body))
}

// callback is the default redirect URI's landing page.
func (s *Server) callback(w *recorder) {
	s.mu.Lock()
	s.st.callbacks++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`<!DOCTYPE html><html><body>You may close this window.</body></html>`))
}

// AcceptTerms stands for the API user accepting the terms of service in a browser: authorize
// redirects with a code from then on.
func (s *Server) AcceptTerms() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.termsAccepted = true
}

// token serves POST /oauth/token.
func (s *Server) token(w *recorder, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, http.StatusMethodNotAllowed, oauthError{Error: "method_not_allowed", Description: "Request method '" + r.Method + "' not supported"})
		return
	}
	if s.authFault(w) {
		return
	}
	q, ok := params(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "Unreadable parameters"})
		return
	}
	grant := q.Get("grant_type")
	s.mu.Lock()
	s.st.tokenRequests[cmpOr(grant, "(none)")]++
	s.mu.Unlock()
	id, secret := q.Get("client_id"), q.Get("client_secret")
	if u, p, basic := r.BasicAuth(); basic && id == "" {
		id, secret = u, p
	}
	if !equalSecret(id, s.cfg.ClientID) || !equalSecret(secret, s.cfg.ClientSecret) {
		s.fail(w, http.StatusUnauthorized, oauthError{Error: "invalid_client", Description: "Bad client credentials"})
		return
	}
	switch grant {
	case "authorization_code":
		s.exchangeCode(w, q)
	case "refresh_token":
		s.refresh(w, q)
	case "":
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "Missing grant type"})
	default:
		s.fail(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type", Description: "Unsupported grant type: " + grant})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// exchangeCode answers the authorization_code grant. A code is removed when first presented,
// so it never works twice, even when that first attempt failed.
func (s *Server) exchangeCode(w *recorder, q url.Values) {
	code := q.Get("code")
	if code == "" {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "An authorization code must be supplied."})
		return
	}
	s.mu.Lock()
	st := &s.st
	st.codePresented[fingerprint(code)]++
	c, ok := st.codes[code]
	delete(st.codes, code)
	now := s.cfg.Now()
	var refusal string
	switch redirect := q.Get("redirect_uri"); {
	case !ok || !now.Before(c.issued.Add(s.cfg.CodeTTL)):
		refusal = "Invalid, expired, or revoked authorization code."
	case (c.explicit || redirect != "") && redirect != c.redirect:
		refusal = "Redirect URI mismatch."
	}
	if refusal != "" {
		st.invalidGrants++
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_grant", Description: refusal})
		return
	}
	tok := s.issueTokenLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
}

// refresh answers the refresh_token grant: a new access token and a new refresh token; the
// refresh token used is refused from then on.
func (s *Server) refresh(w *recorder, q url.Values) {
	rt := q.Get("refresh_token")
	if rt == "" {
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "Missing refresh token"})
		return
	}
	s.mu.Lock()
	st := &s.st
	st.refreshPresented[fingerprint(rt)]++
	if _, ok := st.refresh[rt]; !ok {
		st.invalidGrants++
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, oauthError{Error: "invalid_grant", Description: "Invalid refresh token"})
		return
	}
	delete(st.refresh, rt)
	tok := s.issueTokenLocked()
	st.refreshes++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) issueTokenLocked() Token {
	tok := Token{
		AccessToken:  "5:" + newUUID(),
		TokenType:    "Bearer",
		ExpiresIn:    int(s.cfg.AccessTokenTTL / time.Second),
		RefreshToken: "5:" + newUUID(),
	}
	s.st.access[tok.AccessToken] = s.cfg.Now().Add(s.cfg.AccessTokenTTL)
	s.st.refresh[tok.RefreshToken] = struct{}{}
	s.st.tokensIssued++
	return tok
}

// IssueToken returns an access and a refresh token without the code flow, for tests that do
// not care how they were obtained.
func (s *Server) IssueToken() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTokenLocked()
}

// IssueSession opens a REST session without OAuth, as a login with the default ttl would, for
// tests of the REST API. It fails when MaxSessions sessions are live. Its RestURL is relative
// when the server has no absolute base URL (New without an http(s) Config.BaseURL).
func (s *Server) IssueSession() (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.openSessionLocked(s.cfg.SessionTTL, s.cfg.BaseURL)
	if !ok {
		return Session{}, fmt.Errorf("bullhorntest: %d sessions live, MaxSessions reached", s.liveSessionsLocked())
	}
	return sess, nil
}

// ExpireAccessTokens makes every access token issued so far expired; refresh tokens still work.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for k := range s.st.access {
		s.st.access[k] = now
	}
}

// ExpireSessions ends every REST session: calls with their BhRestToken answer 401.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.st.sessions)
}

// RevokeAll invalidates every code, access token, refresh token and session, as when the API
// user's password is reset: refreshes answer invalid_grant, logins and REST calls fail.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.st.codes)
	clear(s.st.access)
	clear(s.st.refresh)
	clear(s.st.sessions)
}

// login serves GET or POST /rest-services/login?version=…&access_token=…[&ttl=minutes].
func (s *Server) login(w *recorder, r *http.Request, base string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, methodNotAllowed(r.Method))
		return
	}
	if s.authFault(w) {
		return
	}
	q, ok := params(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, badRequest("Unreadable parameters"))
		return
	}
	s.mu.Lock()
	s.st.logins++
	s.mu.Unlock()
	if q.Get("version") == "" {
		s.fail(w, http.StatusBadRequest, badRequest("Missing required parameter: version"))
		return
	}
	ttl := s.cfg.SessionTTL
	if v := q.Get("ttl"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.fail(w, http.StatusBadRequest, badRequest("Invalid value for parameter ttl: "+v))
			return
		}
		if n > 0 {
			ttl = time.Duration(n) * time.Minute
		}
	}
	s.mu.Lock()
	expires, ok := s.st.access[q.Get("access_token")]
	if !ok || !s.cfg.Now().Before(expires) {
		s.st.refusedLogins++
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, apiError{
			ErrorMessage: "Invalid or expired OAuth access token.", ErrorMessageKey: "errors.internalError", ErrorCode: http.StatusBadRequest,
		})
		return
	}
	sess, ok := s.openSessionLocked(ttl, base)
	if !ok {
		s.st.refusedLogins++
		s.mu.Unlock()
		if s.cfg.RetryAfterHeader {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, http.StatusTooManyRequests, apiError{
			ErrorMessage: "Maximum number of concurrent sessions reached.", ErrorMessageKey: "errors.authentication.maxSessionsExceeded", ErrorCode: http.StatusTooManyRequests,
		})
		return
	}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "BhRestToken", Value: sess.BhRestToken, Path: "/", HttpOnly: true})
	writeJSON(w, http.StatusOK, sess)
}

// openSessionLocked opens a session unless MaxSessions are live.
func (s *Server) openSessionLocked(ttl time.Duration, base string) (Session, bool) {
	now := s.cfg.Now()
	live := s.liveSessionsLocked() // prunes expired sessions
	if s.cfg.MaxSessions > 0 && live >= s.cfg.MaxSessions {
		return Session{}, false
	}
	tok := newUUID()
	sess := Session{BhRestToken: tok, RestURL: restURL(base, s.cfg.CorpToken), Expires: now.Add(ttl)}
	s.st.sessions[tok] = &session{expires: sess.Expires}
	s.st.sessionsOpened++
	s.st.maxLive = max(s.st.maxLive, live+1)
	return sess, true
}

// liveSessionsLocked removes expired sessions and returns how many are left.
func (s *Server) liveSessionsLocked() int {
	now := s.cfg.Now()
	maps.DeleteFunc(s.st.sessions, func(_ string, v *session) bool { return !now.Before(v.expires) })
	return len(s.st.sessions)
}

// restToken finds the BhRestToken in the query string, a header or a cookie (names without
// regard to case: the docs spell it both BhRestToken and BHRestToken).
func restToken(r *http.Request) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "BhRestToken") && len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	if v := r.Header.Get("BhRestToken"); v != "" {
		return v
	}
	for _, c := range r.Cookies() {
		if strings.EqualFold(c.Name, "BhRestToken") && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// authenticate checks the session of a REST call and the per-minute budget; it answers 412,
// 401 or 429 itself and reports whether the call may go on.
func (s *Server) authenticate(w *recorder, r *http.Request, corp string) (string, bool) {
	tok := restToken(r)
	if tok == "" {
		s.fail(w, http.StatusPreconditionFailed, apiError{
			ErrorMessage: "Missing BhRestToken", ErrorMessageKey: "errors.authentication.missingRestToken", ErrorCode: http.StatusPreconditionFailed,
		})
		return "", false
	}
	s.mu.Lock()
	now := s.cfg.Now()
	sess, ok := s.st.sessions[tok]
	if !ok || !now.Before(sess.expires) || corp != s.cfg.CorpToken {
		s.mu.Unlock()
		s.fail(w, http.StatusUnauthorized, errInvalidRestToken())
		return "", false
	}
	wait, allowed := s.takeCallLocked(now)
	s.mu.Unlock()
	if !allowed {
		if s.cfg.RetryAfterHeader {
			secs := max(1, int64((wait+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		s.fail(w, http.StatusTooManyRequests, errTooManyRequests())
		return "", false
	}
	return tok, true
}

// takeCallLocked counts a call against the sliding one-minute budget; when the budget is
// spent it returns how long until a call fits again.
func (s *Server) takeCallLocked(now time.Time) (time.Duration, bool) {
	if s.cfg.CallsPerMinute < 0 {
		return 0, true
	}
	calls := s.st.calls
	cut := 0
	for cut < len(calls) && !calls[cut].After(now.Add(-time.Minute)) {
		cut++
	}
	calls = calls[cut:]
	if len(calls) >= s.cfg.CallsPerMinute {
		s.st.calls = calls
		s.st.overBudget++
		return calls[0].Add(time.Minute).Sub(now), false
	}
	s.st.calls = append(calls, now)
	return 0, true
}

// ping serves GET {restUrl}ping.
func (s *Server) ping(w *recorder, tok string) {
	s.mu.Lock()
	sess, ok := s.st.sessions[tok]
	var exp int64
	if ok {
		exp = sess.expires.UnixMilli()
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusUnauthorized, errInvalidRestToken())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"sessionExpires": exp})
}

// logout serves {restUrl}logout: the session ends.
func (s *Server) logout(w *recorder, tok string) {
	s.mu.Lock()
	delete(s.st.sessions, tok)
	s.st.logouts++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"logout": "OK"})
}
