// Package broker runs an embedded NATS server with JetStream, for a worker started without
// NATS_URL, for the demo and for tests. Production points the worker at a NATS cluster instead;
// [ClientConfig] builds the connection options the binaries use for it (credentials, TLS, and
// the per-binary reply inbox prefixes [WorkerInboxPrefix] and [EnqueueInboxPrefix]), [Dial]
// keeps the long-running ones (worker, gateway) connected, and [Retry] and [Transient] carry
// their JetStream calls through a cluster's elections.
package broker

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config describes an embedded server. The zero value listens on 127.0.0.1:4222 and stores
// JetStream data in a temporary directory chosen by nats-server.
type Config struct {
	// Host to listen on. Default 127.0.0.1: the embedded server is for one machine.
	Host string
	// Port to listen on. Default 4222; -1 picks a free port (tests).
	Port int
	// StoreDir is where JetStream keeps streams and KV buckets.
	StoreDir string
	// SyncInterval is how often JetStream flushes to disk. Default 2 minutes (nats-server's own
	// default): a machine crash can lose what was written since the last sync. Set to a small
	// value to narrow that window at a cost in throughput.
	SyncInterval time.Duration
	// Name of the server in logs and cluster views. Default "hrpush-embedded".
	Name string
	// ReadyTimeout bounds start-up. Default 10 s.
	ReadyTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts an embedded server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	port := cfg.Port
	if port == 0 {
		port = 4222
	}
	opts := &server.Options{
		ServerName:   cmp.Or(cfg.Name, "hrpush-embedded"),
		Host:         cmp.Or(cfg.Host, "127.0.0.1"),
		Port:         port,
		JetStream:    true,
		StoreDir:     cfg.StoreDir,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        true,
		// Jobs are small; a DLQ entry with its error history stays well under 1 MiB.
		MaxPayload: 1 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(cmp.Or(cfg.ReadyTimeout, 10*time.Second)) {
		ns.Shutdown()
		return nil, errors.New("broker: embedded NATS server not ready in time (is the port in use?)")
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
