package bullhorn

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/secret"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

// fakeWorker is one worker's Auth, Client and Target against a bullhorntest server.
type fakeWorker struct {
	auth   *Auth
	target *Target
}

// fakeBuckets are the KV buckets workers share.
type fakeBuckets struct{ tokens, ids, locks jetstream.KeyValue }

func newFakeBuckets(t *testing.T) fakeBuckets {
	t.Helper()
	return fakeBuckets{tokens: newBucket(t), ids: newBucket(t), locks: newLockBucket(t)}
}

func newFakeWorker(t *testing.T, srv *bullhorntest.Server, b fakeBuckets, password string) *fakeWorker {
	t.Helper()
	auth, err := NewAuth(AuthConfig{
		LoginInfoURL: srv.LoginInfoURL(),
		ClientID:     bullhorntest.DefaultClientID,
		ClientSecret: bullhorntest.DefaultClientSecret,
		Username:     bullhorntest.DefaultUsername,
		Password:     secret.Value(password),
		Tokens:       b.tokens,
	})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := NewRateLimiter(RateLimitConfig{Bucket: b.tokens, Account: bullhorntest.DefaultUsername})
	if err != nil {
		t.Fatal(err)
	}
	client, err := New(auth, WithRateLimiter(limiter))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeWorker{auth: auth, target: newTarget(t, client, b.ids, b.locks)}
}

// sampleItem is a sample profile, formatted, with a resume.
func sampleItem(t *testing.T, profile string) *targets.Item {
	t.Helper()
	return &targets.Item{
		SourceKey:  "source1",
		ProfileKey: strings.TrimSuffix(profile, ".json"),
		Payload:    Format(loadProfile(t, profile)),
		Resume: &targets.Document{Name: "resume.pdf", ContentType: "application/pdf",
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("%PDF-1.4")), nil
			}},
	}
}

func TestAgainstFake(t *testing.T) {
	t.Parallel()

	t.Run("three workers push the samples five times each: no duplicate, one session", func(t *testing.T) {
		t.Parallel()
		srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn", IndexLag: time.Hour})
		t.Cleanup(srv.Close)
		b := newFakeBuckets(t)
		workers := make([]*fakeWorker, 3)
		for i := range workers {
			workers[i] = newFakeWorker(t, srv, b, bullhorntest.DefaultPassword)
		}
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				item := sampleItem(t, goldenCases[i%2].profile)
				if _, err := workers[i%3].target.Push(t.Context(), item); err != nil {
					t.Errorf("Push %d: %v", i, err)
				}
			})
		}
		wg.Wait()

		st := srv.State()
		got := map[string]int{
			"candidates": st.Candidates, "duplicate emails": len(st.DuplicateEmails),
			"duplicate educations": len(st.DuplicateEducations), "duplicate work histories": len(st.DuplicateWorkHistories),
			"sessions opened": st.SessionsOpened, "callbacks followed": st.CallbacksFollowed,
			"created without name": st.CreatedWithoutName, "suspect timestamps": st.SuspectTimestamps,
			"rejected": st.Rejected, "429": st.TooManyRequests,
		}
		want := map[string]int{
			"candidates": 2, "duplicate emails": 0, "duplicate educations": 0, "duplicate work histories": 0,
			"sessions opened": 1, "callbacks followed": 0, "created without name": 0, "suspect timestamps": 0,
			"rejected": 0, "429": 0,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("state (-want +got):\n%s\nrejections: %+v", diff, st.RecentRejections)
		}
		var rows []string
		for _, c := range srv.Candidates() {
			rows = append(rows, fmt.Sprintf("%s: %d educations, %d work histories, %d files",
				c.Fields["email"], len(c.Educations), len(c.WorkHistories), len(c.Files)))
		}
		slices.Sort(rows)
		if diff := cmp.Diff([]string{
			"harry.potter@gmail.com: 2 educations, 2 work histories, 1 files",
			"harry.potter@hogwarts.net: 1 educations, 1 work histories, 1 files",
		}, rows); diff != "" {
			t.Errorf("candidates (-want +got):\n%s", diff)
		}
	})

	t.Run("expired sessions are renewed once", func(t *testing.T) {
		t.Parallel()
		srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn"})
		t.Cleanup(srv.Close)
		b := newFakeBuckets(t)
		w := newFakeWorker(t, srv, b, bullhorntest.DefaultPassword)
		item := sampleItem(t, goldenCases[0].profile)
		push(t, w.target, item)
		srv.ExpireSessions()
		srv.ExpireAccessTokens()
		wantResult(t, push(t, w.target, item), targets.Result{Action: targets.Updated, ID: fmt.Sprint(srv.Candidates()[0].ID)})
		if st := srv.State(); st.SessionsOpened != 2 || st.Refreshes != 1 || st.Authorizations != 1 {
			t.Errorf("%d sessions, %d refreshes, %d authorizations; want 2, 1, 1",
				st.SessionsOpened, st.Refreshes, st.Authorizations)
		}
	})

	t.Run("refused credentials say what to do", func(t *testing.T) {
		t.Parallel()
		srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn", TermsNotAccepted: true})
		t.Cleanup(srv.Close)
		item := sampleItem(t, goldenCases[0].profile)
		_, err := newFakeWorker(t, srv, newFakeBuckets(t), bullhorntest.DefaultPassword).target.Push(t.Context(), item)
		wantCredentialsError(t, err, "has not accepted Bullhorn's terms of service")
		_, err = newFakeWorker(t, srv, newFakeBuckets(t), "wr0ng").target.Push(t.Context(), item)
		wantCredentialsError(t, err, "username or password was refused")
		if strings.Contains(err.Error(), bullhorntest.DefaultPassword) {
			t.Errorf("error %q reveals the password", err)
		}
	})
}

