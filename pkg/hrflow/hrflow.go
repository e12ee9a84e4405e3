package hrflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	// DefaultBaseURL is the HrFlow API v1 endpoint.
	DefaultBaseURL = "https://api.hrflow.ai/v1/"

	// DefaultTimeout bounds every request (connection, headers and body) of the default HTTP
	// client.
	DefaultTimeout = 30 * time.Second

	// DefaultDownloadTimeout bounds every download of the default download client: files are
	// larger and their hosts slower than the API.
	DefaultDownloadTimeout = 60 * time.Second

	// defaultConns is the idle connections per host the default clients keep.
	defaultConns = 16

	defaultUserAgent = "hrpush"

	// maxErrorBodySize caps how much of a response CheckResponse reads.
	maxErrorBodySize = 1 << 20
	// maxBodySize caps a successful body: a page of full profiles is a few MiB at most.
	maxBodySize = 64 << 20
)

// ErrMissingCredentials is returned by [New] when WithAPISecret or WithUserEmail is missing.
var ErrMissingCredentials = errors.New("hrflow: missing credentials")

// ErrInvalidOption is wrapped by the errors of options given invalid values.
var ErrInvalidOption = errors.New("hrflow: invalid option")

// ErrNotFound is matched by [errors.Is] for an [*ErrorResponse] that says the profile (or its
// source) does not exist: HrFlow answers code 400 "Invalid parameters. Unable to find object:
// profile" rather than 404.
var ErrNotFound = errors.New("hrflow: not found")

// Client talks to the HrFlow API v1. Create it with [New]; it is safe for concurrent use.
type Client struct {
	baseURL    *url.URL // always ends with "/"
	httpClient *http.Client
	downloads  *http.Client
	auth       *auth
	userAgent  string
	now        func() time.Time

	common service // reused by every service instead of allocating one each

	// Profiles reads profiles.
	Profiles *ProfilesService
}

type service struct {
	client *Client
}

// auth holds the credentials, behind a pointer so that a Client printed field by field shows
// an address: fmt cannot call secret.Value's String through unexported fields.
type auth struct {
	apiSecret secret.Value
	userEmail string
}

// Option configures a [Client]. Options return an error wrapping [ErrInvalidOption] when
// given an invalid value.
type Option func(*Client) error

// WithBaseURL sets the API base URL, with or without a trailing slash. Default:
// [DefaultBaseURL].
func WithBaseURL(rawURL string) Option {
	return func(c *Client) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("%w: base url: %w", ErrInvalidOption, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: base url %q: want an absolute http or https url", ErrInvalidOption, sanitizeURL(u))
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%w: base url %q: must not have a query or fragment", ErrInvalidOption, sanitizeURL(u))
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
			u.RawPath = ""
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client of API calls. Default: a client with a [DefaultTimeout]
// timeout on a pooled transport (never [http.DefaultClient], which has no timeout and keeps
// two idle connections).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return fmt.Errorf("%w: nil http client", ErrInvalidOption)
		}
		c.httpClient = hc
		return nil
	}
}

// WithDownloadClient sets the HTTP client of [Client.Download]. Attachment URLs come from
// outside (profiles), so give a client that refuses to reach the worker's own network, one made
// by a [transport.Guard]. Default: a guard's client with the zero [transport.Policy] (https to
// public addresses only) and a [DefaultDownloadTimeout] timeout.
func WithDownloadClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return fmt.Errorf("%w: nil download client", ErrInvalidOption)
		}
		c.downloads = hc
		return nil
	}
}

// WithAPISecret sets the API key sent as X-API-KEY. Required.
func WithAPISecret(key secret.Value) Option {
	return func(c *Client) error {
		if key.IsZero() {
			return fmt.Errorf("%w: empty api secret", ErrInvalidOption)
		}
		c.auth.apiSecret = key
		return nil
	}
}

