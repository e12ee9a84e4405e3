package jobaddertest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// setup starts a server and returns it with a valid access token.
func setup(t *testing.T, cfg jobaddertest.Config) (*jobaddertest.Server, string) {
	t.Helper()
	srv := jobaddertest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv, srv.IssueToken().AccessToken
}

// newClock returns a clock for Config.Now.
func newClock() *targetstest.Clock {
	return targetstest.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
}

// response is a read response.
type response struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{ //nolint:gochecknoglobals // test helper, stateless
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{req: req, status: res.StatusCode, header: res.Header, body: body}
}

// call sends an API request. body is nil, a string or []byte sent as is, or a value sent as
// JSON; a JSON Content-Type is set unless header sets one.
func call(t *testing.T, srv *jobaddertest.Server, token, method, path string, body any, header ...string) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, req)
}

// postForm sends a form to the token endpoint, with HTTP Basic credentials when user is set.
func postForm(t *testing.T, srv *jobaddertest.Server, form url.Values, user, pass string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return send(t, req)
}

// exchange trades a code for tokens with form credentials.
func exchange(t *testing.T, srv *jobaddertest.Server, code string) response {
	t.Helper()
	cfg := srv.Config()
	return postForm(t, srv, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {cfg.RedirectURI},
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
	}, "", "")
}

func refresh(t *testing.T, srv *jobaddertest.Server, refreshToken string) response {
	t.Helper()
	cfg := srv.Config()
	return postForm(t, srv, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
	}, "", "")
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

// wantValid checks the response against JobAdder's document.
func wantValid(t *testing.T, res response) {
	t.Helper()
	if err := jobaddertest.ValidateResponse(t.Context(), res.req, res.status, res.header, res.body); err != nil {
		t.Errorf("%s %s %d does not match the document: %v\nbody: %s", res.req.Method, res.req.URL.Path, res.status, err, res.body)
	}
}

// upload posts a multipart body with the given parts to the attachments endpoint.
func upload(t *testing.T, srv *jobaddertest.Server, token, path string, parts ...part) response {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + p.name + `"`
		if p.fileName != "" {
			disp += `; filename="` + p.fileName + `"`
		}
		h.Set("Content-Disposition", disp)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write([]byte(p.data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return call(t, srv, token, http.MethodPost, path, buf.Bytes(), "Content-Type", w.FormDataContentType())
}

type part struct{ name, fileName, contentType, data string }

type errorModel struct {
	Message string                   `json:"message"`
	Errors  []jobaddertest.ErrorItem `json:"errors"`
}
