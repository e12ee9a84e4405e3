package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/targets"
)

// DefaultLinkTTL is how long a link of [NewLink] may be opened when no TTL is given.
const DefaultLinkTTL = 10 * time.Minute

// The records of the flows bucket (jobs.ConsentBucket). Keys hold a SHA-256 of the single-use
// secret, never the secret: "link.<hex>" for a link's token, "state.<hex>" for a state.
type link struct {
	Target     string    `json:"target"`
	Connection string    `json:"connection"`
	Expires    time.Time `json:"expires"`
}

type state struct {
	Target     string    `json:"target"`
	Connection string    `json:"connection"`
	Expires    time.Time `json:"expires"`
	// SessionSHA256 is the hash of the session nonce of the browser that started the flow
	// (its cookie).
	SessionSHA256 string `json:"session_sha256"`
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func linkKey(token string) string { return "link." + digest(token) }
func stateKey(st string) string   { return "state." + digest(st) }

// newSecret returns a link token, a state or a session nonce: 130 random bits (base32).
func newSecret() string { return rand.Text() }

// NewLink stores a single-use link that lets whoever opens it within ttl (default
// [DefaultLinkTTL]) start the consent of connection (target jobadder) at the gateway
// gatewayURL (its public base, e.g. https://gw.example), and returns the link. Whoever may
// write to the flows bucket (an operator's NATS user, as `enqueue connect --gateway` has) may
// therefore connect accounts; the gateway needs no credential of its own for operators.
func NewLink(ctx context.Context, flows jetstream.KeyValue, gatewayURL, target, connection string, ttl time.Duration, now time.Time) (string, error) {
	if err := targets.CheckConnection(connection); err != nil {
		return "", fmt.Errorf("consent: %w", err)
	}
	base, err := url.Parse(strings.TrimSuffix(gatewayURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return "", fmt.Errorf("consent: the gateway URL %q is not an http(s) URL", gatewayURL)
	}
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	token := newSecret()
	b, err := json.Marshal(link{Target: target, Connection: connection, Expires: now.Add(ttl)})
	if err != nil {
		return "", err
	}
	if _, err := flows.Create(ctx, linkKey(token), b); err != nil {
		return "", fmt.Errorf("consent: store the link: %w", err)
	}
	base.Path += "/connect/" + connection
	base.RawQuery = url.Values{"target": {target}, "token": {token}}.Encode()
	return base.String(), nil
}

// errGone is returned by take for a record that does not exist, expired, or that a
// concurrent request took first.
var errGone = errors.New("consent: no such record")

// read returns key's record and revision, or errGone if it is missing or expired at now.
func read[R any](ctx context.Context, flows jetstream.KeyValue, key string, expires func(*R) time.Time, now time.Time) (*R, uint64, error) {
	e, err := flows.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("consent: read %s: %w", strings.SplitN(key, ".", 2)[0], err)
	}
	var rec R
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("consent: %s record is not valid JSON: %w", strings.SplitN(key, ".", 2)[0], err)
	}
	if !now.Before(expires(&rec)) {
		_ = flows.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		return nil, 0, errGone
	}
	return &rec, e.Revision(), nil
}

// take deletes key if it is still at rev: of two requests that read one record, one takes
// it, the other gets errGone.
func take(ctx context.Context, flows jetstream.KeyValue, key string, rev uint64) error {
	err := flows.Delete(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("consent: delete %s: %w", strings.SplitN(key, ".", 2)[0], err)
	}
	return nil
}
