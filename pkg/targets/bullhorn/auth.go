package bullhorn

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/transport"
)

const (
	// DefaultLoginInfoURL is Bullhorn's data-centre discovery endpoint.
	DefaultLoginInfoURL = "https://rest.bullhornstaffing.com/rest-services/loginInfo"
	// leaseTTL bounds the work of the worker holding the session record (up to four calls:
	// loginInfo, authorize, token, login). Another worker takes over an expired lease.
	leaseTTL = time.Minute
	// minSessionTTL is the shortest ttl sent on login.
	minSessionTTL = 2 * time.Minute
	// defaultSessionTTL is the ttl sent on login.
	defaultSessionTTL = time.Hour
	// maxSessionTTL is the longest ttl Bullhorn's SDK accepts (48 hours).
	maxSessionTTL = 48 * time.Hour
	// defaultAccessLifetime applies when a token response has no expires_in (Bullhorn: 600 s).
	defaultAccessLifetime = 10 * time.Minute
	// refusalHold is how long workers trust a credentials refusal recorded by another worker
	// before trying the username and password again, so that a wrong password is not sent by
	// every worker of the fleet (which could get the API user locked).
	refusalHold = time.Minute
)

// DefaultConnection is the connection of a deployment configured by its environment
// (BULLHORN_* variables): the one an empty [AuthConfig].Connection names.
const DefaultConnection = "default"

// Reasons of the [targets.CredentialsError] values returned by [Auth.Session]; each names the
// settings to check (see [Auth.settings]).
func (a *Auth) reasonTerms() string {
	return "the API user has not accepted Bullhorn's terms of service for this client id " +
		"(the authorize endpoint answered with a consent page instead of redirecting with a code): " +
		"open the authorize URL with this client id in a browser, log in as " +
		a.settings("BULLHORN_USERNAME", "API user") + " and accept them"
}

func (a *Auth) reasonPassword() string {
	return "the username or password was refused: check " +
		a.settings("BULLHORN_USERNAME and BULLHORN_PASSWORD", "username and password")
}

func (a *Auth) reasonClient() string {
	return "the client id or client secret was refused: check " +
		a.settings("BULLHORN_CLIENT_ID and BULLHORN_CLIENT_SECRET", "client id and client secret")
}

func (a *Auth) reasonUser() string {
	return "loginInfo knows no API user with this username: check " + a.settings("BULLHORN_USERNAME", "username")
}

// settings names where the operator sets credentials: env, the environment variables of the
// default connection, or else the connection's own field.
func (a *Auth) settings(env, field string) string {
	if a.connection == DefaultConnection {
		return env
	}
	return "the " + field + " of connection " + a.connection
}

// AuthConfig configures an [Auth]. ClientID, ClientSecret, Username, Password and Tokens are
// required.
type AuthConfig struct {
	// Connection names the Bullhorn account in logs and errors. Its session record is keyed by
	// Username, whatever the connection. Default: [DefaultConnection].
	Connection string
	// LoginInfoURL is the data-centre discovery endpoint. Default [DefaultLoginInfoURL].
	LoginInfoURL string
	// ClientID and ClientSecret identify the OAuth client Bullhorn issued.
	ClientID     string
	ClientSecret secret.Value
	// Username and Password are the API user's.
	Username string
	Password secret.Value
	// RedirectURI is sent to the authorize and token endpoints when set; Bullhorn requires it
	// only when the client id has several registered redirect URIs.
	RedirectURI string
	// SessionTTL is the REST session's lifetime requested on login (whole minutes, between 2
	// minutes and 48 hours). Default 60 minutes.
	SessionTTL time.Duration
	// Tokens is the KV bucket shared by all workers that holds the session record.
	Tokens jetstream.KeyValue
	// HTTPClient calls the authentication endpoints. It must follow redirects (loginInfo may
	// answer 307); the authorize call never does. Default: a client with a 30 s timeout on a pooled transport.
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Owner names this worker in leases. Default: a random id.
	Owner string
}

// Session is a REST session: the token sent with every call and the account's REST URL.
type Session struct {
	BhRestToken secret.Value
	// RestURL is the corporate REST URL returned by login, with its trailing slash, e.g.
	// https://rest5.bullhornstaffing.com/rest-services/abc123/.
	RestURL string
	Expiry  time.Time
}

