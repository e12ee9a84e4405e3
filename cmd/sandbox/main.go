// Command sandbox runs local stand-ins for HrFlow, JobAdder and Bullhorn on loopback, for the demo,
// development and benchmarks: no account, no network. It seeds one HrFlow source with generated
// profiles, prints the environment a worker needs, and serves what an operator would check at
// GET /_sandbox/state.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/version"
)

const (
	sandboxKey  = "sandbox-hrflow-key"
	sandboxUser = "sandbox@hrpush.local"
)

type options struct {
	addr, hrflowAddr, jobadderAddr string
	bullhornAddr                   string
	indexLag                       time.Duration
	bullhornCallsPerMinute         int
	profiles                       int
	samples                        bool
	seed                           int64
	sourceKey                      string
	latency                        time.Duration
	errorRate, rateLimitRate       float64
	slowRate                       float64
	slowLatency                    time.Duration
	tokenTTL                       time.Duration
	codeTTL                        time.Duration
	envFile, keysFile              string
	webhookURL, webhookSecret      string
	webhookSignature               string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "address of the control server (GET /_sandbox/state, POST /_sandbox/jobadder/code, POST /_sandbox/hrflow/parse?n=N and /_sandbox/hrflow/update?n=N)")
	fs.StringVar(&o.hrflowAddr, "hrflow-addr", "127.0.0.1:8091", "address of the fake HrFlow API")
	fs.StringVar(&o.jobadderAddr, "jobadder-addr", "127.0.0.1:8092", "address of the fake JobAdder (identity and API)")
	fs.StringVar(&o.bullhornAddr, "bullhorn-addr", "127.0.0.1:8093", "address of the fake Bullhorn (loginInfo, OAuth and REST)")
	fs.DurationVar(&o.indexLag, "index-lag", 0, "Bullhorn search index lag: a candidate is searchable this long after a write")
	fs.IntVar(&o.bullhornCallsPerMinute, "bullhorn-calls-per-minute", 1500, "Bullhorn's call cap per minute (429 beyond); also printed as the worker's BULLHORN_CALLS_PER_MINUTE")
	fs.IntVar(&o.profiles, "profiles", 100, "generated profiles in the source")
	fs.BoolVar(&o.samples, "samples", true, "also load the two sample profiles of the API specs")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the generated profiles and of the fault dice")
	fs.StringVar(&o.sourceKey, "source-key", "5a4d3b0c1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b", "HrFlow source key of the profiles")
	fs.DurationVar(&o.latency, "latency", 0, "latency of every HrFlow, JobAdder and Bullhorn API call (HrFlow and JobAdder process a call at once and answer it that long after it arrived; Bullhorn waits that long, then processes it)")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "share of JobAdder and Bullhorn API calls answered 5xx")
	fs.Float64Var(&o.rateLimitRate, "rate-limit-rate", 0, "share of JobAdder and Bullhorn API calls answered 429")
	fs.Float64Var(&o.slowRate, "slow-rate", 0, "share of JobAdder and Bullhorn API calls processed at once but answered only after --slow-latency")
	fs.DurationVar(&o.slowLatency, "slow-latency", 0, "how long the answers picked by --slow-rate are held back (e.g. longer than the worker's WORKER_ACK_WAIT)")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 0, "lifetime of the JobAdder and Bullhorn access tokens (default theirs: 1 hour and 10 minutes); a short one makes workers refresh them during a run")
	fs.DurationVar(&o.codeTTL, "code-ttl", 5*time.Minute, "lifetime of JobAdder authorization codes (the real one: 5 minutes)")
	fs.StringVar(&o.envFile, "env-file", "", "also write the worker environment to this file")
	fs.StringVar(&o.keysFile, "keys-file", "", "write the profile keys, one per line, to this file (input of 'enqueue bulk')")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "deliver HrFlow's profile webhooks here (e.g. http://127.0.0.1:8088/webhooks/hrflow/WORKFLOW) when profiles are parsed or updated through POST /_sandbox/hrflow/parse and /update; the seeded profiles are not delivered")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "sandbox-webhook-secret", "secret the webhooks are signed with (printed as HRFLOW_WEBHOOK_SECRET)")
	fs.StringVar(&o.webhookSignature, "webhook-signature", hrflowtest.SignatureHex, "signature form of the webhooks: hex or sdk (printed as HRFLOW_WEBHOOK_SIGNATURE)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: sandbox [flags]\n\nRuns fake HrFlow, JobAdder and Bullhorn servers on loopback until interrupted, and prints\nthe worker environment to use them. Ports can be 0 to pick free ones.\nsandbox --version prints the build.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(stdout, "sandbox "+version.String())
		return 0
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "sandbox:", err)
		return 2
	}
	if err := serve(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "sandbox:", err)
		return 1
	}
	return 0
}

