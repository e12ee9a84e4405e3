package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/targets"
)

// TestDecide is the failure table of the runtime, without NATS: which error, on which delivery,
// with the connection counted down or not, ends where.
func TestDecide(t *testing.T) {
	t.Parallel()
	refused := &targets.CredentialsError{Target: "jobadder", Reason: "refresh token refused"}
	connRefused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	shutdownCtx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrShutdown)
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		down    bool
		attempt int
		want    verdict
	}{
		{"validation error", context.Background(), Permanent(errors.New("422")), false, 1, deadLetterNow},
		{"permanent on the last delivery", context.Background(), Permanent(errors.New("422")), false, 10, deadLetterNow},
		{"refused credentials", context.Background(), refused, false, 1, pauseCredentials},
		{"refused credentials past the budget", context.Background(), fmt.Errorf("push: %w", refused), false, 10, pauseCredentials},
		{"throttled", context.Background(), RetryAfter(errors.New("429"), time.Minute), false, 2, retryLater},
		{"throttled on the last delivery", context.Background(), RetryAfter(errors.New("429"), time.Minute), false, 10, deadLetterExhausted},
		{"5xx", context.Background(), errors.New("503"), false, 3, retryLater},
		{"5xx on the last delivery", context.Background(), errors.New("503"), false, 10, deadLetterExhausted},
		{"unreachable, connection not down", context.Background(), connRefused, false, 10, deadLetterExhausted},
		{"unreachable, connection down", context.Background(), connRefused, true, 10, pauseOutage},
		{"shutdown", shutdownCtx, context.Canceled, false, 10, putBackNow},
		{"shutdown wins over credentials", shutdownCtx, refused, false, 1, putBackNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := classify(tt.ctx, tt.err)
			if got := decide(c, tt.down, tt.attempt, 10); got != tt.want {
				t.Errorf("decide(%s, down %v, attempt %d) = %s, want %s", c, tt.down, tt.attempt, got, tt.want)
			}
		})
	}
	if !isUnavailable(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}) || isUnavailable(errors.New("422")) {
		t.Error("isUnavailable misreads a refused connection or a validation error")
	}
}

// TestSetupWaitsForPeers: setup (and the worker's start, through Transient) retries
// JetStream's refusal to place a stream while servers of the cluster are offline (a fresh
// cluster answers so for a moment), and not its refusals for settings.
func TestSetupWaitsForPeers(t *testing.T) {
	t.Parallel()
	_, js := brokertest.JetStream(t)
	noPeers := func(reason string) error { // JSClusterNoPeersErrF
		return &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement" + reason}
	}
	for _, tc := range []struct {
		reason string
		calls  int // until it succeeds; 1: not retried
	}{
		{", peer offline", 3},
		{", jetstream not enabled in cluster", 3},
		{", insufficient storage", 1},
		{", tags not matched ['az:x']", 1},
	} {
		s := &setup{js: js, log: slog.New(slog.DiscardHandler), start: time.Now()}
		calls := 0
		err := s.retry(t.Context(), "bucket", func(context.Context) error {
			if calls++; calls < 3 {
				return noPeers(tc.reason)
			}
			return nil
		})
		if calls != tc.calls {
			t.Errorf("%q: %d calls, want %d", tc.reason, calls, tc.calls)
		}
		if wantErr := tc.calls == 1; (err != nil) != wantErr {
			t.Errorf("%q: error %v", tc.reason, err)
		}
	}
}
