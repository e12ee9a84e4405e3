// Command worker pulls push-profile jobs from NATS JetStream, reads each profile from HrFlow,
// formats it and writes it to the job's ATS, then acks it, or dead-letters what cannot
// succeed. Run as many as the ATS rate limits allow; they share the queue, the tokens and the
// profile → candidate ids through JetStream.
//
// Configuration comes from the environment; run `worker --help` for the list.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/transport"
	"github.com/hrpush/hrpush/pkg/version"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// config is the worker's environment. Every secret may also be given as NAME_FILE, the path
// of a file holding it (mounted secrets).
type config struct {
	NATSURL          string        `envconfig:"NATS_URL" desc:"NATS server URL(s), comma-separated; empty starts an embedded JetStream server"`
	NATSListen       string        `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222" desc:"where the embedded server listens (NATS_URL empty)"`
	NATSStoreDir     string        `envconfig:"NATS_STORE_DIR" desc:"embedded server's JetStream directory (default: <tmp>/hrpush-nats)"`
	NATSSyncInterval time.Duration `envconfig:"NATS_SYNC_INTERVAL" desc:"embedded server's fsync interval (default 2m; what a crash of the machine can lose)"`
	// Streams holds NATS_REPLICAS and the HRPUSH_*_MAX_* limits, shared by every binary
	// (jobs.StreamConfigFromEnv; listed by --help).
	Streams       jobs.StreamConfig `ignored:"true"`
	ApplyTopology bool              `envconfig:"HRPUSH_APPLY_TOPOLOGY" desc:"update the streams and buckets that differ from the settings at start-up, and log what changed (default: create what is missing, warn about the rest)"`
	// Credentials and TLS for NATS_URL; refused with the embedded server, which has neither.
	NATSCredsFile    string       `envconfig:"NATS_CREDS_FILE" desc:"NATS user credentials file (.creds: JWT and nkey seed); NATS_URL only"`
	NATSNKeySeedFile string       `envconfig:"NATS_NKEY_SEED_FILE" desc:"file holding a NATS user nkey seed (SU...); NATS_URL only"`
	NATSUser         string       `envconfig:"NATS_USER" desc:"NATS user, with NATS_PASSWORD; NATS_URL only"`
	NATSPassword     secret.Value `envconfig:"NATS_PASSWORD" desc:"password of NATS_USER"`
	NATSToken        secret.Value `envconfig:"NATS_TOKEN" desc:"NATS authorization token; NATS_URL only"`
	NATSTLSCAFile    string       `envconfig:"NATS_TLS_CA_FILE" desc:"PEM CA certificate(s) verifying the NATS server; turns TLS on; NATS_URL only"`
	NATSTLSCertFile  string       `envconfig:"NATS_TLS_CERT_FILE" desc:"PEM client certificate for NATS (with NATS_TLS_KEY_FILE); NATS_URL only"`
	NATSTLSKeyFile   string       `envconfig:"NATS_TLS_KEY_FILE" desc:"key of NATS_TLS_CERT_FILE"`

	HrFlowAPIURL    string       `envconfig:"HRFLOW_API_URL" default:"https://api.hrflow.ai/v1"`
	HrFlowAPISecret secret.Value `envconfig:"HRFLOW_API_SECRET" required:"true" desc:"HrFlow API key (X-API-KEY)"`
	HrFlowAPIUser   string       `envconfig:"HRFLOW_API_USER" required:"true" desc:"HrFlow account email (X-USER-EMAIL)"`
	// Resume links come from profiles, that is from outside: see transport.Guard.
	HrFlowDownloadAllow   []string      `envconfig:"HRFLOW_DOWNLOAD_ALLOW" desc:"CIDRs and host names resume downloads may reach although private (loopback, private, link-local, unique-local addresses are refused), over http too; e.g. 127.0.0.0/8 for the sandbox"`
	HrFlowDownloadHosts   []string      `envconfig:"HRFLOW_DOWNLOAD_HOSTS" desc:"if set, the only hosts resume downloads may reach (each matches itself and its subdomains), on every redirect"`
	HrFlowDownloadTimeout time.Duration `envconfig:"HRFLOW_DOWNLOAD_TIMEOUT" default:"60s" desc:"bound of one resume download"`

	JobAdderAuthorizationURL  string       `envconfig:"JOBADDER_AUTHORIZATION_URL" default:"https://id.jobadder.com/connect/authorize"`
	JobAdderTokenURL          string       `envconfig:"JOBADDER_TOKEN_URL" default:"https://id.jobadder.com/connect/token"`
	JobAdderClientID          string       `envconfig:"JOBADDER_CLIENT_ID" desc:"enables the JobAdder target"`
	JobAdderClientSecret      secret.Value `envconfig:"JOBADDER_CLIENT_SECRET"`
	JobAdderAuthorizationCode secret.Value `envconfig:"JOBADDER_AUTHORIZATION_CODE" desc:"single-use code from the consent redirect; exchanged once, then the stored token is used"`
	JobAdderRedirectURI       string       `envconfig:"JOBADDER_REDIRECT_URI"`
	JobAdderAllowDuplicates   bool         `envconfig:"JOBADDER_ALLOW_DUPLICATES" desc:"create a new candidate when JobAdder reports the email exists (else update it)"`

	BullhornLoginInfoURL   string        `envconfig:"BULLHORN_LOGIN_INFO_URL" default:"https://rest.bullhornstaffing.com/rest-services/loginInfo" desc:"data-centre discovery; the account's OAuth and REST hosts come from it"`
	BullhornClientID       string        `envconfig:"BULLHORN_CLIENT_ID" desc:"enables the Bullhorn target"`
	BullhornClientSecret   secret.Value  `envconfig:"BULLHORN_CLIENT_SECRET"`
	BullhornUsername       string        `envconfig:"BULLHORN_USERNAME" desc:"API user"`
	BullhornPassword       secret.Value  `envconfig:"BULLHORN_PASSWORD"`
	BullhornRedirectURI    string        `envconfig:"BULLHORN_REDIRECT_URI" desc:"only if the client id has one registered"`
	BullhornSessionTTL     time.Duration `envconfig:"BULLHORN_SESSION_TTL" default:"60m" desc:"REST session lifetime asked at login (ttl)"`
	BullhornCallsPerMinute int           `envconfig:"BULLHORN_CALLS_PER_MINUTE" default:"1500" desc:"client-side budget of REST calls per minute, shared by all workers of the account"`

	SecretsKey secret.Value `envconfig:"HRPUSH_SECRETS_KEY" desc:"32 random bytes (base64 or hex) sealing the secrets of stored connections; the same for every worker and enqueue"`

	WorkflowsFile string `envconfig:"WORKFLOWS_FILE" desc:"workflows file (YAML): per workflow id, target, format, logics, read_mode, options; empty accepts every workflow id with the built-in format"`

	Concurrency   int           `envconfig:"WORKER_CONCURRENCY" default:"8" desc:"jobs run at once per target"`
	HTTPAddr      string        `envconfig:"WORKER_HTTP_ADDR" default:"127.0.0.1:8080" desc:"serves /healthz and /readyz; \"off\" disables; a busy default port falls back to a free one"`
	Name          string        `envconfig:"WORKER_NAME" desc:"worker id in logs, events and DLQ entries (default host-pid)"`
	AckWait       time.Duration `envconfig:"WORKER_ACK_WAIT" default:"30s"`
	MaxDeliveries int           `envconfig:"WORKER_MAX_DELIVERIES" default:"10" desc:"deliveries before a transient failure is dead-lettered"`
	RetryBudget   time.Duration `envconfig:"WORKER_RETRY_BUDGET" default:"15s" desc:"in-process retries of one delivery"`
	OutageAfter   int           `envconfig:"WORKER_OUTAGE_AFTER" default:"3" desc:"different jobs in a row failing to reach their services (refused or timed-out connections, 502, 503, 504) that pause the target as down instead of dead-lettering its backlog"`
	JobTimeout    time.Duration `envconfig:"WORKER_JOB_TIMEOUT" default:"2m"`
	ShutdownGrace time.Duration `envconfig:"WORKER_SHUTDOWN_GRACE" default:"20s"`
	LogLevel      string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn, error"`
	LogFormat     string        `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`
}

