package targets

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hrpush/hrpush/pkg/secret"
)

// SharedRecord constrains the record of a [Credential]: a pointer to a struct that embeds
// [Lease] and says which credential it holds.
type SharedRecord[R any] interface {
	*R
	// Current returns the credential the record holds (an access token, a session token; ""
	// if none) and when it is due for renewal (see [RenewAt]).
	Current() (token string, renewAt time.Time)
	lease() *Lease
}

// CredentialConfig configures a [Credential]. Every field is required but Logger and Now.
type CredentialConfig[R any] struct {
	// Records is the KV bucket of the record, and Key its key.
	Records Records
	Key     string
	// Owner names this worker in the record's lease.
	Owner string
	// LeaseTTL bounds a renewal: how long the other workers wait for the lease holder before
	// they may take the lease over.
	LeaseTTL time.Duration
	// CanRenew returns nil when a record without a valid credential can be renewed at now, or
	// the error to return without renewing (nothing to renew with, a refusal another worker
	// recorded).
	CanRenew func(rec R, now time.Time) error
	// Renew obtains a new credential for rec while this worker holds the lease. It returns the
	// record to store as the lease is released: the new credential or, on failure, what the
	// failure leaves (a spent refresh token removed, a refusal recorded). keep stores a record
	// at once, still leased, so that what the renewal obtained before it ends (a rotated
	// refresh token) outlives this worker.
	Renew func(ctx context.Context, rec R, keep func(context.Context, R)) (R, error)
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Credential is a credential of an ATS account (an access token, a REST session) that all
// workers share through a record in a KV bucket, the only place it is stored. It is safe for
// concurrent use.
//
// Each process keeps the credential in memory until it is due for renewal (see [RenewAt]) or
// reported refused ([Credential.Invalidate]); then one goroutine of the process reads the
// record, while the others wait for it. A record that holds no valid credential is renewed
// by one worker of the fleet: it takes the record's lease by compare-and-swap, renews, and
// stores the result as it releases the lease; the other workers wait for the record to change
// (at most until the lease expires, when one of them may take it over).
type Credential[R any, P SharedRecord[R]] struct {
	cfg CredentialConfig[R]

	// sem serialises the slow path of this process, so its goroutines read KV once.
	sem chan struct{}

	mu      sync.Mutex
	cached  *R
	renewAt time.Time    // when cached is due for renewal
	invalid secret.Value // the credential a call reported refused
}

// NewCredential returns a Credential for cfg.
func NewCredential[R any, P SharedRecord[R]](cfg CredentialConfig[R]) *Credential[R, P] {
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Credential[R, P]{cfg: cfg, sem: make(chan struct{}, 1)}
}

// Get returns a record whose credential is valid and not due for renewal, renewing it if
// needed.
func (c *Credential[R, P]) Get(ctx context.Context) (R, error) {
	if rec, ok := c.current(); ok {
		return rec, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
	defer func() { <-c.sem }()
	if rec, ok := c.current(); ok {
		return rec, nil
	}
	return c.sync(ctx, nil)
}

// Replace obtains a new credential with renew at once, whatever the record holds (an operator
// authorised the account again), under the record's lease like any renewal, and stores it for
// every worker. renew has the contract of [CredentialConfig].Renew. The other processes keep a
// credential they hold in memory until it is due for renewal.
func (c *Credential[R, P]) Replace(ctx context.Context, renew func(ctx context.Context, rec R, keep func(context.Context, R)) (R, error)) (R, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
	defer func() { <-c.sem }()
	return c.sync(ctx, renew)
}

// Invalidate reports that a call refused token: the next Get renews the credential, unless
// another worker already did.
func (c *Credential[R, P]) Invalidate(token secret.Value) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalid = token
	if c.cached != nil {
		if t, _ := P(c.cached).Current(); t == token.Reveal() {
			c.cached = nil
		}
	}
}

// current returns the cached record if it is not due for renewal.
func (c *Credential[R, P]) current() (R, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached == nil || !c.cfg.Now().Before(c.renewAt) {
		var zero R
		return zero, false
	}
	return *c.cached, true
}

func (c *Credential[R, P]) isInvalid(token string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invalid.Reveal() == token
}

// keep caches rec and returns it.
func (c *Credential[R, P]) keep(rec R) R {
	_, renewAt := P(&rec).Current()
	c.mu.Lock()
	c.cached, c.renewAt = &rec, renewAt
	c.mu.Unlock()
	return rec
}

// sync brings the cached record up to date from KV, renewing the credential when the record
// holds no valid one; with replace, it renews it with replace whatever the record holds.
func (c *Credential[R, P]) sync(ctx context.Context, replace func(context.Context, R, func(context.Context, R)) (R, error)) (R, error) {
	var zero R
	for {
		var rec R
		rev, err := c.cfg.Records.Get(ctx, c.cfg.Key, &rec)
		if err != nil {
			return zero, err
		}
		now := c.cfg.Now()
		if l := P(&rec).lease(); l.HeldByOther(c.cfg.Owner, now) {
			if err := c.cfg.Records.WaitChange(ctx, c.cfg.Key, rev, l.LeaseUntil.Sub(now)); err != nil {
				return zero, err
			}
			continue
		}
		if replace == nil {
			if token, renewAt := P(&rec).Current(); token != "" && now.Before(renewAt) && !c.isInvalid(token) {
				return c.keep(rec), nil
			}
			if err := c.cfg.CanRenew(rec, now); err != nil {
				return zero, err
			}
		}
		*P(&rec).lease() = Lease{LeaseOwner: c.cfg.Owner, LeaseUntil: now.Add(c.cfg.LeaseTTL), UpdatedAt: now}
		leaseRev, err := c.cfg.Records.Swap(ctx, c.cfg.Key, rec, rev)
		if errors.Is(err, ErrRecordChanged) {
			continue
		}
		if err != nil {
			return zero, err
		}
		renew := c.cfg.Renew
		if replace != nil {
			renew = replace
		}
		return c.renew(ctx, rec, leaseRev, renew)
	}
}

// renew renews rec's credential while holding the lease at rev, within the lease's TTL, and
// stores the outcome as it releases the lease. A failed write is only logged: the lease
// expires anyway, and a renewed credential is still returned (and used by this worker).
func (c *Credential[R, P]) renew(ctx context.Context, rec R, rev uint64, renew func(context.Context, R, func(context.Context, R)) (R, error)) (R, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTTL)
	defer cancel()
	keep := func(ctx context.Context, rec R) {
		P(&rec).lease().UpdatedAt = c.cfg.Now()
		newRev, err := c.cfg.Records.Keep(ctx, c.cfg.Key, rec, rev)
		if err != nil {
			c.cfg.Logger.Warn(c.cfg.Records.Name+": could not store the new tokens", "key", c.cfg.Key, "error", err)
			return
		}
		rev = newRev
	}
	rec, err := renew(rctx, rec, keep)
	*P(&rec).lease() = Lease{UpdatedAt: c.cfg.Now()}
	if _, kerr := c.cfg.Records.Keep(ctx, c.cfg.Key, rec, rev); kerr != nil {
		if err == nil {
			c.cfg.Logger.Error(c.cfg.Records.Name+": could not store the renewed credentials; a rotated "+
				"refresh token is lost if this worker stops before the next renewal", "key", c.cfg.Key, "error", kerr)
		} else {
			c.cfg.Logger.Warn(c.cfg.Records.Name+": could not release the lease", "key", c.cfg.Key, "error", kerr)
		}
	}
	if err != nil {
		var zero R
		return zero, err
	}
	return c.keep(rec), nil
}
