package hrflowtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hrpush/hrpush/pkg/secret"
)

// Webhook events the server delivers.
const (
	EventParsingSuccess = "profile.parsing.success"
	EventStoringSuccess = "profile.storing.success"
	EventStoringUpdate  = "profile.storing.update"
)

// Signature forms of [Webhook.Signature] (HrFlow documents both; see the API notes §1.7).
const (
	// SignatureHex: the body is the compact JSON {type, origin, message, profile} and the
	// HTTP-HRFLOW-SIGNATURE header its hex HMAC-SHA256.
	SignatureHex = "hex"
	// SignatureSDK: the header is base64url(hex HMAC-SHA256 of the payload) + "." +
	// base64url(payload); the body is the payload too.
	SignatureSDK = "sdk"
)

// Webhook makes a [Server] deliver HrFlow's profile webhooks: [Server.Parse] delivers
// profile.parsing.success then profile.storing.success for each new profile,
// [Server.AddProfile] profile.storing.success (profile.storing.update when it replaces one),
// and [Server.TouchProfile] profile.storing.update. [Server.Generate] seeds silently.
//
// Deliveries are asynchronous, as HrFlow's: a few senders POST them in the order they were
// made, and retry a delivery that failed (no answer, a timeout, 408, 429 or 5xx) after a delay
// that doubles, up to Attempts; any other 4xx is final. [Server.Webhooks] counts them.
type Webhook struct {
	// URL receives the deliveries. Empty: no webhooks.
	URL string
	// Secret signs them.
	Secret secret.Value
	// Signature is [SignatureHex] (default) or [SignatureSDK].
	Signature string
	// Attempts per delivery. Default 5.
	Attempts int
	// Timeout of one attempt. Default 5s.
	Timeout time.Duration
	// RetryDelay before the second attempt, doubled after each. Default 100ms.
	RetryDelay time.Duration
	// Senders deliver concurrently. Default 4.
	Senders int
}

func (w Webhook) withDefaults() Webhook {
	w.Signature = cmp.Or(w.Signature, SignatureHex)
	w.Attempts = cmp.Or(w.Attempts, 5)
	w.Timeout = cmp.Or(w.Timeout, 5*time.Second)
	w.RetryDelay = cmp.Or(w.RetryDelay, 100*time.Millisecond)
	w.Senders = cmp.Or(w.Senders, 4)
	return w
}

func (w Webhook) validate() error {
	if w.URL == "" {
		return nil
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("hrflowtest: webhook URL %q is not an http(s) URL", w.URL)
	}
	if w.Signature != "" && w.Signature != SignatureHex && w.Signature != SignatureSDK {
		return fmt.Errorf("hrflowtest: webhook signature %q is neither %q nor %q", w.Signature, SignatureHex, SignatureSDK)
	}
	if w.Attempts < 0 || w.Timeout < 0 || w.RetryDelay < 0 || w.Senders < 0 {
		return fmt.Errorf("hrflowtest: negative webhook setting")
	}
	return nil
}

// WebhookStats counts the webhook deliveries of a [Server].
type WebhookStats struct {
	// Made counts the deliveries made (events), Delivered those answered 2xx, Refused those
	// answered a final 4xx, Failed those given up after every attempt, Pending those queued
	// or in flight.
	Made, Delivered, Refused, Failed, Pending int
	// Attempts counts POSTs; Statuses counts their answers by status, 0 for no answer.
	Attempts int
	Statuses map[int]int
	// Events counts the deliveries made by event type.
	Events map[string]int
}

type delivery struct {
	body      []byte
	signature string
}

// hooks delivers a server's webhooks.
type hooks struct {
	cfg    Webhook
	client *http.Client
	ctx    context.Context //nolint:containedctx // the senders' lifetime, cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu    sync.Mutex
	queue []delivery
	stats WebhookStats
}

func newHooks(cfg Webhook) *hooks {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hooks{
		cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, ctx: ctx, cancel: cancel,
		wake:  make(chan struct{}, 1),
		stats: WebhookStats{Statuses: map[int]int{}, Events: map[string]int{}},
	}
	for range cfg.Senders {
		h.wg.Go(h.send)
	}
	return h
}

func (h *hooks) close() {
	h.cancel()
	h.wg.Wait()
}

// Webhooks returns the counts of webhook deliveries; zero when none is configured.
func (s *Server) Webhooks() WebhookStats {
	if s.hooks == nil {
		return WebhookStats{}
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	st := s.hooks.stats
	st.Statuses, st.Events = maps.Clone(st.Statuses), maps.Clone(st.Events)
	return st
}

// notify queues a delivery of event for e, if webhooks are configured.
func (s *Server) notify(event string, e *entry) {
	if s.hooks == nil {
		return
	}
	messages := map[string]string{
		EventParsingSuccess: "Profile parsed successfully",
		EventStoringSuccess: "Profile stored successfully",
		EventStoringUpdate:  "Profile updated successfully",
	}
	// The hex form signs the compact JSON of these four members, in this order: the body is
	// exactly that.
	body := mustJSON(struct {
		Type    string          `json:"type"`
		Origin  string          `json:"origin"`
		Message string          `json:"message"`
		Profile json.RawMessage `json:"profile"`
	}{event, "api", messages[event], withOrigin(e.raw, s.origin())})
	h := s.hooks
	m := hmac.New(sha256.New, []byte(h.cfg.Secret.Reveal()))
	m.Write(body)
	sig := hex.EncodeToString(m.Sum(nil))
	if h.cfg.Signature == SignatureSDK {
		sig = base64.URLEncoding.EncodeToString([]byte(sig)) + "." + base64.URLEncoding.EncodeToString(body)
	}
	h.mu.Lock()
	h.queue = append(h.queue, delivery{body: body, signature: sig})
	h.stats.Made++
	h.stats.Pending++
	h.stats.Events[event]++
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// send delivers queued deliveries until the server closes.
func (h *hooks) send() {
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.mu.Unlock()
			select {
			case <-h.wake:
				continue
			case <-h.ctx.Done():
				return
			}
		}
		d := h.queue[0]
		h.queue = h.queue[1:]
		more := len(h.queue) > 0
		h.mu.Unlock()
		if more { // pass the wake-up on to another sender
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
		outcome := h.deliver(d)
		h.mu.Lock()
		h.stats.Pending--
		switch outcome {
		case http.StatusOK:
			h.stats.Delivered++
		case http.StatusBadRequest:
			h.stats.Refused++
		default:
			h.stats.Failed++
		}
		h.mu.Unlock()
	}
}

// deliver POSTs d until it is answered 2xx or a final 4xx, or the attempts run out; it
// returns 200, 400 or 0 for those outcomes.
func (h *hooks) deliver(d delivery) int {
	delay := h.cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		status := h.attempt(d)
		h.mu.Lock()
		h.stats.Attempts++
		h.stats.Statuses[status]++
		h.mu.Unlock()
		switch {
		case status >= 200 && status < 300:
			return http.StatusOK
		case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			return http.StatusBadRequest
		case attempt >= h.cfg.Attempts:
			return 0
		}
		select {
		case <-time.After(delay):
			delay *= 2
		case <-h.ctx.Done():
			return 0
		}
	}
}

func (h *hooks) attempt(d delivery) int {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("HTTP-HRFLOW-SIGNATURE", d.signature)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp.StatusCode
}
