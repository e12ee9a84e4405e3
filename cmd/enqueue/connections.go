package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/consent"
	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/transport"
)

const connectionsUsage = `Usage: enqueue connections list|show|add|remove|pause|resume [NAME] --target T [flags]

A connection is one ATS account (a JobAdder account that consented to the app, a Bullhorn API
user). Jobs name theirs with "connection", or their workflow does ("connection:" in the
workflows file); the workers' environment is the connection "default" of each target.

  list                         every stored connection (--json)
  show NAME --target T         one connection (--json); secrets are never shown
  add NAME --target T          store a connection ([--max-in-flight N]: its jobs in flight across
                               the fleet, default 64; [--hrflow-api-user U --hrflow-api-secret-file F]:
                               read its profiles from its own HrFlow account, not the workers'):
        JobAdder:  [--allow-duplicates]; then authorise it: enqueue connect NAME --target jobadder
        Bullhorn:  --client-id ID --username USER [--calls-per-minute N] [--login-info-url URL];
                   the client secret and password from --client-secret-file and --password-file,
                   else from BULLHORN_CLIENT_SECRET and BULLHORN_PASSWORD; sealed with
                   HRPUSH_SECRETS_KEY; then check the login: enqueue connect NAME --target bullhorn
  add NAME --target T --replace   the same, over an existing connection (a new password)
  remove NAME --target T       delete it (--yes when jobs wait for it: they become bad jobs,
                               replayable once it is added again)
  pause NAME --target T        its jobs wait in the queue (--reason R)
  resume NAME --target T       its jobs run again (within the pause in progress, at most 5 min)
`

// connFlags are the flags of the connections commands.
type connFlags struct {
	target, reason, clientID, username, loginInfoURL, clientSecretFile, passwordFile string
	hrflowUser, hrflowSecretFile, hrflowURL                                          string
	callsPerMinute, maxInFlight                                                      int
	allowDuplicates, asJSON, yes, replace                                            bool
}

