package ingest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/ingest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// BenchmarkIngest measures what the gateway adds to the queue's own cost, on one embedded
// JetStream server (file storage) and 100 jobs per request or page:
//
//   - bulk-jobs/s: jobs/s of `enqueue bulk`'s publishing (batch.Enqueue of a key list:
//     PublishAll, 1,024 jobs in flight), the ceiling;
//   - gateway-jobs/s: jobs/s accepted by POST /v1/jobs over HTTP/1.1 keep-alive, with 8
//     clients at once, each request an array of 100 jobs, API key and scope checked;
//   - ratio: gateway over bulk (goal ≥ 0.5);
//   - p50-ms, p99-ms: latency of one POST /v1/jobs of 100 jobs, over every round.
//
// The two alternate in 5 rounds of 10,000 jobs each and each rate is the median of its
// rounds, so that the machine's other load weighs on both alike.
//
// Run with `make bench`.
func BenchmarkIngest(b *testing.B) {
	const (
		rounds  = 5
		total   = 10000 // jobs per round and way
		perReq  = 100
		clients = 8
	)
	for b.Loop() {
		js := brokertest.Start(b).JetStream(b)
		buckets, err := jobs.EnsureStreams(b.Context(), js, jobs.StreamConfig{})
		if err != nil {
			b.Fatal(err)
		}
		api, err := ingest.New(ingest.Config{JetStream: js, Buckets: buckets, RatePerSecond: 1e6, Burst: 1e6})
		if err != nil {
			b.Fatal(err)
		}
		mux := http.NewServeMux()
		api.Register(mux)
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		_, token, err := apikeys.NewStore(buckets.APIKeys).Create(b.Context(), apikeys.Key{Name: "bench", Workflows: []string{"*"}, Connections: []string{"*"}})
		if err != nil {
			b.Fatal(err)
		}

		// Rounds alternate the two, so that the load of the machine weighs on both alike;
		// each rate is the median of its rounds.
		var bulkRates, gatewayRates []float64
		var latencies []time.Duration
		for round := range rounds {
			bulkRates = append(bulkRates, bulkRound(b, js, round, total))
			rate, lat := gatewayRound(b, srv.URL, token.Reveal(), round, total, perReq, clients)
			gatewayRates = append(gatewayRates, rate)
			latencies = append(latencies, lat...)
		}
		if n := brokertest.StreamMsgs(b, js, jobs.JobsStream); n != 2*rounds*total {
			b.Fatalf("stream holds %d jobs, want %d", n, 2*rounds*total)
		}
		slices.Sort(bulkRates)
		slices.Sort(gatewayRates)
		bulkRate, gatewayRate := bulkRates[rounds/2], gatewayRates[rounds/2]
		slices.Sort(latencies)
		b.ReportMetric(bulkRate, "bulk-jobs/s")
		b.ReportMetric(gatewayRate, "gateway-jobs/s")
		b.ReportMetric(gatewayRate/bulkRate, "ratio")
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// bulkRound publishes total jobs as enqueue bulk does and returns the jobs/s.
func bulkRound(b *testing.B, js jetstream.JetStream, round, total int) float64 {
	keys := make([]string, total)
	for k := range keys {
		keys[k] = fmt.Sprintf("bulk-%d-%06d", round, k)
	}
	start := time.Now()
	c, err := batch.Enqueue(b.Context(), jobs.NewPublisher(js), batch.Spec{ID: "bulk", WorkflowID: "bench-bulk", Target: "jobadder", SourceKey: "s"},
		start, batch.Keys(keys), batch.Options{PageSize: batch.KeysPageSize})
	rate := float64(total) / time.Since(start).Seconds()
	if err != nil || c.Stored != total {
		b.Fatalf("bulk: %d stored, %v", c.Stored, err)
	}
	return rate
}

// gatewayRound posts total jobs, perReq a request, from clients at once; it returns the
// jobs/s and each request's latency.
func gatewayRound(b *testing.B, url, token string, round, total, perReq, clients int) (float64, []time.Duration) {
	bodies := make([]string, total/perReq)
	for r := range bodies {
		parts := make([]string, perReq)
		for j := range parts {
			parts[j] = fmt.Sprintf(`{"workflow_id":"bench-gw","target":"jobadder","source_key":"s","profile_key":"gw-%d-%06d"}`, round, r*perReq+j)
		}
		bodies[r] = "[" + strings.Join(parts, ",") + "]"
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	latencies := make([]time.Duration, len(bodies))
	next := make(chan int, len(bodies))
	for r := range bodies {
		next <- r
	}
	close(next)
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for r := range next {
				req, _ := http.NewRequest("POST", url+"/v1/jobs", strings.NewReader(bodies[r]))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				latencies[r] = time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Do(func() { b.Errorf("request %d: %v", r, err) })
				}
			}
		})
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds(), latencies
}