// secretVars may be given as NAME_FILE.
var secretVars = []string{"HRFLOW_API_SECRET", "JOBADDER_CLIENT_SECRET", "JOBADDER_AUTHORIZATION_CODE", "BULLHORN_CLIENT_SECRET", "BULLHORN_PASSWORD", "NATS_PASSWORD", "NATS_TOKEN", "HRPUSH_SECRETS_KEY"} //nolint:gochecknoglobals // constant list

const usageHeader = `worker pulls push-profile jobs from NATS JetStream and writes the profiles to JobAdder
and Bullhorn. A target is enabled by its client id (JOBADDER_CLIENT_ID, BULLHORN_CLIENT_ID).

Usage: worker [--help | --version]

Configuration is read from the environment. Secrets can also be given as NAME_FILE=path.
The Go runtime's GOGC defaults to 400 here (GOMEMLIMIT bounds the heap where it is set).
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failed while running, 2 bad configuration.

`

func main() {
	os.Exit(run())
}

func run() int {
	for _, a := range os.Args[1:] {
		if a == "--version" || a == "-version" || a == "version" {
			fmt.Println("worker " + version.String())
			return 0
		}
		if a == "-h" || a == "--help" || a == "-help" || a == "help" {
			fmt.Print(usageHeader)
			_ = envconfig.Usagef("", &config{}, os.Stdout, envconfig.DefaultTableFormat)
			fmt.Print("\n" + jobs.StreamEnvUsage)
			return 0
		}
	}
	var cfg config
	if err := loadConfig(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\nRun 'worker --help' for the configuration reference.\n", err)
		return 2
	}
	tuneGC()
	log := envconf.Logger(cfg.LogLevel, cfg.LogFormat)
	log.Info("hrpush worker starting", "version", version.String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil && ctx.Err() == nil {
		log.Error("worker failed", "error", err)
		return envconf.ExitCode(err) // 2 for an *envconf.Error: a configuration problem
	}
	return 0
}

// gcPercent is the worker's GOGC unless the environment sets one. Its live heap is small (a
// few MB at 64 jobs at once) and it allocates tens of KB a job, so Go's default of 100 collects
// tens of times a second, each time scanning every goroutine's stack. In BenchmarkPush, 400 cut
// the worker's CPU per profile by about 9 % (the median of 4 paired runs) for a peak RSS of
// 70 MB instead of 43 MB; GOMEMLIMIT, which the deployment sets to the memory limit, still
// makes the collector work harder as the heap nears it.
const gcPercent = 400

// tuneGC sets the garbage collector's target to gcPercent, unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

func loadConfig(cfg *config) error {
	if err := envconf.LoadWithStreams(cfg, &cfg.Streams, secretVars...); err != nil {
		return err
	}
	if err := envconf.OutOfRange("counts and durations must be positive (BULLHORN_SESSION_TTL 1m or more; "+
		"WORKER_RETRY_BUDGET, WORKER_SHUTDOWN_GRACE and NATS_SYNC_INTERVAL may be 0)",
		envconf.Check{Name: "WORKER_CONCURRENCY", Bad: cfg.Concurrency < 1}, envconf.Check{Name: "WORKER_MAX_DELIVERIES", Bad: cfg.MaxDeliveries < 1},
		envconf.Check{Name: "WORKER_OUTAGE_AFTER", Bad: cfg.OutageAfter < 1},
		envconf.Check{Name: "BULLHORN_CALLS_PER_MINUTE", Bad: cfg.BullhornCallsPerMinute < 1}, envconf.Check{Name: "WORKER_ACK_WAIT", Bad: cfg.AckWait <= 0},
		envconf.Check{Name: "WORKER_RETRY_BUDGET", Bad: cfg.RetryBudget < 0}, envconf.Check{Name: "WORKER_JOB_TIMEOUT", Bad: cfg.JobTimeout <= 0},
		envconf.Check{Name: "WORKER_SHUTDOWN_GRACE", Bad: cfg.ShutdownGrace < 0}, envconf.Check{Name: "HRFLOW_DOWNLOAD_TIMEOUT", Bad: cfg.HrFlowDownloadTimeout <= 0},
		envconf.Check{Name: "NATS_SYNC_INTERVAL", Bad: cfg.NATSSyncInterval < 0}, envconf.Check{Name: "BULLHORN_SESSION_TTL", Bad: cfg.BullhornSessionTTL < time.Minute},
	); err != nil {
		return err
	}
	var empty []string
	if cfg.HrFlowAPISecret.IsZero() {
		empty = append(empty, "HRFLOW_API_SECRET")
	}
	if cfg.HrFlowAPIUser == "" {
		empty = append(empty, "HRFLOW_API_USER")
	}
	if len(empty) > 0 {
		return fmt.Errorf("required variable(s) %s empty", strings.Join(empty, ", "))
	}
	if cfg.JobAdderClientID == "" && cfg.BullhornClientID == "" {
		return errors.New("no target configured: set JOBADDER_CLIENT_ID (with JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI) " +
			"and/or BULLHORN_CLIENT_ID (with BULLHORN_CLIENT_SECRET, BULLHORN_USERNAME and BULLHORN_PASSWORD)")
	}
	var missing []string
	need := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	if cfg.JobAdderClientID != "" {
		need(!cfg.JobAdderClientSecret.IsZero(), "JOBADDER_CLIENT_SECRET")
		need(cfg.JobAdderRedirectURI != "", "JOBADDER_REDIRECT_URI")
	}
	if cfg.BullhornClientID != "" {
		need(!cfg.BullhornClientSecret.IsZero(), "BULLHORN_CLIENT_SECRET")
		need(cfg.BullhornUsername != "", "BULLHORN_USERNAME")
		need(!cfg.BullhornPassword.IsZero(), "BULLHORN_PASSWORD")
	}
	if len(missing) > 0 {
		return fmt.Errorf("required variable(s) %s missing", strings.Join(missing, ", "))
	}
	return nil
}

func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	formats := newRegistry()
	var workflows *workflow.Set
	if cfg.WorkflowsFile != "" {
		var err error
		if workflows, err = workflow.Load(cfg.WorkflowsFile, formats); err != nil {
			return envconf.Errorf("%w", err)
		}
	}
	nc, shutdownNATS, err := connect(cfg, log)
	if err != nil {
		return err
	}
	defer shutdownNATS()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	streams := cfg.Streams
	streams.Logger = log
	var buckets *jobs.Buckets
	if cfg.ApplyTopology {
		buckets, _, err = jobs.Setup(ctx, js, streams, jobs.ApplyChanges) // logs each change
	} else {
		buckets, err = jobs.EnsureStreams(ctx, js, streams)
	}
	if err != nil {
		return err
	}

	hf, err := newHrFlow(cfg)
	if err != nil {
		return envconf.Errorf("%w", err)
	}
	destinations, err := buildTargets(ctx, cfg, buckets, log)
	if err != nil {
		return err
	}
	conns, err := newConnectionSet(ctx, cfg, buckets, log)
	if err != nil {
		return err
	}
	pipeline, err := workflow.NewPipeline(workflow.PipelineConfig{
		Profiles:     hf.Profiles,
		Downloader:   hf,
		Destinations: destinations,
		Connections:  conns,
		Workflows:    workflows,
		State:        buckets.State,
		Logger:       log,
	})
	if err != nil {
		return envconf.Errorf("%w", err)
	}
	handlers := map[string]jobs.Handler{}
	for name := range destinations {
		handlers[name] = pipeline
	}
	m := newMetrics()
	w, err := jobs.NewWorker(jobs.Config{
		JetStream:     js,
		Handlers:      handlers,
		Partition:     pipeline.Connection,
		MaxInFlight:   conns.maxInFlight,
		Concurrency:   cfg.Concurrency,
		AckWait:       cfg.AckWait,
		MaxDeliveries: cfg.MaxDeliveries,
		RetryBudget:   cfg.RetryBudget,
		OutageAfter:   cfg.OutageAfter,
		JobTimeout:    cfg.JobTimeout,
		ShutdownGrace: cfg.ShutdownGrace,
		Name:          cfg.Name,
		Logger:        log,
		Observe:       m.observe,
	})
	if err != nil {
		return envconf.Errorf("%w", err)
	}
	m.watch(w)
	stopHTTP, err := serveHTTP(cfg, log, w, m)
	if err != nil {
		return err
	}
	defer stopHTTP()
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: finishing running jobs", "grace", cfg.ShutdownGrace)
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+10*time.Second)
	defer cancel()
	if err := w.Stop(stopCtx); err != nil {
		log.Warn("stop", "error", err)
	}
	return nil
}

