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
	key        string
	http       *http.Client
	logger     *slog.Logger
	now        func() time.Time
	owner      string
	cred       *targets.Credential[tokenRecord, *tokenRecord]
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
		key:        tokenKey(cfg.ClientID, connection),
		http:       cmp.Or(cfg.HTTPClient, transport.Client(defaultConns, 30*time.Second)),
		logger:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("connection", connection),
		now:        cfg.Now,
		owner:      cmp.Or(cfg.Owner, rand.Text()),
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.cred = targets.NewCredential(targets.CredentialConfig[tokenRecord]{
		Records:  targets.Records{KV: cfg.Tokens, Name: "jobadder: token record"},
		Key:      a.key,
		Owner:    a.owner,
		LeaseTTL: leaseTTL,
		CanRenew: a.canRenew,
		Renew:    a.renew,
		Logger:   a.logger,
		Now:      a.now,
	})
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

// Authorization is what a connection's token record says, without its tokens, for listings.
type Authorization struct {
	Authorised bool      // a refresh token is stored
	API        string    // the account's API base, from the token response
	Expiry     time.Time // of the access token (renewed before, as jobs need it)
}

// StoredAuthorization reads the token record of connection ("" or "default": the
// environment's) for the app clientID in the tokens bucket.
func StoredAuthorization(ctx context.Context, tokens jetstream.KeyValue, clientID, connection string) (Authorization, error) {
	var rec tokenRecord
	records := targets.Records{KV: tokens, Name: "jobadder: token record"}
	if _, err := records.Get(ctx, tokenKey(clientID, cmp.Or(connection, DefaultConnection)), &rec); err != nil {
		return Authorization{}, err
	}
	return Authorization{Authorised: rec.RefreshToken != "", API: rec.API, Expiry: rec.Expiry}, nil
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
	rec, err := a.cred.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &Token{AccessToken: secret.Value(rec.AccessToken), APIURL: rec.API, Expiry: rec.Expiry}, nil
}

// Exchange exchanges the configured authorization code at once, even when the connection holds
// a valid token (an operator authorised the app again, perhaps for another account), stores
// the new tokens for every worker under the record's lease, and returns a valid token. The
// code is sent once, never retried: a code the record says was sent already is not sent again
// (it succeeded: the stored token is returned; it was refused: a [*targets.CredentialsError]).
// A refused code leaves a stored token as it was. Other workers keep the access token they
// hold in memory until it is due for renewal.
func (a *Auth) Exchange(ctx context.Context) (*Token, error) {
	if a.code.IsZero() {
		return nil, errors.New("jobadder: exchange: no authorization code is configured")
	}
	_, err := a.cred.Replace(ctx, func(ctx context.Context, rec tokenRecord, _ func(context.Context, tokenRecord)) (tokenRecord, error) {
		switch {
		case rec.CodeSHA256 == a.codeHash && rec.RefreshToken != "":
			return rec, nil // exchanged before (a second `enqueue connect --code` with one code)
		case rec.CodeSHA256 == a.codeHash:
			return rec, a.credentialsError(reasonCodeRefused)
		}
		next, err := a.exchange(ctx, rec)
		if err != nil && rec.RefreshToken != "" {
			return rec, err // keep the account's working tokens
		}
		return next, err
	})
	if err != nil {
		return nil, err
	}
	return a.Token(ctx)
}

// Invalidate reports that the API refused accessToken (401): the next call to Token renews it.
func (a *Auth) Invalidate(accessToken secret.Value) { a.cred.Invalidate(accessToken) }

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
	CodeSHA256 string `json:"code_sha256,omitempty"`
	// The lease's owner holds the record while it calls the token endpoint.
	targets.Lease
}

// Current returns the access token and when it is due for renewal.
func (r *tokenRecord) Current() (string, time.Time) {
	return r.AccessToken, targets.RenewAt(r.IssuedAt, r.Expiry)
}

// canRenew reports whether a record without a valid token can be renewed: with its refresh
// token, or by exchanging a code no worker sent yet.
func (a *Auth) canRenew(rec tokenRecord, _ time.Time) error {
	if rec.RefreshToken == "" && (a.codeHash == "" || a.codeHash == rec.CodeSHA256) {
		return a.credentialsError(reasonNoToken)
	}
	return nil
}

// renew refreshes the token, or exchanges the authorization code when the record has no
// refresh token, while holding the record's lease.
func (a *Auth) renew(ctx context.Context, rec tokenRecord, _ func(context.Context, tokenRecord)) (tokenRecord, error) {
	if rec.RefreshToken != "" {
		return a.refresh(ctx, rec)
	}
	return a.exchange(ctx, rec)
}

// exchange sends the authorization code and returns the record to store.
func (a *Auth) exchange(ctx context.Context, rec tokenRecord) (tokenRecord, error) {
	tok, err := a.oauth.Exchange(a.httpContext(ctx), a.code.Reveal())
	if err != nil {
		if errorCode(err) == "invalid_grant" {
			// The code is spent or void: remember it so that no worker sends it again.
			return tokenRecord{CodeSHA256: a.codeHash}, a.credentialsError(reasonCodeRefused)
		}
		return rec, a.tokenError("exchange the authorization code", err)
	}
	a.logger.Info("jobadder: authorization code exchanged", "owner", a.owner)
	return a.record(tok, rec.API, a.codeHash), nil
}

// refresh renews the token with the record's refresh token and returns the record to store.
//
// JobAdder's refresh tokens rotate: its answer spends the refresh token sent and carries the
// only valid one. Between that answer and the record's KV write there is a window no client
// can close: a worker killed there (SIGKILL, OOM, a lost node) takes the new refresh token
// with it, and the record keeps the spent one. The next refresh is then refused and Token
// returns a [*targets.CredentialsError] telling the operator to authorise the app again.
// The record is written at once, outliving the job's context ([targets.Records.Keep]), and
// renewing at a fraction of the lifetime keeps refreshes, and so these windows, as rare as the
// token lifetime allows.
func (a *Auth) refresh(ctx context.Context, rec tokenRecord) (tokenRecord, error) {
	src := a.oauth.TokenSource(a.httpContext(ctx), &oauth2.Token{RefreshToken: rec.RefreshToken})
	tok, err := src.Token()
	if err != nil {
		switch errorCode(err) {
		case "invalid_grant", "invalid_request":
			if a.codeHash != "" && a.codeHash != rec.CodeSHA256 {
				// The operator authorised the app again: use the new code.
				return a.exchange(ctx, rec)
			}
			return tokenRecord{CodeSHA256: rec.CodeSHA256, API: rec.API}, a.credentialsError(reasonRefreshRefused)
		}
		return rec, a.tokenError("refresh the access token", err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = rec.RefreshToken
	}
	return a.record(tok, rec.API, rec.CodeSHA256), nil
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
