// Package brokertest starts embedded NATS JetStream servers for tests, as net/http/httptest
// starts HTTP servers.
//
// A test that needs JetStream asks for a server of its own; the server and the connections are
// closed by the test's cleanups:
//
//	url, js := brokertest.JetStream(t)
//	kv := brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: "state"})
//
// Tests that only need buckets can share one server per package, started by TestMain:
//
//	var natsServer brokertest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(natsServer.Run(m)) }
//
//	func TestX(t *testing.T) { kv := natsServer.KeyValue(t, jetstream.KeyValueConfig{}) }
//
// The package creates no streams: callers that need hrpush's streams and buckets call
// jobs.EnsureStreams on the JetStream context they get.
package brokertest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
)

// Server is an embedded NATS server with JetStream, configured as the worker's own
// ([broker.Start]), listening on a free loopback port.
type Server struct {
	srv *broker.Server
	// buckets numbers the buckets KeyValue names.
	buckets atomic.Int64
}

// Start starts a server storing its data in a temporary directory of t, and registers its
// shutdown as a cleanup of t.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := broker.Start(broker.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &Server{srv: srv}
}

// JetStream starts a server as [Start] does and connects to it as [Server.JetStream] does. It
// returns the server's URL, for the code under test, and the test's JetStream context.
func JetStream(t testing.TB, opts ...nats.Option) (url string, js jetstream.JetStream) {
	t.Helper()
	s := Start(t)
	return s.URL(), s.JetStream(t, opts...)
}

// JetStreamAt connects to the server at url with opts (any server: one of [StartNATS], a
// cluster's) and returns its JetStream context; the connection is closed by a cleanup of t.
func JetStreamAt(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// URL is the URL clients connect to, e.g. nats://127.0.0.1:53127.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Connect opens a connection to the server with opts, and registers its closing as a cleanup
// of t.
func (s *Server) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream opens a connection as [Server.Connect] does and returns a JetStream context on it.
func (s *Server) JetStream(t testing.TB, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(s.Connect(t, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// KeyValue creates a KV bucket with cfg on a new connection of t. An empty cfg.Bucket gets a
// name of its own on the server (test_1, test_2, ...), so that tests sharing a server each
// have their own buckets.
func (s *Server) KeyValue(t testing.TB, cfg jetstream.KeyValueConfig) jetstream.KeyValue {
	t.Helper()
	if cfg.Bucket == "" {
		cfg.Bucket = fmt.Sprintf("test_%d", s.buckets.Add(1))
	}
	kv, err := s.JetStream(t).CreateKeyValue(t.Context(), cfg)
	if err != nil {
		t.Fatalf("brokertest: bucket %s: %v", cfg.Bucket, err)
	}
	return kv
}

// Shared is a server shared by the tests of a package, started and stopped by its TestMain
// with [Shared.Run]. Its methods are those of [Server].
type Shared struct {
	*Server
}

// Run starts the server in a temporary directory, runs the tests (m.Run), shuts the server
// down, removes the directory and returns the tests' exit code, for os.Exit. If the server
// does not start, Run reports why and returns 1 without running the tests.
func (s *Shared) Run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brokertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokertest:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := broker.Start(broker.Config{Port: -1, StoreDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokertest:", err)
		return 1
	}
	defer srv.Shutdown()
	s.Server = &Server{srv: srv}
	return m.Run()
}

// StreamMsgs returns the number of messages in the stream name.
func StreamMsgs(t testing.TB, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return streamState(t, js, name).Msgs
}

// StreamLastSeq returns the sequence of the last message stored in the stream name: how many
// it ever stored, those since deleted or acked away (a work queue) included.
func StreamLastSeq(t testing.TB, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	return streamState(t, js, name).LastSeq
}

// streamState returns the state of the stream name.
func streamState(t testing.TB, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// StartNATS runs a plain nats-server with opts, for tests of what the embedded server does
// not set: users and permissions, nkeys, operator mode, TLS. Unset fields default for a test:
// Host 127.0.0.1, a free port (Port 0 as well as -1; nats-server itself reads 0 as 4222), and
// a temporary directory of t as StoreDir when JetStream is on. Logs and signal handlers are
// always off. The server's shutdown is registered as a cleanup of t.
func StartNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("brokertest: nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// StartConfigFile runs one nats-server configured by the file at path, as `nats-server -c
// path` would with the environment env (variables the file reads as $NAME), for tests of a
// shipped configuration: its users and permissions, its JetStream settings. What only works
// in its real place is replaced: the server listens on a free loopback port, stores its data
// in a temporary directory of t, serves no monitoring port, and joins no cluster (the routes
// name hosts of the real deployment). Not for parallel tests: it sets the environment.
func StartConfigFile(t *testing.T, path string, env map[string]string) *server.Server {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", server.RANDOM_PORT, t.TempDir()
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	return StartNATS(t, opts)
}