func TestAuthAgainstFake(t *testing.T) {
	t.Parallel()

	t.Run("2-minute sessions and 20 s access tokens are renewed once per lifetime less the margin", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := bullhorntest.NewServer(bullhorntest.Config{BaseURL: "/bullhorn", AccessTokenTTL: 20 * time.Second, Now: clk.Now})
		t.Cleanup(srv.Close)
		kv := newBucket(t)
		var clients []*Client
		for _, owner := range []string{"a", "b"} {
			auth, err := NewAuth(AuthConfig{
				LoginInfoURL: srv.LoginInfoURL(),
				ClientID:     bullhorntest.DefaultClientID,
				ClientSecret: bullhorntest.DefaultClientSecret,
				Username:     bullhorntest.DefaultUsername,
				Password:     bullhorntest.DefaultPassword,
				SessionTTL:   2 * time.Minute,
				Tokens:       kv,
				Now:          clk.Now,
				Owner:        owner,
			})
			if err != nil {
				t.Fatal(err)
			}
			client, err := New(auth)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, client)
		}

		// Two workers make four calls every second of an 8-minute run.
		const run, step = 8 * time.Minute, time.Second
		calls := 0
		for elapsed := time.Duration(0); elapsed < run; elapsed += step {
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					if _, err := clients[i%2].do(t.Context(), &request{method: "GET", path: []string{"ping"}}, nil); err != nil {
						t.Errorf("ping at %s: %v", elapsed, err)
					}
				})
			}
			wg.Wait()
			calls += 4
			clk.Advance(step)
		}
		st := srv.State()
		t.Logf("%d calls in %s with 2-minute sessions and 20 s access tokens: %d sessions opened, %d refreshes, %d authorizations",
			calls, run, st.SessionsOpened, st.Refreshes, st.Authorizations)
		// The session's margin is a fifth of 2 minutes: a session is renewed 96 s after its
		// login, at 96, 192, 288 and 384 s of the run, each time with a refreshed access token
		// (the last one, 96 s old, expired).
		if st.SessionsOpened != 5 || st.Refreshes != 4 || st.Authorizations != 1 {
			t.Errorf("%d sessions, %d refreshes, %d authorizations; want 5, 4, 1", st.SessionsOpened, st.Refreshes, st.Authorizations)
		}
	})
}
