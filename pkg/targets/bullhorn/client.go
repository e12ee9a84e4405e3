package bullhorn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	defaultUserAgent = "hrpush"
	// defaultConns is the idle connections per host of the default HTTP clients.
	defaultConns = 16
	// minRetryAfter is the wait of a 429: Bullhorn's documented "pause one second", or longer
	// when the answer carries a longer Retry-After.
	minRetryAfter = time.Second
	// headerRestToken carries the session token, so that no URL carries a secret.
	headerRestToken = "BhRestToken"
)

// SessionProvider supplies REST sessions; [*Auth] is the implementation.
type SessionProvider interface {
	Session(ctx context.Context) (*Session, error)
	// Invalidate reports that the API answered 401 (or 412) to bhRestToken.
	Invalidate(bhRestToken secret.Value)
}

// Limiter paces API calls; [*RateLimiter] is the implementation shared by an account's workers.
type Limiter interface {
	// Wait blocks until one more call is allowed or ctx is done.
	Wait(ctx context.Context) error
}

// Client calls the Bullhorn REST API on behalf of one account. It is safe for concurrent use.
type Client struct {
	auth       SessionProvider
	limiter    Limiter // nil: no client-side limit
	httpClient *http.Client
	userAgent  string

	common service

	Candidates    *CandidatesService
	Educations    *EducationsService
	WorkHistories *WorkHistoriesService
	Files         *FilesService
}

type service struct {
	client *Client
}

// Option configures a [Client].
type Option func(*Client) error

// WithHTTPClient sets the HTTP client. Default: a client with a 30 s timeout on a pooled
// transport (transport.Pooled).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("bullhorn: nil HTTP client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithRateLimiter makes every API call wait for l first. Without it the client does not pace
// its calls; workers sharing an account should share a [RateLimiter].
func WithRateLimiter(l Limiter) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("bullhorn: nil rate limiter")
		}
		c.limiter = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default "hrpush".
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" {
			return errors.New("bullhorn: empty user agent")
		}
		c.userAgent = ua
		return nil
	}
}

// New returns a client that opens its sessions with auth.
func New(auth SessionProvider, opts ...Option) (*Client, error) {
	if auth == nil {
		return nil, errors.New("bullhorn: a session provider is required")
	}
	c := &Client{
		auth:       auth,
		httpClient: transport.Client(defaultConns, 30*time.Second),
		userAgent:  defaultUserAgent,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	c.common.client = c
	c.Candidates = (*CandidatesService)(&c.common)
	c.Educations = (*EducationsService)(&c.common)
	c.WorkHistories = (*WorkHistoriesService)(&c.common)
	c.Files = (*FilesService)(&c.common)
	return c, nil
}

// Response is a Bullhorn REST API response.
type Response struct {
	*http.Response
}

// request is an API call, kept whole so that it can be sent again after a new login.
type request struct {
	method string
	path   []string // path segments below the session's REST URL
	query  url.Values
	body   []byte // JSON
}

// jsonRequest builds a request with body encoded as JSON.
func jsonRequest(method string, body any, path ...string) (*request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("bullhorn: encode body: %w", err)
	}
	return &request{method: method, path: path, body: b}, nil
}

// do sends r and decodes a successful JSON answer into v (unless v is nil). On 401 or 412 it
// invalidates the session and sends r once more in a new one.
func (c *Client) do(ctx context.Context, r *request, v any) (*Response, error) {
	resp, err := c.send(ctx, r, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	response := &Response{Response: resp}
	if err := CheckResponse(resp); err != nil {
		return response, err
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return response, fmt.Errorf("bullhorn: %s %s: decode response: %w",
				r.method, targets.SanitizeURL(resp.Request.URL), err)
		}
	}
	return response, nil
}

func (c *Client) send(ctx context.Context, r *request, renew bool) (*http.Response, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("bullhorn: rate limit: %w", err)
		}
	}
	s, err := c.auth.Session(ctx)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(s.RestURL)
	if err != nil || base.Host == "" {
		return nil, errors.New("bullhorn: the session carries no valid REST URL")
	}
	u := base.JoinPath(r.path...)
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("bullhorn: %w", err)
	}
	req.Header.Set(headerRestToken, s.BhRestToken.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, requestError(err)
	}
	if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusPreconditionFailed) && renew {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		c.auth.Invalidate(s.BhRestToken)
		return c.send(ctx, r, false)
	}
	return resp, nil
}

// requestError returns a failed HTTP exchange's error with the request URL sanitised: the
// authorization and login URLs carry credentials in their query.
func requestError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return fmt.Errorf("bullhorn: %w", err)
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		u = &url.URL{}
	}
	return fmt.Errorf("bullhorn: %s %s: %w", ue.Op, targets.SanitizeURL(u), ue.Err)
}

// Message is one item of the errors or messages list of a Bullhorn answer.
type Message struct {
	DetailMessage string `json:"detailMessage,omitempty"`
	PropertyName  string `json:"propertyName,omitempty"`
	Severity      string `json:"severity,omitempty"`
	Type          string `json:"type,omitempty"`
}

// errorBody is Bullhorn's error answer.
type errorBody struct {
	ErrorMessage    string    `json:"errorMessage"`
	ErrorMessageKey string    `json:"errorMessageKey"`
	ErrorCode       int       `json:"errorCode"`
	Errors          []Message `json:"errors"`
	Messages        []Message `json:"messages"`
}

// CheckResponse returns nil for a 2xx response and otherwise an error built from at most
// 1 MiB of its body: [*targets.RateLimitError] for 429 (waiting Retry-After, at least a
// second) and [*targets.ErrorResponse] for anything else, whose Message is Bullhorn's
// errorMessage and whose Details are its field errors. A 4xx other than 401, 403, 408, 409 and
// 429 is permanent.
func CheckResponse(r *http.Response) error {
	if r.StatusCode >= 200 && r.StatusCode < 300 {
		return nil
	}
	e := &targets.ErrorResponse{
		Target:     "bullhorn",
		Method:     r.Request.Method,
		URL:        targets.SanitizeURL(r.Request.URL),
		StatusCode: r.StatusCode,
	}
	body := targets.ReadErrorBody(r.Body)
	var m errorBody
	if err := json.Unmarshal(body, &m); err == nil && (m.ErrorMessage != "" || m.ErrorMessageKey != "") {
		e.Message = cmp.Or(m.ErrorMessage, m.ErrorMessageKey)
		for _, item := range append(m.Errors, m.Messages...) {
			msg := cmp.Or(item.DetailMessage, item.Type, item.Severity)
			if item.PropertyName != "" {
				msg = item.PropertyName + ": " + msg
			}
			e.Details = append(e.Details, msg)
		}
	} else if text := strings.TrimSpace(string(body)); text != "" && !strings.HasPrefix(text, "<") {
		e.Message = targets.Truncate(text, 200)
	}
	if r.StatusCode == http.StatusTooManyRequests {
		wait := targets.ParseRetryAfter(r.Header.Get("Retry-After"), time.Now(), minRetryAfter)
		return &targets.RateLimitError{ErrorResponse: e, Wait: max(wait, minRetryAfter)}
	}
	return e
}
