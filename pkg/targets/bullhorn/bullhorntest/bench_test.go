package bullhorntest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

// BenchmarkCreateAndSearch measures a client's dedup round (search by email, then create)
// over loopback HTTP.
func BenchmarkCreateAndSearch(b *testing.B) {
	srv := bullhorntest.NewServer(bullhorntest.Config{CallsPerMinute: -1})
	b.Cleanup(srv.Close)
	sess, err := srv.IssueSession()
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			email := fmt.Sprintf("c%d@example.com", n.Add(1))
			q := url.Values{"query": {dedupQuery(email)}, "fields": {"id"}}
			req, _ := http.NewRequest(http.MethodGet, sess.RestURL+"search/Candidate?"+q.Encode(), nil)
			req.Header.Set("BhRestToken", sess.BhRestToken)
			if res, err := client.Do(req); err != nil || res.StatusCode != http.StatusOK {
				b.Fatal(err, res)
			} else {
				res.Body.Close()
			}
			body := fmt.Appendf(nil, `{"firstName":"Ada","lastName":"Lovelace","name":"Ada Lovelace","email":%q}`, email)
			req, _ = http.NewRequest(http.MethodPut, sess.RestURL+"entity/Candidate", bytes.NewReader(body))
			req.Header.Set("BhRestToken", sess.BhRestToken)
			if res, err := client.Do(req); err != nil || res.StatusCode != http.StatusOK {
				b.Fatal(err, res)
			} else {
				res.Body.Close()
			}
		}
	})
}