// WithUserEmail sets the account email sent as X-USER-EMAIL. Required.
func WithUserEmail(email string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(email) == "" || !strings.Contains(email, "@") {
			return fmt.Errorf("%w: user email %q is not an email address", ErrInvalidOption, email)
		}
		c.auth.userEmail = email
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default: "hrpush".
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(ua) == "" {
			return fmt.Errorf("%w: empty user agent", ErrInvalidOption)
		}
		c.userAgent = ua
		return nil
	}
}

// New returns a client configured by opts. It fails with an error wrapping
// [ErrMissingCredentials] when the API secret or the user email is missing, so that a
// misconfigured worker stops at start-up instead of failing every job with a 401.
func New(opts ...Option) (*Client, error) {
	base, err := url.Parse(DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("hrflow: default base url: %w", err)
	}
	c := &Client{
		baseURL:    base,
		httpClient: transport.Client(defaultConns, DefaultTimeout),
		auth:       &auth{},
		userAgent:  defaultUserAgent,
		now:        time.Now,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	var missing []string
	if c.auth.apiSecret.IsZero() {
		missing = append(missing, "WithAPISecret")
	}
	if c.auth.userEmail == "" {
		missing = append(missing, "WithUserEmail")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: set %s", ErrMissingCredentials, strings.Join(missing, " and "))
	}
	if c.downloads == nil {
		guard, err := transport.NewGuard(transport.Policy{})
		if err != nil {
			return nil, fmt.Errorf("hrflow: download guard: %w", err)
		}
		c.downloads = guard.Client(defaultConns, DefaultDownloadTimeout)
	}
	c.common.client = c
	c.Profiles = (*ProfilesService)(&c.common)
	return c, nil
}

// String describes the client without its credentials, for logs and %v.
func (c *Client) String() string {
	return "hrflow.Client{BaseURL: " + c.baseURL.String() + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Response is an HrFlow API response. List endpoints fill the pagination fields from the
// envelope's "meta" member; they are zero otherwise.
type Response struct {
	*http.Response

	Page    int // page returned, from 1
	MaxPage int // last page
	Count   int // items on this page
	Total   int // items on all pages
}

// decodeOptions decode answers with the semantics of encoding/json (names matched ignoring
// case, duplicate names and invalid UTF-8 accepted, the same UnmarshalJSON methods called) by
// the json v2 implementation, which decodes a profile in a fraction of encoding/json's time and
// allocations: decoding profiles was a third of a job's CPU.
var decodeOptions = jsonv1.DefaultOptionsV1()

// envelope is the JSON document HrFlow wraps every answer in, but its "data" member, which
// the caller decodes (see [Client.do]).
type envelope struct {
	Code    int
	Message string
	Meta    *struct {
		Page    int `json:"page"`
		MaxPage int `json:"maxPage"`
		Count   int `json:"count"`
		Total   int `json:"total"`
	}
}

// newRequest builds an authenticated API request for path, relative to the base URL.
func (c *Client) newRequest(ctx context.Context, path string, query url.Values) (*http.Request, error) {
	u, err := c.baseURL.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("hrflow: request path %q: %w", path, err)
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("hrflow: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-API-KEY", c.auth.apiSecret.Reveal())
	req.Header.Set("X-USER-EMAIL", c.auth.userEmail)
	return req, nil
}

// do sends req and decodes the envelope of a successful answer, calling data, if not nil, to
// decode its "data" member from dec (one value; body is the whole answer, for data to keep
// bytes of it). The answer is read once and decoded in one pass: a profile is tens of
// kilobytes, and decoding it is most of what a job costs this process. It never retries: the
// caller (the job runtime) owns retries. The returned Response is non-nil whenever the server
// answered, even with an error.
func (c *Client) do(req *http.Request, data func(dec *jsontext.Decoder, body []byte) error) (*Response, error) {
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hrflow: %w", err)
	}
	defer closeBody(resp.Body)

	r := &Response{Response: resp}
	if resp.StatusCode >= 400 {
		return r, c.CheckResponse(resp)
	}
	body, err := readBody(resp)
	if err != nil {
		return r, fmt.Errorf("hrflow: read response: %w", err)
	}
	env, err := decodeEnvelope(body, data)
	if err != nil {
		var head envelope
		if json.Unmarshal(body, &head) == nil && head.Code >= 400 {
			return r, c.responseError(resp, head.Code, head.Message, true) // an error's data need not decode
		}
		return r, fmt.Errorf("hrflow: %s %s: decode response: %w", req.Method, sanitizeURL(req.URL), err)
	}
	if env.Code >= 400 {
		// HrFlow's body code may disagree with the status line: the body says it failed.
		return r, c.responseError(resp, env.Code, env.Message, true)
	}
	if m := env.Meta; m != nil {
		r.Page, r.MaxPage, r.Count, r.Total = m.Page, m.MaxPage, m.Count, m.Total
	}
	return r, nil
}

// readBody reads the body of resp, up to maxBodySize bytes, in one allocation when the answer
// gives its length (io.ReadAll would grow its buffer from 512 bytes, copying it each time).
func readBody(resp *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxBodySize {
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead bytes free to see the end
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBodySize))
	return buf.Bytes(), err
}