// splitName takes the NAME argument, before or after the flags.
func splitName(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runConnections(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(a.stdout, connectionsUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := args[0]
	name, rest := splitName(args[1:])
	var f connFlags
	fs := a.flags("connections "+sub, "[NAME] --target T")
	fs.StringVar(&f.target, "target", "", "jobadder or bullhorn")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	switch sub {
	case "add":
		fs.BoolVar(&f.replace, "replace", false, "replace the settings and secrets of an existing connection (a new password, say)")
		fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "cap on the connection's jobs in flight across all workers (default 64)")
		fs.StringVar(&f.hrflowUser, "hrflow-api-user", "", "read this connection's profiles from its own HrFlow account (X-USER-EMAIL), with --hrflow-api-secret-file")
		fs.StringVar(&f.hrflowSecretFile, "hrflow-api-secret-file", "", "file holding that HrFlow account's API key")
		fs.StringVar(&f.hrflowURL, "hrflow-api-url", "", "that HrFlow account's API base (default: the workers' HRFLOW_API_URL)")
		fs.BoolVar(&f.allowDuplicates, "allow-duplicates", false, "JobAdder: create a candidate even when JobAdder reports the email exists")
		fs.StringVar(&f.clientID, "client-id", "", "Bullhorn OAuth client id")
		fs.StringVar(&f.username, "username", "", "Bullhorn API user")
		fs.IntVar(&f.callsPerMinute, "calls-per-minute", 0, "Bullhorn: the account's call budget, shared by all workers (default: the workers' BULLHORN_CALLS_PER_MINUTE)")
		fs.StringVar(&f.loginInfoURL, "login-info-url", "", "Bullhorn data-centre discovery URL (default: the workers' BULLHORN_LOGIN_INFO_URL)")
		fs.StringVar(&f.clientSecretFile, "client-secret-file", "", "file holding the Bullhorn client secret (default: $BULLHORN_CLIENT_SECRET)")
		fs.StringVar(&f.passwordFile, "password-file", "", "file holding the Bullhorn password (default: $BULLHORN_PASSWORD)")
	case "remove":
		fs.BoolVar(&f.yes, "yes", false, "remove even when jobs wait for it")
	case "pause":
		fs.StringVar(&f.reason, "reason", "paused by an operator", "why, shown in listings and logs")
	case "list", "show", "resume":
	default:
		fmt.Fprintf(a.stderr, "enqueue connections: unknown command %q\n\n%s", sub, connectionsUsage)
		return exitUsage
	}
	if code, ok := parse(fs, rest); !ok {
		return code
	}
	if sub != "list" && (name == "" || f.target == "") {
		fs.Usage()
		return a.fail("connections %s needs a NAME and --target (jobadder or bullhorn)", sub)
	}
	for _, n := range []struct {
		flag  string
		value int
	}{{"--max-in-flight", f.maxInFlight}, {"--calls-per-minute", f.callsPerMinute}} {
		if n.value < 0 {
			return a.fail("%s %d: want a positive number (or none, for the default)", n.flag, n.value)
		}
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	store, err := a.connectionStore(ctx)
	if err != nil {
		return a.fail("%v", err)
	}
	switch sub {
	case "list":
		return a.listConnections(ctx, store, f)
	case "show":
		c, _, err := store.Get(ctx, f.target, name)
		if err != nil {
			return a.fail("%v", err)
		}
		return a.printConnections([]*connections.Connection{c}, f.asJSON)
	case "add":
		return a.addConnection(ctx, store, name, f)
	case "remove":
		return a.removeConnection(ctx, store, name, f)
	default: // pause, resume
		_, err := store.Update(ctx, f.target, name, func(c *connections.Connection) error {
			c.Paused = ""
			if sub == "pause" {
				c.Paused = f.reason
			}
			return nil
		})
		if err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stdout, "%s connection %s %sd\n", f.target, name, sub)
		return exitOK
	}
}

// connectionStore opens the connections bucket, which the workers create.
func (a *app) connectionStore(ctx context.Context) (*connections.Store, error) {
	kv, err := a.js.KeyValue(ctx, jobs.ConnectionsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("the KV bucket %s does not exist yet: start a worker of this version first (it creates it)", jobs.ConnectionsBucket)
	}
	if err != nil {
		return nil, err
	}
	return connections.NewStore(kv), nil
}

func (a *app) listConnections(ctx context.Context, store *connections.Store, f connFlags) int {
	list, err := store.List(ctx)
	if err != nil {
		return a.fail("%v", err)
	}
	if len(list) == 0 && !f.asJSON {
		fmt.Fprintln(a.stdout, "no stored connection (the workers' environment is the connection default of each target); add one with: enqueue connections add NAME --target T")
		return exitOK
	}
	return a.printConnections(list, f.asJSON)
}

// queueState is what the jobs stream holds for a connection: its consumer's waiting and
// running jobs (jobs published on hrpush.push.<target>.<name>; those that name the connection
// on the target's own subject are counted with the default connection's).
type queueState struct {
	Backlog  uint64 `json:"backlog"`
	InFlight int    `json:"in_flight"`
}

func (a *app) queueState(target, name string) queueState {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	durable := jobs.ConsumerPrefix + target + "-" + name
	if name == connections.Default {
		durable = jobs.ConsumerPrefix + target
	}
	cons, err := a.js.Consumer(ctx, jobs.JobsStream, durable)
	if err != nil {
		// No consumer: no worker pulled the connection's jobs for an hour; count its subject.
		s, err := a.js.Stream(ctx, jobs.JobsStream)
		if err != nil {
			return queueState{}
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(jobs.SubjectPrefix+target+"."+name))
		if err != nil {
			return queueState{}
		}
		return queueState{Backlog: info.State.Subjects[jobs.SubjectPrefix+target+"."+name]}
	}
	info := cons.CachedInfo()
	return queueState{Backlog: info.NumPending, InFlight: info.NumAckPending}
}

// authorization says whether a JobAdder connection holds a token (read with the operators' NATS
// user, hrpush-operator: the producers' may not read tokens), for listings.
func (a *app) authorization(ctx context.Context, c *connections.Connection) string {
	if c.Target != "jobadder" {
		return ""
	}
	kv, err := a.js.KeyValue(ctx, jobs.TokensBucket)
	if err != nil || os.Getenv("JOBADDER_CLIENT_ID") == "" {
		return "unknown (needs JOBADDER_CLIENT_ID and the operators' NATS user)"
	}
	auth, err := jobadder.StoredAuthorization(ctx, kv, os.Getenv("JOBADDER_CLIENT_ID"), c.Name)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case !auth.Authorised:
		return "not authorised: enqueue connect " + c.Name + " --target jobadder"
	}
	return "authorised, access token until " + auth.Expiry.UTC().Format(time.RFC3339)
}