// newHrFlow builds the HrFlow client: one pooled transport sized for every target's jobs at
// once, and a guarded one for resume downloads.
func newHrFlow(cfg config) (*hrflow.Client, error) {
	return newHrFlowAccount(cfg, cfg.HrFlowAPIURL, cfg.HrFlowAPIUser, cfg.HrFlowAPISecret, cfg.Concurrency*cfg.targets())
}

// newHrFlowAccount builds the client of one HrFlow account: the environment's, or a
// connection's own; conns is how many jobs may read at once.
func newHrFlowAccount(cfg config, apiURL, user string, apiSecret secret.Value, conns int) (*hrflow.Client, error) {
	guard, err := transport.NewGuard(transport.Policy{Allow: cfg.HrFlowDownloadAllow, Hosts: cfg.HrFlowDownloadHosts})
	if err != nil {
		return nil, fmt.Errorf("HRFLOW_DOWNLOAD_ALLOW or HRFLOW_DOWNLOAD_HOSTS: %w", err)
	}
	return hrflow.New(hrflow.WithBaseURL(apiURL), hrflow.WithAPISecret(apiSecret), hrflow.WithUserEmail(user),
		hrflow.WithHTTPClient(transport.Client(conns, hrflow.DefaultTimeout)),
		hrflow.WithDownloadClient(guard.Client(conns, cmp.Or(cfg.HrFlowDownloadTimeout, hrflow.DefaultDownloadTimeout))))
}

