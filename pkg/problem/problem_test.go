package problem_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/problem"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	p := problem.New(http.StatusTooManyRequests, "rate-limited", "slow down")
	p.Errors = []problem.FieldError{{Pointer: "/jobs/0", Detail: "x"}}
	problem.Write(rec, p, 1500*time.Millisecond)
	if rec.Code != 429 || rec.Header().Get("Content-Type") != problem.ContentType || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	var got problem.Details
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != problem.TypeBase+"rate-limited" || got.Title != "Too Many Requests" || got.Status != 429 ||
		got.Code != "rate-limited" || got.Detail != "slow down" || len(got.Errors) != 1 {
		t.Fatalf("body %+v", got)
	}
}
