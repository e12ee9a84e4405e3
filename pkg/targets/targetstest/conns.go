package targetstest

import (
	"net"
	"net/http"
	"sync/atomic"
)

// Conns counts the connections a server accepted, for tests of connection reuse: a client
// that pools its connections opens about as many as it sends requests at once, one that does
// not opens one for most requests. Set [Conns.Track] as the http.Server's ConnState. The zero
// value is ready to use.
type Conns struct {
	n atomic.Int64
}

// Track counts c when it is new; it has the signature of http.Server.ConnState.
func (cs *Conns) Track(_ net.Conn, state http.ConnState) {
	if state == http.StateNew {
		cs.n.Add(1)
	}
}

// Opened returns how many connections were accepted.
func (cs *Conns) Opened() int { return int(cs.n.Load()) }
