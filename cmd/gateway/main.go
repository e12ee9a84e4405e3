// Command gateway is hrpush's HTTP front door: it enqueues push jobs posted over HTTP (the
// ingest API, /v1) and HrFlow's profile webhooks into NATS JetStream, and runs the JobAdder
// consent flow of connections (/connect, /oauth/callback). It keeps no state of its own (jobs, batch headers,
// API keys and Idempotency-Key records live in NATS), so any number of replicas can run
// behind a load balancer.
//
// Configuration comes from the environment; run `gateway --help` for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/ingest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/builtin"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/transport"
	"github.com/hrpush/hrpush/pkg/version"
	"github.com/hrpush/hrpush/pkg/webhook"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// config is the gateway's environment. Every secret may also be given as NAME_FILE, the path
// of a file holding it (mounted secrets).
type config struct {
	Addr string `envconfig:"GATEWAY_ADDR" default:":8088" desc:"where the HTTP server listens (all interfaces by default: it is the service's port); /v1, /healthz, /readyz, /metrics"`

	NATSURL string `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated (a worker started without NATS_URL serves an embedded one on the default)"`
	// Streams holds NATS_REPLICAS and the HRPUSH_*_MAX_* limits, shared by every binary
	// (jobs.StreamConfigFromEnv): what the gateway creates when no worker did yet.
	Streams jobs.StreamConfig `ignored:"true"`
	// Credentials and TLS for NATS_URL, as the worker's and enqueue's.
	NATSCredsFile    string       `envconfig:"NATS_CREDS_FILE" desc:"NATS user credentials file (.creds: JWT and nkey seed)"`
	NATSNKeySeedFile string       `envconfig:"NATS_NKEY_SEED_FILE" desc:"file holding a NATS user nkey seed (SU...)"`
	NATSUser         string       `envconfig:"NATS_USER" desc:"NATS user, with NATS_PASSWORD"`
	NATSPassword     secret.Value `envconfig:"NATS_PASSWORD" desc:"password of NATS_USER"`
	NATSToken        secret.Value `envconfig:"NATS_TOKEN" desc:"NATS authorization token"`
	NATSTLSCAFile    string       `envconfig:"NATS_TLS_CA_FILE" desc:"PEM CA certificate(s) verifying the NATS server; turns TLS on"`
	NATSTLSCertFile  string       `envconfig:"NATS_TLS_CERT_FILE" desc:"PEM client certificate for NATS (with NATS_TLS_KEY_FILE)"`
	NATSTLSKeyFile   string       `envconfig:"NATS_TLS_KEY_FILE" desc:"key of NATS_TLS_CERT_FILE"`

	WorkflowsFile string `envconfig:"WORKFLOWS_FILE" desc:"the workers' workflows file: jobs and batches for workflows it does not declare (or for another target) are refused; empty accepts every workflow id, as the workers do"`

	// An HrFlow account is needed only to list whole sources (POST /v1/batches whole_source).
	HrFlowAPIURL    string       `envconfig:"HRFLOW_API_URL" default:"https://api.hrflow.ai/v1"`
	HrFlowAPISecret secret.Value `envconfig:"HRFLOW_API_SECRET" desc:"HrFlow API key, for whole-source batches (else refused with 503)"`
	HrFlowAPIUser   string       `envconfig:"HRFLOW_API_USER" desc:"HrFlow account email, with HRFLOW_API_SECRET"`

	// HrFlow webhooks (continuous sync): POST /webhooks/hrflow/{workflow}.
	WebhookSecret    secret.Value `envconfig:"HRFLOW_WEBHOOK_SECRET" desc:"the signing key HrFlow shows for the webhook; serves POST /webhooks/hrflow/{workflow} (needs WORKFLOWS_FILE: the workflow gives the jobs' target)"`
	WebhookSignature string       `envconfig:"HRFLOW_WEBHOOK_SIGNATURE" default:"hex" desc:"the form of HTTP-HRFLOW-SIGNATURE: hex (HMAC-SHA256 hex digest of the compact event JSON, HrFlow's workflow sample) or sdk (base64url(hex digest).base64url(payload), HrFlow's Python SDK)"`

	// JobAdder consent through the gateway: GET /connect/{connection}, GET /oauth/callback.
	JobAdderAuthorizationURL string       `envconfig:"JOBADDER_AUTHORIZATION_URL" default:"https://id.jobadder.com/connect/authorize"`
	JobAdderTokenURL         string       `envconfig:"JOBADDER_TOKEN_URL" default:"https://id.jobadder.com/connect/token"`
	JobAdderClientID         string       `envconfig:"JOBADDER_CLIENT_ID" desc:"the workers' JobAdder app; serves the consent flow (GET /connect/{connection}, GET /oauth/callback) with JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI"`
	JobAdderClientSecret     secret.Value `envconfig:"JOBADDER_CLIENT_SECRET"`
	JobAdderRedirectURI      string       `envconfig:"JOBADDER_REDIRECT_URI" desc:"the gateway's public callback, https://<gateway>/oauth/callback, registered with the JobAdder app"`

	MaxBody       int64         `envconfig:"GATEWAY_MAX_BODY" default:"1048576" desc:"largest request body in bytes (413 above)"`
	MaxJobs       int           `envconfig:"GATEWAY_MAX_JOBS" default:"1000" desc:"most jobs in one POST /v1/jobs (413 above)"`
	MaxBatchKeys  int           `envconfig:"GATEWAY_MAX_BATCH_KEYS" default:"10000" desc:"most profile keys in one POST /v1/batches (413 above)"`
	RateLimit     float64       `envconfig:"GATEWAY_RATE_LIMIT" default:"50" desc:"requests per second of an API key without its own rate, on each replica (N replicas: up to N times this)"`
	RateBurst     int           `envconfig:"GATEWAY_RATE_BURST" default:"100" desc:"requests an API key may send at once above its rate"`
	ShutdownGrace time.Duration `envconfig:"GATEWAY_SHUTDOWN_GRACE" default:"20s" desc:"on SIGTERM: how long requests and background batches may take to finish"`
	LogLevel      string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn, error"`
	LogFormat     string        `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`
}

