package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/jobs"
)

func TestAPIKeysCommands(t *testing.T) {
	url, js := natsServer(t)
	code, token, errOut := runCLI(t, "apikeys", "create", "--name", "crm", "--workflows", "wf-a, wf-b", "--connections", "*", "--nats-url", url)
	token = strings.TrimSpace(token)
	if code != exitOK || !strings.HasPrefix(token, "hrp_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("create: %d %q %s", code, token, errOut)
	}
	kv, err := js.KeyValue(t.Context(), jobs.APIKeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	k, err := apikeys.NewStore(kv).Verify(t.Context(), token)
	if err != nil || !k.Allows("wf-b", "acme") || k.Allows("wf-c", "default") {
		t.Fatalf("the created key: %+v %v", k, err)
	}
	code, out, _ := runCLI(t, "apikeys", "list", "--nats-url", url)
	if code != exitOK || !strings.Contains(out, k.ID) || !strings.Contains(out, "wf-a,wf-b") || strings.Contains(out, token) || strings.Contains(out, k.Hash) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, "apikeys", "revoke", k.ID, "--nats-url", url); code != exitOK {
		t.Fatalf("revoke: %d %s%s", code, out, errOut)
	}
	if _, err := apikeys.NewStore(kv).Verify(t.Context(), token); err == nil {
		t.Fatal("the revoked key still verifies")
	}
	for _, args := range [][]string{
		{"apikeys", "create", "--name", "x", "--workflows", "*"},
		{"apikeys", "revoke"},
		{"apikeys", "frob"},
	} {
		if code, _, _ := runCLI(t, append(args, "--nats-url", url)...); code != exitUsage {
			t.Errorf("enqueue %s: exit %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
	}
}

// TestStatusOfAGatewayBatch shows how far the gateway got enqueuing a batch.
func TestStatusOfAGatewayBatch(t *testing.T) {
	url, js := natsServer(t)
	now := time.Now().UTC()
	if err := jobs.PublishBatch(t.Context(), js, &jobs.Batch{ID: "gw-1", WorkflowID: "w", Target: "jobadder", Total: 300, Expected: 1000,
		State: jobs.BatchInterrupted, Error: "publishing interrupted", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "status", "--batch", "gw-1", "--nats-url", url)
	if code != exitOK || !strings.Contains(out, "interrupted: 300 of 1000 so far") || !strings.Contains(out, "publishing interrupted") {
		t.Fatalf("%d\n%s%s", code, out, errOut)
	}
}
