// Command enqueue publishes push-profile jobs to NATS JetStream and reports on them: one
// profile (push), a list of profile keys (bulk), every profile of an HrFlow source or those
// updated since the last incremental run (source), the progress and report of a batch
// (status), and the dead-lettered jobs (dlq).
//
// Exit codes: 0 all good, 1 some jobs failed, 2 usage or connection error.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/version"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `enqueue publishes hrpush push-profile jobs to NATS JetStream and reports on them.

Usage:
  enqueue push   --workflow-id W --target T --source-key S --profile-key P   one profile
  enqueue bulk   --workflow-id W --target T --source-key S [--file F] [--wait]
                                                  one job per key read from F or stdin
  enqueue source --workflow-id W --target T --source-key S [--created-after D] [--wait]
                                                  one job per profile of an HrFlow source
  enqueue source --workflow-id W --target T --source-key S --incremental [--every 5m]
                                                  the profiles updated since the last run
  enqueue status --batch ID [--wait] [--json]     a batch's progress and report
  enqueue dlq    list|replay|purge [filters]      dead-lettered jobs: show, enqueue again, remove
  enqueue connections list|show|add|remove|pause|resume [NAME] --target T
                                                  ATS accounts (connections) the workers write to
  enqueue connect NAME --target T [--code CODE | --listen ADDR | --gateway URL]
                                                  authorise a connection; no worker restart
  enqueue apikeys create|list|revoke              the gateway's API keys (shown once at create)
  enqueue setup  [--apply]                        streams and buckets: show what differs from
                                                  the settings (NATS_REPLICAS, HRPUSH_*_MAX_*),
                                                  with --apply create and update them

Targets: jobadder, bullhorn. Every command takes --nats-url (default $NATS_URL, else
nats://127.0.0.1:4222, where a worker started without NATS_URL serves its embedded server).
Run 'enqueue COMMAND --help' for a command's flags.

NATS credentials come from the worker's variables (NATS_USER, NATS_PASSWORD[_FILE], …). With
the shipped NATS users, producers (push, bulk, source, status) run as hrpush-enqueue, operators
(status, dlq, connections, connect, apikeys) as hrpush-operator with
NATS_INBOX_PREFIX=_INBOX_hrpush_operator (default _INBOX_hrpush_enqueue); setup --apply
changes streams: run it as hrpush-worker with NATS_INBOX_PREFIX=_INBOX_hrpush_worker.

enqueue --version prints the build.

Exit codes: 0 all good, 1 some jobs failed, 2 usage or connection error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, a *app, args []string) int
}