// decodeEnvelope decodes body, an envelope, member by member, handing its "data" member to
// data (skipped when data is nil). Member names match as encoding/json matches them, ignoring
// case.
func decodeEnvelope(body []byte, data func(dec *jsontext.Decoder, body []byte) error) (*envelope, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), decodeOptions)
	if t, err := dec.ReadToken(); err != nil {
		return nil, err
	} else if t.Kind() != '{' {
		return nil, fmt.Errorf("want an object, got %v", t)
	}
	var env envelope
	for dec.PeekKind() != '}' {
		t, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := t.String()
		switch strings.ToLower(name) {
		case "code":
			err = jsonv2.UnmarshalDecode(dec, &env.Code)
		case "message":
			err = jsonv2.UnmarshalDecode(dec, &env.Message)
		case "meta":
			err = jsonv2.UnmarshalDecode(dec, &env.Meta)
		case "data":
			if data != nil {
				err = data(dec, body)
				break
			}
			fallthrough
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	return &env, nil
}

// closeBody drains a little of what is left of a body, so the connection can be reused, and
// closes it.
func closeBody(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}

// CheckResponse returns nil when r is a success, and otherwise the error it carries:
// an [*ErrorResponse], or a [*RateLimitError] for 429 and 402.
//
// HrFlow's body "code" mirrors an HTTP status and may disagree with the status line, so r is
// an error when either is 400 or more. A body that is not JSON (a gateway's HTML page) gets the
// message the official SDK synthesises, "A generic error occurred on the server". Messages
// have the client's API secret redacted: HrFlow echoes a refused key in its 401 message.
//
// CheckResponse reads at most 1 MiB of r.Body and puts what it read back in front of the
// rest, so the caller can still decode a successful body from the start.
func (c *Client) CheckResponse(r *http.Response) error {
	head, readErr := io.ReadAll(io.LimitReader(r.Body, maxErrorBodySize))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}

	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	// A body longer than the cap cannot be parsed whole; only a successful list is that big.
	isJSON := len(head) < maxErrorBodySize && json.Unmarshal(head, &body) == nil
	if r.StatusCode < 400 && body.Code < 400 {
		if readErr != nil {
			return fmt.Errorf("hrflow: read response: %w", readErr)
		}
		return nil
	}
	return c.responseError(r, body.Code, body.Message, isJSON)
}

