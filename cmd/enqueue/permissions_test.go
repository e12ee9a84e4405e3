package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// shippedServerConf is the NATS configuration shipped for production.
const shippedServerConf = "../../deployments/nats/nats-server.conf"

// shippedUsers are the passwords of the users of shippedServerConf, by the variable it reads.
var shippedUsers = map[string]string{ //nolint:gochecknoglobals // test constants
	"SERVER_NAME":              "nats-0",
	"HRPUSH_WORKER_PASSWORD":   "worker-pw",
	"HRPUSH_ENQUEUE_PASSWORD":  "enqueue-pw",
	"HRPUSH_OPERATOR_PASSWORD": "operator-pw",
	"HRPUSH_GATEWAY_PASSWORD":  "gateway-pw",
}

// TestShippedPermissions runs every enqueue command, and a worker, against a server started
// from deployments/nats/nats-server.conf, each as the NATS user the README names for it:
// producers (push, bulk, source, source --incremental, status) as hrpush-enqueue with the
// default inbox prefix; operators (status, dlq, connections, connect) as hrpush-operator with
// NATS_INBOX_PREFIX=_INBOX_hrpush_operator; the worker as hrpush-worker. Each must succeed. The
// producers' user must then be refused the operators' commands. Not parallel: it sets the
// environment.
func TestShippedPermissions(t *testing.T) {
	ns := brokertest.StartConfigFile(t, shippedServerConf, shippedUsers)
	url := ns.ClientURL()

	// The worker first, as in production: it creates the streams and buckets.
	nc, err := broker.Connect(broker.ClientConfig{URL: url, User: "hrpush-worker", Password: "worker-pw", InboxPrefix: broker.WorkerInboxPrefix})
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	t.Cleanup(nc.Close)
	workerJS, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.EnsureStreams(t.Context(), workerJS, jobs.StreamConfig{}); err != nil {
		t.Fatalf("worker: create the streams: %v", err)
	}
	startWorker(t, workerJS, map[string]bool{"missing": true})

	hf := hrflowtest.NewServer(hrflowtest.Config{APIKey: "k", UserEmail: "u@example.com"})
	t.Cleanup(hf.Close)
	const source = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
	hf.Generate(source, 30, 5)
	ja := jobaddertest.NewServer(jobaddertest.Config{})
	t.Cleanup(ja.Close)
	bh := bullhorntest.NewServer(bullhorntest.Config{})
	t.Cleanup(bh.Close)
	jc, bc := ja.Config(), bh.Config()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(bc.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"NATS_URL": url, "NATS_PASSWORD_FILE": "", "NATS_CREDS_FILE": "", "NATS_NKEY_SEED_FILE": "", "NATS_TOKEN": "", "NATS_TOKEN_FILE": "",
		"NATS_TLS_CA_FILE": "", "NATS_TLS_CERT_FILE": "", "NATS_TLS_KEY_FILE": "", "NATS_REPLICAS": "",
		"HRFLOW_API_SECRET": "k", "HRFLOW_API_USER": "u@example.com",
		"HRPUSH_SECRETS_KEY":     base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"BULLHORN_CLIENT_SECRET": bc.ClientSecret, "BULLHORN_LOGIN_INFO_URL": bh.LoginInfoURL(),
		"JOBADDER_CLIENT_ID": jc.ClientID, "JOBADDER_CLIENT_SECRET": jc.ClientSecret, "JOBADDER_REDIRECT_URI": jc.RedirectURI,
		"JOBADDER_TOKEN_URL": ja.TokenURL(), "JOBADDER_AUTHORIZATION_URL": ja.AuthURL(),
	} {
		t.Setenv(k, v)
	}
	as := func(user string) {
		t.Setenv("NATS_USER", "hrpush-"+user)
		t.Setenv("NATS_PASSWORD", user+"-pw")
		prefix := ""
		switch user {
		case "operator":
			prefix = broker.OperatorInboxPrefix
		case "worker": // enqueue setup changes streams: only the workers' user may
			prefix = broker.WorkerInboxPrefix
		}
		t.Setenv("NATS_INBOX_PREFIX", prefix)
	}
	type step struct {
		user  string
		stdin string
		args  []string
		code  int
		want  string
	}
	job := func(cmd string, args ...string) []string {
		return append([]string{cmd, "--workflow-id", "w", "--target", "jobadder", "--source-key", source}, args...)
	}
	steps := []step{
		{"enqueue", "", job("push", "--profile-key", "p1"), exitOK, "enqueued job"},
		{"enqueue", "missing\n", job("bulk", "--batch-id", "bad"), exitOK, "batch bad: 1 jobs enqueued"},
		{"enqueue", "p2\np3\n", job("bulk", "--batch-id", "b1", "--wait"), exitOK, "status     success"},
		{"enqueue", "", job("source", "--hrflow-api-url", hf.URL(), "--batch-id", "full"), exitOK, "batch full: 30 jobs enqueued"},
		{"enqueue", "", job("source", "--hrflow-api-url", hf.URL(), "--incremental"), exitOK, "watermark moved"},
		{"enqueue", "", job("source", "--show-watermark"), exitOK, ": watermark 20"},
		{"enqueue", "", job("source", "--reset-watermark"), exitOK, "removed"},
		{"enqueue", "", []string{"status", "--batch", "b1"}, exitOK, "status     success"},
		{"enqueue", "", []string{"status", "--batch", "bad", "--wait"}, exitFailed, "failed     1"},

		{"operator", "", []string{"status", "--batch", "full", "--wait"}, exitOK, "status     success"},
		{"operator", "", []string{"dlq", "list"}, exitOK, "missing"},
		{"operator", "", []string{"dlq", "replay", "--batch", "bad"}, exitOK, "replayed 1"},
		{"operator", "", []string{"status", "--batch", "bad", "--wait"}, exitFailed, "failed     1"},
		{"operator", "", []string{"dlq", "list", "--json"}, exitOK, `"missing"`},
		{"operator", "", []string{"dlq", "purge", "--batch", "bad", "--yes"}, exitOK, "purged 1"},
		{"operator", "", []string{"connections", "add", "acme", "--target", "bullhorn", "--client-id", bc.ClientID, "--username", bc.Username, "--password-file", pw}, exitOK, "added"},
		{"operator", "", []string{"connections", "add", "acme", "--target", "bullhorn", "--client-id", bc.ClientID, "--username", bc.Username, "--password-file", pw, "--replace"}, exitOK, "replaced"},
		{"operator", "", []string{"connect", "acme", "--target", "bullhorn"}, exitOK, "login accepted"},
		{"operator", "", []string{"connect", "beta", "--target", "jobadder", "--code", ja.IssueCode()}, exitOK, "authorised"},
		{"operator", "", []string{"connections", "pause", "acme", "--target", "bullhorn"}, exitOK, "paused"},
		{"operator", "", []string{"connections", "resume", "acme", "--target", "bullhorn"}, exitOK, "resumed"},
		{"operator", "", []string{"connections", "show", "acme", "--target", "bullhorn", "--json"}, exitOK, "sealed with key"},
		{"operator", "", []string{"connections", "list"}, exitOK, "authorised, access token until"},
		{"operator", "", []string{"connections", "remove", "acme", "--target", "bullhorn"}, exitOK, "removed"},
		{"operator", "", []string{"connections", "remove", "beta", "--target", "jobadder"}, exitOK, "removed"},
		{"operator", "", []string{"connect", "default", "--target", "jobadder", "--gateway", "https://gw.example"}, exitOK, "https://gw.example/connect/default?"},
		{"operator", "", []string{"apikeys", "create", "--name", "crm", "--workflows", "w", "--connections", "default"}, exitOK, "hrp_"},
		{"operator", "", []string{"apikeys", "list"}, exitOK, "crm"},

		{"worker", "", []string{"setup"}, exitOK, "streams and buckets match the settings"},
		{"worker", "", []string{"setup", "--apply"}, exitOK, "streams and buckets match the settings"},

		// Least privilege: the producers' user runs none of the operators' commands.
		{"enqueue", "", []string{"dlq", "list"}, exitUsage, "NATS refused"},
		{"enqueue", "", []string{"connections", "list"}, exitUsage, "NATS refused"},
		{"enqueue", "", []string{"connect", "gamma", "--target", "jobadder", "--code", "x"}, exitUsage, "NATS refused"},
		{"enqueue", "", []string{"apikeys", "list"}, exitUsage, "NATS refused"},
	}
	for _, s := range steps {
		as(s.user)
		code, out, errOut := runWithStdin(t, s.stdin, s.args...)
		t.Logf("as hrpush-%s: enqueue %s: exit %d\n%s%s", s.user, strings.Join(s.args, " "), code, out, errOut)
		if code != s.code || !strings.Contains(out+errOut, s.want) {
			t.Errorf("as hrpush-%s: enqueue %s: exit %d, want %d with %q:\n%s%s", s.user, strings.Join(s.args, " "), code, s.code, s.want, out, errOut)
		}
		if regexp.MustCompile(`-pw\b|s3cr3t`).MatchString(out + errOut) {
			t.Errorf("enqueue %s printed a password:\n%s%s", strings.Join(s.args, " "), out, errOut)
		}
	}
	// An operator revokes the key created above, by the id apikeys create names.
	as("operator")
	_, _, created := runWithStdin(t, "", "apikeys", "create", "--name", "temp", "--workflows", "*", "--connections", "*")
	id := regexp.MustCompile(`API key (\S+) \(temp\)`).FindStringSubmatch(created)
	if id == nil {
		t.Fatalf("apikeys create did not name the key: %s", created)
	}
	if code, out, errOut := runWithStdin(t, "", "apikeys", "revoke", id[1]); code != exitOK || !strings.Contains(out, "revoked") {
		t.Errorf("as hrpush-operator: apikeys revoke: exit %d\n%s%s", code, out, errOut)
	}

	// An operator who forgot NATS_INBOX_PREFIX is told why no reply comes.
	as("operator")
	t.Setenv("NATS_INBOX_PREFIX", "")
	if code, out, errOut := runCLI(t, "dlq", "list"); code != exitUsage || !strings.Contains(errOut, "Subscription to \"_INBOX_hrpush_enqueue") ||
		!strings.Contains(errOut, "NATS_INBOX_PREFIX=_INBOX_hrpush_operator") {
		t.Errorf("operator with the producers' inbox prefix: exit %d:\n%s%s", code, out, errOut)
	}
	waitJobs := func() bool { return brokertest.StreamMsgs(t, workerJS, jobs.JobsStream) == 0 }
	deadline := time.Now().Add(60 * time.Second)
	for !waitJobs() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := brokertest.StreamMsgs(t, workerJS, jobs.JobsStream); n != 0 {
		t.Errorf("the worker left %d jobs in the stream", n)
	}
}
