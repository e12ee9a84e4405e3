package main

import (
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// TestE2EReusesConnections: a run of many jobs, concurrency at a time, opens about
// concurrency connections to each service, not one per request (Go's default transport keeps
// two idle connections per host and dialled anew for most requests of concurrent jobs).
// HrFlow gets two pools, API calls and resume downloads, so up to twice concurrency.
func TestE2EReusesConnections(t *testing.T) {
	t.Parallel()
	const (
		profiles    = 200
		concurrency = 8
		slack       = 4 // a dial raced by a connection freed meanwhile, start-up calls
	)
	for _, target := range []string{"jobadder", "bullhorn"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, profiles, jobaddertest.Config{})
			e.concurrency = concurrency
			if target == "bullhorn" {
				e.useBullhorn(bullhorntest.Config{})
			}
			e.worker("w1")
			e.enqueueTo(target, "conns", e.keys)
			if r := e.wait("conns", nil); r.Created != profiles {
				t.Fatalf("created %d of %d (failed %d)", r.Created, profiles, r.Failed)
			}
			ats, requests := e.ja.State().Connections, e.ja.State().Requests
			if target == "bullhorn" {
				ats, requests = e.bh.State().Connections, e.bh.State().Requests
			}
			calls := 0
			for _, n := range requests {
				calls += n
			}
			t.Logf("%s: %d connections for %d calls; HrFlow: %d connections", target, ats, calls, e.hrflow.Connections())
			if ats > concurrency+slack {
				t.Errorf("%s: %d connections for %d calls of %d jobs, %d at a time; want at most %d", target, ats, calls, profiles, concurrency, concurrency+slack)
			}
			if n := e.hrflow.Connections(); n > 2*concurrency+slack {
				t.Errorf("HrFlow: %d connections for %d jobs, %d at a time; want at most %d", n, profiles, concurrency, 2*concurrency+slack)
			}
		})
	}
}
