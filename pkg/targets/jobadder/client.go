package jobadder

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

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	defaultUserAgent = "hrpush"
	// defaultConns is the idle connections per host of the default HTTP clients.
	defaultConns = 16
	// defaultRetryAfter is the wait of a 429 without Retry-After.
	defaultRetryAfter = time.Second
	// headerAllowDuplicates carries the duplicate override code of a 409, both ways.
	headerAllowDuplicates = "X-Allow-Duplicates"
)

// TokenProvider supplies access tokens; [*Auth] is the implementation.
type TokenProvider interface {
	Token(ctx context.Context) (*Token, error)
	// Invalidate reports that the API answered 401 to accessToken.
	Invalidate(accessToken secret.Value)
}

// Client calls JobAdder API v2 on behalf of one account. It is safe for concurrent use.
type Client struct {
	auth       TokenProvider
	httpClient *http.Client
	baseURL    *url.URL // nil: the token's api URL
	userAgent  string

	common service

	Candidates *CandidatesService
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
			return errors.New("jobadder: nil HTTP client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithBaseURL sets the API base URL, e.g. a sandbox's, instead of the token's api URL.
func WithBaseURL(rawURL string) Option {
	return func(c *Client) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("jobadder: base URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("jobadder: base URL %q is not an absolute http(s) URL", targets.SanitizeURL(u))
		}
		c.baseURL = u
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default "hrpush".
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" {
			return errors.New("jobadder: empty user agent")
		}
		c.userAgent = ua
		return nil
	}
}

// New returns a client that authenticates with auth.
func New(auth TokenProvider, opts ...Option) (*Client, error) {
	if auth == nil {
		return nil, errors.New("jobadder: a token provider is required")
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
	return c, nil
}

// Response is a JobAdder API response.
type Response struct {
	*http.Response
}

// request is an API call, kept whole so that it can be sent again after a 401.
type request struct {
	method      string
	path        []string // path segments below the base URL
	query       url.Values
	header      http.Header
	contentType string
	body        []byte
}

// do sends r and decodes a successful JSON answer into v (unless v is nil). On 401 it
// invalidates the token and sends r once more with a new one.
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
		if err := jsonv2.UnmarshalRead(resp.Body, v, decodeOptions); err != nil {
			return response, fmt.Errorf("jobadder: %s %s: decode response: %w",
				r.method, targets.SanitizeURL(resp.Request.URL), err)
		}
	}
	return response, nil
}

func (c *Client) send(ctx context.Context, r *request, renew bool) (*http.Response, error) {
	tok, err := c.auth.Token(ctx)
	if err != nil {
		return nil, err
	}
	base := c.baseURL
	if base == nil {
		if base, err = url.Parse(tok.APIURL); err != nil || base.Host == "" {
			return nil, errors.New("jobadder: the token carries no valid api URL")
		}
	}
	u := base.JoinPath(r.path...)
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("jobadder: %w", err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jobadder: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized && renew {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		c.auth.Invalidate(tok.AccessToken)
		return c.send(ctx, r, false)
	}
	return resp, nil
}

// decodeOptions decode answers with the semantics of encoding/json (names matched ignoring
// case, unknown members skipped, duplicate names and invalid UTF-8 accepted) by the json v2
// implementation, in one pass: encoding/json's Decoder scans a value twice (to find its end,
// then to decode it), and a candidate's representation is several KB of which hrpush reads a
// few members.
var decodeOptions = jsonv1.DefaultOptionsV1()

// maxErrorBody caps what is read of an error body.
const maxErrorBody = 1 << 20

// ConflictError is a 409 answer: a candidate with the same email exists. Sending the request
// again with OverrideCode in X-Allow-Duplicates creates a duplicate anyway.
type ConflictError struct {
	*targets.ErrorResponse
	OverrideCode string
}

// Unwrap returns the underlying error response.
func (e *ConflictError) Unwrap() error { return e.ErrorResponse }

// errorModel is JobAdder's ErrorModel.
type errorModel struct {
	Message string `json:"message"`
	Errors  []struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Fields  []string `json:"fields"`
	} `json:"errors"`
}

// CheckResponse returns nil for a 2xx response and otherwise an error built from at most
// 1 MiB of its body: [*targets.RateLimitError] for 429, [*ConflictError] for 409 and
// [*targets.ErrorResponse] for anything else (permanent for 4xx other than 401, 403, 408).
func CheckResponse(r *http.Response) error {
	if r.StatusCode >= 200 && r.StatusCode < 300 {
		return nil
	}
	e := &targets.ErrorResponse{
		Target:     "jobadder",
		Method:     r.Request.Method,
		URL:        targets.SanitizeURL(r.Request.URL),
		StatusCode: r.StatusCode,
	}
	body := targets.ReadErrorBody(r.Body)
	var m errorModel
	if err := json.Unmarshal(body, &m); err == nil && m.Message != "" {
		e.Message = m.Message
		for _, item := range m.Errors {
			msg := cmp.Or(item.Message, item.Code)
			if len(item.Fields) == 0 {
				e.Details = append(e.Details, msg)
			}
			for _, f := range item.Fields {
				e.Details = append(e.Details, f+": "+msg)
			}
		}
	} else if text := strings.TrimSpace(string(body)); text != "" && !strings.HasPrefix(text, "<") {
		e.Message = targets.Truncate(text, 200)
	}
	switch r.StatusCode {
	case http.StatusTooManyRequests:
		wait := targets.ParseRetryAfter(r.Header.Get("Retry-After"), time.Now(), defaultRetryAfter)
		return &targets.RateLimitError{ErrorResponse: e, Wait: wait}
	case http.StatusConflict:
		return &ConflictError{ErrorResponse: e, OverrideCode: r.Header.Get(headerAllowDuplicates)}
	}
	return e
}
