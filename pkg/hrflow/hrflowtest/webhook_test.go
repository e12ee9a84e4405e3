package hrflowtest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

// receiver records the webhook deliveries it accepts, checking their signatures, and answers
// the first fail of them 503.
type receiver struct {
	t      *testing.T
	scheme string
	mu     sync.Mutex
	fail   int
	events []string // "type key", in arrival order
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte("hook-secret"))
	sig := r.Header.Get("HTTP-HRFLOW-SIGNATURE")
	payload := body
	if rc.scheme == hrflowtest.SignatureSDK {
		d, p, _ := strings.Cut(sig, ".")
		digest, _ := base64.URLEncoding.DecodeString(d)
		payload, _ = base64.URLEncoding.DecodeString(p)
		sig = string(digest)
		if string(payload) != string(body) {
			rc.t.Errorf("sdk payload differs from the body")
		}
	}
	m.Write(payload)
	if sig != hex.EncodeToString(m.Sum(nil)) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type    string `json:"type"`
		Origin  string `json:"origin"`
		Profile struct {
			Key    string `json:"key"`
			Source struct {
				Key string `json:"key"`
			} `json:"source"`
		} `json:"profile"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Profile.Source.Key != "src" || ev.Origin != "api" {
		rc.t.Errorf("payload %s: %v", payload, err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.events = append(rc.events, ev.Type+" "+ev.Profile.Key)
}

func waitSettled(t *testing.T, hf *hrflowtest.Server, made int) hrflowtest.WebhookStats {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := hf.Webhooks()
		if st.Made == made && st.Pending == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks not settled: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{hrflowtest.SignatureHex, hrflowtest.SignatureSDK} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{t: t, scheme: scheme, fail: 2}
			ts := httptest.NewServer(rc)
			t.Cleanup(ts.Close)
			hf := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{
				URL: ts.URL, Secret: "hook-secret", Signature: scheme, RetryDelay: time.Millisecond, Senders: 1,
			}})
			t.Cleanup(hf.Close)

			hf.Generate("src", 3, 1) // seeding: silent
			keys := hf.Parse("src", 2, 2)
			if !hf.TouchProfile("src", keys[0], time.Now()) {
				t.Fatal("touch")
			}
			raw, _ := hf.Profile("src", keys[1])
			if _, err := hf.AddProfile("src", raw); err != nil {
				t.Fatal(err)
			}
			st := waitSettled(t, hf, 6)
			want := []string{
				"profile.parsing.success " + keys[0], "profile.storing.success " + keys[0],
				"profile.parsing.success " + keys[1], "profile.storing.success " + keys[1],
				"profile.storing.update " + keys[0], "profile.storing.update " + keys[1],
			}
			rc.mu.Lock()
			got := strings.Join(rc.events, "\n")
			rc.mu.Unlock()
			if got != strings.Join(want, "\n") {
				t.Errorf("deliveries\n%s\nwant\n%s", got, strings.Join(want, "\n"))
			}
			if st.Delivered != 6 || st.Attempts != 8 || st.Statuses[503] != 2 || st.Failed != 0 || st.Refused != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("refused and failed deliveries", func(t *testing.T) {
		t.Parallel()
		rc := &receiver{t: t, scheme: hrflowtest.SignatureHex, fail: 100}
		ts := httptest.NewServer(rc)
		t.Cleanup(ts.Close)
		wrong := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{URL: ts.URL, Secret: "another"}})
		t.Cleanup(wrong.Close)
		wrong.Parse("src", 1, 3)
		if st := waitSettled(t, wrong, 2); st.Refused != 2 || st.Attempts != 2 || st.Statuses[401] != 2 {
			t.Errorf("stats %+v: a 401 is final", st)
		}
		down := hrflowtest.NewServer(hrflowtest.Config{Webhook: hrflowtest.Webhook{URL: ts.URL, Secret: "hook-secret", Attempts: 3, RetryDelay: time.Millisecond}})
		t.Cleanup(down.Close)
		down.Parse("src", 1, 3)
		if st := waitSettled(t, down, 2); st.Failed != 2 || st.Attempts != 6 {
			t.Errorf("stats %+v: 3 attempts each, then given up", st)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		t.Parallel()
		for _, w := range []hrflowtest.Webhook{{URL: "ftp://x"}, {URL: "http://x", Signature: "md5"}, {URL: "http://x", Attempts: -1}} {
			if _, err := hrflowtest.Listen("127.0.0.1:0", hrflowtest.Config{Webhook: w}); err == nil {
				t.Errorf("%+v accepted", w)
			}
		}
	})
}
