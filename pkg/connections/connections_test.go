package connections_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/jobs"
)

func store(t *testing.T) *connections.Store {
	t.Helper()
	_, js := brokertest.JetStream(t)
	b, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return connections.NewStore(b.Connections)
}

func TestStore(t *testing.T) {
	t.Parallel()
	s := store(t)
	ctx := t.Context()
	var mu sync.Mutex
	var changed []string
	if err := s.Watch(ctx, func(target, name string) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, target+"/"+name)
	}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []*connections.Connection{
		{Name: "acme", Target: "jobadder", Settings: map[string]string{"allow_duplicates": "true"}},
		{Name: "acme", Target: "bullhorn", Settings: map[string]string{"username": "api.acme"}},
		{Name: "beta", Target: "jobadder"},
	} {
		if err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, &connections.Connection{Name: "acme", Target: "jobadder"}); !errors.Is(err, connections.ErrExists) {
		t.Errorf("second acme: %v, want ErrExists", err)
	}
	for _, bad := range []connections.Connection{
		{Name: "default", Target: "jobadder"}, {Name: "Acme", Target: "jobadder"}, {Name: "a.b", Target: "jobadder"}, {Name: "x", Target: "workday"},
	} {
		if err := s.Create(ctx, &bad); err == nil {
			t.Errorf("Create(%s/%s) accepted", bad.Target, bad.Name)
		}
	}
	c, _, err := s.Get(ctx, "bullhorn", "acme")
	if err != nil || c.Settings["username"] != "api.acme" || c.CreatedAt.IsZero() {
		t.Fatalf("Get = %+v, %v", c, err)
	}
	if _, err := s.Update(ctx, "jobadder", "beta", func(c *connections.Connection) error { c.Paused = "maintenance"; return nil }); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Target+"/"+c.Name+"/"+c.Paused)
	}
	if got := strings.Join(names, " "); got != "bullhorn/acme/ jobadder/acme/ jobadder/beta/maintenance" {
		t.Errorf("List = %s", got)
	}
	if err := s.Delete(ctx, "jobadder", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "jobadder", "acme"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, "jobadder", "nosuch"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("Delete(nosuch): %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(changed, " ")
		mu.Unlock()
		if got == "jobadder/acme bullhorn/acme jobadder/beta jobadder/beta jobadder/acme" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watched changes: %s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	k, err := connections.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"password": "hunter2-s3cr3t", "client_secret": "cs-s3cr3t"}
	sealed, err := k.Seal("bullhorn", "acme", secrets)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Box, []byte("s3cr3t")) {
		t.Fatal("the box shows a secret")
	}
	got, err := k.Open("bullhorn", "acme", sealed)
	if err != nil || got["password"] != "hunter2-s3cr3t" || got["client_secret"] != "cs-s3cr3t" {
		t.Fatalf("Open = %v, %v", got, err)
	}
	if _, err := k.Open("bullhorn", "other", sealed); err == nil || !strings.Contains(err.Error(), "belong to bullhorn.acme") {
		t.Errorf("box moved to another connection: %v", err)
	}
	other, _ := connections.NewKeyring(strings.Repeat("ab", 32))
	if _, err := other.Open("bullhorn", "acme", sealed); err == nil || !strings.Contains(err.Error(), "HRPUSH_SECRETS_KEY") {
		t.Errorf("another key: %v", err)
	}
	tampered := *sealed
	tampered.Box = append([]byte(nil), sealed.Box...)
	tampered.Box[len(tampered.Box)-1] ^= 1
	if _, err := k.Open("bullhorn", "acme", &tampered); err == nil {
		t.Error("a tampered box opened")
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := connections.NewKeyring(bad); err == nil {
			t.Errorf("NewKeyring(%q) accepted", bad)
		}
	}
	var none *connections.Keyring
	if _, err := none.Seal("bullhorn", "acme", secrets); !errors.Is(err, connections.ErrNoKey) {
		t.Errorf("Seal without a key: %v", err)
	}
}
