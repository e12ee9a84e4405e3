package jobadder

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	// leaseTTL is how long a worker may hold the token record while it talks to the token
	// endpoint. Another worker takes over an expired lease.
	leaseTTL = 30 * time.Second
	// defaultTokenLifetime applies when a token response has no expires_in (JobAdder: 60 min).
	defaultTokenLifetime = time.Hour
)

// DefaultConnection is the connection of a deployment configured by its environment
// (JOBADDER_* variables): the one an empty [AuthConfig].Connection names.
const DefaultConnection = "default"

// Reasons of the [targets.CredentialsError] values returned by [Auth.Token]; each is followed by
// what the operator does next (see [Auth.reauthorise]).
const (
	reasonRefreshRefused = "the refresh token was refused (revoked, unused for 2 weeks, the " +
		"authorising user removed, or a worker stopped between JobAdder's answer to a refresh and " +
		"storing the new refresh token)"
	reasonCodeRefused = "the authorization code was refused (invalid, already used, or older than " +
		"5 minutes)"
	reasonClient = "the client id or client secret was refused (invalid_client): check " +
		"JOBADDER_CLIENT_ID and JOBADDER_CLIENT_SECRET"
	reasonNoToken = "no usable token is stored (the app was never authorised, or the last refresh or " +
		"code exchange was refused) and no new authorization code is configured"
)

// AuthConfig configures an [Auth]. ClientID, ClientSecret, RedirectURI and Tokens are required.
type AuthConfig struct {
	// Connection names the JobAdder account (made of [a-z0-9_-], at most 64 characters). Each
	// connection has its own token record, so that two accounts authorised for the same app
	// keep separate tokens. Default: [DefaultConnection], whose record is the one deployments
	// stored before connections existed.
	Connection string
	// ClientID and ClientSecret identify the app registered with JobAdder.
	ClientID     string
	ClientSecret secret.Value
	// AuthorizationCode is the code JobAdder appended to RedirectURI when a user approved the
	// app. It is exchanged once across all workers; leave it empty once a token is stored.
	AuthorizationCode secret.Value
	// RedirectURI is the redirect URI registered for the app; the code exchange repeats it.
	RedirectURI string
	// AuthorizationURL defaults to https://id.jobadder.com/connect/authorize.
	AuthorizationURL string
	// TokenURL defaults to https://id.jobadder.com/connect/token.
	TokenURL string
	// Scopes default to read, write and offline_access (offline_access yields a refresh token).
	Scopes []string
	// Tokens is the KV bucket shared by all workers that holds the token record.
	Tokens jetstream.KeyValue
	// HTTPClient calls the token endpoint. Default: a client with a 30 s timeout on a pooled transport.
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Owner names this worker in token leases. Default: a random id.
	Owner string
}

// Token is an access token and the API base URL of the account it was issued for.
type Token struct {
	AccessToken secret.Value
	// APIURL is the "api" member of the token response, e.g. https://api.jobadder.com/v2.
	APIURL string
	Expiry time.Time
}

// Auth obtains JobAdder access tokens with the OAuth2 authorization-code flow and shares them
// with every worker through a KV bucket; see the package documentation. It is safe for
// concurrent use.
type Auth struct {
	oauth      oauth2.Config
	connection string
	code       secret.Value
	codeHash   string // hex SHA-256 of code, "" without a code
	records    targets.Records
	key        string
	http       *http.Client
	logger     *slog.Logger
	now        func() time.Time
	owner      string

	// sem serialises the slow path of this process, so its goroutines read KV once.
	sem chan struct{}

	mu      sync.Mutex
	cached  *Token
	renewAt time.Time    // when cached is due for renewal
	invalid secret.Value // the access token an API call reported invalid
}

