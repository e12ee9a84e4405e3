package brokertest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS cluster of JetStream servers on loopback, for tests of what a cluster
// does: R3 streams, a leader lost. Each server has its own free client and route ports and its
// own store in a temporary directory of the test; a server shut down can be started again on
// the same ports and store.
//
//	c := brokertest.StartCluster(t, 3)
//	js := c.JetStream(t)                      // connected to every server
//	c.Shutdown(c.StreamLeader("PUSH_PROFILES")) // the stream elects another leader
type Cluster struct {
	t testing.TB

	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server // nil while shut down
}

// StartCluster starts n servers (n ≥ 3 for a JetStream quorum to survive a loss) clustered
// with routes to each other, and registers their shutdown as a cleanup of t. It returns once
// every server accepts clients; JetStream may still be electing its meta leader, as on a fresh
// cluster: clients must wait for it (jobs.Setup does).
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := FreePorts(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i])
	}
	c := &Cluster{t: t, servers: make([]*server.Server, n)}
	dir := t.TempDir()
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster:    server.ClusterOpts{Name: "hrpush-test", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoLog:      true,
			NoSigs:     true,
			MaxPayload: 1 << 20,
		})
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { c.Restart(i) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range n {
			c.Shutdown(i)
		}
	})
	return c
}

// FreePorts returns n loopback ports free now (for servers that need their ports known in
// advance: a cluster's routes).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// URL is the comma-separated client URLs of every server, for clients that must survive the
// loss of one.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}

// Len is the number of servers, running or not.
func (c *Cluster) Len() int { return len(c.opts) }

// Server returns server i, nil while it is shut down.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// StreamLeader returns the index of the server leading stream (global account), or -1 when
// no running server leads it now.
func (c *Cluster) StreamLeader(stream string) int {
	for i := range c.opts {
		if s := c.Server(i); s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops server i (as a crash would, without stepping down first) and waits until it
// is gone. It does nothing if the server is already down.
func (c *Cluster) Shutdown(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i again on its ports and store (or for the first time).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	opts := *c.opts[i]
	s, err := server.NewServer(&opts)
	if err != nil {
		c.t.Errorf("brokertest: server %d: %v", i, err)
		return
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		c.t.Errorf("brokertest: server %d not ready", i)
		return
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

// JetStream connects to every server of the cluster (reconnecting without limit, so that the
// connection outlives the loss of its server) and returns a JetStream context; the connection
// is closed by a cleanup of t.
func (c *Cluster) JetStream(t testing.TB, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	return JetStreamAt(t, c.URL(), append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, opts...)...)
}
