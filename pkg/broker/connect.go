package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/hrpush/hrpush/pkg/secret"
)

// Reply inbox prefixes. Every request hrpush makes (JetStream API calls, pulls, publish acks,
// KV reads and watches) gets its reply on a subject under the connection's inbox prefix, and a
// reply is an ordinary message: any client of the account allowed to subscribe to that
// subject receives it. With the default prefix "_INBOX" shared by every client, a producer
// allowed to subscribe to "_INBOX.>" could overhear the worker's KV replies, including the ATS
// token records. Each binary therefore uses its own prefix, and the NATS permissions give each
// user the subscribe right on its own prefix only (deployments/nats/nats-server.conf).
const (
	// WorkerInboxPrefix is the inbox prefix of cmd/worker's connections. Grant the workers'
	// NATS user subscribe "_INBOX_hrpush_worker.>", and no other user.
	WorkerInboxPrefix = "_INBOX_hrpush_worker"
	// EnqueueInboxPrefix is the default inbox prefix of cmd/enqueue's connections. Grant the
	// producers' NATS user subscribe "_INBOX_hrpush_enqueue.>".
	EnqueueInboxPrefix = "_INBOX_hrpush_enqueue"
	// OperatorInboxPrefix is the inbox prefix of cmd/enqueue run by an operator
	// (NATS_INBOX_PREFIX): its replies carry ATS tokens (enqueue connect, connections list),
	// so only the operators' NATS user may subscribe "_INBOX_hrpush_operator.>".
	OperatorInboxPrefix = "_INBOX_hrpush_operator"
	// GatewayInboxPrefix is the inbox prefix of cmd/gateway's connections; its OAuth callback
	// stores ATS tokens. Grant the gateway's NATS user subscribe "_INBOX_hrpush_gateway.>".
	GatewayInboxPrefix = "_INBOX_hrpush_gateway"
)

// ClientConfig describes how a client connects to a NATS server: where, as whom, over which
// TLS, and with which reply inbox prefix. The zero value (with a URL) connects anonymously in
// plain text with the default inbox prefix.
//
// Authentication is one of: CredsFile (a decentralised-auth user JWT and seed), NKeySeedFile,
// User with Password, or Token; or none, or the user info of URL. File fields are paths,
// read when the options are built (to fail early) and again on each (re)connect.
type ClientConfig struct {
	// URL is the server URL, or several comma-separated. User info in it (user:password@ or
	// token@) cannot be combined with the credential fields below.
	URL string
	// Name of the connection in the server's monitoring (connz).
	Name string
	// CredsFile is a .creds file holding a user JWT and its nkey seed (operator/JWT mode).
	CredsFile string
	// NKeySeedFile is a file holding a user nkey seed (SU…), for servers listing the user's
	// public nkey.
	NKeySeedFile string
	// User and Password authenticate with a user of the server's authorization block. They
	// go together.
	User     string
	Password secret.Value
	// Token is an authorization token.
	Token secret.Value
	// TLSCAFile is a PEM file of the CA certificate(s) that signed the server's certificate.
	// Setting it, or the client certificate, turns TLS on; without it the system roots
	// verify the server.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and its key, for servers that
	// verify clients (tls { verify: true }). They go together.
	TLSCertFile string
	TLSKeyFile  string
	// InboxPrefix replaces the default reply prefix "_INBOX": WorkerInboxPrefix or
	// EnqueueInboxPrefix. Empty keeps the default.
	InboxPrefix string
}

// EnvNames names, for each ClientConfig field, the environment variable that sets it in
// hrpush's commands, for messages (cmd/enqueue names its flags for some of them).
var EnvNames = map[string]string{ //nolint:gochecknoglobals // constant table
	"URL": "NATS_URL", "CredsFile": "NATS_CREDS_FILE", "NKeySeedFile": "NATS_NKEY_SEED_FILE",
	"User": "NATS_USER", "Password": "NATS_PASSWORD", "Token": "NATS_TOKEN",
	"TLSCAFile": "NATS_TLS_CA_FILE", "TLSCertFile": "NATS_TLS_CERT_FILE", "TLSKeyFile": "NATS_TLS_KEY_FILE",
	"InboxPrefix": "NATS_INBOX_PREFIX",
}

