package jobaddertest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// BenchmarkAddCandidate measures POST /v2/candidates, validation included, over loopback HTTP.
func BenchmarkAddCandidate(b *testing.B) {
	srv := jobaddertest.NewServer(jobaddertest.Config{})
	b.Cleanup(srv.Close)
	tok := "Bearer " + srv.IssueToken().AccessToken
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Appendf(nil, `{"firstName":"Ada","lastName":"Lovelace","email":"c%d@example.com","address":{"city":"London","postalCode":"SW1"},"skillTags":["go"]}`, n.Add(1))
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v2/candidates", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", tok)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}

// BenchmarkAddCandidateHandler measures the handler alone, without the network.
func BenchmarkAddCandidateHandler(b *testing.B) {
	srv := jobaddertest.New(jobaddertest.Config{BaseURL: "http://jobadder.test"})
	h := srv.Handler()
	tok := "Bearer " + srv.IssueToken().AccessToken
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Appendf(nil, `{"firstName":"Ada","lastName":"Lovelace","email":"c%d@example.com","address":{"city":"London","postalCode":"SW1"},"skillTags":["go"]}`, n.Add(1))
			req := httptest.NewRequest(http.MethodPost, "/v2/candidates", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
