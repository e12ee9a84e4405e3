package bullhorntest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// newClock returns a clock for Config.Now.
func newClock() *targetstest.Clock {
	return targetstest.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
}

// setup starts a server under a non-root base path with an injected clock.
func setup(t *testing.T, cfg bullhorntest.Config) (*bullhorntest.Server, *targetstest.Clock) {
	t.Helper()
	clk := newClock()
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "/bullhorn"
	}
	srv := bullhorntest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv, clk
}

// setupSession starts a server and opens a REST session on it.
func setupSession(t *testing.T, cfg bullhorntest.Config) (*bullhorntest.Server, bullhorntest.Session, *targetstest.Clock) {
	t.Helper()
	srv, clk := setup(t, cfg)
	return srv, session(t, srv), clk
}

func session(t *testing.T, srv *bullhorntest.Server) bullhorntest.Session {
	t.Helper()
	sess, err := srv.IssueSession()
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// response is a read response.
type response struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

// noRedirect is a client that returns redirects instead of following them, as a Bullhorn
// client must for authorize.
var noRedirect = &http.Client{ //nolint:gochecknoglobals // test helper, stateless
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// do sends a request. body is nil, a string or url.Values sent as is (the latter as a form),
// or a value sent as JSON. header holds name, value pairs.
func do(t *testing.T, method, target string, body any, header ...string) response {
	t.Helper()
	var r io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
		contentType = "application/json"
	case url.Values:
		r = strings.NewReader(b.Encode())
		contentType = "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{req: req, status: res.StatusCode, header: res.Header, body: data}
}

// call sends a REST call on a session, the BhRestToken in its header; path is relative to the
// session's restUrl.
func call(t *testing.T, sess bullhorntest.Session, method, path string, body any) response {
	t.Helper()
	return do(t, method, sess.RestURL+path, body, "BhRestToken", sess.BhRestToken)
}

func decode[T any](t *testing.T, res response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		t.Fatalf("decode %s: %v", res.body, err)
	}
	return v
}

func wantStatus(t *testing.T, res response, want int) {
	t.Helper()
	if res.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", res.req.Method, res.req.URL.Path, res.status, want, res.body)
	}
}

// apiError is Bullhorn's error body.
type apiError struct {
	ErrorMessage    string                    `json:"errorMessage"`
	ErrorMessageKey string                    `json:"errorMessageKey"`
	ErrorCode       int                       `json:"errorCode"`
	EntityName      string                    `json:"entityName"`
	Errors          []bullhorntest.FieldError `json:"errors"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// crud is the answer to a create or update.
type crud struct {
	ChangedEntityType string         `json:"changedEntityType"`
	ChangedEntityID   int            `json:"changedEntityId"`
	ChangeType        string         `json:"changeType"`
	Data              map[string]any `json:"data"`
}

// createCandidate creates a candidate and returns its id.
func createCandidate(t *testing.T, sess bullhorntest.Session, fields map[string]any) int {
	t.Helper()
	res := call(t, sess, http.MethodPut, "entity/Candidate", fields)
	wantStatus(t, res, http.StatusOK)
	return decode[crud](t, res).ChangedEntityID
}

// searchResult is the answer to a search.
type searchResult struct {
	Total int              `json:"total"`
	Start int              `json:"start"`
	Count int              `json:"count"`
	Data  []map[string]any `json:"data"`
}

func search(t *testing.T, sess bullhorntest.Session, query, fields string) response {
	t.Helper()
	v := url.Values{"query": {query}}
	if fields != "" {
		v.Set("fields", fields)
	}
	return call(t, sess, http.MethodGet, "search/Candidate?"+v.Encode(), nil)
}

// authorizeURL builds a headless authorize request.
func authorizeURL(srv *bullhorntest.Server, extra url.Values) string {
	cfg := srv.Config()
	v := url.Values{
		"client_id": {cfg.ClientID}, "response_type": {"code"}, "action": {"Login"},
		"username": {cfg.Username}, "password": {cfg.Password},
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return srv.OAuthURL() + "/authorize?" + v.Encode()
}

// authCode drives authorize and returns the code from the Location.
func authCode(t *testing.T, srv *bullhorntest.Server) string {
	t.Helper()
	res := do(t, http.MethodGet, authorizeURL(srv, nil), nil)
	wantStatus(t, res, http.StatusFound)
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query().Get("code")
}

// tokenRequest posts to the token endpoint with the parameters in the query string, as
// Bullhorn's docs and SDK do.
func tokenRequest(t *testing.T, srv *bullhorntest.Server, params url.Values) response {
	t.Helper()
	cfg := srv.Config()
	if !params.Has("client_id") {
		params.Set("client_id", cfg.ClientID)
	}
	if !params.Has("client_secret") {
		params.Set("client_secret", cfg.ClientSecret)
	}
	return do(t, http.MethodPost, srv.OAuthURL()+"/token?"+params.Encode(), nil)
}

func exchange(t *testing.T, srv *bullhorntest.Server, code string) response {
	t.Helper()
	return tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code}})
}

func login(t *testing.T, srv *bullhorntest.Server, accessToken string, extra ...string) response {
	t.Helper()
	v := url.Values{"version": {"2.0"}, "access_token": {accessToken}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return do(t, http.MethodPost, srv.URL()+"/rest-services/login?"+v.Encode(), nil)
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