// SecurityFields returns the names of the credential and TLS fields that are set, in the
// order of the struct.
func (c ClientConfig) SecurityFields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"CredsFile", c.CredsFile != ""}, {"NKeySeedFile", c.NKeySeedFile != ""},
		{"User", c.User != ""}, {"Password", !c.Password.IsZero()}, {"Token", !c.Token.IsZero()},
		{"TLSCAFile", c.TLSCAFile != ""}, {"TLSCertFile", c.TLSCertFile != ""}, {"TLSKeyFile", c.TLSKeyFile != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// FieldError is returned by [ClientConfig.Options] and [Connect] for a setting that is
// invalid, unreadable, or not allowed with another one. Field names the ClientConfig field;
// With, when not empty, the other field of a forbidden or incomplete combination. Errors never
// contain a secret, only field names and file paths.
type FieldError struct {
	Field string
	With  string
	Err   error
}

func (e *FieldError) Error() string { return "broker: " + e.Describe(nil) }

func (e *FieldError) Unwrap() error { return e.Err }

// Describe returns the message with each field named by name (for example the environment
// variable that set it); a nil name, or an empty result, keeps the field name.
func (e *FieldError) Describe(name func(field string) string) string {
	n := func(f string) string {
		if name != nil {
			if s := name(f); s != "" {
				return s
			}
		}
		return f
	}
	if e.With != "" {
		return n(e.Field) + " and " + n(e.With) + ": " + e.Err.Error()
	}
	return n(e.Field) + ": " + e.Err.Error()
}

// DescribeEnv returns the message with each field named by the environment variable that
// sets it ([EnvNames]), as the worker and the gateway report it.
func (e *FieldError) DescribeEnv() string {
	return e.Describe(func(f string) string { return EnvNames[f] })
}

var (
	errExclusive = errors.New("cannot be used together: give one way of authenticating")
	errTogether  = errors.New("must be set together")
)

// Options checks the configuration and returns the nats.Connect options it implies. Files are
// read now, so a missing, unreadable or malformed file is reported here (as a *[FieldError])
// rather than on the first connection attempt. The URL is not dialled.
func (c ClientConfig) Options() ([]nats.Option, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	type fieldOption struct {
		field string
		opt   nats.Option
	}
	var opts []fieldOption
	add := func(field string, opt nats.Option) { opts = append(opts, fieldOption{field, opt}) }
	if c.Name != "" {
		add("Name", nats.Name(c.Name))
	}
	if c.InboxPrefix != "" {
		add("InboxPrefix", nats.CustomInboxPrefix(c.InboxPrefix))
	}
	switch {
	case c.CredsFile != "":
		if err := checkCredsFile(c.CredsFile); err != nil {
			return nil, &FieldError{Field: "CredsFile", Err: err}
		}
		add("CredsFile", nats.UserCredentials(c.CredsFile))
	case c.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, &FieldError{Field: "NKeySeedFile", Err: err}
		}
		add("NKeySeedFile", opt)
	case c.User != "":
		add("User", nats.UserInfo(c.User, c.Password.Reveal()))
	case !c.Token.IsZero():
		add("Token", nats.Token(c.Token.Reveal()))
	}
	if c.TLSCAFile != "" {
		add("TLSCAFile", nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		add("TLSCertFile", nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	// Apply the options to scratch settings: RootCAs, ClientCert and CustomInboxPrefix check
	// their input when applied, so their errors surface here with the field's name.
	scratch := nats.GetDefaultOptions()
	out := make([]nats.Option, 0, len(opts))
	for _, o := range opts {
		if err := o.opt(&scratch); err != nil {
			return nil, &FieldError{Field: o.field, Err: err}
		}
		out = append(out, o.opt)
	}
	return out, nil
}

// check rejects combinations and unreadable files.
func (c ClientConfig) check() error {
	type set struct {
		field string
		ok    bool
	}
	userField := "User"
	if c.User == "" {
		userField = "Password"
	}
	creds := []set{
		{"URL", urlWithUserInfo(c.URL)},
		{"CredsFile", c.CredsFile != ""},
		{"NKeySeedFile", c.NKeySeedFile != ""},
		{userField, c.User != "" || !c.Password.IsZero()},
		{"Token", !c.Token.IsZero()},
	}
	var first string
	for _, s := range creds {
		if !s.ok {
			continue
		}
		if first != "" {
			return &FieldError{Field: first, With: s.field, Err: errExclusive}
		}
		first = s.field
	}
	if c.User != "" && c.Password.IsZero() {
		return &FieldError{Field: "User", With: "Password", Err: errTogether}
	}
	if c.User == "" && !c.Password.IsZero() {
		return &FieldError{Field: "Password", With: "User", Err: errTogether}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return &FieldError{Field: "TLSCertFile", With: "TLSKeyFile", Err: errTogether}
	}
	for _, f := range []struct{ field, path string }{
		{"CredsFile", c.CredsFile},
		{"NKeySeedFile", c.NKeySeedFile},
		{"TLSCAFile", c.TLSCAFile},
		{"TLSCertFile", c.TLSCertFile},
		{"TLSKeyFile", c.TLSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return &FieldError{Field: f.field, Err: err}
		}
		_ = fh.Close()
	}
	return nil
}

// urlWithUserInfo reports whether one of the comma-separated URLs carries user info, which
// nats.go would send instead of the configured credentials.
func urlWithUserInfo(urls string) bool {
	for raw := range strings.SplitSeq(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// checkCredsFile checks that path holds a decorated user JWT and a user seed, as written by
// nsc or jwt.FormatUserConfig, so that a seed-only or JWT-only file is caught at start-up.
// The errors never quote the file.
func checkCredsFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	defer clear(b)
	if jwt, err := nkeys.ParseDecoratedJWT(b); err != nil || jwt == string(b) || !strings.HasPrefix(jwt, "ey") {
		return fmt.Errorf("%s: no decorated user JWT found (not a .creds file?)", path)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	kp.Wipe()
	return nil
}

// Connect connects to cfg.URL with cfg's options followed by extra (handlers, timeouts). A
// configuration problem is a *[FieldError]; otherwise the error is nats.Connect's, which never
// contains the password or token (check it with errors.Is(err, nats.ErrAuthorization)).
func Connect(cfg ClientConfig, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	return nats.Connect(cfg.URL, append(opts, extra...)...)
}

// Dial connects a long-running process (the worker, the gateway) as [Connect] does, with its
// own options before extra: the connection reconnects without end, and every loss of the
// server is logged on log as a warning, every reconnection as information.
func Dial(cfg ClientConfig, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "error", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	return Connect(cfg, append(opts, extra...)...)
}

// Drain drains nc (pending publishes are flushed, subscriptions finish what they hold) and
// waits up to timeout for it to close; past that, or if draining fails, it closes nc.
func Drain(nc *nats.Conn, timeout time.Duration) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		nc.Close()
	}
}