// check refuses the numbers out of range, naming their flags.
func (o options) check() error {
	var bad []string
	for _, f := range []struct {
		flag string
		bad  bool
	}{
		{"--profiles", o.profiles < 0}, {"--bullhorn-calls-per-minute", o.bullhornCallsPerMinute < 1},
		{"--index-lag", o.indexLag < 0}, {"--latency", o.latency < 0}, {"--slow-latency", o.slowLatency < 0},
		{"--token-ttl", o.tokenTTL < 0}, {"--code-ttl", o.codeTTL <= 0},
		{"--error-rate", o.errorRate < 0 || o.errorRate > 1}, {"--rate-limit-rate", o.rateLimitRate < 0 || o.rateLimitRate > 1},
		{"--slow-rate", o.slowRate < 0 || o.slowRate > 1},
	} {
		if f.bad {
			bad = append(bad, f.flag)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s out of range: counts and durations may not be negative (--bullhorn-calls-per-minute and --code-ttl must be positive), rates are shares from 0 to 1", strings.Join(bad, ", "))
	}
	return nil
}

func serve(ctx context.Context, o options, stdout io.Writer) error {
	hf, err := hrflowtest.Listen(o.hrflowAddr, hrflowtest.Config{
		APIKey: sandboxKey, UserEmail: sandboxUser, Latency: o.latency, Seed: o.seed,
		Webhook: hrflowtest.Webhook{URL: o.webhookURL, Secret: secret.Value(o.webhookSecret), Signature: o.webhookSignature},
	})
	if err != nil {
		return err
	}
	defer hf.Close()
	keys := hf.Generate(o.sourceKey, o.profiles, o.seed)
	if o.samples {
		keys = append(keys, hf.LoadSamples(o.sourceKey)...)
	}
	profiles := &profileList{keys: keys, seed: o.seed}

	jaLn, err := net.Listen("tcp", o.jobadderAddr)
	if err != nil {
		return fmt.Errorf("jobadder: %w", err)
	}
	jaConf := jobaddertest.Config{
		BaseURL: "http://" + jaLn.Addr().String(), Latency: o.latency, ErrorRate: o.errorRate,
		RateLimitRate: o.rateLimitRate, Seed: uint64(o.seed), CodeTTL: o.codeTTL,
		SlowRate: o.slowRate, SlowLatency: o.slowLatency, AccessTokenTTL: o.tokenTTL,
	}
	if err := jaConf.Validate(); err != nil {
		return err
	}
	ja := jobaddertest.New(jaConf)
	stopJA := start(jaLn, ja.Handler())
	defer stopJA()

	bhLn, err := net.Listen("tcp", o.bullhornAddr)
	if err != nil {
		return fmt.Errorf("bullhorn: %w", err)
	}
	bhConf := bullhorntest.Config{
		BaseURL: "http://" + bhLn.Addr().String(), Latency: o.latency, ErrorRate: o.errorRate,
		RateLimitRate: o.rateLimitRate, Seed: uint64(o.seed), IndexLag: o.indexLag, CallsPerMinute: o.bullhornCallsPerMinute,
		SlowRate: o.slowRate, SlowLatency: o.slowLatency, AccessTokenTTL: o.tokenTTL,
	}
	if err := bhConf.Validate(); err != nil {
		return err
	}
	bh := bullhorntest.New(bhConf)
	stopBH := start(bhLn, bh.Handler())
	defer stopBH()

	ctlLn, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sandbox/state", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(state(hf, ja, bh, profiles.count()))
	})
	mux.HandleFunc("POST /_sandbox/hrflow/parse", func(w http.ResponseWriter, r *http.Request) {
		n, ok := countParam(w, r)
		if ok {
			fmt.Fprintln(w, strings.Join(profiles.parse(hf, o.sourceKey, n), "\n"))
		}
	})
	mux.HandleFunc("POST /_sandbox/hrflow/update", func(w http.ResponseWriter, r *http.Request) {
		n, ok := countParam(w, r)
		if ok {
			fmt.Fprintln(w, strings.Join(profiles.update(hf, o.sourceKey, n), "\n"))
		}
	})
	mux.HandleFunc("POST /_sandbox/jobadder/code", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, ja.IssueCode())
	})
	stopCtl := start(ctlLn, mux)
	defer stopCtl()

	cfg, bhCfg := ja.Config(), bh.Config()
	env := []string{
		"HRFLOW_API_URL=" + hf.URL(),
		"HRFLOW_API_SECRET=" + sandboxKey,
		"HRFLOW_API_USER=" + sandboxUser,
		"HRFLOW_DOWNLOAD_ALLOW=127.0.0.0/8", // the fake serves resumes on http://127.0.0.1
		"JOBADDER_AUTHORIZATION_URL=" + ja.AuthURL(),
		"JOBADDER_TOKEN_URL=" + ja.TokenURL(),
		"JOBADDER_CLIENT_ID=" + cfg.ClientID,
		"JOBADDER_CLIENT_SECRET=" + cfg.ClientSecret,
		"JOBADDER_REDIRECT_URI=" + cfg.RedirectURI,
		"JOBADDER_AUTHORIZATION_CODE=" + ja.IssueCode(),
		"BULLHORN_LOGIN_INFO_URL=" + bh.LoginInfoURL(),
		"BULLHORN_CLIENT_ID=" + bhCfg.ClientID,
		"BULLHORN_CLIENT_SECRET=" + bhCfg.ClientSecret,
		"BULLHORN_USERNAME=" + bhCfg.Username,
		"BULLHORN_PASSWORD=" + bhCfg.Password,
		"BULLHORN_CALLS_PER_MINUTE=" + strconv.Itoa(o.bullhornCallsPerMinute),
		"SANDBOX_SOURCE_KEY=" + o.sourceKey,
		"SANDBOX_STATE_URL=http://" + ctlLn.Addr().String() + "/_sandbox/state",
	}
	if o.webhookURL != "" {
		env = append(env, "HRFLOW_WEBHOOK_SECRET="+o.webhookSecret, "HRFLOW_WEBHOOK_SIGNATURE="+o.webhookSignature)
	}
	fmt.Fprintf(stdout, "# hrpush sandbox: %d profiles in HrFlow source %s\n", len(keys), o.sourceKey)
	fmt.Fprintf(stdout, "# HrFlow %s  JobAdder %s  Bullhorn %s  state http://%s/_sandbox/state\n", hf.URL(), ja.URL(), bh.URL(), ctlLn.Addr())
	fmt.Fprintf(stdout, "# the authorization code is single-use and expires in %s; a new one: curl -X POST http://%s/_sandbox/jobadder/code\n", o.codeTTL, ctlLn.Addr())
	if o.webhookURL != "" {
		fmt.Fprintf(stdout, "# webhooks (%s) to %s: curl -X POST 'http://%s/_sandbox/hrflow/parse?n=10' (new profiles), '.../update?n=5' (edits)\n", o.webhookSignature, o.webhookURL, ctlLn.Addr())
	}
	for _, kv := range env {
		fmt.Fprintln(stdout, "export "+kv)
	}
	if o.envFile != "" {
		if err := os.WriteFile(o.envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	if o.keysFile != "" {
		if err := os.WriteFile(o.keysFile, []byte(strings.Join(keys, "\n")+"\n"), 0o644); err != nil { //nolint:gosec // keys are not secret
			return err
		}
	}
	<-ctx.Done()
	summary(stdout, state(hf, ja, bh, profiles.count()))
	return nil
}

// profileList is the sandbox source's profiles, which POST /_sandbox/hrflow/parse adds to and
// /update edits.
type profileList struct {
	mu      sync.Mutex
	keys    []string
	seed    int64 // the last seed used
	updates int   // profiles updated so far: the next update starts after them
}

func (p *profileList) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}