// secretVars may be given as NAME_FILE.
var secretVars = []string{"HRFLOW_API_SECRET", "HRFLOW_WEBHOOK_SECRET", "JOBADDER_CLIENT_SECRET", "NATS_PASSWORD", "NATS_TOKEN"} //nolint:gochecknoglobals // constant list

const usageHeader = `gateway enqueues hrpush push-profile jobs posted over HTTP (POST /v1/jobs, /v1/batches)
into NATS JetStream, for clients holding an API key (enqueue apikeys create). It is stateless:
run as many replicas as needed behind a load balancer. The API: GET /v1/openapi.json.

With HRFLOW_WEBHOOK_SECRET it also turns HrFlow's profile webhooks into jobs
(POST /webhooks/hrflow/{workflow}); with JOBADDER_CLIENT_ID it runs the JobAdder consent of
connections (GET /connect/{connection}, GET /oauth/callback; links from
enqueue connect NAME --target jobadder --gateway URL).

Usage: gateway [--help | --version]

Configuration is read from the environment. Secrets can also be given as NAME_FILE=path.
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failed while running, 2 bad configuration or NATS
unreachable at start.

`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	for _, a := range args {
		switch a {
		case "--version", "-version", "version":
			fmt.Println("gateway " + version.String())
			return 0
		case "-h", "--help", "-help", "help":
			fmt.Print(usageHeader)
			_ = envconfig.Usagef("", &config{}, os.Stdout, envconfig.DefaultTableFormat)
			return 0
		default:
			fmt.Fprintf(os.Stderr, "gateway: unknown argument %q\nRun 'gateway --help' for the configuration reference.\n", a)
			return 2
		}
	}
	var cfg config
	if err := loadConfig(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\nRun 'gateway --help' for the configuration reference.\n", err)
		return 2
	}
	log := envconf.Logger(cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := make(chan string, 1)
	err := serve(ctx, cfg, log, ready)
	if err != nil {
		log.Error("gateway failed", "error", err)
	}
	return envconf.ExitCode(err) // 2 for an *envconf.Error: a configuration problem, or NATS unreachable at start
}

