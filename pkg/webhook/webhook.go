package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// Pattern is the route the handler serves, for an http.ServeMux.
const Pattern = "POST /webhooks/hrflow/{workflow}"

// Publisher enqueues jobs; *jobs.Publisher is one.
type Publisher interface {
	PublishAll(ctx context.Context, jobs []*jobs.Job, done func(jobs.PublishResult)) error
}

// Config configures a [Handler]. Secret, Workflows and Publisher are required.
type Config struct {
	// Secret is the webhook's signing key, as HrFlow shows it for the webhook.
	Secret secret.Value
	// Signature is the scheme of the signature header: [SchemeHex] (default) or [SchemeSDK].
	Signature Scheme
	// Workflows are the workflows a delivery may name in its path (the workers' workflows
	// file); each gives its jobs' target.
	Workflows *workflow.Set
	// Publisher enqueues the jobs.
	Publisher Publisher
	// MaxBodyBytes bounds a delivery's body, and with SchemeSDK the payload in its header.
	// Default 2 MiB. Larger deliveries are answered 413.
	MaxBodyBytes int64
	// MaxEvents bounds the events of one delivery (older docs allow an array). Default 100.
	MaxEvents int
	// PublishTimeout bounds the wait for the stream to store a delivery's jobs; past it the
	// delivery is answered 503 and HrFlow delivers it again. Default 5s.
	PublishTimeout time.Duration
	// Logger receives one line per refused or failed delivery (Debug per accepted one).
	// Default: discard.
	Logger *slog.Logger
	// Metrics, when set, registers hrpush_webhook_deliveries_total{event, outcome}.
	Metrics prometheus.Registerer
}

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	c.Signature = cmp.Or(c.Signature, SchemeHex)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 2<<20)
	c.MaxEvents = cmp.Or(c.MaxEvents, 100)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Secret.IsZero() {
		errs = append(errs, errors.New("webhook: no secret"))
	}
	if c.Signature != SchemeHex && c.Signature != SchemeSDK {
		errs = append(errs, fmt.Errorf("webhook: signature scheme %q is neither %q nor %q", c.Signature, SchemeHex, SchemeSDK))
	}
	if c.Workflows == nil {
		errs = append(errs, errors.New("webhook: no workflows"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("webhook: no publisher"))
	}
	if c.MaxBodyBytes < 0 || c.MaxEvents < 0 || c.PublishTimeout < 0 {
		errs = append(errs, errors.New("webhook: negative limit"))
	}
	return errors.Join(errs...)
}

// Handler receives HrFlow's webhook deliveries at [Pattern] and enqueues a push job per
// profile event. It is safe for concurrent use.
type Handler struct {
	cfg        Config
	deliveries *prometheus.CounterVec
	now        func() time.Time
}

// Outcomes of a delivery, the outcome label of the metric.
const (
	OutcomeEnqueued        = "enqueued"  // a job was stored
	OutcomeDuplicate       = "duplicate" // the stream already held the event's job
	OutcomeIgnored         = "ignored"   // not a push event
	OutcomeUnauthorized    = "unauthorized"
	OutcomeBadRequest      = "bad_request"
	OutcomeUnknownWorkflow = "unknown_workflow"
	OutcomePublishFailed   = "publish_failed"
)

// New returns a handler for cfg (see [Config.WithDefaults]), registering its metric when
// cfg.Metrics is set.
func New(cfg Config) (*Handler, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrpush_webhook_deliveries_total",
			Help: "HrFlow webhook events received, by event type (\"other\" for undocumented ones; \"none\" when the delivery was refused before it was read) and outcome (enqueued, duplicate, ignored, unauthorized, bad_request, unknown_workflow, publish_failed).",
		}, []string{"event", "outcome"}),
		now: time.Now,
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(h.deliveries); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return h, nil
}

// errTooLarge: a body or signed payload over MaxBodyBytes.
var errTooLarge = errors.New("webhook: delivery too large")

