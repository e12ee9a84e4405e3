package hrflow

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 5 * time.Second},
		{"7", 7 * time.Second},
		{" 0 ", 0},
		{"-3", 5 * time.Second},
		{"7s", 5 * time.Second},
		{"soon", 5 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.header, now, 5*time.Second); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

// TestRetryAfterDate checks that CheckResponse reads the clock it is given.
func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	c, err := New(WithAPISecret("key-1234"), WithUserEmail("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	resp := &http.Response{
		StatusCode: http.StatusTooManyRequests,
		Header:     http.Header{"Retry-After": {now.Add(42 * time.Second).Format(http.TimeFormat)}},
		Body:       http.NoBody,
	}
	err = c.CheckResponse(resp)
	rl, ok := err.(*RateLimitError)
	if !ok || rl.RetryAfter() != 42*time.Second {
		t.Errorf("CheckResponse() = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(WithAPISecret("key-1234"), WithUserEmail("a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL.String() != DefaultBaseURL {
		t.Errorf("base url %s", c.baseURL)
	}
	if c.httpClient == http.DefaultClient || c.httpClient.Timeout != DefaultTimeout {
		t.Errorf("http client %+v, want a fresh one with a %s timeout", c.httpClient, DefaultTimeout)
	}
}

func TestSanitizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://api.hrflow.ai/v1/profile/indexing?key=k&source_key=s", "https://api.hrflow.ai/v1/profile/indexing?key=k&source_key=s"},
		{"https://user:pass@host/p", "https://host/p"},
		{"https://b.s3.amazonaws.com/r.pdf?X-Amz-Signature=abc&X-Amz-Credential=AKIA&x=1", "https://b.s3.amazonaws.com/r.pdf?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&x=1"},
		{"https://host/p?api_key=abc&token=t", "https://host/p?api_key=REDACTED&token=REDACTED"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := sanitizeURL(u); got != tt.want {
			t.Errorf("sanitizeURL(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if sanitizeURL(nil) != "" {
		t.Error("sanitizeURL(nil) not empty")
	}
}

// parseInOrder is what ParseTime returns by definition: the first of timeLayouts that parses
// the trimmed string, the sentinel read as unknown.
func parseInOrder(s string) Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return Time{}
	}
	for _, layout := range timeLayouts {
		if tm, err := time.Parse(layout, s); err == nil {
			return known(tm)
		}
	}
	return Time{Raw: s}
}

// parseTimeSeeds are dates HrFlow sends and near misses of the layouts ParseTime reads
// without time.Parse (parseCommon) or tries first (shortLayout).
var parseTimeSeeds = []string{
	"2018-01-01T00:00:00", "2018-01-01T00:00:0Z", "2018-01-01T25:00:00", "2018-01-01 00:00:00",
	"1969-12-31T00:00:00", "2018-01-01X00:00:00", "2018-01-01", "1969-12-31", "2018-1-01Z",
	"2018-13-01", "20180101ab", "2020-08-06T10:09:47+0000", "2020-08-06T10:09:47Z",
	"2018-01", "2018", " 2018-01-01 ", "2018-01-01T00:00:00.5", "not a date", "",
	"2018-02-29T00:00:00", "2020-02-29T00:00:00+0000", "2018-02-30T12:00:00", "2018-04-31T00:00:00+0000",
	"2018-01-01T23:59:60", "2018-01-01T24:00:00+0000", "2018-00-10T00:00:00", "2018-01-00T00:00:00",
	"2018-01-01T00:60:00", "2018-01-01T00:00:00+0100", "2018-01-01T00:00:00-0000", "0000-01-01T00:00:00",
	"+018-01-01T00:00:00", "2018-01-01T0-:00:00", "2018-01-01T00:00:00+00000", "1969-12-31T10:00:00+0000",
}

// TestParseTime checks that ParseTime, which reads the common layouts itself and tries the
// layout a string's length points to first, returns exactly what trying the layouts in their
// order returns: the same instant, location and raw text.
func TestParseTime(t *testing.T) {
	t.Parallel()
	for _, s := range parseTimeSeeds {
		if got, want := ParseTime(s), parseInOrder(s); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseTime(%q) = %#v, want %#v", s, got, want)
		}
	}
}

// FuzzParseTime is TestParseTime for any string.
func FuzzParseTime(f *testing.F) {
	for _, s := range parseTimeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ParseTime(s), parseInOrder(s); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseTime(%q) = %#v, want %#v", s, got, want)
		}
	})
}