// NewAuth returns an Auth for cfg.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("jobadder: auth: client id is required")
	case cfg.ClientSecret.IsZero():
		return nil, errors.New("jobadder: auth: client secret is required")
	case cfg.RedirectURI == "":
		return nil, errors.New("jobadder: auth: redirect URI is required")
	case cfg.Tokens == nil:
		return nil, errors.New("jobadder: auth: a token KV bucket is required")
	}
	if cfg.Connection != "" {
		if err := targets.CheckConnection(cfg.Connection); err != nil {
			return nil, fmt.Errorf("jobadder: auth: %w", err)
		}
	}
	connection := cmp.Or(cfg.Connection, DefaultConnection)
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{"read", "write", "offline_access"}
	}
	a := &Auth{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret.Reveal(),
			RedirectURL:  cfg.RedirectURI,
			Scopes:       scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:   cmp.Or(cfg.AuthorizationURL, "https://id.jobadder.com/connect/authorize"),
				TokenURL:  cmp.Or(cfg.TokenURL, "https://id.jobadder.com/connect/token"),
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		connection: connection,
		code:       cfg.AuthorizationCode,
		records:    targets.Records{KV: cfg.Tokens, Name: "jobadder: token record"},
		key:        tokenKey(cfg.ClientID, connection),
		http:       cmp.Or(cfg.HTTPClient, transport.Client(defaultConns, 30*time.Second)),
		logger:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("connection", connection),
		now:        cfg.Now,
		owner:      cmp.Or(cfg.Owner, rand.Text()),
		sem:        make(chan struct{}, 1),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if !a.code.IsZero() {
		a.codeHash = hash(a.code.Reveal())
	}
	return a, nil
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// tokenKey is the key of a connection's token record: "jobadder." and the start of the client
// id's hash, the key of the only record before connections existed, which the default
// connection keeps; other connections append their name.
func tokenKey(clientID, connection string) string {
	key := "jobadder." + hash(clientID)[:16]
	if connection != DefaultConnection {
		key += "." + connection
	}
	return key
}

// AuthCodeURL returns the URL where a JobAdder user approves the app. JobAdder then redirects
// to the redirect URI with the authorization code (valid 5 minutes) and state.
func (a *Auth) AuthCodeURL(state string) string {
	return a.oauth.AuthCodeURL(state)
}

// Token returns a valid access token, renewing it when it expires within a fifth of its
// lifetime (at most a minute, see [targets.RenewMargin]). It returns a
// [*targets.CredentialsError] when JobAdder refused the stored authorization.
func (a *Auth) Token(ctx context.Context) (*Token, error) {
	if t := a.current(); t != nil {
		return t, nil
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.sem }()
	if t := a.current(); t != nil {
		return t, nil
	}
	return a.sync(ctx)
}

// Invalidate reports that the API refused accessToken (401): the next call to Token renews it.
func (a *Auth) Invalidate(accessToken secret.Value) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalid = accessToken
	if a.cached != nil && a.cached.AccessToken == accessToken {
		a.cached = nil
	}
}

// current returns the cached token if it is not due for renewal.
func (a *Auth) current() *Token {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached == nil || !a.now().Before(a.renewAt) {
		return nil
	}
	return a.cached
}