// workflowPattern is what a workflow id may be (the workflows file's own rule).
var workflowPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Result is the body of an accepted delivery.
type Result struct {
	Enqueued   int `json:"enqueued"`
	Duplicates int `json:"duplicates"`
	Ignored    int `json:"ignored"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.cfg.Logger.With("workflow", r.PathValue("workflow"))
	refuse := func(event, outcome string, p *problem.Details, retryAfter time.Duration) {
		h.deliveries.WithLabelValues(event, outcome).Inc()
		level := slog.LevelWarn
		if p.Status >= 500 {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "webhook delivery refused", "status", p.Status, "code", p.Code, "detail", p.Detail)
		problem.Write(w, p, retryAfter)
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse("none", OutcomeBadRequest, problem.New(http.StatusRequestEntityTooLarge, "too-large", "the body is over "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes"), 0)
			return
		}
		refuse("none", OutcomeBadRequest, problem.New(http.StatusBadRequest, "unreadable-body", "the body could not be read"), 0)
		return
	}

	// Authenticate first: nothing else is said to a sender without the secret.
	data, p := h.verify(r.Header.Values(SignatureHeader), body)
	if p != nil {
		outcome := OutcomeUnauthorized
		if p.Status != http.StatusUnauthorized {
			outcome = OutcomeBadRequest
		}
		refuse("none", outcome, p, 0)
		return
	}

	id := r.PathValue("workflow")
	wf, ok := h.cfg.Workflows.Workflow(id)
	if !workflowPattern.MatchString(id) || !ok {
		refuse("none", OutcomeUnknownWorkflow, problem.New(http.StatusNotFound, "unknown-workflow",
			fmt.Sprintf("workflow %q is not declared in the workflows file", id)), 0)
		return
	}

	events, p := decodePayloads(data, h.cfg.Signature == SchemeSDK, h.cfg.MaxEvents)
	if p != nil {
		refuse("none", OutcomeBadRequest, p, 0)
		return
	}
	var (
		batch  []*jobs.Job
		labels []string // event label of each job
		errs   []problem.FieldError
		res    Result
	)
	ignored := map[string]int{}
	now := h.now()
	for i, e := range events {
		if !pushEvents[e.Type] {
			ignored[eventLabel(e.Type)]++
			continue
		}
		pointer := ""
		if len(events) > 1 || bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
			pointer = "/" + strconv.Itoa(i)
		}
		j, fe := job(wf, e, pointer, now)
		if fe != nil {
			errs = append(errs, fe...)
			continue
		}
		batch = append(batch, j)
		labels = append(labels, e.Type)
	}
	if errs != nil {
		p := problem.New(http.StatusBadRequest, "invalid-event", "an event's profile keys are missing or invalid; nothing was enqueued")
		p.Errors = errs
		refuse("none", OutcomeBadRequest, p, 0)
		return
	}

	if len(batch) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.PublishTimeout)
		defer cancel()
		label := map[*jobs.Job]string{}
		for i, j := range batch {
			label[j] = labels[i]
		}
		var failed error
		err := h.cfg.Publisher.PublishAll(ctx, batch, func(pr jobs.PublishResult) {
			switch {
			case pr.Err != nil:
				failed = cmp.Or(failed, pr.Err)
			case pr.Duplicate:
				res.Duplicates++
				h.deliveries.WithLabelValues(label[pr.Job], OutcomeDuplicate).Inc()
			default:
				res.Enqueued++
				h.deliveries.WithLabelValues(label[pr.Job], OutcomeEnqueued).Inc()
			}
		})
		if failed = cmp.Or(failed, err); failed != nil {
			// The jobs stored so far stay: the redelivery HrFlow makes finds them by
			// message id and stores only the rest.
			log.Error("webhook jobs not enqueued", "error", failed)
			refuse("none", OutcomePublishFailed, problem.New(http.StatusServiceUnavailable, "queue-unavailable",
				"the jobs could not be enqueued now; deliver again"), time.Second)
			return
		}
	}
	for label, n := range ignored {
		res.Ignored += n
		h.deliveries.WithLabelValues(label, OutcomeIgnored).Add(float64(n))
	}
	status := http.StatusOK
	if len(batch) > 0 {
		status = http.StatusAccepted
	}
	log.Debug("webhook delivery accepted", "enqueued", res.Enqueued, "duplicates", res.Duplicates, "ignored", res.Ignored)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// verify checks the signature of a delivery and returns the signed payload, or the problem
// to answer.
func (h *Handler) verify(headers []string, body []byte) ([]byte, *problem.Details) {
	unauthorized := func(detail string) *problem.Details {
		p := problem.New(http.StatusUnauthorized, "bad-signature", detail)
		p.Errors = []problem.FieldError{{Pointer: SignatureHeader, Detail: detail}}
		return p
	}
	switch {
	case len(headers) == 0 || headers[0] == "":
		return nil, unauthorized(ErrNoSignature.Error())
	case len(headers) > 1:
		return nil, unauthorized(ErrMalformedSignature.Error() + ": given more than once")
	}
	header := headers[0]
	if h.cfg.Signature == SchemeSDK {
		data, err := verifySDK(h.cfg.Secret, header, h.cfg.MaxBodyBytes)
		switch {
		case errors.Is(err, errTooLarge):
			return nil, problem.New(http.StatusRequestEntityTooLarge, "too-large", "the signed payload is over "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes")
		case err != nil:
			return nil, unauthorized(err.Error() + hint(h.cfg.Signature, header))
		}
		return data, nil
	}
	err := verifyHex(h.cfg.Secret, header, body)
	switch {
	case errors.Is(err, errNotObject):
		return nil, problem.New(http.StatusBadRequest, "malformed-payload", "the hex signature scheme signs a JSON event object: "+err.Error())
	case err != nil:
		return nil, unauthorized(err.Error() + hint(h.cfg.Signature, header))
	}
	return body, nil
}

// hint says when a refused header has the form of the other scheme: the receiver is then
// probably configured with the wrong one.
func hint(configured Scheme, header string) string {
	dotted := strings.Contains(header, ".")
	switch {
	case configured == SchemeHex && dotted:
		return " (the header has the form of the sdk scheme; is the signature setting right?)"
	case configured == SchemeSDK && !dotted && len(header) == 64:
		return " (the header has the form of the hex scheme; is the signature setting right?)"
	}
	return ""
}