func loadConfig(cfg *config) error {
	if err := envconf.LoadWithStreams(cfg, &cfg.Streams, secretVars...); err != nil {
		return err
	}
	if err := envconf.OutOfRange("counts, sizes and rates must be positive (GATEWAY_MAX_BODY at least 1024, NATS_URL set)",
		envconf.Check{Name: "GATEWAY_MAX_BODY", Bad: cfg.MaxBody < 1024},
		envconf.Check{Name: "GATEWAY_MAX_JOBS", Bad: cfg.MaxJobs < 1}, envconf.Check{Name: "GATEWAY_MAX_BATCH_KEYS", Bad: cfg.MaxBatchKeys < 1},
		envconf.Check{Name: "GATEWAY_RATE_LIMIT", Bad: cfg.RateLimit <= 0}, envconf.Check{Name: "GATEWAY_RATE_BURST", Bad: cfg.RateBurst < 1},
		envconf.Check{Name: "GATEWAY_SHUTDOWN_GRACE", Bad: cfg.ShutdownGrace < 0}, envconf.Check{Name: "NATS_URL", Bad: cfg.NATSURL == ""},
	); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("GATEWAY_ADDR %q: %w", cfg.Addr, err)
	}
	if cfg.HrFlowAPISecret.IsZero() != (cfg.HrFlowAPIUser == "") {
		return errors.New("HRFLOW_API_SECRET and HRFLOW_API_USER go together (both for whole-source batches, or neither)")
	}
	if !cfg.WebhookSecret.IsZero() && cfg.WorkflowsFile == "" {
		return errors.New("HRFLOW_WEBHOOK_SECRET needs WORKFLOWS_FILE: the workflow a webhook URL names gives its jobs' target")
	}
	if cfg.JobAdderClientID != "" && (cfg.JobAdderClientSecret.IsZero() || cfg.JobAdderRedirectURI == "") {
		return errors.New("JOBADDER_CLIENT_ID needs JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI (https://<gateway>/oauth/callback) for the consent flow")
	}
	return nil
}

