package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// TestConnectionsCommands drives `enqueue connections` and `enqueue connect` as an operator
// would: a Bullhorn connection with sealed secrets that never show, pause and resume, a removal
// that asks first, and a JobAdder connection authorised with a code and checked with one call.
func TestConnectionsCommands(t *testing.T) {
	url, js := natsServer(t)
	ja := jobaddertest.NewServer(jobaddertest.Config{})
	t.Cleanup(ja.Close)
	jc := ja.Config()
	t.Setenv("HRPUSH_SECRETS_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	t.Setenv("BULLHORN_CLIENT_SECRET", "cs-s3cr3t")
	t.Setenv("JOBADDER_CLIENT_ID", jc.ClientID)
	t.Setenv("JOBADDER_CLIENT_SECRET", jc.ClientSecret)
	t.Setenv("JOBADDER_REDIRECT_URI", jc.RedirectURI)
	t.Setenv("JOBADDER_TOKEN_URL", ja.TokenURL())
	t.Setenv("JOBADDER_AUTHORIZATION_URL", ja.AuthURL())
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pw-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append(args, "--nats-url", url)...)
		if strings.Contains(out+errOut, "s3cr3t") {
			t.Errorf("enqueue %s printed a secret:\n%s%s", strings.Join(args, " "), out, errOut)
		}
		return code, out + errOut
	}

	if code, out := cli("connections", "add", "acme", "--target", "bullhorn", "--client-id", "cid", "--username", "api.acme", "--password-file", pw); code != exitOK {
		t.Fatalf("add: %d %s", code, out)
	}
	if code, out := cli("connections", "add", "acme", "--target", "bullhorn", "--client-id", "cid", "--username", "api.acme", "--password-file", pw); code != exitUsage || !strings.Contains(out, "--replace") {
		t.Errorf("second add: %d %s", code, out)
	}
	if code, out := cli("connections", "add", "acme", "--target", "bullhorn", "--client-id", "cid2", "--username", "api.acme", "--password-file", pw, "--replace"); code != exitOK || !strings.Contains(out, "replaced") {
		t.Errorf("add --replace: %d %s", code, out)
	}
	if code, out := cli("connections", "add", "x", "--target", "bullhorn"); code != exitUsage || !strings.Contains(out, "--client-id") {
		t.Errorf("add without an API user: %d %s", code, out)
	}
	if code, out := cli("connections", "pause", "acme", "--target", "bullhorn", "--reason", "maintenance"); code != exitOK {
		t.Errorf("pause: %d %s", code, out)
	}
	for _, k := range []string{"p1", "p2", "p3"} {
		if code, out := cli("push", "--workflow-id", "w", "--target", "bullhorn", "--connection", "acme", "--source-key", "s", "--profile-key", k); code != exitOK {
			t.Fatalf("push: %d %s", code, out)
		}
	}
	if code, out := cli("connections", "list"); code != exitOK || !strings.Contains(out, "paused: maintenance  3        0") || !strings.Contains(out, "client_id=cid2 username=api.acme") {
		t.Errorf("list (want the 3 jobs waiting for acme): %d %s", code, out)
	}
	if code, out := cli("connections", "show", "acme", "--target", "bullhorn", "--json"); code != exitOK || !strings.Contains(out, `"sealed with key`) {
		t.Errorf("show --json: %d %s", code, out)
	}
	if code, out := cli("connections", "resume", "acme", "--target", "bullhorn"); code != exitOK {
		t.Errorf("resume: %d %s", code, out)
	}
	if code, out := cli("connections", "remove", "acme", "--target", "bullhorn"); code != exitUsage || !strings.Contains(out, "has 3 jobs waiting") {
		t.Errorf("remove without --yes: %d %s", code, out)
	}
	if code, out := cli("connections", "remove", "acme", "--target", "bullhorn", "--yes"); code != exitOK {
		t.Errorf("remove: %d %s", code, out)
	}
	if code, out := cli("connections", "show", "acme", "--target", "bullhorn"); code != exitUsage || !strings.Contains(out, "no such connection") {
		t.Errorf("show after remove: %d %s", code, out)
	}

	// JobAdder: the code is exchanged once, the token stored under the connection, and checked.
	code, out := cli("connect", "beta", "--target", "jobadder", "--code", ja.IssueCode())
	if code != exitOK || !strings.Contains(out, "authorised; reached the account at "+ja.URL()) {
		t.Fatalf("connect: %d %s", code, out)
	}
	tokens, err := js.KeyValue(t.Context(), jobs.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for k := range keys.Keys() {
		stored = append(stored, k)
	}
	if len(stored) != 1 || !strings.HasSuffix(stored[0], ".beta") {
		t.Errorf("token records %v; want one, the connection beta's", stored)
	}
	if code, out := cli("connect", "gamma", "--target", "jobadder", "--code", "not-a-code"); code != exitUsage || !strings.Contains(out, "authorization code was refused") {
		t.Errorf("connect with a bad code: %d %s", code, out)
	}
	if code, out := cli("connections", "add", "delta", "--target", "jobadder"); code != exitOK {
		t.Fatalf("add delta: %d %s", code, out)
	}
	if code, out := cli("connections", "list"); code != exitOK || !strings.Contains(out, "authorised, access token until") ||
		!strings.Contains(out, "not authorised: enqueue connect delta --target jobadder") {
		t.Errorf("list (want beta authorised, delta not): %d %s", code, out)
	}
	if code, out := cli("connections", "remove", "beta", "--target", "jobadder"); code != exitOK {
		t.Errorf("removing a connection without jobs asks nothing: %d %s", code, out)
	}
}

// TestStreamsCreatedWithTheWorkersReplicas: an enqueue that comes first creates the streams
// as the workers would, with NATS_REPLICAS, and refuses a value out of range.
func TestStreamsCreatedWithTheWorkersReplicas(t *testing.T) {
	url, js := brokertest.JetStream(t)
	t.Setenv("NATS_REPLICAS", "0")
	args := []string{"push", "--nats-url", url, "--workflow-id", "w", "--target", "jobadder", "--source-key", "s", "--profile-key", "p1"}
	if code, _, errOut := runCLI(t, args...); code != exitUsage || !strings.Contains(errOut, "NATS_REPLICAS") {
		t.Errorf("NATS_REPLICAS=0: exit %d, %s", code, errOut)
	}
	t.Setenv("NATS_REPLICAS", "1")
	if code, _, errOut := runCLI(t, args...); code != exitOK {
		t.Fatalf("NATS_REPLICAS=1: exit %d, %s", code, errOut)
	}
	s, err := js.Stream(t.Context(), jobs.JobsStream)
	if err != nil || s.CachedInfo().Config.Replicas != 1 {
		t.Errorf("jobs stream: %v", err)
	}
}
