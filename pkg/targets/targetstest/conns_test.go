package targetstest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// TestConnsCountsNewConnections: requests on one kept-alive connection count once, a client
// that closes its connections counts one per request.
func TestConnsCountsNewConnections(t *testing.T) {
	t.Parallel()
	var conns targetstest.Conns
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = conns.Track
	srv.Start()
	t.Cleanup(srv.Close)

	get := func(c *http.Client) {
		t.Helper()
		res, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	pooled := srv.Client()
	for range 5 {
		get(pooled)
	}
	if n := conns.Opened(); n != 1 {
		t.Errorf("5 sequential requests of a pooling client opened %d connections, want 1", n)
	}
	closing := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 3 {
		get(closing)
	}
	if n := conns.Opened(); n != 4 {
		t.Errorf("after 3 requests without keep-alive: %d connections, want 4", n)
	}
}
