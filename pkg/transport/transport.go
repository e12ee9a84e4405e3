// Package transport builds the HTTP transports hrpush talks to remote services with: one
// pooled transport per service ([Pooled]), shared by that service's clients and sized for the
// jobs that run at once, and a [Guard] for downloads from URLs that come from outside (the
// resume links of profiles), which refuses to connect into the network the worker runs in.
package transport

import (
	"net"
	"net/http"
	"time"
)

// Timeouts of a connection's set-up; the whole request is bounded by the http.Client's Timeout
// and the caller's context.
const (
	DialTimeout         = 10 * time.Second
	TLSHandshakeTimeout = 10 * time.Second
	IdleConnTimeout     = 90 * time.Second
	keepAlive           = 30 * time.Second
)

// Pooled returns a transport for one remote service that keeps up to conns idle connections
// per host, so that conns requests at once reuse their connections instead of dialling (Go's
// default transport keeps 2, so 62 of 64 concurrent jobs dialled afresh, each a TCP and TLS
// handshake and a socket left in TIME_WAIT). It speaks HTTP/2 where the server offers it and
// uses the environment's proxy settings. conns below 1 counts as 1.
func Pooled(conns int) *http.Transport {
	conns = max(conns, 1)
	d := &net.Dialer{Timeout: DialTimeout, KeepAlive: keepAlive}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no limit across hosts; MaxIdleConnsPerHost bounds each
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an HTTP client on a [Pooled] transport of conns connections per host, with
// timeout bounding each request.
func Client(conns int, timeout time.Duration) *http.Client {
	return &http.Client{Transport: Pooled(conns), Timeout: timeout}
}
