package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// MaxRedirects is how many redirects a guarded client follows, each hop checked as the first
// request was.
const MaxRedirects = 3

// Policy says where a [Guard]'s client may connect. The zero Policy allows https to public
// addresses only.
type Policy struct {
	// Allow lists what may be reached although it would be refused, over http as well as
	// https: CIDRs ("10.20.0.0/16", "::1/128"), single addresses, and host names (a name
	// matches itself and its subdomains). The sandbox serves files on http://127.0.0.1 and is
	// allowed with "127.0.0.0/8".
	Allow []string
	// Hosts, when not empty, are the only hosts that may be reached, on every redirect hop: a
	// name matches itself and its subdomains ("amazonaws.com" matches
	// "bucket.s3.eu-west-1.amazonaws.com"), an address matches itself.
	Hosts []string
	// Lookup resolves a host name to its addresses. Default: net.DefaultResolver.LookupNetIP.
	// Tests give a resolver that answers a public-looking name with a private address.
	Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// RefusedError is returned, wrapped, for a request a [Guard]'s client refused to send or a
// connection it refused to open. It is permanent: the same URL is refused again.
type RefusedError struct {
	Host string // the URL's host name or address, without port
	Rule string // what refused it, e.g. "loopback address 127.0.0.1"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("download from %s refused: %s", e.Host, e.Rule)
}

// Permanent reports true: the same URL is refused again (package jobs reads it).
func (e *RefusedError) Permanent() bool { return true }

// Guard keeps a client that downloads from URLs given by outsiders (a profile's resume link)
// from being turned against the network it runs in (server-side request forgery, OWASP): it
// refuses, when it connects (after DNS, on every redirect hop), loopback, private, link-local
// (cloud metadata), unique-local, multicast, unspecified and other special-purpose addresses,
// IPv4 and IPv6 (IPv4-mapped too), and http unless the host is allowed. The address check is
// code.dny.dev/ssrf's (IANA's special-purpose registries), run as the dialer's Control, so a
// name that resolves to a private address, and a redirect to one, are refused too.
type Guard struct {
	allowNames    []string
	allowPrefixes []netip.Prefix
	hosts         []string
	lookup        func(ctx context.Context, network, host string) ([]netip.Addr, error)
	addrs         *ssrf.Guardian
}

// NewGuard checks p and returns its guard. An entry of Allow or Hosts that is neither a CIDR,
// an address nor a host name is an error.
func NewGuard(p Policy) (*Guard, error) {
	g := &Guard{lookup: p.Lookup}
	if g.lookup == nil {
		g.lookup = net.DefaultResolver.LookupNetIP
	}
	var v4, v6 []netip.Prefix
	for _, entry := range p.Allow {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		prefix, err := parsePrefix(entry)
		switch {
		case err == nil:
			g.allowPrefixes = append(g.allowPrefixes, prefix)
			if prefix.Addr().Is4() {
				v4 = append(v4, prefix)
			} else {
				v6 = append(v6, prefix)
			}
		case validName(entry):
			g.allowNames = append(g.allowNames, normalName(entry))
		default:
			return nil, fmt.Errorf("transport: allow %q: not a CIDR, an address or a host name", entry)
		}
	}
	for _, entry := range p.Hosts {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if _, err := netip.ParseAddr(entry); err != nil && !validName(entry) {
			return nil, fmt.Errorf("transport: host %q: not a host name or an address", entry)
		}
		g.hosts = append(g.hosts, normalName(entry))
	}
	g.addrs = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
	return g, nil
}

// parsePrefix reads a CIDR or a single address (as a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validName reports whether s looks like a DNS host name.
func validName(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "."), ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func normalName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "."), "."))
}

// matchName reports whether host is one of names or a subdomain of one.
func matchName(names []string, host string) bool {
	host = normalName(host)
	for _, n := range names {
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}

// allowedHost reports whether the URL host is allowed by Policy.Allow: a listed name, or an
// address inside a listed CIDR.
func (g *Guard) allowedHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return g.allowedAddr(a)
	}
	return matchName(g.allowNames, host)
}

func (g *Guard) allowedAddr(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range g.allowPrefixes {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Client returns an HTTP client that applies the guard to every request and redirect, with a
// transport of conns idle connections per host and timeout bounding each request. It ignores
// the environment's proxy settings: a proxy would connect on the client's behalf, out of the
// guard's reach.
func (g *Guard) Client(conns int, timeout time.Duration) *http.Client {
	t := Pooled(conns)
	t.Proxy = nil
	t.DialContext = g.dial
	return &http.Client{
		Transport: &guarded{guard: g, next: t},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return &RefusedError{Host: req.URL.Hostname(), Rule: fmt.Sprintf("more than %d redirects", MaxRedirects)}
			}
			return nil
		},
	}
}

// CheckURL returns a [*RefusedError] when u may not be requested: a scheme other than https
// (http only for allowed hosts), or a host outside Policy.Hosts. Addresses are checked when the
// connection is made.
func (g *Guard) CheckURL(u *url.URL) error {
	host := u.Hostname()
	if len(g.hosts) > 0 && !matchName(g.hosts, host) {
		return &RefusedError{Host: host, Rule: "not one of the allowed hosts (HRFLOW_DOWNLOAD_HOSTS)"}
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if g.allowedHost(host) {
			return nil
		}
		return &RefusedError{Host: host, Rule: "plain http (https only, unless HRFLOW_DOWNLOAD_ALLOW lists the host)"}
	default:
		return &RefusedError{Host: host, Rule: fmt.Sprintf("scheme %q (https only)", u.Scheme)}
	}
}

// guarded checks each request's URL, the first and every redirect hop, before sending it.
type guarded struct {
	guard *Guard
	next  http.RoundTripper
}

func (t *guarded) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.guard.CheckURL(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// dial resolves the host itself and connects to its addresses one after the other, each
// checked by the dialer's Control once the socket's address is final. A host that
// Policy.Allow names is dialled without the address check.
func (g *Guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: DialTimeout, KeepAlive: keepAlive}
	if _, err := netip.ParseAddr(host); err == nil || !matchName(g.allowNames, host) {
		d.Control = g.control(host)
	}
	ips, err := g.lookup(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	var errs []error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if refused, ok := errors.AsType[*RefusedError](err); ok {
			// The address check is the reason, not the network: say so plainly.
			errs = append(errs, refused)
			continue
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// control is the dialer's Control for a connection to host: it refuses a socket whose
// address is not allowed.
func (g *Guard) control(host string) func(string, string, syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Host: host, Rule: fmt.Sprintf("unreadable address %q", address)}
		}
		if err := g.addrs.SafeAddr(ap.Addr()); err != nil {
			return &RefusedError{Host: host, Rule: describe(ap.Addr()) + " (allow a private file host with HRFLOW_DOWNLOAD_ALLOW)"}
		}
		return nil
	}
}

// describe names the kind of address a refused one is.
func describe(a netip.Addr) string {
	a = a.Unmap()
	kind := "special-purpose"
	switch {
	case a.IsLoopback():
		kind = "loopback"
	case a.IsLinkLocalUnicast():
		kind = "link-local (cloud metadata)"
	case a.IsPrivate() && a.Is6():
		kind = "unique-local"
	case a.IsPrivate():
		kind = "private"
	case a.IsMulticast():
		kind = "multicast"
	case a.IsUnspecified():
		kind = "unspecified"
	}
	return kind + " address " + a.String()
}