// Auth opens Bullhorn REST sessions and shares them with every worker of the account through
// a KV bucket; see the package documentation. It is safe for concurrent use.
type Auth struct {
	connection   string
	loginInfoURL string
	clientID     string
	clientSecret secret.Value
	username     string
	password     secret.Value
	redirectURI  string
	ttl          time.Duration
	key          string
	http         *http.Client
	noRedirect   *http.Client
	logger       *slog.Logger
	now          func() time.Time
	owner        string
	cred         *targets.Credential[sessionRecord, *sessionRecord]
	opened       atomic.Int64
}

// NewAuth returns an Auth for cfg.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	switch {
	case cfg.ClientID == "" || cfg.ClientSecret.IsZero():
		return nil, errors.New("bullhorn: auth: client id and client secret are required")
	case cfg.Username == "" || cfg.Password.IsZero():
		return nil, errors.New("bullhorn: auth: username and password are required")
	case cfg.Tokens == nil:
		return nil, errors.New("bullhorn: auth: a token KV bucket is required")
	case cfg.SessionTTL != 0 && (cfg.SessionTTL < minSessionTTL || cfg.SessionTTL > maxSessionTTL):
		return nil, fmt.Errorf("bullhorn: auth: session TTL %s is not between 2m and 48h", cfg.SessionTTL)
	}
	if cfg.Connection != "" {
		if err := targets.CheckConnection(cfg.Connection); err != nil {
			return nil, fmt.Errorf("bullhorn: auth: %w", err)
		}
	}
	connection := cmp.Or(cfg.Connection, DefaultConnection)
	a := &Auth{
		connection:   connection,
		loginInfoURL: cmp.Or(cfg.LoginInfoURL, DefaultLoginInfoURL),
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		username:     cfg.Username,
		password:     cfg.Password,
		redirectURI:  cfg.RedirectURI,
		ttl:          cmp.Or(cfg.SessionTTL, defaultSessionTTL).Truncate(time.Minute),
		key:          "bullhorn." + hash(cfg.Username)[:16],
		http:         cmp.Or(cfg.HTTPClient, transport.Client(defaultConns, 30*time.Second)),
		logger:       cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("connection", connection),
		now:          cfg.Now,
		owner:        cmp.Or(cfg.Owner, rand.Text()),
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.cred = targets.NewCredential(targets.CredentialConfig[sessionRecord]{
		Records:  targets.Records{KV: cfg.Tokens, Name: "bullhorn: session record"},
		Key:      a.key,
		Owner:    a.owner,
		LeaseTTL: leaseTTL,
		CanRenew: canRenew,
		Renew:    a.renew,
		Logger:   a.logger,
		Now:      a.now,
	})
	noRedirect := *a.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	a.noRedirect = &noRedirect
	return a, nil
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Session returns a valid session, opening a new one when the current one was invalidated or
// expires within a fifth of its lifetime (at most a minute, see [targets.RenewMargin]). It returns a [*targets.CredentialsError] when Bullhorn refused
// the account's credentials.
func (a *Auth) Session(ctx context.Context) (*Session, error) {
	rec, err := a.cred.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{BhRestToken: secret.Value(rec.BhRestToken), RestURL: rec.RestURL, Expiry: rec.SessionExpiry}, nil
}

// Invalidate reports that the API refused bhRestToken (401): the next call to Session renews
// the session, unless another worker already did.
func (a *Auth) Invalidate(bhRestToken secret.Value) { a.cred.Invalidate(bhRestToken) }

// SessionsOpened is how many REST sessions (logins) this Auth opened. Bullhorn limits the
// concurrent sessions of an account: summed over all workers, it should grow by one per
// session lifetime.
func (a *Auth) SessionsOpened() int64 { return a.opened.Load() }

// sessionRecord is the JSON value of the session key, the only place tokens are stored.
type sessionRecord struct {
	// OAuthURL and LoginRestURL are the oauthUrl and restUrl of loginInfo.
	OAuthURL     string    `json:"oauth_url,omitempty"`
	LoginRestURL string    `json:"login_rest_url,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	AccessExpiry time.Time `json:"access_expiry,omitzero"`
	// AccessIssued and SessionIssued are when the access token and the session were issued;
	// with their expiries they give the lifetimes, of which every worker renews them at the
	// same fraction before they expire.
	AccessIssued  time.Time `json:"access_issued,omitzero"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	BhRestToken   string    `json:"bh_rest_token,omitempty"`
	RestURL       string    `json:"rest_url,omitempty"`
	SessionExpiry time.Time `json:"session_expiry,omitzero"`
	SessionIssued time.Time `json:"session_issued,omitzero"`
	// RefusedReason is the reason of the last credentials refusal; workers return it without
	// asking Bullhorn again until RefusedUntil.
	RefusedReason string    `json:"refused_reason,omitempty"`
	RefusedUntil  time.Time `json:"refused_until,omitzero"`
	// The lease's owner holds the record while it renews the session.
	targets.Lease
}

// Current returns the session token and when it is due for renewal.
func (r *sessionRecord) Current() (string, time.Time) {
	return r.BhRestToken, targets.RenewAt(r.SessionIssued, r.SessionExpiry)
}

// canRenew returns the credentials refusal another worker recorded, until it is due for
// another try.
func canRenew(rec sessionRecord, now time.Time) error {
	if rec.RefusedReason != "" && now.Before(rec.RefusedUntil) {
		return &targets.CredentialsError{Target: "bullhorn", Reason: rec.RefusedReason}
	}
	return nil
}

// renew opens a session while holding the record's lease and returns the record to store. A
// credentials refusal is stored too, so that other workers do not repeat it at once.
func (a *Auth) renew(ctx context.Context, rec sessionRecord, keep func(context.Context, sessionRecord)) (sessionRecord, error) {
	err := a.open(ctx, &rec, keep)
	var ce *targets.CredentialsError
	switch {
	case err == nil:
		rec.RefusedReason, rec.RefusedUntil = "", time.Time{}
	case errors.As(err, &ce):
		// Discover the data centre again next time: the account may have moved.
		rec.OAuthURL, rec.LoginRestURL = "", ""
		rec.RefusedReason, rec.RefusedUntil = ce.Reason, a.now().Add(refusalHold)
	}
	return rec, err
}

// open fills rec with a new session: it logs in with the stored access token if it is still
// valid, else with one from the refresh token, else with one from the username and password.
// A new refresh token is stored (keep) before it is used, as the previous one is spent.
func (a *Auth) open(ctx context.Context, rec *sessionRecord, keep func(context.Context, sessionRecord)) error {
	if rec.OAuthURL == "" || rec.LoginRestURL == "" {
		if err := a.discover(ctx, rec); err != nil {
			return err
		}
	}
	if rec.AccessToken != "" && a.now().Before(targets.RenewAt(rec.AccessIssued, rec.AccessExpiry)) {
		err := a.login(ctx, rec, false)
		if !errors.Is(err, errAccessRefused) {
			return err
		}
	}
	rec.AccessToken = ""
	if rec.RefreshToken != "" {
		err := a.refresh(ctx, rec)
		if err == nil {
			keep(ctx, *rec)
			return a.login(ctx, rec, true)
		}
		if !errors.Is(err, errGrantRefused) {
			return err
		}
		a.logger.Warn("bullhorn: the refresh token was refused; logging in with the username and password",
			"username", a.username)
		rec.RefreshToken = ""
	}
	code, err := a.authorize(ctx, rec)
	if err != nil {
		return err
	}
	if err := a.exchange(ctx, rec, code); err != nil {
		return err
	}
	keep(ctx, *rec)
	return a.login(ctx, rec, true)
}

// discover reads the account's OAuth and REST URLs from loginInfo, following redirects to the
// account's data centre.
func (a *Auth) discover(ctx context.Context, rec *sessionRecord) error {
	u, err := url.Parse(a.loginInfoURL)
	if err != nil {
		return fmt.Errorf("bullhorn: loginInfo URL: %w", err)
	}
	u.RawQuery = url.Values{"username": {a.username}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("bullhorn: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return requestError(err)
	}
	defer resp.Body.Close()
	if err := CheckResponse(resp); err != nil {
		return a.credentialsIf4xx(err, a.reasonUser())
	}
	var info struct {
		OAuthURL string `json:"oauthUrl"`
		RestURL  string `json:"restUrl"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return fmt.Errorf("bullhorn: decode loginInfo: %w", err)
	}
	if !absoluteURL(info.OAuthURL) || !absoluteURL(info.RestURL) {
		return a.credentialsError(a.reasonUser(), nil)
	}
	rec.OAuthURL = strings.TrimSuffix(info.OAuthURL, "/")
	rec.LoginRestURL = strings.TrimSuffix(info.RestURL, "/")
	return nil
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// authorize asks the authorize endpoint for a code with the username and password, and reads
// the code from the redirect without following it.
func (a *Auth) authorize(ctx context.Context, rec *sessionRecord) (string, error) {
	q := url.Values{
		"client_id":     {a.clientID},
		"response_type": {"code"},
		"action":        {"Login"},
		"username":      {a.username},
		"password":      {a.password.Reveal()},
	}
	if a.redirectURI != "" {
		q.Set("redirect_uri", a.redirectURI)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.OAuthURL+"/authorize?"+q.Encode(), nil)
	if err != nil {
		return "", errors.New("bullhorn: authorize: invalid oauthUrl")
	}
	resp, err := a.noRedirect.Do(req)
	if err != nil {
		return "", requestError(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && hasPasswordField(page):
		return "", a.credentialsError(a.reasonPassword(), nil)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "", a.credentialsError(a.reasonTerms(), nil)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc, err := resp.Location()
		if err != nil {
			return "", errors.New("bullhorn: authorize redirected without a valid Location")
		}
		q := loc.Query()
		if code := q.Get("code"); code != "" {
			return code, nil
		}
		if e := q.Get("error"); e != "" {
			return "", a.credentialsError("the authorize endpoint refused the login ("+
				targets.Truncate(e+" "+q.Get("error_description"), 200)+"): "+a.reasonPassword(), nil)
		}
		return "", fmt.Errorf("bullhorn: authorize redirected to %s without a code", targets.SanitizeURL(loc))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", CheckResponse(resp)
	}
	return "", a.credentialsError("the authorize endpoint refused the client id or the redirect URI ("+
		resp.Status+"): check "+a.settings("BULLHORN_CLIENT_ID", "client id"), nil)
}

// hasPasswordField reports whether an HTML page has a password input. Instead of redirecting
// with a code, authorize shows either its login form again (wrong username or password) or the
// terms of service to accept; the password field is what tells them apart.
func hasPasswordField(page []byte) bool {
	p := strings.NewReplacer(" ", "", "'", `"`).Replace(strings.ToLower(string(page)))
	return strings.Contains(p, `type="password"`) || strings.Contains(p, "type=password")
}

// oauthConfig is the OAuth2 client of the account's oauthUrl. AuthStyleInParams sends the
// client id and secret with the other parameters in the form body, which Bullhorn's token
// endpoint accepts as well as the query string of its documentation.
func (a *Auth) oauthConfig(rec *sessionRecord) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.clientID,
		ClientSecret: a.clientSecret.Reveal(),
		RedirectURL:  a.redirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   rec.OAuthURL + "/authorize",
			TokenURL:  rec.OAuthURL + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// exchange trades an authorization code for tokens.
func (a *Auth) exchange(ctx context.Context, rec *sessionRecord, code string) error {
	tok, err := a.oauthConfig(rec).Exchange(a.httpContext(ctx), code)
	if err != nil {
		switch c := oauthRefusal(err); c {
		case "":
			return tokenError("exchange the authorization code", err)
		case "invalid_client":
			return a.credentialsError(a.reasonClient(), nil)
		default:
			return a.credentialsError("the token endpoint refused the authorization code ("+c+
				"): check "+a.settings("BULLHORN_CLIENT_ID", "client id")+
				" and, if the client has several redirect URIs, the redirect URI", nil)
		}
	}
	a.logger.Info("bullhorn: logged in with the username and password", "username", a.username, "owner", a.owner)
	a.setTokens(rec, tok, "")
	return nil
}

// errGrantRefused means the refresh token is spent or revoked.
var errGrantRefused = errors.New("bullhorn: refresh token refused")

// refresh trades the record's refresh token for new tokens.
func (a *Auth) refresh(ctx context.Context, rec *sessionRecord) error {
	src := a.oauthConfig(rec).TokenSource(a.httpContext(ctx), &oauth2.Token{RefreshToken: rec.RefreshToken})
	tok, err := src.Token()
	if err != nil {
		switch oauthRefusal(err) {
		case "":
			return tokenError("refresh the access token", err)
		case "invalid_client":
			return a.credentialsError(a.reasonClient(), nil)
		}
		return errGrantRefused
	}
	a.setTokens(rec, tok, rec.RefreshToken)
	return nil
}

func (a *Auth) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, a.http)
}

// setTokens puts a token response into rec; refresh is kept when the response has none.
func (a *Auth) setTokens(rec *sessionRecord, tok *oauth2.Token, refresh string) {
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = defaultAccessLifetime
	}
	now := a.now()
	rec.AccessToken = tok.AccessToken
	rec.AccessExpiry, rec.AccessIssued = now.Add(lifetime), now
	rec.RefreshToken = cmp.Or(tok.RefreshToken, refresh)
}

