// Package connections stores the ATS accounts hrpush writes to. A connection names one account
// of one target (a JobAdder account that consented to the app, a Bullhorn API user): its
// settings, its sealed secrets and whether an operator paused it. Connections live in a NATS KV
// bucket, so that adding one needs no deploy and every worker and tool sees the same set; the
// environment's single-account variables are the connection [Default] of each target, which is
// not stored.
//
// What an account owns at run time (its tokens, its profile → ATS id records, its locks and
// rate budget) is keyed by its connection in the other buckets; see the README's KV layout.
package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/jobs"
)

// Default is the connection of a job that names none and whose workflow names none: the
// account the worker's environment describes.
const Default = "default"

// The names of the settings and secrets connections hold: written by `enqueue connections
// add`, read by the workers and `enqueue connect`.
const (
	SettingAllowDuplicates = "allow_duplicates" // JobAdder: bool
	SettingMaxInFlight     = "max_in_flight"    // jobs in flight across the fleet
	SettingClientID        = "client_id"        // Bullhorn OAuth client
	SettingUsername        = "username"         // Bullhorn API user
	SettingLoginInfoURL    = "login_info_url"   // Bullhorn data-centre discovery
	SettingCallsPerMinute  = "calls_per_minute" // Bullhorn call budget
	SettingHrFlowAPIUser   = "hrflow_api_user"  // the connection's own HrFlow account
	SettingHrFlowAPIURL    = "hrflow_api_url"

	SecretClientSecret    = "client_secret" // Bullhorn
	SecretPassword        = "password"      // Bullhorn
	SecretHrFlowAPISecret = "hrflow_api_secret"
)

// ErrNotFound is returned for a connection that is not stored.
var ErrNotFound = errors.New("connections: no such connection")

// ErrExists is returned by [Store.Create] for a name already taken for that target.
var ErrExists = errors.New("connections: connection exists")

// Connection is one ATS account.
type Connection struct {
	Name   string `json:"name"`
	Target string `json:"target"` // jobadder or bullhorn
	// Settings are the account's non-secret parameters and options, read by the target
	// package: Bullhorn client_id, username, login_info_url, calls_per_minute; JobAdder
	// allow_duplicates.
	Settings map[string]string `json:"settings,omitempty"`
	// Secrets are sealed with the fleet's key (see [Keyring]): Bullhorn client_secret and
	// password. JobAdder connections have none: their tokens come from the account's consent
	// and live in the tokens bucket.
	Secrets *Sealed `json:"secrets,omitempty"`
	// Paused, when set, is why an operator paused the connection: its jobs wait.
	Paused    string    `json:"paused,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Key is the connection's key in the bucket: its target and name.
func Key(target, name string) string { return target + "." + name }

// Validate checks the name and the target.
func (c *Connection) Validate() error {
	switch {
	case !jobs.ConnectionPattern.MatchString(c.Name):
		return fmt.Errorf("connections: name %q must match %s", c.Name, jobs.ConnectionPattern)
	case c.Name == Default:
		return fmt.Errorf("connections: %q is the connection the workers' environment describes; choose another name", Default)
	case !slices.Contains(jobs.Targets, c.Target):
		return fmt.Errorf("connections: target %q is unknown (want one of %s)", c.Target, strings.Join(jobs.Targets, ", "))
	}
	return nil
}

// Store reads and writes connections in the bucket jobs.ConnectionsBucket.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore returns a store on kv (jobs.Buckets.Connections).
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Get returns the connection and its revision, or an error wrapping [ErrNotFound].
func (s *Store) Get(ctx context.Context, target, name string) (*Connection, uint64, error) {
	e, err := s.kv.Get(ctx, Key(target, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s connection %q (list them with: enqueue connections list)", ErrNotFound, target, name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("connections: read %s/%s: %w", target, name, err)
	}
	c, err := decode(e.Value())
	if err != nil {
		return nil, 0, err
	}
	return c, e.Revision(), nil
}

func decode(b []byte) (*Connection, error) {
	var c Connection
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("connections: stored connection is not valid JSON: %w", err)
	}
	return &c, nil
}

// Create stores a new connection; it fails with [ErrExists] if the name is taken.
func (s *Store) Create(ctx context.Context, c *Connection) error {
	if err := c.Validate(); err != nil {
		return err
	}
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, Key(c.Target, c.Name), b); errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: %s connection %q", ErrExists, c.Target, c.Name)
	} else if err != nil {
		return fmt.Errorf("connections: store %s/%s: %w", c.Target, c.Name, err)
	}
	return nil
}

// Update changes a connection with change, retrying when another writer came first.
func (s *Store) Update(ctx context.Context, target, name string, change func(*Connection) error) (*Connection, error) {
	for {
		c, rev, err := s.Get(ctx, target, name)
		if err != nil {
			return nil, err
		}
		if err := change(c); err != nil {
			return nil, err
		}
		c.UpdatedAt = time.Now().UTC()
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		_, err = s.kv.Update(ctx, Key(target, name), b, rev)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("connections: store %s/%s: %w", target, name, err)
		}
		return c, nil
	}
}

// Delete removes a connection.
func (s *Store) Delete(ctx context.Context, target, name string) error {
	if _, _, err := s.Get(ctx, target, name); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, Key(target, name)); err != nil {
		return fmt.Errorf("connections: delete %s/%s: %w", target, name, err)
	}
	return nil
}

// List returns every stored connection, sorted by target and name.
func (s *Store) List(ctx context.Context) ([]*Connection, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("connections: list: %w", err)
	}
	var out []*Connection
	for key := range lister.Keys() {
		target, name, _ := strings.Cut(key, ".")
		c, _, err := s.Get(ctx, target, name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Connection) int {
		return strings.Compare(Key(a.Target, a.Name), Key(b.Target, b.Name))
	})
	return out, nil
}

// Watch calls changed with the target and name of every connection that is created, changed
// or removed, until ctx ends; changed must not block for long.
func (s *Store) Watch(ctx context.Context, changed func(target, name string)) error {
	w, err := s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("connections: watch: %w", err)
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				target, name, _ := strings.Cut(e.Key(), ".")
				changed(target, name)
			}
		}
	}()
	return nil
}