func (a *app) printConnections(list []*connections.Connection, asJSON bool) int {
	if asJSON {
		type view struct {
			*connections.Connection
			Secrets []string   `json:"secrets,omitempty"` // names only
			Queue   queueState `json:"queue"`
		}
		out := make([]view, 0, len(list))
		for _, c := range list {
			v := view{Connection: c, Queue: a.queueState(c.Target, c.Name)}
			if c.Secrets != nil {
				v.Secrets = []string{"sealed with key " + c.Secrets.KeyID}
			}
			out = append(out, v)
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return a.fail("%v", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tNAME\tSTATE\tBACKLOG\tIN FLIGHT\tSETTINGS\tUPDATED\tAUTHORISATION")
	for _, c := range list {
		state := "active"
		if c.Paused != "" {
			state = "paused: " + c.Paused
		}
		var settings []string
		for _, k := range []string{connections.SettingAllowDuplicates, connections.SettingMaxInFlight, connections.SettingClientID, connections.SettingUsername,
			connections.SettingCallsPerMinute, connections.SettingLoginInfoURL, connections.SettingHrFlowAPIUser} {
			if v := c.Settings[k]; v != "" {
				settings = append(settings, k+"="+v)
			}
		}
		q := a.queueState(c.Target, c.Name)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", c.Target, c.Name, state, q.Backlog, q.InFlight, strings.Join(settings, " "),
			c.UpdatedAt.Format(time.RFC3339), a.authorization(context.Background(), c))
	}
	_ = tw.Flush()
	return exitOK
}

func (a *app) addConnection(ctx context.Context, store *connections.Store, name string, f connFlags) int {
	c := &connections.Connection{Name: name, Target: f.target, Settings: map[string]string{}}
	if f.maxInFlight > 0 {
		c.Settings[connections.SettingMaxInFlight] = strconv.Itoa(f.maxInFlight)
	}
	secrets := map[string]string{}
	if f.hrflowUser != "" {
		if f.hrflowSecretFile == "" {
			return a.fail("--hrflow-api-user needs --hrflow-api-secret-file")
		}
		key, err := fileOrEnv(f.hrflowSecretFile, "")
		if err != nil {
			return a.fail("%v", err)
		}
		c.Settings[connections.SettingHrFlowAPIUser], secrets[connections.SecretHrFlowAPISecret] = f.hrflowUser, key
		if f.hrflowURL != "" {
			c.Settings[connections.SettingHrFlowAPIURL] = f.hrflowURL
		}
	}
	switch f.target {
	case "jobadder":
		if f.allowDuplicates {
			c.Settings[connections.SettingAllowDuplicates] = "true"
		}
	case "bullhorn":
		if f.clientID == "" || f.username == "" {
			return a.fail("a Bullhorn connection needs --client-id and --username")
		}
		c.Settings[connections.SettingClientID], c.Settings[connections.SettingUsername] = f.clientID, f.username
		if f.callsPerMinute > 0 {
			c.Settings[connections.SettingCallsPerMinute] = strconv.Itoa(f.callsPerMinute)
		}
		if f.loginInfoURL != "" {
			c.Settings[connections.SettingLoginInfoURL] = f.loginInfoURL
		}
		clientSecret, err := fileOrEnv(f.clientSecretFile, "BULLHORN_CLIENT_SECRET")
		if err != nil {
			return a.fail("%v", err)
		}
		password, err := fileOrEnv(f.passwordFile, "BULLHORN_PASSWORD")
		if err != nil {
			return a.fail("%v", err)
		}
		secrets[connections.SecretClientSecret], secrets[connections.SecretPassword] = clientSecret, password
	}
	if len(secrets) > 0 {
		keyring, err := keyringFromEnv()
		if err != nil {
			return a.fail("%v", err)
		}
		if c.Secrets, err = keyring.Seal(c.Target, c.Name, secrets); err != nil {
			return a.fail("%v", err)
		}
	}
	verb := "added"
	if f.replace {
		verb = "replaced"
		_, err := store.Update(ctx, c.Target, c.Name, func(old *connections.Connection) error {
			old.Settings, old.Secrets = c.Settings, c.Secrets
			return nil
		})
		if err != nil {
			return a.fail("%v", err)
		}
	} else if err := store.Create(ctx, c); err != nil {
		if errors.Is(err, connections.ErrExists) {
			return a.fail("%v: give --replace to change its settings and secrets (the workers use them from its next job)", err)
		}
		return a.fail("%v", err)
	}
	fmt.Fprintf(a.stdout, "%s connection %s %s; next: enqueue connect %s --target %s\n", c.Target, c.Name, verb, c.Name, c.Target)
	return exitOK
}

func (a *app) removeConnection(ctx context.Context, store *connections.Store, name string, f connFlags) int {
	if _, _, err := store.Get(ctx, f.target, name); err != nil {
		return a.fail("%v", err)
	}
	if q := a.queueState(f.target, name); (q.Backlog > 0 || q.InFlight > 0) && !f.yes {
		fmt.Fprintf(a.stderr, "enqueue: %s connection %s has %d jobs waiting and %d running: once it is removed they become bad jobs "+
			"(DLQ bad_job, replayable with `enqueue dlq replay` once it is added again); run again with --yes to remove it anyway\n",
			f.target, name, q.Backlog, q.InFlight)
		return exitUsage
	}
	if err := store.Delete(ctx, f.target, name); err != nil {
		return a.fail("%v", err)
	}
	fmt.Fprintf(a.stdout, "%s connection %s removed\n", f.target, name)
	return exitOK
}

// fileOrEnv reads a secret from a file, else from an environment variable (or its _FILE).
func fileOrEnv(path, env string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	v, err := envconf.Secret(env)
	if err != nil {
		return "", err
	}
	if v.IsZero() {
		return "", fmt.Errorf("no %s: give its file, or set %s (or %s_FILE)", strings.ToLower(strings.TrimPrefix(env, "BULLHORN_")), env, env)
	}
	return v.Reveal(), nil
}

func keyringFromEnv() (*connections.Keyring, error) {
	key, err := envconf.Secret("HRPUSH_SECRETS_KEY")
	if err != nil {
		return nil, err
	}
	return connections.NewKeyring(key.Reveal())
}

const connectUsage = `Usage: enqueue connect NAME --target T [--code CODE | --listen ADDR | --gateway URL]

Authorises a connection and checks it with one API call; the workers pick it up without a
restart, and its paused jobs resume.

JobAdder (NAME "default" is the workers' environment account): prints the authorization URL;
open it as an account admin and approve the app. JobAdder then redirects to
JOBADDER_REDIRECT_URI with the code (valid 5 minutes, single-use). Give it with --code, paste
the redirect URL (or the code) when asked, or let --listen ADDR (e.g. 127.0.0.1:8085, when the
redirect URI points at this machine) receive it. The app is JOBADDER_CLIENT_ID,
JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI, as for the workers.

JobAdder through the gateway (--gateway https://gw.example, its public URL): prints a link
that works once, for 10 minutes. Open it in your browser: the gateway redirects to JobAdder,
receives the code on its /oauth/callback (the app's registered redirect URI), exchanges it and
stores the token, and shows the account it reached. Needs no JOBADDER_* variable here.

Bullhorn: logs in with the stored API user and says what is wrong (terms of service not
accepted, password refused).
`

func runConnect(ctx context.Context, a *app, args []string) int {
	name, rest := splitName(args)
	var target, code, listen, gateway string
	fs := a.flags("connect", "NAME --target T [--code CODE | --listen ADDR | --gateway URL]")
	fs.StringVar(&target, "target", "", "jobadder or bullhorn")
	fs.StringVar(&code, "code", "", "JobAdder: the authorization code of the redirect")
	fs.StringVar(&listen, "listen", "", "JobAdder: receive the redirect on this address")
	fs.StringVar(&gateway, "gateway", "", "JobAdder: print a single-use link that runs the consent through this gateway (its public URL)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), connectUsage); fs.PrintDefaults() }
	if c, ok := parse(fs, rest); !ok {
		return c
	}
	if name == "" || target == "" {
		fs.Usage()
		return a.fail("connect needs a NAME and --target (jobadder or bullhorn)")
	}
	if gateway != "" && (target != "jobadder" || code != "" || listen != "") {
		fs.Usage()
		return a.fail("--gateway runs a JobAdder consent: it goes with --target jobadder, without --code or --listen")
	}
	if err := a.connect(ctx); err != nil {
		return a.fail("%v", err)
	}
	defer a.close()
	tokens, err := a.js.KeyValue(ctx, jobs.TokensBucket)
	if err != nil {
		return a.fail("the tokens bucket: %v (start a worker first)", err)
	}
	store, err := a.connectionStore(ctx)
	if err != nil {
		return a.fail("%v", err)
	}
	if name != connections.Default {
		if _, _, err := store.Get(ctx, target, name); errors.Is(err, connections.ErrNotFound) && target == "jobadder" {
			if err := store.Create(ctx, &connections.Connection{Name: name, Target: target}); err != nil {
				return a.fail("%v", err)
			}
		} else if err != nil {
			return a.fail("%v", err)
		}
	}
	switch {
	case gateway != "":
		return a.connectLink(ctx, name, gateway)
	case target == "jobadder":
		return a.connectJobAdder(ctx, tokens, name, code, listen)
	case target == "bullhorn":
		return a.connectBullhorn(ctx, tokens, store, name)
	}
	return a.fail("unknown target %q (want jobadder or bullhorn)", target)
}

// connectLink prints a single-use link that starts the JobAdder consent of connection name at
// the gateway (package consent).
func (a *app) connectLink(ctx context.Context, name, gateway string) int {
	flows, err := a.js.KeyValue(ctx, jobs.ConsentBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return a.fail("the KV bucket %s does not exist yet: start a worker or the gateway of this version first (it creates it)", jobs.ConsentBucket)
	}
	if err != nil {
		return a.fail("%v", err)
	}
	link, err := consent.NewLink(ctx, flows, gateway, "jobadder", name, consent.DefaultLinkTTL, time.Now())
	if err != nil {
		return a.fail("%v", err)
	}
	fmt.Fprintf(a.stdout, "Open this link in your browser within %s; it works once. Approve the app as a JobAdder account admin: "+
		"the gateway receives the code, stores the token and shows the account it reached.\n\n  %s\n\n"+
		"Then `enqueue connections list` shows jobadder connection %s authorised; the workers use it from their next job.\n",
		consent.DefaultLinkTTL, link, name)
	return exitOK
}

func (a *app) connectJobAdder(ctx context.Context, tokens jetstream.KeyValue, name, code, listen string) int {
	clientSecret, err := envconf.Secret("JOBADDER_CLIENT_SECRET")
	if err != nil {
		return a.fail("%v", err)
	}
	cfg := jobadder.AuthConfig{
		ClientID: os.Getenv("JOBADDER_CLIENT_ID"), ClientSecret: clientSecret, RedirectURI: os.Getenv("JOBADDER_REDIRECT_URI"),
		AuthorizationURL: os.Getenv("JOBADDER_AUTHORIZATION_URL"), TokenURL: os.Getenv("JOBADDER_TOKEN_URL"),
		Tokens: tokens, Connection: name, HTTPClient: transport.Client(2, 30*time.Second),
	}
	if cfg.ClientID == "" || clientSecret.IsZero() || cfg.RedirectURI == "" {
		return a.fail("set JOBADDER_CLIENT_ID, JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI (the app, as for the workers)")
	}
	if code == "" {
		state := strings.ToLower(rand.Text())
		probe, err := jobadder.NewAuth(cfg)
		if err != nil {
			return a.fail("%v", err)
		}
		fmt.Fprintf(a.stdout, "Open this URL as a JobAdder account admin and approve the app (the code is valid 5 minutes):\n\n  %s\n\n", probe.AuthCodeURL(state))
		if code, err = a.receiveCode(ctx, state, listen); err != nil {
			return a.fail("%v", err)
		}
	}
	cfg.AuthorizationCode = secret.Value(code)
	account, err := consent.JobAdder(ctx, cfg)
	if err != nil {
		return a.fail("%v", err)
	}
	fmt.Fprintf(a.stdout, "jobadder connection %s: authorised; reached the account at %s (%d candidates); token valid until %s; the workers use it from their next job\n",
		name, account.APIURL, account.Candidates, account.Expiry.UTC().Format(time.RFC3339))
	return exitOK
}

// receiveCode gets the authorization code: from a redirect to listen, or pasted on stdin (the
// redirect URL or the bare code).
func (a *app) receiveCode(ctx context.Context, state, listen string) (string, error) {
	if listen != "" {
		return receiveRedirect(ctx, state, listen, a.stdout)
	}
	fmt.Fprint(a.stdout, "Paste the URL JobAdder redirected to (or the code): ")
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("no code given (%v)", err)
	}
	if u, err := url.Parse(line); err == nil && u.Query().Get("code") != "" {
		if got := u.Query().Get("state"); got != state {
			return "", errors.New("the redirect's state does not match this authorization request: open the URL printed above, not an older one")
		}
		return u.Query().Get("code"), nil
	}
	return line, nil
}

// receiveRedirect serves the redirect once on addr and returns its code.
func receiveRedirect(ctx context.Context, state, addr string, out interface{ Write([]byte) (int, error) }) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("error") != "":
			http.Error(w, "JobAdder refused: "+q.Get("error"), http.StatusBadRequest)
			got <- result{err: fmt.Errorf("JobAdder answered %s", q.Get("error"))}
		case q.Get("state") != state || q.Get("code") == "":
			http.Error(w, "not the redirect of this authorization request", http.StatusBadRequest)
			return
		default:
			fmt.Fprintln(w, "hrpush received the code; you can close this page.")
			got <- result{code: q.Get("code")}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(out, "Waiting for the redirect on http://%s ...\n", ln.Addr())
	select {
	case r := <-got:
		return r.code, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(10 * time.Minute):
		return "", errors.New("no redirect within 10 minutes")
	}
}

func (a *app) connectBullhorn(ctx context.Context, tokens jetstream.KeyValue, store *connections.Store, name string) int {
	cfg := bullhorn.AuthConfig{Tokens: tokens, HTTPClient: transport.Client(2, 30*time.Second),
		LoginInfoURL: cmp.Or(os.Getenv("BULLHORN_LOGIN_INFO_URL"), bullhorn.DefaultLoginInfoURL)}
	if name == connections.Default {
		var err error
		cfg.ClientID, cfg.Username = os.Getenv("BULLHORN_CLIENT_ID"), os.Getenv("BULLHORN_USERNAME")
		if cfg.ClientSecret, err = envconf.Secret("BULLHORN_CLIENT_SECRET"); err != nil {
			return a.fail("%v", err)
		}
		if cfg.Password, err = envconf.Secret("BULLHORN_PASSWORD"); err != nil {
			return a.fail("%v", err)
		}
	} else {
		c, _, err := store.Get(ctx, "bullhorn", name)
		if err != nil {
			return a.fail("%v", err)
		}
		keyring, err := keyringFromEnv()
		if err != nil {
			return a.fail("%v", err)
		}
		secrets, err := keyring.Open("bullhorn", name, c.Secrets)
		if err != nil {
			return a.fail("%v", err)
		}
		cfg.ClientID, cfg.Username = c.Settings[connections.SettingClientID], c.Settings[connections.SettingUsername]
		cfg.ClientSecret, cfg.Password = secret.Value(secrets[connections.SecretClientSecret]), secret.Value(secrets[connections.SecretPassword])
		cfg.LoginInfoURL = cmp.Or(c.Settings[connections.SettingLoginInfoURL], cfg.LoginInfoURL)
	}
	auth, err := bullhorn.NewAuth(cfg)
	if err != nil {
		return a.fail("%v", err)
	}
	s, err := auth.Session(ctx)
	if err != nil {
		return a.fail("bullhorn connection %s: %v", name, err)
	}
	fmt.Fprintf(a.stdout, "bullhorn connection %s: login accepted; REST session at %s valid until %s\n", name, restHost(s.RestURL), s.Expiry.UTC().Format(time.RFC3339))
	return exitOK
}

// restHost is the scheme and host of a REST URL: its path holds the corporation token.
func restHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
