package apikeys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/broker/brokertest"
)

func TestCreateVerifyListRevoke(t *testing.T) {
	t.Parallel()
	kv := brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{})
	store := apikeys.NewStore(kv)
	k, token, err := store.Create(t.Context(), apikeys.Key{Name: "crm", Workflows: []string{"wf-a"}, Connections: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token.Reveal(), "hrp_"+k.ID+"_") || len(token.Reveal()) < 60 {
		t.Fatalf("token shape: %d characters", len(token.Reveal()))
	}
	entry, err := kv.Get(t.Context(), k.ID)
	if err != nil || strings.Contains(string(entry.Value()), token.Reveal()) {
		t.Fatalf("the bucket holds the token: %v", err)
	}
	got, err := store.Verify(t.Context(), token.Reveal())
	if err != nil || got.ID != k.ID || !got.Allows("wf-a", "acme") || got.Allows("wf-b", "default") {
		t.Fatalf("verify: %+v %v", got, err)
	}
	for _, bad := range []string{"", "hrp_", token.Reveal() + "x", "hrp_" + k.ID + "_guess", "hrp_../.._x", strings.Replace(token.Reveal(), k.ID, "aaaaaaaaaaaa", 1)} {
		if _, err := store.Verify(t.Context(), bad); !errors.Is(err, apikeys.ErrInvalid) {
			t.Errorf("verify %q: %v, want ErrInvalid", bad, err)
		}
	}
	list, err := store.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Hash != "" || list[0].Name != "crm" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := store.Revoke(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Verify(t.Context(), token.Reveal()); !errors.Is(err, apikeys.ErrInvalid) {
		t.Fatalf("revoked key verifies: %v", err)
	}
	if err := store.Revoke(t.Context(), k.ID); !errors.Is(err, apikeys.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
}

func TestCreateRefusesBadScopes(t *testing.T) {
	t.Parallel()
	store := apikeys.NewStore(brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{}))
	for _, k := range []apikeys.Key{
		{Name: "x", Connections: []string{"*"}},
		{Name: "x", Workflows: []string{"*"}},
		{Name: "x", Workflows: []string{"a b"}, Connections: []string{"*"}},
		{Name: "x", Workflows: []string{"*"}, Connections: []string{"*"}, RatePerSecond: -1},
	} {
		if _, _, err := store.Create(t.Context(), k); err == nil {
			t.Errorf("create %+v: no error", k)
		}
	}
}