// errAccessRefused means login refused a stored access token.
var errAccessRefused = errors.New("bullhorn: access token refused")

// login opens a REST session with rec's access token. fresh tells whether the token was just
// issued: a refused stored token returns errAccessRefused, a refused fresh one a credentials
// error.
func (a *Auth) login(ctx context.Context, rec *sessionRecord, fresh bool) error {
	q := url.Values{
		"version":      {"2.0"},
		"access_token": {rec.AccessToken},
		"ttl":          {strconv.Itoa(int(a.ttl / time.Minute))},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.LoginRestURL+"/login?"+q.Encode(), nil)
	if err != nil {
		return errors.New("bullhorn: login: invalid restUrl")
	}
	req.Header.Set("Accept", "application/json")
	start := a.now()
	resp, err := a.http.Do(req)
	if err != nil {
		return requestError(err)
	}
	defer resp.Body.Close()
	if err := CheckResponse(resp); err != nil {
		if !fresh && isRefusal(err) {
			return errAccessRefused
		}
		return a.credentialsIf4xx(err, "the REST login refused a new access token")
	}
	var s struct {
		BhRestToken string `json:"BhRestToken"`
		RestURL     string `json:"restUrl"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return fmt.Errorf("bullhorn: decode login: %w", err)
	}
	if s.BhRestToken == "" || !absoluteURL(s.RestURL) {
		return errors.New("bullhorn: login answered without BhRestToken and restUrl")
	}
	rec.BhRestToken, rec.RestURL = s.BhRestToken, s.RestURL
	rec.SessionExpiry, rec.SessionIssued = start.Add(a.ttl), start
	a.opened.Add(1)
	a.logger.Info("bullhorn: REST session opened", "username", a.username, "owner", a.owner,
		"expires", rec.SessionExpiry)
	return nil
}

// isRefusal reports whether err is a 4xx answer other than 429.
func isRefusal(err error) bool {
	var e *targets.ErrorResponse
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
}

// credentialsIf4xx turns a refusal into a credentials error, so that the job runtime pauses
// the target instead of dead-lettering the job; 429 and 5xx are returned as they are.
func (a *Auth) credentialsIf4xx(err error, reason string) error {
	if !isRefusal(err) {
		return err
	}
	return a.credentialsError(reason, err)
}

// oauthRefusal returns the OAuth2 error code of a 4xx token endpoint answer other than 429
// (its status when the body names no code), or "" for any other failure.
func oauthRefusal(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	if s := re.Response.StatusCode; s < 400 || s >= 500 || s == http.StatusTooManyRequests {
		return ""
	}
	return cmp.Or(re.ErrorCode, re.Response.Status)
}

// tokenError turns a failed token request into an error without the response body, which
// could echo credentials.
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("bullhorn: %s: %w", op, err)
	}
	return fmt.Errorf("bullhorn: %s: the token endpoint answered %s", op, re.Response.Status)
}

// credentialsError returns a credentials error naming the connection, the reason and how the
// operator checks the login once it is fixed.
func (a *Auth) credentialsError(reason string, err error) error {
	return &targets.CredentialsError{
		Target: "bullhorn",
		Reason: "connection " + a.connection + ": " + reason + ", then run `enqueue connect " + a.connection + "` to check the login",
		Err:    err,
	}
}
