package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hrpush/hrpush/pkg/broker"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
)

// TestConnectWithCredentials: enqueue reads the NATS credentials from the worker's variables
// and gets its replies on its own inbox prefix, the only one its user may subscribe to.
// Not parallel: it sets the environment.
func TestConnectWithCredentials(t *testing.T) {
	const password = "enqueue-pa55word"
	ns := brokertest.StartNATS(t, &server.Options{
		JetStream: true,
		Users: []*server.User{{
			Username: "hrpush-enqueue", Password: password,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{">"}},
				Subscribe: &server.SubjectPermission{Allow: []string{broker.EnqueueInboxPrefix + ".>"}},
			},
		}},
	})
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"NATS_URL", "NATS_CREDS_FILE", "NATS_NKEY_SEED_FILE", "NATS_PASSWORD", "NATS_TOKEN", "NATS_TOKEN_FILE",
		"NATS_TLS_CA_FILE", "NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE"} {
		t.Setenv(name, "")
	}
	push := func(extra ...string) []string {
		return append([]string{"push", "--nats-url", ns.ClientURL(), "--workflow-id", "w", "--target", "jobadder",
			"--source-key", "s", "--profile-key", "p1"}, extra...)
	}

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		contains string
	}{
		{"user and password file", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": passwordFile}, push(), exitOK, "enqueued job"},
		{"no credentials", map[string]string{"NATS_USER": "", "NATS_PASSWORD_FILE": ""}, push(), exitUsage, "refused the credentials"},
		{"wrong password", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": "", "NATS_PASSWORD": "wrong-password"}, push(), exitUsage, "refused the credentials"},
		{"missing password file", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": filepath.Join(dir, "nope")}, push(), exitUsage, "NATS_PASSWORD_FILE: open"},
		{"user without password", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": ""}, push(), exitUsage, "NATS_USER and NATS_PASSWORD: must be set together"},
		{"--creds with user", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": passwordFile}, push("--creds", passwordFile), exitUsage, "--creds (NATS_CREDS_FILE) and NATS_USER: cannot be used together"},
		{"--tls-ca missing", map[string]string{"NATS_USER": "hrpush-enqueue", "NATS_PASSWORD_FILE": passwordFile, "NATS_TLS_CA_FILE": filepath.Join(dir, "env-ca.pem")}, push("--tls-ca", filepath.Join(dir, "ca.pem")), exitUsage, "--tls-ca (NATS_TLS_CA_FILE): open " + filepath.Join(dir, "ca.pem")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.contains) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, tt.code, tt.contains, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "pa55word") || strings.Contains(stdout+stderr, "wrong-password") {
				t.Errorf("output shows a password:\n%s%s", stdout, stderr)
			}
		})
	}
}
