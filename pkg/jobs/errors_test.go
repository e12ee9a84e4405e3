package jobs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

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