// serve runs the gateway until ctx ends; it sends the address it listens on to ready.
func serve(ctx context.Context, cfg config, log *slog.Logger, ready chan<- string) error {
	var workflows *workflow.Set
	if cfg.WorkflowsFile != "" {
		var err error
		if workflows, err = workflow.Load(cfg.WorkflowsFile, builtin.Registry()); err != nil {
			return envconf.Errorf("WORKFLOWS_FILE: %w", err)
		}
	}
	var sources ingest.Sources
	if !cfg.HrFlowAPISecret.IsZero() {
		hf, err := hrflow.New(hrflow.WithBaseURL(cfg.HrFlowAPIURL), hrflow.WithAPISecret(cfg.HrFlowAPISecret),
			hrflow.WithUserEmail(cfg.HrFlowAPIUser), hrflow.WithHTTPClient(transport.Client(4, hrflow.DefaultTimeout)))
		if err != nil {
			return envconf.Errorf("HRFLOW_API_URL: %w", err)
		}
		sources = hf.Profiles
	}
	nc, err := connect(cfg, log)
	if err != nil {
		return err
	}
	defer broker.Drain(nc, 10*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	buckets, err := openBuckets(setupCtx, js, cfg.Streams)
	cancel()
	if err != nil {
		return envconf.Errorf("NATS_URL %s: %w (is JetStream enabled? start a worker of this version first: it creates the streams and buckets)", nc.ConnectedUrlRedacted(), err)
	}
	api, err := ingest.New(ingest.Config{
		JetStream: js, Buckets: buckets, Workflows: workflows, Sources: sources,
		MaxBodyBytes: cfg.MaxBody, MaxJobs: cfg.MaxJobs, MaxBatchKeys: cfg.MaxBatchKeys,
		RatePerSecond: cfg.RateLimit, Burst: cfg.RateBurst, Logger: log,
	})
	if err != nil {
		return envconf.Errorf("%w", err)
	}
	m := newMetrics()
	mux := newMux(api, nc, m)
	if !cfg.WebhookSecret.IsZero() {
		hooks, err := webhook.New(webhook.Config{
			Secret: cfg.WebhookSecret, Signature: webhook.Scheme(cfg.WebhookSignature), Workflows: workflows,
			Publisher: jobs.NewPublisher(js), MaxBodyBytes: cfg.MaxBody, Logger: log, Metrics: m.reg,
		})
		if err != nil {
			return envconf.Errorf("HRFLOW_WEBHOOK_*: %w", err)
		}
		mux.Handle(webhook.Pattern, hooks)
	}
	if cfg.JobAdderClientID != "" {
		flows, err := consent.NewHandler(consent.Config{
			JobAdder: jobadder.AuthConfig{
				ClientID: cfg.JobAdderClientID, ClientSecret: cfg.JobAdderClientSecret, RedirectURI: cfg.JobAdderRedirectURI,
				AuthorizationURL: cfg.JobAdderAuthorizationURL, TokenURL: cfg.JobAdderTokenURL, Tokens: buckets.Tokens, Logger: log,
			},
			Connections: connections.NewStore(buckets.Connections),
			Flows:       buckets.Consent,
			Logger:      log,
		})
		if err != nil {
			return envconf.Errorf("JOBADDER_*: %w", err)
		}
		flows.Register(mux)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return envconf.Errorf("GATEWAY_ADDR %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           m.instrument(mux),
		ReadHeaderTimeout: 5 * time.Second,
		// The sdk webhook signature carries the whole payload, base64url-encoded, in a header.
		MaxHeaderBytes: int(cfg.MaxBody)*4/3 + 64<<10,
		ReadTimeout:    30 * time.Second, // bodies are at most GATEWAY_MAX_BODY
		IdleTimeout:    2 * time.Minute,
		// No WriteTimeout: /v1/batches/{id}/events streams for as long as the batch runs.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("gateway listening", "addr", ln.Addr().String(), "nats", nc.ConnectedUrlRedacted(), "version", version.String())
	ready <- ln.Addr().String()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping: finishing requests and background batches", "grace", cfg.ShutdownGrace)
	stopCtx, cancelStop := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancelStop()
	if err := srv.Shutdown(stopCtx); err != nil {
		log.Warn("requests still running at the end of the grace period", "error", err)
		_ = srv.Close()
	}
	if err := api.Shutdown(stopCtx); err != nil {
		log.Warn("background batches interrupted; their reports say so", "error", err)
	}
	return nil
}

// newMux is the gateway's routes: the ingest API and the probes. serve mounts the HrFlow
// webhooks and the JobAdder consent flow on it when they are configured.
func newMux(api *ingest.API, nc *nats.Conn, m *metrics) *http.ServeMux {
	mux := http.NewServeMux()
	api.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		// Ready when NATS is: a gateway that cannot publish should get no traffic.
		if !nc.IsConnected() {
			http.Error(w, "not ready: NATS "+nc.Status().String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// openBuckets binds the streams and buckets the gateway uses. It creates them, as the workers
// do (with NATS_REPLICAS), only when one is missing, so that its NATS user needs no right to
// change them (deployments/nats/nats-server.conf).
func openBuckets(ctx context.Context, js jetstream.JetStream, streams jobs.StreamConfig) (*jobs.Buckets, error) {
	for _, name := range []string{jobs.JobsStream, jobs.EventsStream} {
		_, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return jobs.EnsureStreams(ctx, js, streams)
		}
		if err != nil {
			return nil, err
		}
	}
	b, err := jobs.OpenBuckets(ctx, js, jobs.IdempotencyBucket, jobs.APIKeysBucket, jobs.ConnectionsBucket, jobs.TokensBucket, jobs.ConsentBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return jobs.EnsureStreams(ctx, js, streams)
	}
	return b, err
}

// connect connects to NATS_URL; the gateway never embeds a server. Replies come on
// broker.GatewayInboxPrefix.
func connect(cfg config, log *slog.Logger) (*nats.Conn, error) {
	client := broker.ClientConfig{
		URL:          cfg.NATSURL,
		Name:         "hrpush-gateway",
		CredsFile:    cfg.NATSCredsFile,
		NKeySeedFile: cfg.NATSNKeySeedFile,
		User:         cfg.NATSUser,
		Password:     cfg.NATSPassword,
		Token:        cfg.NATSToken,
		TLSCAFile:    cfg.NATSTLSCAFile,
		TLSCertFile:  cfg.NATSTLSCertFile,
		TLSKeyFile:   cfg.NATSTLSKeyFile,
		InboxPrefix:  broker.GatewayInboxPrefix,
	}
	nc, err := broker.Dial(client, log, nats.Timeout(5*time.Second))
	var fe *broker.FieldError
	if errors.As(err, &fe) {
		return nil, envconf.Errorf("%s", fe.DescribeEnv())
	}
	if err != nil {
		return nil, envconf.Errorf("connect to NATS_URL: %w", err)
	}
	return nc, nil
}
