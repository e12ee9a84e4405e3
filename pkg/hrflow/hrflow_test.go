package hrflow_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	testSecret = "sk_test_0123456789abcdef"
	testEmail  = "ops@example.com"
	srcKey     = "91456df437fbd49a566adc5e0b0b33d13b115d06"
	profileKey = "3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718"
	// basePath proves the client keeps the base URL's path.
	basePath = "/api-v1"
)

// The failure classes the job runtime reads with errors.As (see package targets).
var (
	_ interface {
		Permanent() bool
		Credentials() bool
	} = (*hrflow.ErrorResponse)(nil)
	_ interface{ RetryAfter() time.Duration } = (*hrflow.RateLimitError)(nil)
	_ interface{ Permanent() bool }           = (*hrflow.DownloadError)(nil)
)

// setup returns a client talking to a test server whose API lives under basePath, the mux
// the test registers its handlers on (paths relative to the API root, e.g. "/profile/indexing"),
// and the API root URL.
func setup(t *testing.T) (client *hrflow.Client, mux *http.ServeMux, apiURL string) {
	t.Helper()
	mux = http.NewServeMux()
	api := http.NewServeMux()
	api.Handle(basePath+"/", http.StripPrefix(basePath, mux))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s", r.URL)
		http.Error(w, "outside the base path", http.StatusNotFound)
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	apiURL = srv.URL + basePath
	client, err := hrflow.New(
		hrflow.WithBaseURL(apiURL),
		hrflow.WithAPISecret(testSecret),
		hrflow.WithUserEmail(testEmail),
		hrflow.WithHTTPClient(srv.Client()),
		loopbackDownloads(t),
	)
	if err != nil {
		t.Fatal(err)
	}
	return client, mux, apiURL
}

// testAuth checks that r carries the client's credentials.
func testAuth(t *testing.T, r *http.Request) {
	t.Helper()
	if got := r.Header.Get("X-API-KEY"); got != testSecret {
		t.Errorf("X-API-KEY = %q", got)
	}
	if got := r.Header.Get("X-USER-EMAIL"); got != testEmail {
		t.Errorf("X-USER-EMAIL = %q", got)
	}
	if got := r.Header.Get("User-Agent"); got != "hrpush" {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	creds := []hrflow.Option{hrflow.WithAPISecret(testSecret), hrflow.WithUserEmail(testEmail)}
	tests := []struct {
		name    string
		opts    []hrflow.Option
		wantErr error
	}{
		{"credentials only", creds, nil},
		{"no options", nil, hrflow.ErrMissingCredentials},
		{"no secret", []hrflow.Option{hrflow.WithUserEmail(testEmail)}, hrflow.ErrMissingCredentials},
		{"no email", []hrflow.Option{hrflow.WithAPISecret(testSecret)}, hrflow.ErrMissingCredentials},
		{"empty secret", append(creds, hrflow.WithAPISecret("")), hrflow.ErrInvalidOption},
		{"bad email", append(creds, hrflow.WithUserEmail("ops")), hrflow.ErrInvalidOption},
		{"relative base url", append(creds, hrflow.WithBaseURL("api.hrflow.ai/v1")), hrflow.ErrInvalidOption},
		{"ftp base url", append(creds, hrflow.WithBaseURL("ftp://api.hrflow.ai/v1")), hrflow.ErrInvalidOption},
		{"base url with query", append(creds, hrflow.WithBaseURL("https://api.hrflow.ai/v1?x=1")), hrflow.ErrInvalidOption},
		{"unparsable base url", append(creds, hrflow.WithBaseURL("https://api hrflow.ai/%zz")), hrflow.ErrInvalidOption},
		{"nil http client", append(creds, hrflow.WithHTTPClient(nil)), hrflow.ErrInvalidOption},
		{"empty user agent", append(creds, hrflow.WithUserAgent(" ")), hrflow.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := hrflow.New(tt.opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if c != nil {
					t.Error("New() returned a client with an error")
				}
				if !strings.HasPrefix(err.Error(), "hrflow: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if c.Profiles == nil {
				t.Error("Profiles service not set")
			}
		})
	}
	t.Run("names the missing options", func(t *testing.T) {
		t.Parallel()
		_, err := hrflow.New()
		if want := "hrflow: missing credentials: set WithAPISecret and WithUserEmail"; err == nil || err.Error() != want {
			t.Errorf("New() error = %v, want %q", err, want)
		}
	})
}

func TestBaseURLSlash(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", "/"} {
		t.Run("suffix "+suffix, func(t *testing.T) {
			t.Parallel()
			var got atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Store(r.URL.Path)
				fmt.Fprint(w, `{"code":200,"message":"Profile details","data":{"key":"k"}}`)
			}))
			t.Cleanup(srv.Close)
			c, err := hrflow.New(hrflow.WithBaseURL(srv.URL+"/v1"+suffix), hrflow.WithAPISecret(testSecret), hrflow.WithUserEmail(testEmail))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Profiles.Get(t.Context(), srcKey, "k"); err != nil {
				t.Fatal(err)
			}
			if got.Load() != "/v1/profile/indexing" {
				t.Errorf("path %v", got.Load())
			}
		})
	}
}

