package jobadder

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// newFakeAuth returns a worker's Auth for the fake's client, sharing kv and clk; code may be
// empty and hc nil.
func newFakeAuth(t *testing.T, srv *jobaddertest.Server, kv jetstream.KeyValue, clk *targetstest.Clock, owner, code string, hc *http.Client) *Auth {
	t.Helper()
	a, err := NewAuth(AuthConfig{
		ClientID:          jobaddertest.DefaultClientID,
		ClientSecret:      jobaddertest.DefaultClientSecret,
		AuthorizationCode: secret.Value(code),
		RedirectURI:       jobaddertest.DefaultRedirectURI,
		TokenURL:          srv.TokenURL(),
		Tokens:            kv,
		HTTPClient:        hc,
		Now:               clk.Now,
		Owner:             owner,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// killAfterAnswer is the transport of a worker that dies once JobAdder has answered a refresh:
// it delivers the request, reads the whole answer (the fake has rotated the refresh token),
// reports it on answered and then never returns the answer, until the request's context ends.
type killAfterAnswer struct {
	answered chan struct{}
}

func (k killAfterAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.Contains(string(body), "grant_type=refresh_token") {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	k.answered <- struct{}{}
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func TestAuthAgainstFake(t *testing.T) {
	t.Parallel()

	t.Run("20 s tokens are refreshed once per lifetime less the margin, not before every call", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := jobaddertest.NewServer(jobaddertest.Config{AccessTokenTTL: 20 * time.Second, Now: clk.Now})
		t.Cleanup(srv.Close)
		kv := newBucket(t)
		code := srv.IssueCode()
		var clients []*Client
		for _, owner := range []string{"a", "b"} {
			c, err := New(newFakeAuth(t, srv, kv, clk, owner, code, nil))
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}

		// Two workers make four API calls every half second of a 2-minute run.
		const run, step = 2 * time.Minute, 500 * time.Millisecond
		calls := 0
		for elapsed := time.Duration(0); elapsed < run; elapsed += step {
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					if _, _, err := clients[i%2].Candidates.List(t.Context(), &ListOptions{Limit: 1}); err != nil {
						t.Errorf("List at %s: %v", elapsed, err)
					}
				})
			}
			wg.Wait()
			calls += 4
			clk.Advance(step)
		}
		st := srv.State()
		t.Logf("%d API calls in %s with 20 s tokens: %d code exchange(s), %d refreshes, %d answers 401",
			calls, run, st.TokensIssued-st.Refreshes, st.Refreshes, st.Requests["GET /v2/candidates 401"])
		// The margin is a fifth of 20 s: the token is renewed 16 s after it was issued, at 16,
		// 32, … 112 s of the run.
		if st.Refreshes != 7 || st.TokensIssued != 8 || st.RefusedRefreshes != 0 {
			t.Errorf("%d refreshes (%d refused), %d tokens issued; want 7 (%s / 16 s), none refused, 8",
				st.Refreshes, st.RefusedRefreshes, st.TokensIssued, run)
		}
		if n := st.Requests["GET /v2/candidates 401"]; n != 0 {
			t.Errorf("%d calls answered 401: a token was used after it expired", n)
		}
	})

	t.Run("a worker killed between JobAdder's answer to a refresh and the KV write leaves a refused refresh token", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := jobaddertest.NewServer(jobaddertest.Config{AccessTokenTTL: 20 * time.Second, Now: clk.Now})
		t.Cleanup(srv.Close)
		kv := newBucket(t)
		kill := killAfterAnswer{answered: make(chan struct{}, 1)}
		dying := newFakeAuth(t, srv, kv, clk, "dying", srv.IssueCode(), &http.Client{Transport: kill})
		mustToken(t, dying)

		clk.Advance(20 * time.Second)
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := dying.Token(ctx)
			done <- err
		}()
		<-kill.answered // JobAdder rotated the refresh token; the new one never reaches KV
		clk.Advance(leaseTTL + time.Second)

		next := newFakeAuth(t, srv, kv, clk, "next", "", nil)
		_, err := next.Token(t.Context())
		wantCredentialsError(t, err, "connection default: the refresh token was refused")
		for _, want := range []string{"a worker stopped between JobAdder's answer to a refresh and storing",
			"run `enqueue connect default`", "set JOBADDER_AUTHORIZATION_CODE", "restart the workers"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if st := srv.State(); st.Refreshes != 1 || st.RefusedRefreshes != 1 {
			t.Errorf("%d refreshes, %d refused; want 1, 1", st.Refreshes, st.RefusedRefreshes)
		}
		// Every other worker gets the same answer without sending the spent token again.
		_, err = newFakeAuth(t, srv, kv, clk, "other", "", nil).Token(t.Context())
		wantCredentialsError(t, err, "run `enqueue connect default`")
		if st := srv.State(); st.RefusedRefreshes != 1 {
			t.Errorf("%d refused refreshes, want 1", st.RefusedRefreshes)
		}

		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("the dying worker's Token = %v, want context.Canceled", err)
		}
	})
}