// targets is how many targets the configuration enables.
func (cfg config) targets() int {
	n := 0
	for _, id := range []string{cfg.JobAdderClientID, cfg.BullhornClientID} {
		if id != "" {
			n++
		}
	}
	return n
}

// connect connects to NATS_URL, or starts an embedded server. It returns a func that drains
// the connection and stops the embedded server. Replies come on broker.WorkerInboxPrefix, so
// that the NATS permissions can keep them from other users. The credential and TLS variables
// apply to NATS_URL only: with NATS_URL empty they are refused (configuration error), since
// the embedded server has no users and no TLS and setting them most likely means NATS_URL is
// missing.
func connect(cfg config, log *slog.Logger) (*nats.Conn, func(), error) {
	client := broker.ClientConfig{
		URL:          cfg.NATSURL,
		Name:         "hrpush-worker",
		CredsFile:    cfg.NATSCredsFile,
		NKeySeedFile: cfg.NATSNKeySeedFile,
		User:         cfg.NATSUser,
		Password:     cfg.NATSPassword,
		Token:        cfg.NATSToken,
		TLSCAFile:    cfg.NATSTLSCAFile,
		TLSCertFile:  cfg.NATSTLSCertFile,
		TLSKeyFile:   cfg.NATSTLSKeyFile,
		InboxPrefix:  broker.WorkerInboxPrefix,
	}
	dial := func(url string) (*nats.Conn, error) {
		client.URL = url
		nc, err := broker.Dial(client, log)
		var fe *broker.FieldError
		if errors.As(err, &fe) {
			return nil, envconf.Errorf("%s", fe.DescribeEnv())
		}
		return nc, err
	}
	if cfg.NATSURL != "" {
		nc, err := dial(cfg.NATSURL)
		var ce *envconf.Error
		if errors.As(err, &ce) {
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, fmt.Errorf("connect to NATS_URL: %w", err)
		}
		return nc, drain(nc), nil
	}
	var set []string
	for _, f := range client.SecurityFields() {
		set = append(set, broker.EnvNames[f])
	}
	if len(set) > 0 {
		return nil, nil, envconf.Errorf("%s set but NATS_URL is empty: these apply to a NATS server given by NATS_URL; "+
			"the embedded server has no users and no TLS (set NATS_URL, or unset them)", strings.Join(set, ", "))
	}
	host, port, err := net.SplitHostPort(cfg.NATSListen)
	if err != nil {
		return nil, nil, envconf.Errorf("NATS_LISTEN %q: %w", cfg.NATSListen, err)
	}
	var portNum int
	if _, err := fmt.Sscan(port, &portNum); err != nil {
		return nil, nil, envconf.Errorf("NATS_LISTEN %q: bad port", cfg.NATSListen)
	}
	storeDir := cfg.NATSStoreDir
	if storeDir == "" {
		storeDir = os.TempDir() + "/hrpush-nats"
	}
	srv, err := broker.Start(broker.Config{Host: host, Port: portNum, StoreDir: storeDir, SyncInterval: cfg.NATSSyncInterval})
	if err != nil {
		// Another worker on this machine may already run the embedded server: join it.
		nc, cerr := dial("nats://" + cfg.NATSListen)
		if cerr != nil {
			return nil, nil, fmt.Errorf("start embedded NATS on %s: %w (and no NATS server answers there: %w)", cfg.NATSListen, err, cerr)
		}
		log.Warn("NATS_URL is empty and a NATS server already listens on NATS_LISTEN: joining it", "url", "nats://"+cfg.NATSListen)
		return nc, drain(nc), nil
	}
	log.Info("embedded NATS JetStream server started", "url", srv.ClientURL(), "store_dir", storeDir)
	nc, err := dial(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	closeConn := drain(nc)
	return nc, func() { closeConn(); srv.Shutdown() }, nil
}

func drain(nc *nats.Conn) func() {
	return func() { broker.Drain(nc, 10*time.Second) }
}

// serveHTTP serves /healthz (alive: every target's pull loop goes round, see
// jobs.Worker.Stalled), /readyz (connected, no target paused) and /metrics (Prometheus).
func serveHTTP(cfg config, log *slog.Logger, w *jobs.Worker, m *metrics) (func(), error) {
	if cfg.HTTPAddr == "off" || cfg.HTTPAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		if _, explicit := os.LookupEnv("WORKER_HTTP_ADDR"); explicit {
			return nil, fmt.Errorf("WORKER_HTTP_ADDR %s: %w (give each worker its own address, or set it to off)", cfg.HTTPAddr, err)
		}
		host, _, _ := net.SplitHostPort(cfg.HTTPAddr)
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return nil, err
		}
		log.Warn("default WORKER_HTTP_ADDR is in use (another worker?): serving health checks on a free port", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := w.Stalled(time.Now()); err != nil {
			http.Error(rw, "stalled: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := w.Ready(); err != nil {
			http.Error(rw, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health server", "error", err)
		}
	}()
	log.Info("health endpoints", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
