package broker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retry runs op, each call bounded by each, until it succeeds, fails with an error retryable
// refuses, ctx ends, or total has passed (0: no bound but ctx's); waiting, when set, is called
// with each error retried. The pause between calls grows from 100 ms to 1 s: a JetStream leader
// lost is replaced within seconds, and the caller resumes as soon as the new one answers. Single
// JetStream calls go through it: a job's event, ack and DLQ entry, the records of the targets,
// a producer's publish, setup. total is kept as a time rather than a context of its own: a job's
// event, ack and records go through here, and each context with a deadline costs a timer and
// a registration with its parent (7 % of a worker's CPU samples, with the HTTP clients').
func Retry(ctx context.Context, total, each time.Duration, op func(ctx context.Context) error, retryable func(error) bool, waiting func(error)) error {
	var end time.Time // zero: none
	if total > 0 {
		end = time.Now().Add(total)
	}
	wait := 100 * time.Millisecond
	for {
		bound := time.Now().Add(each)
		if !end.IsZero() && end.Before(bound) {
			bound = end
		}
		octx, cancel := context.WithDeadline(ctx, bound)
		err := op(octx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		if waiting != nil {
			waiting(err)
		}
		if !end.IsZero() {
			left := time.Until(end)
			if left <= 0 {
				return err
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, time.Second)
	}
}

// Transient reports whether a JetStream error may go away on its own within seconds: no
// answer (timeout, no responders), a server reconnecting, JetStream (or the leader of a stream
// or consumer) not available yet, or servers to place a stream or consumer on not online yet.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return true
	case peersNotYet(err):
		return true
	case errors.As(err, &apiErr):
		// A stream refusing a message for its limits (503 too) stays refused.
		return (apiErr.Code >= 500 || apiErr.Code == 408) && apiErr.ErrorCode != ErrCodeStoreFailed
	}
	return false
}

// ErrCodeStoreFailed is JetStream's code for a message the stream did not store
// (JSStreamStoreFailedF).
const ErrCodeStoreFailed jetstream.ErrorCode = 10077

// errCodeNoPeers is JetStream's code for a stream or consumer it finds no servers to place on
// (JSClusterNoPeersErrF, 400).
const errCodeNoPeers jetstream.ErrorCode = 10005

// peersNotYet reports whether err is JetStream finding no servers to place a stream or consumer
// on because some are offline, or not yet running JetStream for the cluster: a fresh cluster
// whose meta leader has not heard from every server yet answers so (two workers starting with
// a fresh 3-server cluster failed on it: "no suitable peers for placement, peer offline"), and
// so does one waiting for a server that is restarting. Its other reasons (storage, tags) are
// settings and stay errors.
func peersNotYet(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeNoPeers {
		return false
	}
	return strings.Contains(apiErr.Description, "peer offline") ||
		strings.Contains(apiErr.Description, "jetstream not enabled in cluster")
}