// tokenRecord is the JSON value of the token key. It is the only place tokens are stored.
type tokenRecord struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// IssuedAt is when the access token was issued; with Expiry it gives the token's lifetime,
	// of which every worker renews the token at the same fraction before it expires.
	IssuedAt time.Time `json:"issued_at,omitzero"`
	API      string    `json:"api,omitempty"`
	// CodeSHA256 is the hash of the last authorization code sent to JobAdder, so that no
	// worker sends it again.
	CodeSHA256 string    `json:"code_sha256,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
	// The lease's owner holds the record while it calls the token endpoint.
	targets.Lease
}

// sync brings the cached token up to date from the token record, exchanging the
// authorization code or refreshing the token when the record holds no valid token.
func (a *Auth) sync(ctx context.Context) (*Token, error) {
	for {
		rec, rev, err := a.load(ctx)
		if err != nil {
			return nil, err
		}
		now := a.now()
		if rec.HeldByOther(a.owner, now) {
			if err := a.records.WaitChange(ctx, a.key, rev, rec.LeaseUntil.Sub(now)); err != nil {
				return nil, err
			}
			continue
		}
		if rec.AccessToken != "" && now.Before(targets.RenewAt(rec.IssuedAt, rec.Expiry)) && !a.isInvalid(rec.AccessToken) {
			return a.keep(rec), nil
		}

		var renew func(context.Context, tokenRecord, uint64) (*Token, error)
		switch {
		case rec.RefreshToken != "":
			renew = a.refresh
		case a.codeHash != "" && a.codeHash != rec.CodeSHA256:
			renew = a.exchange
		default:
			return nil, a.credentialsError(reasonNoToken)
		}
		leaseRev, err := a.lease(ctx, rec, rev)
		if errors.Is(err, targets.ErrRecordChanged) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return renew(ctx, rec, leaseRev)
	}
}

func (a *Auth) isInvalid(accessToken string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.invalid.Reveal() == accessToken
}

// keep caches the record's token and returns it.
func (a *Auth) keep(rec tokenRecord) *Token {
	t := &Token{AccessToken: secret.Value(rec.AccessToken), APIURL: rec.API, Expiry: rec.Expiry}
	a.mu.Lock()
	a.cached, a.renewAt = t, targets.RenewAt(rec.IssuedAt, rec.Expiry)
	a.mu.Unlock()
	return t
}

// load reads the token record; rev is 0 when there is none.
func (a *Auth) load(ctx context.Context) (rec tokenRecord, rev uint64, err error) {
	rev, err = a.records.Get(ctx, a.key, &rec)
	return rec, rev, err
}

// lease writes rec with this worker's lease over revision rev (0: create the record). It
// returns targets.ErrRecordChanged when another worker changed the record first.
func (a *Auth) lease(ctx context.Context, rec tokenRecord, rev uint64) (uint64, error) {
	now := a.now()
	rec.LeaseOwner, rec.LeaseUntil, rec.UpdatedAt = a.owner, now.Add(leaseTTL), now
	return a.records.Swap(ctx, a.key, rec, rev)
}

// exchange sends the authorization code while holding the lease at leaseRev.
func (a *Auth) exchange(ctx context.Context, rec tokenRecord, leaseRev uint64) (*Token, error) {
	tok, err := a.oauth.Exchange(a.httpContext(ctx), a.code.Reveal())
	if err != nil {
		if errorCode(err) == "invalid_grant" {
			// The code is spent or void: remember it so that no worker sends it again.
			a.release(ctx, tokenRecord{CodeSHA256: a.codeHash}, leaseRev)
			return nil, a.credentialsError(reasonCodeRefused)
		}
		a.release(ctx, rec, leaseRev)
		return nil, a.tokenError("exchange the authorization code", err)
	}
	a.logger.Info("jobadder: authorization code exchanged", "owner", a.owner)
	return a.store(ctx, a.record(tok, rec.API, a.codeHash), leaseRev), nil
}

// refresh renews the token with the record's refresh token while holding the lease at leaseRev.
//
// JobAdder's refresh tokens rotate: its answer spends the refresh token sent and carries the
// only valid one. Between that answer and the KV write of store there is a window no client
// can close: a worker killed there (SIGKILL, OOM, a lost node) takes the new refresh token
// with it, and the record keeps the spent one. The next refresh is then refused and Token
// returns a [*targets.CredentialsError] telling the operator to authorise the app again.
// store writes at once, outliving the job's context, and renewing at a fraction of the
// lifetime keeps refreshes, and so these windows, as rare as the token lifetime allows.
func (a *Auth) refresh(ctx context.Context, rec tokenRecord, leaseRev uint64) (*Token, error) {
	src := a.oauth.TokenSource(a.httpContext(ctx), &oauth2.Token{RefreshToken: rec.RefreshToken})
	tok, err := src.Token()
	if err != nil {
		switch errorCode(err) {
		case "invalid_grant", "invalid_request":
			if a.codeHash != "" && a.codeHash != rec.CodeSHA256 {
				// The operator authorised the app again: use the new code.
				return a.exchange(ctx, rec, leaseRev)
			}
			a.release(ctx, tokenRecord{CodeSHA256: rec.CodeSHA256, API: rec.API}, leaseRev)
			return nil, a.credentialsError(reasonRefreshRefused)
		}
		a.release(ctx, rec, leaseRev)
		return nil, a.tokenError("refresh the access token", err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = rec.RefreshToken
	}
	return a.store(ctx, a.record(tok, rec.API, rec.CodeSHA256), leaseRev), nil
}

func (a *Auth) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, a.http)
}

// record builds the token record of a token response; api is kept when the response has none.
func (a *Auth) record(tok *oauth2.Token, api, codeHash string) tokenRecord {
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	if s, ok := tok.Extra("api").(string); ok && s != "" {
		api = s
	}
	now := a.now()
	return tokenRecord{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiry:       now.Add(lifetime),
		IssuedAt:     now,
		API:          api,
		CodeSHA256:   codeHash,
	}
}

// store writes a new token over the lease at leaseRev and caches it. A new refresh token must
// not be lost, so store goes on, even when ctx is done, and logs an error when it gives up.
func (a *Auth) store(ctx context.Context, rec tokenRecord, leaseRev uint64) *Token {
	rec.UpdatedAt = a.now()
	if _, err := a.records.Keep(ctx, a.key, rec, leaseRev); err != nil {
		a.logger.Error("jobadder: could not store the new token; the app must be authorised again "+
			"if this worker stops before the next refresh", "key", a.key, "error", err)
	}
	return a.keep(rec)
}

// release writes rec without a lease over the lease at leaseRev. A failure is only logged: the
// lease expires anyway.
func (a *Auth) release(ctx context.Context, rec tokenRecord, leaseRev uint64) {
	rec.Lease, rec.UpdatedAt = targets.Lease{}, a.now()
	if _, err := a.records.Keep(ctx, a.key, rec, leaseRev); err != nil {
		a.logger.Warn("jobadder: could not release the token lease", "key", a.key, "error", err)
	}
}

// errorCode returns the OAuth2 error code of a token endpoint answer, or "".
func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// tokenError turns a failed token request into an error without the response body, which
// could echo credentials.
func (a *Auth) tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("jobadder: %s: %w", op, err)
	}
	if re.ErrorCode == "invalid_client" {
		return a.credentialsError(reasonClient)
	}
	msg := "jobadder: " + op + ": the token endpoint refused the request"
	if re.Response != nil {
		msg += ": " + re.Response.Status
	}
	if re.ErrorCode != "" {
		msg += " " + re.ErrorCode
	}
	return errors.New(msg)
}

// credentialsError returns a credentials error naming the connection, the reason and, but for
// a refused client, how to authorise the app again.
func (a *Auth) credentialsError(reason string) error {
	msg := "connection " + a.connection + ": " + reason
	if reason != reasonClient {
		msg += ": " + a.reauthorise()
	}
	return &targets.CredentialsError{Target: "jobadder", Reason: msg}
}

// reauthorise says how the operator authorises the app again for the connection.
func (a *Auth) reauthorise() string {
	fix := "run `enqueue connect " + a.connection + "`"
	if a.connection == DefaultConnection {
		fix += " (or open the authorization URL, approve the app, set JOBADDER_AUTHORIZATION_CODE " +
			"to the code of the redirect within 5 minutes and restart the workers)"
	}
	return fix
}