// responseError is the error of the answer r whose body held code and message, or was not
// JSON: an [*ErrorResponse], or a [*RateLimitError] for 429 and 402.
func (c *Client) responseError(r *http.Response, code int, message string, isJSON bool) error {
	e := &ErrorResponse{
		StatusCode: r.StatusCode,
		Code:       code,
		Message:    secret.Redact(strings.TrimSpace(message), c.auth.apiSecret),
	}
	if !isJSON || code == 0 {
		e.Code = r.StatusCode
	}
	if !isJSON {
		e.Message = "A generic error occurred on the server"
	}
	if r.Request != nil {
		e.Method = r.Request.Method
		e.URL = secret.Redact(sanitizeURL(r.Request.URL), c.auth.apiSecret)
	}
	switch e.status() {
	case http.StatusTooManyRequests:
		return &RateLimitError{ErrorResponse: e, Wait: parseRetryAfter(r.Header.Get("Retry-After"), c.now(), time.Second)}
	case http.StatusPaymentRequired:
		// 402 means the account is over its plan quota. The request is valid and succeeds
		// once the quota renews or the plan is raised: dead-lettering would lose the job and
		// a quick retry would burn an attempt, so it is throttling with a long default wait.
		return &RateLimitError{ErrorResponse: e, Wait: parseRetryAfter(r.Header.Get("Retry-After"), c.now(), time.Minute)}
	}
	return e
}

// ErrorResponse is an error answer from the HrFlow API.
type ErrorResponse struct {
	Method     string
	URL        string // sanitised: no user info, no credential-bearing query values
	StatusCode int    // HTTP status
	Code       int    // the body's "code"; the HTTP status when the body is not JSON
	Message    string // the body's "message", secrets redacted
}

func (e *ErrorResponse) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hrflow: %s %s: %d", e.Method, e.URL, e.Code)
	if e.StatusCode != e.Code {
		fmt.Fprintf(&b, " (http %d)", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	}
	return b.String()
}

// status is the status the error is classified by: a 5xx HTTP status (a gateway or HrFlow in
// trouble), else the body code when it is an error code, else the HTTP status.
func (e *ErrorResponse) status() int {
	if e.StatusCode >= 500 || e.Code < 400 {
		return e.StatusCode
	}
	return e.Code
}

// Unavailable reports whether the answer says HrFlow is down rather than that it refused this
// request: 502, 503 or 504.
func (e *ErrorResponse) Unavailable() bool {
	switch e.status() {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Permanent reports whether sending the same request again cannot succeed: a 4xx other than
// 401, 402, 403, 408 and 429. It includes 400 (HrFlow's answer for a missing profile),
// 404 and 422.
func (e *ErrorResponse) Permanent() bool {
	switch s := e.status(); s {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	default:
		return s >= 400 && s < 500
	}
}

// Credentials reports whether HrFlow refused the API secret or user email (401, 403).
func (e *ErrorResponse) Credentials() bool {
	s := e.status()
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// Is reports whether e matches target. [ErrNotFound] matches a 404 and any message containing
// "Unable to find object", the text HrFlow (and its own connectors) use for missing objects.
func (e *ErrorResponse) Is(target error) bool {
	if target != ErrNotFound {
		return false
	}
	return e.status() == http.StatusNotFound || strings.Contains(e.Message, "Unable to find object")
}

// RateLimitError is an answer asking the caller to slow down: 429, or 402 (over plan quota).
// Wait is the Retry-After header's value, or 1 s for a 429 and 60 s for a 402 without one.
type RateLimitError struct {
	*ErrorResponse
	Wait time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s (retry after %s)", e.ErrorResponse.Error(), e.Wait)
}

// RetryAfter is how long to wait before the next request.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// Unwrap returns the underlying error response.
func (e *RateLimitError) Unwrap() error { return e.ErrorResponse }

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date). It returns def when the
// header is absent or unreadable.
func parseRetryAfter(h string, now time.Time, def time.Duration) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return def
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return def
}

// sanitizeURL returns u without user info and with the values of credential-bearing query
// parameters (API keys, tokens, pre-signed URL signatures) replaced.
func sanitizeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			switch strings.ToLower(k) {
			case "x-api-key", "api_key", "api_secret", "token", "access_token", "signature",
				"x-amz-signature", "x-amz-credential", "x-amz-security-token":
				q[k] = []string{"REDACTED"}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
