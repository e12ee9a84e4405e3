package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// connectionSet builds the destination of each stored connection on its first job and keeps it
// until the connection changes: a connection added, re-authorised, paused or removed with
// `enqueue connections` or `enqueue connect` takes effect without a restart.
type connectionSet struct {
	cfg     config
	store   *connections.Store
	keyring *connections.Keyring // nil without HRPUSH_SECRETS_KEY
	buckets *jobs.Buckets
	log     *slog.Logger

	mu    sync.Mutex
	built map[string]workflow.Destination // by connections.Key
}

func newConnectionSet(ctx context.Context, cfg config, buckets *jobs.Buckets, log *slog.Logger) (*connectionSet, error) {
	s := &connectionSet{
		cfg: cfg, store: connections.NewStore(buckets.Connections), buckets: buckets, log: log,
		built: map[string]workflow.Destination{},
	}
	if !cfg.SecretsKey.IsZero() {
		k, err := connections.NewKeyring(cfg.SecretsKey.Reveal())
		if err != nil {
			return nil, envconf.Errorf("HRPUSH_SECRETS_KEY: %w", err)
		}
		s.keyring = k
	}
	err := s.store.Watch(ctx, func(target, name string) {
		s.mu.Lock()
		delete(s.built, connections.Key(target, name))
		s.mu.Unlock()
		log.Info("connection changed; it is rebuilt at its next job", "target", target, "connection", name)
	})
	return s, err
}

// Destination implements workflow.Connections.
func (s *connectionSet) Destination(ctx context.Context, target, name string) (workflow.Destination, error) {
	key := connections.Key(target, name)
	s.mu.Lock()
	d, ok := s.built[key]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	c, _, err := s.store.Get(ctx, target, name)
	if errors.Is(err, connections.ErrNotFound) {
		return workflow.Destination{}, fmt.Errorf("%w: %w", workflow.ErrUnknownConnection, err)
	}
	if err != nil {
		return workflow.Destination{}, err // NATS did not answer: the job is retried
	}
	if c.Paused != "" {
		return workflow.Destination{}, &targets.CredentialsError{Target: target,
			Reason: fmt.Sprintf("connection %s is paused by an operator (%s): resume it with `enqueue connections resume %s --target %s`", name, c.Paused, name, target)}
	}
	secrets, err := s.keyring.Open(target, name, c.Secrets)
	if err != nil {
		return workflow.Destination{}, &targets.CredentialsError{Target: target, Reason: err.Error()}
	}
	switch target {
	case "jobadder":
		d, err = s.jobadder(c)
	case "bullhorn":
		d, err = s.bullhorn(c, secrets)
	}
	if user := c.Settings[connections.SettingHrFlowAPIUser]; err == nil && user != "" {
		// The connection reads its profiles from its own HrFlow account.
		var hf *hrflow.Client
		apiURL := cmp.Or(c.Settings[connections.SettingHrFlowAPIURL], s.cfg.HrFlowAPIURL)
		if hf, err = newHrFlowAccount(s.cfg, apiURL, user, secret.Value(secrets[connections.SecretHrFlowAPISecret]), s.cfg.Concurrency); err == nil {
			d.Profiles, d.Downloader = hf.Profiles, hf
		}
	}
	if err != nil {
		return workflow.Destination{}, &targets.CredentialsError{Target: target, Reason: fmt.Sprintf("connection %s: %v", name, err)}
	}
	s.mu.Lock()
	s.built[key] = d
	s.mu.Unlock()
	s.log.Info("connection ready", "target", target, "connection", name)
	return d, nil
}

// maxInFlight is the connection's cap on jobs in flight across the fleet (its setting
// max_in_flight), or 0 for the worker's default (jobs.Config.MaxInFlight).
func (s *connectionSet) maxInFlight(target, name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := s.store.Get(ctx, target, name)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(c.Settings[connections.SettingMaxInFlight])
	return max(n, 0)
}

// jobadder builds a JobAdder connection: the app of the environment, the account's consent
// stored by `enqueue connect`.
func (s *connectionSet) jobadder(c *connections.Connection) (workflow.Destination, error) {
	if s.cfg.JobAdderClientID == "" {
		return workflow.Destination{}, fmt.Errorf("this worker has no JobAdder app: set JOBADDER_CLIENT_ID, JOBADDER_CLIENT_SECRET and JOBADDER_REDIRECT_URI")
	}
	dup, _ := strconv.ParseBool(c.Settings[connections.SettingAllowDuplicates])
	d, _, err := buildJobAdderAccount(s.cfg, s.buckets, s.log, c.Name, "", dup)
	return d, err
}

// bullhorn builds a Bullhorn connection from its stored API user.
func (s *connectionSet) bullhorn(c *connections.Connection, secrets map[string]string) (workflow.Destination, error) {
	perMinute := s.cfg.BullhornCallsPerMinute
	if v := c.Settings[connections.SettingCallsPerMinute]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return workflow.Destination{}, fmt.Errorf("calls_per_minute %q is not a positive number", v)
		}
		perMinute = n
	}
	d, _, err := buildBullhornAccount(s.cfg, s.buckets, s.log, bullhornAccount{
		connection: c.Name, loginInfoURL: c.Settings[connections.SettingLoginInfoURL],
		clientID: c.Settings[connections.SettingClientID], clientSecret: secrets[connections.SecretClientSecret],
		username: c.Settings[connections.SettingUsername], password: secrets[connections.SecretPassword], perMinute: perMinute,
	})
	return d, err
}
