package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/transport"
)

// victim is a TCP listener standing for an internal service: it counts the connections that
// reach it, which must stay 0.
type victim struct {
	ln       net.Listener
	accepted atomic.Int64
}

func listen(t *testing.T, addr string) *victim {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	v := &victim{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			v.accepted.Add(1)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return v
}

func (v *victim) port() string {
	_, port, _ := net.SplitHostPort(v.ln.Addr().String())
	return port
}

// resolver answers the names of the table and refuses the others, as a DNS server that points
// harmless-looking names at private addresses would.
func resolver(table map[string]string) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if a, err := netip.ParseAddr(host); err == nil {
			return []netip.Addr{a}, nil
		}
		if s, ok := table[host]; ok {
			return []netip.Addr{netip.MustParseAddr(s)}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

func client(t *testing.T, p transport.Policy) *http.Client {
	t.Helper()
	g, err := transport.NewGuard(p)
	if err != nil {
		t.Fatal(err)
	}
	return g.Client(4, 5*time.Second)
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestGuardRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	v4 := listen(t, "127.0.0.1:0")
	v6 := listen(t, "[::1]:0")
	// files.allowed.test is the allowed file host (by name); it redirects where the query says.
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		fmt.Fprint(w, "resume")
	}))
	t.Cleanup(allowed.Close)
	_, allowedPort, _ := net.SplitHostPort(strings.TrimPrefix(allowed.URL, "http://"))
	lookup := resolver(map[string]string{
		"files.allowed.test":       "127.0.0.1",
		"innocent.example.com":     "127.0.0.1",
		"innocent6.example.com":    "::1",
		"metadata.example.com":     "169.254.169.254",
		"mapped.example.com":       "::ffff:127.0.0.1",
		"private.example.com":      "10.1.2.3",
		"unique-local.example.com": "fd00::1",
	})
	c := client(t, transport.Policy{Allow: []string{"files.allowed.test"}, Lookup: lookup})
	via := "http://files.allowed.test:" + allowedPort + "/r?to="

	tests := []struct {
		name, url, rule string
	}{
		{"direct private address", "https://127.0.0.1:" + v4.port() + "/", "loopback address 127.0.0.1"},
		{"name resolving to 127.0.0.1", "https://innocent.example.com:" + v4.port() + "/", "loopback address 127.0.0.1"},
		{"name resolving to ::1", "https://innocent6.example.com:" + v6.port() + "/", "loopback address ::1"},
		{"IPv6 loopback", "https://[::1]:" + v6.port() + "/", "loopback address ::1"},
		{"IPv4-mapped IPv6", "https://[::ffff:127.0.0.1]:" + v4.port() + "/", "loopback address 127.0.0.1"},
		{"name resolving to IPv4-mapped", "https://mapped.example.com:" + v4.port() + "/", "loopback address 127.0.0.1"},
		{"cloud metadata", "https://169.254.169.254/latest/meta-data/", "link-local (cloud metadata) address 169.254.169.254"},
		{"redirect to cloud metadata", via + "http://169.254.169.254/latest/meta-data/", "plain http"},
		{"redirect to https cloud metadata", via + "https://metadata.example.com/latest/meta-data/", "link-local (cloud metadata) address 169.254.169.254"},
		{"redirect to a loopback service", via + "https://127.0.0.1:" + v4.port() + "/", "loopback address 127.0.0.1"},
		{"redirect to IPv6 loopback", via + "https://[::1]:" + v6.port() + "/", "loopback address ::1"},
		{"private network", "https://private.example.com/", "private address 10.1.2.3"},
		{"unique-local", "https://unique-local.example.com/", "unique-local address fd00::1"},
		{"unspecified", "https://0.0.0.0:" + v4.port() + "/", "address 0.0.0.0"},
		{"multicast", "https://[ff02::1]/", "multicast address ff02::1"},
		{"plain http to a public name", "http://innocent.example.com:" + v4.port() + "/", "plain http"},
		{"other scheme through a redirect", via + "ftp://innocent.example.com/", "scheme \"ftp\""},
		{"too many redirects", "http://files.allowed.test:" + allowedPort + "/loop", "more than 3 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := get(c, tt.url)
			refused, ok := errors.AsType[*transport.RefusedError](err)
			if !ok {
				t.Fatalf("GET %s = %q, %v; want a refusal", tt.url, body, err)
			}
			if !strings.Contains(refused.Rule, tt.rule) || !refused.Permanent() {
				t.Errorf("refusal %q, want rule %q", refused.Error(), tt.rule)
			}
		})
	}
	if n, n6 := v4.accepted.Load(), v6.accepted.Load(); n != 0 || n6 != 0 {
		t.Errorf("the internal services were reached %d (IPv4) and %d (IPv6) times", n, n6)
	}
	// The allowed host itself is served, over http, and a redirect between its own paths too.
	if body, err := get(c, via+"/r"); err != nil || body != "resume" {
		t.Errorf("allowed host: %q, %v", body, err)
	}
}

func TestGuardAllowAndHosts(t *testing.T) {
	t.Parallel()
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "resume") }))
	t.Cleanup(files.Close)

	t.Run("a CIDR allows its addresses over http", func(t *testing.T) {
		c := client(t, transport.Policy{Allow: []string{"127.0.0.0/8"}})
		if body, err := get(c, files.URL+"/f.pdf"); err != nil || body != "resume" {
			t.Errorf("GET = %q, %v", body, err)
		}
	})
	t.Run("a single address is a /32", func(t *testing.T) {
		c := client(t, transport.Policy{Allow: []string{"127.0.0.1"}})
		if body, err := get(c, files.URL+"/f.pdf"); err != nil || body != "resume" {
			t.Errorf("GET = %q, %v", body, err)
		}
	})
	t.Run("without allow, the same file is refused", func(t *testing.T) {
		c := client(t, transport.Policy{})
		if _, err := get(c, files.URL+"/f.pdf"); !errors.As(err, new(*transport.RefusedError)) {
			t.Errorf("GET: %v, want refused", err)
		}
	})
	t.Run("hosts restricts to listed suffixes", func(t *testing.T) {
		lookup := resolver(map[string]string{"bucket.files.test": "127.0.0.1", "evil.test": "127.0.0.1"})
		c := client(t, transport.Policy{Allow: []string{"127.0.0.0/8"}, Hosts: []string{"files.test"}, Lookup: lookup})
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(files.URL, "http://"))
		if _, err := get(c, "https://evil.test:"+port+"/f.pdf"); !errors.As(err, new(*transport.RefusedError)) || !strings.Contains(err.Error(), "HRFLOW_DOWNLOAD_HOSTS") {
			t.Errorf("unlisted host: %v, want refused", err)
		}
		// bucket.files.test is listed (suffix) but resolves to loopback, which only its
		// address allows; it is https here, so the TLS handshake with a plain server fails
		// after the address was accepted.
		if _, err := get(c, "https://bucket.files.test:"+port+"/f.pdf"); err == nil || errors.As(err, new(*transport.RefusedError)) {
			t.Errorf("listed host: %v, want a TLS error, not a refusal", err)
		}
	})
	t.Run("bad entries", func(t *testing.T) {
		for _, p := range []transport.Policy{
			{Allow: []string{"10.0.0.0/33"}}, {Allow: []string{"http://x"}}, {Hosts: []string{"a b"}},
		} {
			if _, err := transport.NewGuard(p); err == nil {
				t.Errorf("NewGuard(%+v) accepted", p)
			}
		}
	})
}