// errorCase is an answer and the error the client must make of it.
type errorCase struct {
	name        string
	status      int
	contentType string
	header      map[string]string
	body        string

	wantCode        int
	wantMessage     string
	wantNotFound    bool
	wantPermanent   bool
	wantCredentials bool
	wantRetryAfter  time.Duration // 0: not a rate limit
}

var errorCases = []errorCase{
	{
		name: "profile not found", status: 400, body: `{"code":400,"message":"Invalid parameters. Unable to find object: profile"}`,
		wantCode: 400, wantMessage: "Invalid parameters. Unable to find object: profile", wantNotFound: true, wantPermanent: true,
	},
	{
		name: "source not found", status: 400, body: `{"code":400,"message":"Invalid parameters. Unable to find object: source"}`,
		wantCode: 400, wantMessage: "Invalid parameters. Unable to find object: source", wantNotFound: true, wantPermanent: true,
	},
	{
		name: "404", status: 404, body: `{"code":404,"message":"Not found"}`,
		wantCode: 404, wantMessage: "Not found", wantNotFound: true, wantPermanent: true,
	},
	{
		name: "invalid fields", status: 400, body: `{"code":400,"message":"Invalid source fields"}`,
		wantCode: 400, wantMessage: "Invalid source fields", wantPermanent: true,
	},
	{
		name: "validation", status: 422, body: `{"code":422,"message":"Validation error"}`,
		wantCode: 422, wantMessage: "Validation error", wantPermanent: true,
	},
	{
		name: "unauthorized echoes the key", status: 401, body: `{"code":401,"message":"Unauthorized. Invalid secret key: ` + testSecret + ` "}`,
		wantCode: 401, wantMessage: "Unauthorized. Invalid secret key: REDACTED", wantCredentials: true,
	},
	{
		name: "forbidden", status: 403, body: `{"code":403,"message":"Forbidden"}`,
		wantCode: 403, wantMessage: "Forbidden", wantCredentials: true,
	},
	{
		name: "rate limited", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"code":429,"message":"Too many requests"}`,
		wantCode: 429, wantMessage: "Too many requests", wantRetryAfter: 7 * time.Second,
	},
	{
		name: "rate limited without retry-after", status: 429, body: `{"code":429,"message":"Too many requests"}`,
		wantCode: 429, wantMessage: "Too many requests", wantRetryAfter: time.Second,
	},
	{
		name: "over quota", status: 402, body: `{"code":402,"message":"Over plan quota"}`,
		wantCode: 402, wantMessage: "Over plan quota", wantRetryAfter: time.Minute,
	},
	{
		name: "bad gateway html", status: 502, contentType: "text/html",
		body:     "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
		wantCode: 502, wantMessage: "A generic error occurred on the server",
	},
	{
		name: "unavailable json", status: 503, body: `{"code":503,"message":"Service temporarily unavailable"}`,
		wantCode: 503, wantMessage: "Service temporarily unavailable",
	},
	{
		name: "empty 500", status: 500, body: "",
		wantCode: 500, wantMessage: "A generic error occurred on the server",
	},
	{
		name: "error code in a 200", status: 200, body: `{"code":400,"message":"Invalid parameters. Unable to find object: profile"}`,
		wantCode: 400, wantMessage: "Invalid parameters. Unable to find object: profile", wantNotFound: true, wantPermanent: true,
	},
	{
		name: "error code in a 200 after data that is no profile", status: 200, body: `{"data":{"key":5},"code":400,"message":"Invalid parameters. Unable to find object: profile"}`,
		wantCode: 400, wantMessage: "Invalid parameters. Unable to find object: profile", wantNotFound: true, wantPermanent: true,
	},
	{
		name: "5xx status wins over a 4xx code", status: 503, body: `{"code":400,"message":"Invalid source fields"}`,
		wantCode: 400, wantMessage: "Invalid source fields",
	},
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, mux, _ := setup(t)
			var calls atomic.Int32
			mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", cmpOr(tt.contentType, "application/json"))
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			p, resp, err := client.Profiles.Get(t.Context(), srcKey, profileKey)
			if err == nil {
				t.Fatalf("Get() = %+v, nil error", p)
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Errorf("Response = %+v, want the HTTP answer", resp)
			}
			checkError(t, err, tt)
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the API secret: %v", err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d requests, want 1: the client must not retry", n)
			}
		})
	}
}

func checkError(t *testing.T, err error, tt errorCase) {
	t.Helper()
	var er *hrflow.ErrorResponse
	if !errors.As(err, &er) {
		t.Fatalf("error %T %v is not an *ErrorResponse", err, err)
	}
	want := &hrflow.ErrorResponse{
		Method: http.MethodGet, URL: er.URL, StatusCode: tt.status, Code: tt.wantCode, Message: tt.wantMessage,
	}
	if diff := cmp.Diff(want, er); diff != "" {
		t.Errorf("ErrorResponse (-want +got):\n%s", diff)
	}
	if !strings.Contains(er.URL, basePath+"/profile/indexing?key="+profileKey) {
		t.Errorf("URL %q", er.URL)
	}
	if !strings.HasPrefix(err.Error(), "hrflow: GET ") {
		t.Errorf("Error() = %q", err)
	}
	if got := errors.Is(err, hrflow.ErrNotFound); got != tt.wantNotFound {
		t.Errorf("errors.Is(err, ErrNotFound) = %v", got)
	}
	var classified interface {
		Permanent() bool
		Credentials() bool
	}
	if !errors.As(err, &classified) {
		t.Fatal("error has no Permanent and Credentials methods")
	}
	if got := classified.Permanent(); got != tt.wantPermanent {
		t.Errorf("Permanent() = %v", got)
	}
	if got := classified.Credentials(); got != tt.wantCredentials {
		t.Errorf("Credentials() = %v", got)
	}
	var limited interface{ RetryAfter() time.Duration }
	switch isLimited := errors.As(err, &limited); {
	case tt.wantRetryAfter == 0 && isLimited:
		t.Errorf("a rate limit error: %v", err)
	case tt.wantRetryAfter != 0 && !isLimited:
		t.Errorf("not a rate limit error: %v", err)
	case isLimited && limited.RetryAfter() != tt.wantRetryAfter:
		t.Errorf("RetryAfter() = %s, want %s", limited.RetryAfter(), tt.wantRetryAfter)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c, err := hrflow.New(hrflow.WithBaseURL(srv.URL), hrflow.WithAPISecret(testSecret), hrflow.WithUserEmail(testEmail))
		if err != nil {
			t.Fatal(err)
		}
		_, resp, err := c.Profiles.Get(t.Context(), srcKey, profileKey)
		if err == nil || resp != nil {
			t.Fatalf("Get() = %v, %v", resp, err)
		}
		var classified interface{ Permanent() bool }
		if errors.As(err, &classified) {
			t.Errorf("connection error %v classified", err)
		}
		if strings.Contains(err.Error(), testSecret) || !strings.HasPrefix(err.Error(), "hrflow: ") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		mux.HandleFunc("GET /profile/indexing", func(http.ResponseWriter, *http.Request) { cancel() })
		if _, _, err := client.Profiles.Get(ctx, srcKey, profileKey); !errors.Is(err, context.Canceled) {
			t.Errorf("Get() error = %v, want context.Canceled", err)
		}
	})
	t.Run("malformed success", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"code":200,"message":"Profile details","data":{"key":`)
		})
		_, resp, err := client.Profiles.Get(t.Context(), srcKey, profileKey)
		if err == nil || resp == nil || !strings.Contains(err.Error(), "decode") {
			t.Errorf("Get() = %v, %v", resp, err)
		}
	})
	t.Run("no data", func(t *testing.T) {
		t.Parallel()
		client, mux, _ := setup(t)
		mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"code":200,"message":"Profile details","data":null}`)
		})
		if _, _, err := client.Profiles.Get(t.Context(), srcKey, profileKey); err == nil {
			t.Error("Get() of a null profile succeeded")
		}
	})
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	client, _, _ := setup(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, client); strings.Contains(s, testSecret) || !strings.Contains(s, basePath) {
			t.Errorf("%s of the client = %s", verb, s)
		}
	}
}

func TestErrorResponseUnavailable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status, code int
		want         bool
	}{{503, 503, true}, {502, 502, true}, {504, 504, true}, {500, 500, false}, {200, 503, true}, {400, 400, false}, {429, 429, false}} {
		e := &hrflow.ErrorResponse{StatusCode: tt.status, Code: tt.code}
		if got := e.Unavailable(); got != tt.want {
			t.Errorf("http %d, code %d: Unavailable() = %v, want %v", tt.status, tt.code, got, tt.want)
		}
	}
}

// loopbackDownloads is the option of a download client allowed to reach the test servers,
// which listen on loopback.
func loopbackDownloads(t *testing.T) hrflow.Option {
	t.Helper()
	guard, err := transport.NewGuard(transport.Policy{Allow: []string{"127.0.0.0/8", "::1"}})
	if err != nil {
		t.Fatal(err)
	}
	return hrflow.WithDownloadClient(guard.Client(4, 10*time.Second))
}
