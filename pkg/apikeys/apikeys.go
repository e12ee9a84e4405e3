// Package apikeys stores the gateway's API keys in a NATS KV bucket (jobs.APIKeysBucket) and
// checks the bearer tokens presented to it.
//
// A token is "hrp_" + the key's public id + "_" + 32 random bytes (base32). The bucket holds,
// under the id, the SHA-256 of the whole token and the key's scopes, never the token: it is
// shown once, by [Store.Create]. SHA-256 and not bcrypt: the token has 256 bits of entropy,
// so there is nothing to slow a guess down against, and a slow hash would cost every request
// of the gateway tens of milliseconds of CPU.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/secret"
)

// Any is the wildcard scope: every workflow, or every connection.
const Any = "*"

const prefix = "hrp_"

// ErrInvalid is returned by [Store.Verify] for a token that is malformed, unknown or revoked.
var ErrInvalid = errors.New("apikeys: invalid API key")

// ErrNotFound is returned by [Store.Revoke] for an id no key has.
var ErrNotFound = errors.New("apikeys: no such key")

// Key is one API key as stored: what it may do, never the token.
type Key struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the token.
	Hash string `json:"hash"`
	// Workflows and Connections are what the key may enqueue for: ids, or [Any]. The
	// connection of a job that names none is its workflow's, else "default".
	Workflows   []string `json:"workflows"`
	Connections []string `json:"connections"`
	// RatePerSecond and Burst bound the key's requests (per gateway replica); 0: the
	// gateway's default.
	RatePerSecond float64   `json:"rate_per_second,omitempty"`
	Burst         int       `json:"burst,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Allows says whether the key may enqueue for workflow on connection.
func (k *Key) Allows(workflow, connection string) bool {
	return k.AllowsWorkflow(workflow) && in(k.Connections, connection)
}

// AllowsWorkflow says whether the key may enqueue for workflow (on some connection), and so
// read its batches.
func (k *Key) AllowsWorkflow(workflow string) bool { return in(k.Workflows, workflow) }

func in(scope []string, v string) bool {
	return slices.Contains(scope, Any) || slices.Contains(scope, v)
}

// Store reads and writes keys in a KV bucket.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore returns a store on kv (jobs.Buckets.APIKeys).
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

var idPattern = regexp.MustCompile(`^[a-z0-9]{12}$`)

// scopePattern is what a scope entry may be: a workflow id or connection name, or [Any].
var scopePattern = regexp.MustCompile(`^(\*|[A-Za-z0-9_-]{1,128})$`)

// Create stores a new key and returns it with its token, which is shown once: the store
// keeps only its hash.
func (s *Store) Create(ctx context.Context, k Key) (*Key, secret.Value, error) {
	if len(k.Workflows) == 0 || len(k.Connections) == 0 {
		return nil, "", errors.New("apikeys: a key needs at least one workflow and one connection (* for any)")
	}
	for _, v := range append(slices.Clone(k.Workflows), k.Connections...) {
		if !scopePattern.MatchString(v) {
			return nil, "", fmt.Errorf("apikeys: scope %q must be * or match %s", v, scopePattern)
		}
	}
	if k.RatePerSecond < 0 || k.Burst < 0 {
		return nil, "", errors.New("apikeys: rate and burst must not be negative")
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	id := strings.ToLower(rand.Text()[:12])
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := prefix + id + "_" + strings.ToLower(enc.EncodeToString(raw))
	k.ID, k.Hash, k.CreatedAt = id, hash(token), time.Now().UTC()
	data, err := json.Marshal(k)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.kv.Create(ctx, id, data); err != nil {
		return nil, "", fmt.Errorf("apikeys: store key: %w", err)
	}
	return &k, secret.Value(token), nil
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Verify returns the key of token, or an error wrapping [ErrInvalid]. Other errors are the
// store's (NATS unreachable).
func (s *Store) Verify(ctx context.Context, token string) (*Key, error) {
	rest, ok := strings.CutPrefix(token, prefix)
	id, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || !idPattern.MatchString(id) {
		return nil, ErrInvalid
	}
	k, err := s.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash(token))) != 1 {
		return nil, ErrInvalid
	}
	return k, nil
}

func (s *Store) get(ctx context.Context, id string) (*Key, error) {
	if !idPattern.MatchString(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("apikeys: read key: %w", err)
	}
	var k Key
	if err := json.Unmarshal(e.Value(), &k); err != nil {
		return nil, fmt.Errorf("apikeys: key %s: %w", id, err)
	}
	return &k, nil
}

// List returns every key, oldest first; their hashes are blanked.
func (s *Store) List(ctx context.Context) ([]*Key, error) {
	ids, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("apikeys: list: %w", err)
	}
	var out []*Key
	for id := range ids.Keys() {
		k, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // revoked meanwhile
		}
		if err != nil {
			return nil, err
		}
		k.Hash = ""
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Revoke removes the key id: its token is refused from then on.
func (s *Store) Revoke(ctx context.Context, id string) error {
	if _, err := s.get(ctx, id); err != nil {
		return err
	}
	if err := s.kv.Purge(ctx, id); err != nil {
		return fmt.Errorf("apikeys: revoke %s: %w", id, err)
	}
	return nil
}