// app holds what every command shares.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	natsURL        string
	natsCreds      string // --creds, default $NATS_CREDS_FILE
	natsTLSCA      string // --tls-ca, default $NATS_TLS_CA_FILE
	nc             *nats.Conn
	js             jetstream.JetStream
	// refused is the last permissions violation the server reported on nc, for messages.
	refused atomic.Pointer[string]
	// denied receives the first permissions violation of nc.
	denied <-chan error
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	commands := []command{
		{"push", "enqueue one profile", runPush},
		{"bulk", "enqueue one job per profile key", runBulk},
		{"source", "enqueue every profile of an HrFlow source", runSource},
		{"status", "show a batch's progress and report", runStatus},
		{"dlq", "list, replay or purge dead-lettered jobs", runDLQ},
		{"connections", "list, show, add, remove, pause or resume ATS accounts", runConnections},
		{"connect", "authorise a connection (JobAdder consent, Bullhorn login check)", runConnect},
		{"apikeys", "create, list or revoke the gateway's API keys", runAPIKeys},
		{"setup", "create the streams and buckets; show or apply changes of settings", runSetup},
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "version") {
		fmt.Fprintln(stdout, "enqueue "+version.String())
		return exitOK
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, a, args[1:])
		}
	}
	fmt.Fprintf(stderr, "enqueue: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// flags returns a flag set for a command with the shared flags.
func (a *app) flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("enqueue "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	def := os.Getenv("NATS_URL")
	if def == "" {
		def = "nats://127.0.0.1:4222"
	}
	fs.StringVar(&a.natsURL, "nats-url", def, "NATS server URL (env NATS_URL)")
	fs.StringVar(&a.natsCreds, "creds", os.Getenv("NATS_CREDS_FILE"), "NATS user credentials file (env NATS_CREDS_FILE); "+
		"other NATS credentials: NATS_NKEY_SEED_FILE, NATS_USER with NATS_PASSWORD[_FILE], NATS_TOKEN[_FILE]")
	fs.StringVar(&a.natsTLSCA, "tls-ca", os.Getenv("NATS_TLS_CA_FILE"), "PEM CA file verifying the NATS server; turns TLS on (env NATS_TLS_CA_FILE); "+
		"client certificate: NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: enqueue %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it returns an exit code and false when the command must stop.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// connect connects to NATS and makes sure the streams exist. Credentials and TLS come from
// the worker's variables (one env file serves both), --creds and --tls-ca override theirs.
// Replies come on NATS_INBOX_PREFIX, default broker.EnqueueInboxPrefix, which the producers'
// NATS user may read, and not on the workers' prefix; the operators' user has its own
// (broker.OperatorInboxPrefix).
func (a *app) connect(ctx context.Context) error {
	if err := a.dial(); err != nil {
		return err
	}
	if err := a.ensureStreams(ctx, a.js, a.denied); err != nil {
		a.nc.Close()
		a.nc, a.js = nil, nil
		return err
	}
	return nil
}

// dial connects to NATS (see connect) without looking at the streams.
func (a *app) dial() error {
	password, err := envconf.Secret("NATS_PASSWORD")
	if err != nil {
		return err
	}
	token, err := envconf.Secret("NATS_TOKEN")
	if err != nil {
		return err
	}
	client := broker.ClientConfig{
		URL:          a.natsURL,
		Name:         "hrpush-enqueue",
		CredsFile:    a.natsCreds,
		NKeySeedFile: os.Getenv("NATS_NKEY_SEED_FILE"),
		User:         os.Getenv("NATS_USER"),
		Password:     password,
		Token:        token,
		TLSCAFile:    a.natsTLSCA,
		TLSCertFile:  os.Getenv("NATS_TLS_CERT_FILE"),
		TLSKeyFile:   os.Getenv("NATS_TLS_KEY_FILE"),
		InboxPrefix:  cmp.Or(os.Getenv("NATS_INBOX_PREFIX"), broker.EnqueueInboxPrefix),
	}
	// A request this user may not make, or a reply on an inbox prefix it may not read, gets no
	// answer, only this asynchronous error: it ends the wait at once rather than after a
	// timeout, and is named in messages (a.refused).
	denied := make(chan error, 1)
	nc, err := broker.Connect(client, nats.Timeout(5*time.Second), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			msg := err.Error()
			a.refused.Store(&msg)
			select {
			case denied <- err:
			default:
			}
		}
	}))
	var fe *broker.FieldError
	if errors.As(err, &fe) {
		flags := map[string]string{"URL": "--nats-url", "CredsFile": "--creds", "TLSCAFile": "--tls-ca"}
		return errors.New(fe.Describe(func(f string) string {
			if flag := flags[f]; flag != "" {
				return flag + " (" + broker.EnvNames[f] + ")"
			}
			return broker.EnvNames[f]
		}))
	}
	if errors.Is(err, nats.ErrAuthorization) {
		return fmt.Errorf("NATS at %s refused the credentials: %w (see --creds, NATS_NKEY_SEED_FILE, NATS_USER and NATS_PASSWORD, NATS_TOKEN)", redactURL(a.natsURL), err)
	}
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s: %w (start a worker, which embeds a server when NATS_URL is empty, or set --nats-url)", redactURL(a.natsURL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	a.nc, a.js, a.denied = nc, js, denied
	return nil
}