// parse adds n new profiles (a fresh seed each call), as parsed resumes: webhooks follow.
func (p *profileList) parse(hf *hrflowtest.Server, sourceKey string, n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seed++
	keys := hf.Parse(sourceKey, n, p.seed*1_000_003) // far from the seeding seed's profiles
	p.keys = append(p.keys, keys...)
	return keys
}

// update edits n profiles (their updated_at), taking them in turn: webhooks follow.
func (p *profileList) update(hf *hrflowtest.Server, sourceKey string, n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for i := 0; i < n && len(p.keys) > 0; i++ {
		k := p.keys[p.updates%len(p.keys)]
		p.updates++
		if hf.TouchProfile(sourceKey, k, time.Now()) {
			out = append(out, k)
		}
	}
	return out
}

// countParam reads the n query parameter (default 1, at most 10000), answering 400 if bad.
func countParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	n := 1
	if s := r.URL.Query().Get("n"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 10000 {
			http.Error(w, "n must be a number from 1 to 10000", http.StatusBadRequest)
			return 0, false
		}
	}
	return n, true
}

// start serves h on ln in the background; the returned func shuts it down.
func start(ln net.Listener, h http.Handler) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// sandboxState is what GET /_sandbox/state serves.
type sandboxState struct {
	HrFlow struct {
		Profiles  int                     `json:"profiles"`
		Requests  map[string]int          `json:"requests"`
		Downloads int                     `json:"downloads"`
		Webhooks  hrflowtest.WebhookStats `json:"webhooks"`
	} `json:"hrflow"`
	JobAdder jobaddertest.State `json:"jobadder"`
	Bullhorn bullhorntest.State `json:"bullhorn"`
}

