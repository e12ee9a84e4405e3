package main

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hrpush/hrpush/pkg/envconf"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/builtin"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/transport"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// newRegistry registers what the targets give workflows (package builtin).
func newRegistry() *workflow.Registry { return builtin.Registry() }

// buildTargets builds the destination of every enabled target, by target name.
func buildTargets(ctx context.Context, cfg config, buckets *jobs.Buckets, log *slog.Logger) (map[string]workflow.Destination, error) {
	out := map[string]workflow.Destination{}
	if cfg.JobAdderClientID != "" {
		d, err := buildJobAdder(ctx, cfg, buckets, log)
		if err != nil {
			return nil, err
		}
		out["jobadder"] = d
	}
	if cfg.BullhornClientID != "" {
		d, err := buildBullhorn(ctx, cfg, buckets, log)
		if err != nil {
			return nil, err
		}
		out["bullhorn"] = d
	}
	return out, nil
}

func buildJobAdder(ctx context.Context, cfg config, buckets *jobs.Buckets, log *slog.Logger) (workflow.Destination, error) {
	d, auth, err := buildJobAdderAccount(cfg, buckets, log, "", cfg.JobAdderAuthorizationCode, cfg.JobAdderAllowDuplicates)
	if err != nil {
		return workflow.Destination{}, envconf.Errorf("%w", err)
	}
	// Exchange a fresh authorization code (valid 5 minutes) now rather than at the first job.
	err = warmUp(ctx, "JobAdder", log, func(ctx context.Context) error { _, err := auth.Token(ctx); return err })
	var ce *targets.CredentialsError
	if errors.As(err, &ce) && cfg.JobAdderAuthorizationCode.IsZero() {
		// The other targets and connections work on; `enqueue connect default --target
		// jobadder` stores a token and the paused jobs resume without a restart.
		log.Error("JobAdder (default connection): no usable token is stored and JOBADDER_AUTHORIZATION_CODE is empty; "+
			"its jobs wait until you run `enqueue connect default --target jobadder` (see the README, \"Connecting real HrFlow and JobAdder accounts\")", "error", err)
	}
	return d, nil
}

// buildJobAdderAccount builds the destination of one JobAdder account: the environment's app
// with the account's consent (its token record, under connection; "" is the default one).
func buildJobAdderAccount(cfg config, buckets *jobs.Buckets, log *slog.Logger, connection string, code secret.Value, allowDuplicates bool) (workflow.Destination, *jobadder.Auth, error) {
	hc := apiClient(cfg)
	auth, err := jobadder.NewAuth(jobadder.AuthConfig{
		ClientID:          cfg.JobAdderClientID,
		ClientSecret:      cfg.JobAdderClientSecret,
		AuthorizationCode: code,
		RedirectURI:       cfg.JobAdderRedirectURI,
		AuthorizationURL:  cfg.JobAdderAuthorizationURL,
		TokenURL:          cfg.JobAdderTokenURL,
		Tokens:            buckets.Tokens,
		Logger:            log,
		Owner:             cfg.Name,
		HTTPClient:        hc,
		Connection:        connection,
	})
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	client, err := jobadder.New(auth, jobadder.WithHTTPClient(hc))
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	target, err := jobadder.NewTarget(jobadder.TargetConfig{Client: client, IDs: buckets.IDs, Logger: log, Connection: connection, AllowDuplicates: allowDuplicates})
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	return workflow.Destination{Target: target, Format: builtin.JobAdderFormat}, auth, nil
}

func buildBullhorn(ctx context.Context, cfg config, buckets *jobs.Buckets, log *slog.Logger) (workflow.Destination, error) {
	d, auth, err := buildBullhornAccount(cfg, buckets, log, bullhornAccount{
		clientID: cfg.BullhornClientID, clientSecret: cfg.BullhornClientSecret.Reveal(),
		username: cfg.BullhornUsername, password: cfg.BullhornPassword.Reveal(), perMinute: cfg.BullhornCallsPerMinute,
	})
	if err != nil {
		return workflow.Destination{}, envconf.Errorf("%w", err)
	}
	// Log in now, so that a refused password or unaccepted terms show at start-up.
	_ = warmUp(ctx, "Bullhorn", log, func(ctx context.Context) error { _, err := auth.Session(ctx); return err })
	return d, nil
}

// bullhornAccount is what one Bullhorn connection needs: its API user and its call budget.
type bullhornAccount struct {
	connection, loginInfoURL string
	clientID, clientSecret   string
	username, password       string
	perMinute                int
}

// buildBullhornAccount builds the destination of one Bullhorn account; the environment gives
// what the account does not (login info URL, redirect URI, session ttl).
func buildBullhornAccount(cfg config, buckets *jobs.Buckets, log *slog.Logger, acc bullhornAccount) (workflow.Destination, *bullhorn.Auth, error) {
	hc := apiClient(cfg)
	auth, err := bullhorn.NewAuth(bullhorn.AuthConfig{
		LoginInfoURL: cmp.Or(acc.loginInfoURL, cfg.BullhornLoginInfoURL),
		ClientID:     acc.clientID,
		ClientSecret: secret.Value(acc.clientSecret),
		Username:     acc.username,
		Password:     secret.Value(acc.password),
		RedirectURI:  cfg.BullhornRedirectURI,
		SessionTTL:   cfg.BullhornSessionTTL,
		Tokens:       buckets.Tokens,
		Logger:       log,
		Owner:        cfg.Name,
		HTTPClient:   hc,
		Connection:   acc.connection,
	})
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	limiter, err := bullhorn.NewRateLimiter(bullhorn.RateLimitConfig{
		Bucket: buckets.Locks, Account: acc.username, PerMinute: acc.perMinute,
	})
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	client, err := bullhorn.New(auth, bullhorn.WithRateLimiter(limiter), bullhorn.WithHTTPClient(hc))
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	target, err := bullhorn.NewTarget(bullhorn.TargetConfig{Client: client, IDs: buckets.IDs, Locks: buckets.Locks, Logger: log, Connection: acc.connection})
	if err != nil {
		return workflow.Destination{}, nil, err
	}
	return workflow.Destination{Target: target, Format: builtin.BullhornFormat}, auth, nil
}

// apiClient is the HTTP client of one ATS, shared by its authentication and its API calls: one
// pooled transport with a connection per job the target runs at once.
func apiClient(cfg config) *http.Client {
	return transport.Client(cfg.Concurrency, 30*time.Second)
}

// warmUp authenticates a target at start-up and logs the outcome. Refused credentials do not
// stop the worker: the target's consumer pauses and retries (see /readyz).
func warmUp(ctx context.Context, name string, log *slog.Logger, auth func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := auth(ctx)
	var ce *targets.CredentialsError
	switch {
	case err == nil:
		log.Info(name + " authorization ready")
	case errors.As(err, &ce):
		log.Error(name+" credentials refused; its consumer will pause and retry", "error", err)
	default:
		log.Warn(name+" authorization not obtained at start-up; will retry on the first job", "error", err)
	}
	return err
}