// ensureStreams makes sure the jobs and events streams exist before a command uses them. When
// the jobs stream is missing (a fresh NATS), enqueue creates the streams and buckets as a
// worker would (jobs.EnsureStreams, from the same settings); a worker starting at the same time
// creates the same, whoever comes first. A NATS user that may not create them waits for a
// worker to. Either way the wait is bounded (HRPUSH_SETUP_TIMEOUT) and shows its progress.
func (a *app) ensureStreams(ctx context.Context, js jetstream.JetStream, denied <-chan error) error {
	cfg, err := jobs.StreamConfigFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	cfg.Logger = a.progress()
	var exists bool
	err = untilDenied(ctx, denied, func(ctx context.Context) (err error) {
		exists, err = jobs.StreamExists(ctx, js, cfg, jobs.JobsStream)
		return err
	})
	if err != nil {
		return fmt.Errorf("JetStream at %s: %w", redactURL(a.natsURL), err)
	}
	if !exists {
		err = untilDenied(ctx, denied, func(ctx context.Context) error { _, err := jobs.EnsureStreams(ctx, js, cfg); return err })
		if errors.Is(err, nats.ErrPermissionViolation) {
			fmt.Fprintf(a.stderr, "enqueue: this NATS user may not create the streams (%v): waiting for a worker to create them\n", err)
			err = nil
		}
		if err != nil {
			return fmt.Errorf("%w (is JetStream enabled on %s?)", err, redactURL(a.natsURL))
		}
	}
	if err := jobs.WaitStreams(ctx, js, cfg, jobs.JobsStream, jobs.EventsStream); err != nil {
		return fmt.Errorf("JetStream at %s: %w", redactURL(a.natsURL), err)
	}
	if exists { // else made just now from cfg, or by a worker with its settings
		changes, err := jobs.CompareStreams(ctx, js, cfg, jobs.JobsStream)
		if err != nil {
			return fmt.Errorf("JetStream at %s: %w", redactURL(a.natsURL), err)
		}
		for _, c := range changes {
			fmt.Fprintf(a.stderr, "enqueue: warning: NATS %s differs from the settings; left as it is (apply with 'enqueue setup --apply')\n", c)
		}
	}
	return nil
}

// untilDenied runs op with a context that a permissions violation reported on denied cancels:
// the violation is then op's error.
func untilDenied(ctx context.Context, denied <-chan error, op func(context.Context) error) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case err := <-denied:
			cancel(err)
		case <-sctx.Done():
		}
	}()
	err := op(sctx)
	if cause := context.Cause(sctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return cause
	}
	return err
}

// progress is the logger of the streams' setup: one line on stderr per step or wait.
func (a *app) progress() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, attr slog.Attr) slog.Attr {
			if len(groups) == 0 && (attr.Key == slog.TimeKey || attr.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return attr
		},
	}))
}

func (a *app) close() {
	if a.nc != nil {
		_ = a.nc.Drain()
	}
}

func (a *app) fail(format string, args ...any) int {
	fmt.Fprintf(a.stderr, "enqueue: "+format+"%s\n", append(args, a.refusal())...)
	return exitUsage
}

// refusal explains a permissions violation the server reported, if any: an operation the NATS
// user may not do, or replies it may not receive on its inbox prefix.
func (a *app) refusal() string {
	msg := a.refused.Load()
	if msg == nil {
		return ""
	}
	return fmt.Sprintf(" (NATS refused: %s; the shipped users: hrpush-enqueue runs push, bulk, source and status; "+
		"hrpush-operator runs status, dlq, connections and connect, with NATS_INBOX_PREFIX=%s)", *msg, broker.OperatorInboxPrefix)
}

// redactURL drops the user info (user:password or token) of a NATS URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("REDACTED")
	return u.String()
}