func state(hf *hrflowtest.Server, ja *jobaddertest.Server, bh *bullhorntest.Server, profiles int) sandboxState {
	var st sandboxState
	st.HrFlow.Profiles = profiles
	st.HrFlow.Requests = map[string]int{}
	for k, n := range hf.Stats() {
		st.HrFlow.Requests[fmt.Sprintf("%s %d", k.Path, k.Status)] = n
	}
	st.HrFlow.Downloads = hf.Downloads()
	st.HrFlow.Webhooks = hf.Webhooks()
	st.JobAdder = ja.State()
	st.Bullhorn = bh.State()
	return st
}

func summary(w io.Writer, st sandboxState) {
	ja := st.JobAdder
	fmt.Fprintf(w, "sandbox summary: JobAdder holds %d candidates (%d emails held by more than one), %d with a resume; %d duplicate conflicts answered; %d requests refused as invalid\n",
		ja.Candidates, len(ja.Duplicates), len(ja.Attachments), ja.DuplicateConflicts, ja.ValidationFailures)
	keys := make([]string, 0, len(ja.Requests))
	for k := range ja.Requests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  jobadder %-60s %d\n", k, ja.Requests[k])
	}
	bh := st.Bullhorn
	fmt.Fprintf(w, "sandbox summary: Bullhorn holds %d candidates (%d emails held by more than one), %d with a resume, %d education and %d work-history rows (%d duplicated); %d sessions opened; %d calls refused 429\n",
		bh.Candidates, len(bh.DuplicateEmails), len(bh.Files), sum(bh.Educations), sum(bh.WorkHistories),
		sum(bh.DuplicateEducations)+sum(bh.DuplicateWorkHistories), bh.SessionsOpened, requestsWithStatus(bh.Requests, " 429"))
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func requestsWithStatus(requests map[string]int, suffix string) int {
	n := 0
	for k, v := range requests {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}
