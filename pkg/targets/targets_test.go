package targets_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets"
)

func TestSanitizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://rest.example.com/login?version=2.0&access_token=abc&ttl=60", "https://rest.example.com/login?access_token=REDACTED&ttl=60&version=2.0"},
		{"https://auth.example.com/oauth/authorize?username=api&password=hunter2&code=x", "https://auth.example.com/oauth/authorize?code=REDACTED&password=REDACTED&username=api"},
		{"https://u:p@api.example.com/v2/candidates?Email=a%40b.c", "https://api.example.com/v2/candidates?Email=a%40b.c"},
		{"https://api.example.com/v2/candidates/1", "https://api.example.com/v2/candidates/1"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := targets.SanitizeURL(u)
		if got != tt.want {
			t.Errorf("SanitizeURL(%s) = %s, want %s", tt.in, got, tt.want)
		}
		for _, s := range []string{"abc", "hunter2", "u:p"} {
			if strings.Contains(got, s) {
				t.Errorf("SanitizeURL(%s) leaks %q", tt.in, s)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second},
		{"40", 40 * time.Second},
		{"0", 0},
		{now.Add(90 * time.Second).Format(time.RFC1123), 90 * time.Second},
		{"soon", time.Second},
	}
	for _, tt := range tests {
		if got := targets.ParseRetryAfter(tt.header, now, time.Second); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for status, permanent := range map[int]bool{400: true, 404: true, 422: true, 401: false, 409: false, 429: false, 500: false, 503: false} {
		e := &targets.ErrorResponse{Target: "jobadder", StatusCode: status}
		if e.Permanent() != permanent {
			t.Errorf("status %d: Permanent() = %v", status, e.Permanent())
		}
	}
	for status, down := range map[int]bool{500: false, 502: true, 503: true, 504: true, 400: false, 429: false} {
		if e := (&targets.ErrorResponse{StatusCode: status}); e.Unavailable() != down {
			t.Errorf("status %d: Unavailable() = %v", status, e.Unavailable())
		}
	}
	rl := &targets.RateLimitError{ErrorResponse: &targets.ErrorResponse{StatusCode: 429}, Wait: 3 * time.Second}
	if rl.RetryAfter() != 3*time.Second || !strings.Contains(rl.Error(), "retry after 3s") {
		t.Errorf("RateLimitError = %v", rl)
	}
}

func TestRecordKey(t *testing.T) {
	t.Parallel()
	hashed := func(source, profile string) string {
		sum := sha256.Sum256([]byte(source + "\x00" + profile))
		return "jobadder." + hex.EncodeToString(sum[:])
	}
	tests := []struct{ source, profile, want string }{
		{"src_1", "prof-2", "jobadder.src_1.prof-2"},
		{"a.b", "c", hashed("a.b", "c")},
		{"a", "b.c", hashed("a", "b.c")},
		{"src", "", hashed("src", "")},
		{"src", "pröfile", hashed("src", "pröfile")},
	}
	for _, tt := range tests {
		if got := targets.RecordKey("jobadder", tt.source, tt.profile); got != tt.want {
			t.Errorf("RecordKey(jobadder, %q, %q) = %q, want %q", tt.source, tt.profile, got, tt.want)
		}
	}
}
