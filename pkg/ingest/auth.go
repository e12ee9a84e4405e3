package ingest

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/problem"
)

// keyedHandler is a handler of an authenticated request.
type keyedHandler func(w http.ResponseWriter, r *http.Request, key *apikeys.Key)

// authenticated checks the bearer API key and its rate limit before h.
func (a *API) authenticated(h keyedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hrpush"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "missing-api-key", "send an API key as Authorization: Bearer <key> (create one with: enqueue apikeys create)"), 0)
			return
		}
		key, err := a.keys.Verify(r.Context(), strings.TrimSpace(token))
		if errors.Is(err, apikeys.ErrInvalid) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hrpush", error="invalid_token"`)
			problem.Write(w, problem.New(http.StatusUnauthorized, "invalid-api-key", "the API key is unknown or revoked"), 0)
			return
		}
		if err != nil {
			a.unavailable(w, r, "cannot check the API key", err)
			return
		}
		if wait, ok := a.limits.allow(key, a.cfg, a.cfg.Now()); !ok {
			problem.Write(w, problem.New(http.StatusTooManyRequests, "rate-limited", "this API key's request rate is exceeded; retry after the delay in Retry-After"), wait)
			return
		}
		h(w, r, key)
	})
}

// unavailable answers 503 for a NATS failure, logged without the request's secrets.
func (a *API) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.cfg.Logger.Error(what, "path", r.URL.Path, "error", err)
	problem.Write(w, problem.New(http.StatusServiceUnavailable, "unavailable", what+": the queue is unreachable; retry later"), time.Second)
}

// limiters are the per-key token buckets of this replica.
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow takes a token of key's bucket, or says how long until one is free.
func (l *limiters) allow(key *apikeys.Key, cfg Config, now time.Time) (time.Duration, bool) {
	perSecond, burst := cfg.RatePerSecond, cfg.Burst
	if key.RatePerSecond > 0 {
		perSecond, burst = key.RatePerSecond, max(key.Burst, 1)
	}
	l.mu.Lock()
	lim := l.m[key.ID]
	if lim == nil || lim.Limit() != rate.Limit(perSecond) || lim.Burst() != burst {
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		l.m[key.ID] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}
