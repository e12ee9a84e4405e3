package hrflowtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
	"github.com/hrpush/hrpush/pkg/secret"
)

const (
	testKey   = "hrflowtest-secret-key-0123456789"
	testEmail = "ops@example.com"
	srcKey    = "91456df437fbd49a566adc5e0b0b33d13b115d06"
)

// setup starts a fake requiring the test credentials.
func setup(t *testing.T, cfg hrflowtest.Config) *hrflowtest.Server {
	t.Helper()
	cfg.APIKey, cfg.UserEmail = testKey, testEmail
	srv := hrflowtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// answer is a decoded answer of the fake.
type answer struct {
	Status      int
	ContentType string
	RetryAfter  string
	Body        []byte
	Envelope    struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Meta    map[string]int  `json:"meta"`
		Data    json.RawMessage `json:"data"`
	}
}

// get sends an authenticated GET to path (relative to the API base URL) with query.
func get(t *testing.T, srv *hrflowtest.Server, path string, query url.Values) *answer {
	t.Helper()
	return do(t, srv.URL()+path+"?"+query.Encode(), http.Header{"X-Api-Key": {testKey}, "X-User-Email": {testEmail}})
}

func do(t *testing.T, rawURL string, h http.Header) *answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := &answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), RetryAfter: resp.Header.Get("Retry-After")}
	if a.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(a.ContentType, "application/json") {
		if err := json.Unmarshal(a.Body, &a.Envelope); err != nil {
			t.Fatalf("decode %s: %v", a.Body, err)
		}
	}
	return a
}

func profileQuery(key string) url.Values {
	return url.Values{"source_key": {srcKey}, "key": {key}}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	srv.LoadSamples(srcKey)
	u := srv.URL() + "/profile/indexing?" + profileQuery(hrflowtest.SampleProfileKey).Encode()
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"valid", http.Header{"X-Api-Key": {testKey}, "X-User-Email": {testEmail}}, http.StatusOK},
		{"email case-insensitive", http.Header{"X-Api-Key": {testKey}, "X-User-Email": {"OPS@example.com"}}, http.StatusOK},
		{"no headers", http.Header{}, http.StatusUnauthorized},
		{"wrong key", http.Header{"X-Api-Key": {"wrong-key"}, "X-User-Email": {testEmail}}, http.StatusUnauthorized},
		{"wrong email", http.Header{"X-Api-Key": {testKey}, "X-User-Email": {"x@example.com"}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := do(t, u, tt.header)
			if a.Status != tt.want || (a.Envelope.Code != tt.want) {
				t.Fatalf("status %d code %d, want %d: %s", a.Status, a.Envelope.Code, tt.want, a.Body)
			}
			if tt.want == http.StatusUnauthorized {
				if !strings.HasPrefix(a.Envelope.Message, "Unauthorized. Invalid secret key") {
					t.Errorf("message %q", a.Envelope.Message)
				}
				if strings.Contains(string(a.Body), testKey) {
					t.Errorf("401 body echoes the configured key: %s", a.Body)
				}
			}
		})
	}
}

func TestGetProfile(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	srv.LoadSamples(srcKey)
	srv.AddSource("emptysource")
	tests := []struct {
		name     string
		query    url.Values
		wantCode int
		wantMsg  string
	}{
		{"by key", profileQuery(hrflowtest.SampleProfileKey), 200, "Profile details"},
		{"fixture by key", profileQuery(hrflowtest.SampleFixtureKey), 200, "Profile details"},
		{"by reference", url.Values{"source_key": {srcKey}, "reference": {"ats-cand-000123"}}, 200, "Profile details"},
		{"unknown profile", profileQuery(strings.Repeat("0", 40)), 400, "Invalid parameters. Unable to find object: profile"},
		{"unknown reference", url.Values{"source_key": {srcKey}, "reference": {"nope"}}, 400, "Invalid parameters. Unable to find object: profile"},
		{"profile in another source", url.Values{"source_key": {"emptysource"}, "key": {hrflowtest.SampleProfileKey}}, 400, "Invalid parameters. Unable to find object: profile"},
		{"unknown source", url.Values{"source_key": {"nosuchsource"}, "key": {hrflowtest.SampleProfileKey}}, 400, "Invalid parameters. Unable to find object: source"},
		{"no key", url.Values{"source_key": {srcKey}}, 400, ""},
		{"no source", url.Values{"key": {hrflowtest.SampleProfileKey}}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := get(t, srv, "/profile/indexing", tt.query)
			if a.Status != tt.wantCode || a.Envelope.Code != tt.wantCode {
				t.Fatalf("status %d code %d, want %d: %s", a.Status, a.Envelope.Code, tt.wantCode, a.Body)
			}
			if tt.wantMsg != "" && a.Envelope.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", a.Envelope.Message, tt.wantMsg)
			}
			if tt.wantCode != 200 {
				return
			}
			var p struct {
				Key       string `json:"key"`
				SourceKey string `json:"source_key"`
				Source    struct {
					Key string `json:"key"`
				} `json:"source"`
			}
			if err := json.Unmarshal(a.Envelope.Data, &p); err != nil {
				t.Fatal(err)
			}
			if p.SourceKey != srcKey || p.Source.Key != srcKey || p.Key == "" {
				t.Errorf("key %q source_key %q source.key %q", p.Key, p.SourceKey, p.Source.Key)
			}
			if want, _ := srv.Profile(srcKey, p.Key); string(want) != string(a.Envelope.Data) {
				t.Errorf("served profile differs from Profile():\n%s\n%s", a.Envelope.Data, want)
			}
		})
	}
}

func TestSampleAttachmentsServed(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	if got := srv.LoadSamples(srcKey); !slices.Equal(got, []string{hrflowtest.SampleProfileKey, hrflowtest.SampleFixtureKey}) {
		t.Fatalf("LoadSamples = %v", got)
	}
	a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleProfileKey))
	var p struct {
		Attachments []struct {
			Type      string `json:"type"`
			PublicURL string `json:"public_url"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(a.Envelope.Data, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 2 {
		t.Fatalf("attachments: %+v", p.Attachments)
	}
	origin := strings.TrimSuffix(srv.URL(), "/v1")
	for _, att := range p.Attachments {
		if want := origin + "/files/" + srcKey + "/" + hrflowtest.SampleProfileKey + "/" + att.Type + ".pdf"; att.PublicURL != want {
			t.Errorf("public_url %q, want %q", att.PublicURL, want)
		}
		d := do(t, att.PublicURL, http.Header{}) // no credentials: public
		if d.Status != http.StatusOK || d.ContentType != "application/pdf" || !strings.HasPrefix(string(d.Body), "%PDF-1.4") {
			t.Errorf("download %s: %d %s %.20q", att.PublicURL, d.Status, d.ContentType, d.Body)
		}
		if !strings.Contains(string(d.Body), "(Harry Potter)") {
			t.Errorf("resume does not name the candidate: %s", d.Body)
		}
	}
	if got := srv.Downloads(); got != 2 {
		t.Errorf("Downloads() = %d, want 2", got)
	}

	for _, u := range []string{
		origin + "/files/" + srcKey + "/" + hrflowtest.SampleProfileKey + "/cover.pdf",
		origin + "/files/" + srcKey + "/" + hrflowtest.SampleFixtureKey + "/resume.pdf",
		origin + "/files/other/" + hrflowtest.SampleProfileKey + "/resume.pdf",
	} {
		if d := do(t, u, http.Header{}); d.Status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", u, d.Status)
		}
	}
	if srv.RemoveProfile(srcKey, hrflowtest.SampleProfileKey) != true {
		t.Fatal("RemoveProfile = false")
	}
	if d := do(t, p.Attachments[0].PublicURL, http.Header{}); d.Status != http.StatusNotFound {
		t.Errorf("removed profile's attachment: status %d", d.Status)
	}
	if a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleProfileKey)); a.Status != 400 {
		t.Errorf("removed profile: status %d", a.Status)
	}
	if srv.RemoveProfile(srcKey, hrflowtest.SampleProfileKey) {
		t.Error("second RemoveProfile = true")
	}
}

func TestAddProfile(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	tests := []struct {
		name    string
		profile string
		wantErr bool
	}{
		{"minimal", `{"key":"k1","reference":"r1","info":{"full_name":"A B"}}`, false},
		{"replaces", `{"key":"k1","reference":"r2","attachments":[{"type":"resume","extension":".pdf","public_url":"https://s3.example/x.pdf"}]}`, false},
		{"not an object", `[1]`, true},
		{"no key", `{"reference":"x"}`, true},
		{"bad attachments", `{"key":"k2","attachments":{}}`, true},
	}
	for _, tt := range tests { // sequential: "replaces" follows "minimal"
		key, err := srv.AddProfile("s", json.RawMessage(tt.profile))
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		if err == nil && key != "k1" {
			t.Fatalf("%s: key %q, want k1", tt.name, key)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "hrflowtest: ") {
			t.Errorf("%s: error %q lacks the package prefix", tt.name, err)
		}
	}
	raw, ok := srv.Profile("s", "k1")
	if !ok {
		t.Fatal("Profile(k1) not found")
	}
	var p struct {
		Reference   string `json:"reference"`
		SourceKey   string `json:"source_key"`
		Attachments []struct {
			PublicURL string `json:"public_url"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(srv.URL(), "/v1") + "/files/s/k1/resume.pdf"
	if p.Reference != "r2" || p.SourceKey != "s" || len(p.Attachments) != 1 || p.Attachments[0].PublicURL != want {
		t.Errorf("stored profile %s", raw)
	}
	// The old reference no longer resolves.
	if a := get(t, srv, "/profile/indexing", url.Values{"source_key": {"s"}, "reference": {"r1"}}); a.Status != 400 {
		t.Errorf("old reference: status %d", a.Status)
	}
	if _, ok := srv.Profile("s", "nope"); ok {
		t.Error("Profile(nope) found")
	}
}

// listPage lists one page of srcKey.
func listPage(t *testing.T, srv *hrflowtest.Server, q url.Values) *answer {
	t.Helper()
	if !q.Has("source_keys") {
		q.Set("source_keys", `["`+srcKey+`"]`)
	}
	return get(t, srv, "/storing/profiles", q)
}

type item struct {
	Key       string `json:"key"`
	Reference string `json:"reference"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Info      *struct {
		FullName string `json:"full_name"`
	} `json:"info"`
}

func items(t *testing.T, a *answer) []item {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("status %d: %s", a.Status, a.Body)
	}
	var out []item
	if err := json.Unmarshal(a.Envelope.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func keysOf(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func TestListProfiles(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	keys := srv.Generate(srcKey, 70, 1)
	other := srv.Generate("othersource", 5, 2)
	srv.AddSource("emptysource")
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)

	t.Run("pages ascending", func(t *testing.T) {
		t.Parallel()
		var got []string
		for page, wantCount := range []int{30, 30, 10, 0} {
			page++
			a := listPage(t, srv, url.Values{"page": {fmt.Sprint(page)}, "order_by": {"asc"}})
			want := map[string]int{"page": page, "maxPage": 3, "count": wantCount, "total": 70}
			if diff := cmp.Diff(want, a.Envelope.Meta); diff != "" {
				t.Errorf("page %d meta (-want +got):\n%s", page, diff)
			}
			got = append(got, keysOf(items(t, a))...)
		}
		if diff := cmp.Diff(keys, got); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
	})
	t.Run("default order is newest first", func(t *testing.T) {
		t.Parallel()
		got := keysOf(items(t, listPage(t, srv, url.Values{"limit": {"100"}})))
		if diff := cmp.Diff(reversed, got); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
	})
	t.Run("default limit 30", func(t *testing.T) {
		t.Parallel()
		if got := len(items(t, listPage(t, srv, url.Values{}))); got != 30 {
			t.Errorf("%d items", got)
		}
	})
	t.Run("summary without return_profile", func(t *testing.T) {
		t.Parallel()
		var raw []map[string]any
		if err := json.Unmarshal(listPage(t, srv, url.Values{"limit": {"1"}}).Envelope.Data, &raw); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for k := range raw[0] {
			fields = append(fields, k)
		}
		slices.Sort(fields)
		if diff := cmp.Diff([]string{"created_at", "key", "reference", "source_key", "updated_at"}, fields); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
	t.Run("full profiles", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"true", "True", "1"} {
			its := items(t, listPage(t, srv, url.Values{"return_profile": {v}, "limit": {"5"}}))
			if len(its) != 5 || its[0].Info == nil || its[0].Info.FullName == "" {
				t.Errorf("return_profile=%s: %+v", v, its)
			}
		}
	})
	t.Run("sort by updated_at", func(t *testing.T) {
		t.Parallel()
		its := items(t, listPage(t, srv, url.Values{"sort_by": {"updated_at"}, "order_by": {"asc"}, "limit": {"100"}}))
		if len(its) != 70 || !slices.IsSortedFunc(its, func(a, b item) int { return strings.Compare(a.UpdatedAt, b.UpdatedAt) }) {
			t.Errorf("not sorted by updated_at: %v", its)
		}
	})
	t.Run("created_at filters", func(t *testing.T) {
		t.Parallel()
		all := items(t, listPage(t, srv, url.Values{"order_by": {"asc"}, "limit": {"100"}}))
		day := all[40].CreatedAt[:10]
		its := items(t, listPage(t, srv, url.Values{"created_at_min": {day}, "created_at_max": {day}, "limit": {"100"}}))
		if len(its) == 0 {
			t.Fatal("no profile created on", day)
		}
		for _, it := range its {
			if it.CreatedAt[:10] != day {
				t.Errorf("%s created %s, outside %s", it.Key, it.CreatedAt, day)
			}
		}
		want := 0
		for _, it := range all {
			if it.CreatedAt[:10] == day {
				want++
			}
		}
		if len(its) != want {
			t.Errorf("%d profiles on %s, want %d", len(its), day, want)
		}
	})
	t.Run("several sources", func(t *testing.T) {
		t.Parallel()
		a := listPage(t, srv, url.Values{"source_keys": {`["othersource","emptysource","othersource"]`}, "order_by": {"asc"}})
		if diff := cmp.Diff(other, keysOf(items(t, a))); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		if a.Envelope.Meta["total"] != 5 {
			t.Errorf("meta %v", a.Envelope.Meta)
		}
		mixed := listPage(t, srv, url.Values{"source_keys": {`["othersource","` + srcKey + `"]`}, "limit": {"100"}, "order_by": {"asc"}})
		its := items(t, mixed)
		if len(its) != 75 || !slices.IsSortedFunc(its, func(a, b item) int { return strings.Compare(a.CreatedAt, b.CreatedAt) }) {
			t.Errorf("two sources: %d items, sorted: %v", len(its), slices.IsSortedFunc(its, func(a, b item) int { return strings.Compare(a.CreatedAt, b.CreatedAt) }))
		}
	})
	t.Run("empty source", func(t *testing.T) {
		t.Parallel()
		a := listPage(t, srv, url.Values{"source_keys": {`["emptysource"]`}})
		if diff := cmp.Diff(map[string]int{"page": 1, "maxPage": 1, "count": 0, "total": 0}, a.Envelope.Meta); diff != "" || string(a.Envelope.Data) != "[]" {
			t.Errorf("meta (-want +got):\n%s data %s", diff, a.Envelope.Data)
		}
	})
	t.Run("past the last page", func(t *testing.T) {
		t.Parallel()
		if its := items(t, listPage(t, srv, url.Values{"page": {"9"}})); len(its) != 0 {
			t.Errorf("%d items", len(its))
		}
	})
	for _, tt := range []struct {
		name  string
		query url.Values
		want  string
	}{
		{"unknown source", url.Values{"source_keys": {`["nosuchsource"]`}}, "Invalid parameters. Unable to find object: source"},
		{"source_keys not JSON", url.Values{"source_keys": {srcKey}}, ""},
		{"no source_keys", url.Values{"source_keys": {""}}, ""},
		{"empty source_keys", url.Values{"source_keys": {"[]"}}, ""},
		{"bad page", url.Values{"page": {"0"}}, ""},
		{"bad limit", url.Values{"limit": {"x"}}, ""},
		{"bad return_profile", url.Values{"return_profile": {"maybe"}}, ""},
		{"bad order", url.Values{"order_by": {"up"}}, ""},
		{"bad sort", url.Values{"sort_by": {"scoring"}}, ""},
		{"bad date", url.Values{"created_at_min": {"yesterday"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := listPage(t, srv, tt.query)
			if a.Status != 400 || a.Envelope.Code != 400 {
				t.Fatalf("status %d: %s", a.Status, a.Body)
			}
			if tt.want != "" && a.Envelope.Message != tt.want {
				t.Errorf("message %q, want %q", a.Envelope.Message, tt.want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	const n = 2000
	cfg := hrflowtest.Config{ErrorRate: 0.2, RateLimitRate: 0.1, Seed: 42}

	// statuses sends n requests from workers goroutines and returns the statuses in answer
	// order.
	statuses := func(t *testing.T, srv *hrflowtest.Server, workers, n int) []int {
		t.Helper()
		var (
			mu  sync.Mutex
			out []int
			wg  sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				for range n / workers {
					a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleProfileKey))
					switch a.Status {
					case 429:
						if a.RetryAfter != "1" || a.Envelope.Code != 429 {
							t.Errorf("429 with Retry-After %q code %d", a.RetryAfter, a.Envelope.Code)
						}
					case 502:
						if !strings.HasPrefix(a.ContentType, "text/html") || !strings.Contains(string(a.Body), "502 Bad Gateway") {
							t.Errorf("502 %s: %s", a.ContentType, a.Body)
						}
					case 503:
						if a.Envelope.Code != 503 {
							t.Errorf("503 body %s", a.Body)
						}
					}
					mu.Lock()
					out = append(out, a.Status)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return out
	}
	count := func(xs []int) map[int]int {
		m := map[int]int{}
		for _, x := range xs {
			m[x]++
		}
		return m
	}

	srv := setup(t, cfg)
	srv.LoadSamples(srcKey)
	got := count(statuses(t, srv, 8, n))
	if e := got[502] + got[503]; e < n*15/100 || e > n*25/100 {
		t.Errorf("%d server errors of %d, want about 20%%: %v", e, n, got)
	}
	if d := got[502] - got[503]; d < -1 || d > 1 {
		t.Errorf("502 and 503 should alternate: %v", got)
	}
	if r := got[429]; r < n*6/100 || r > n*14/100 {
		t.Errorf("%d rate limited of %d, want about 10%%: %v", r, n, got)
	}
	if got[200]+got[429]+got[502]+got[503] != n {
		t.Errorf("unexpected statuses: %v", got)
	}
	stats := srv.Stats()
	for status, c := range got {
		if s := stats[hrflowtest.Stat{Path: hrflowtest.PathProfile, Status: status}]; s != c {
			t.Errorf("Stats()[%d] = %d, want %d", status, s, c)
		}
	}

	t.Run("deterministic", func(t *testing.T) {
		t.Parallel()
		a, b := setup(t, cfg), setup(t, cfg)
		a.LoadSamples(srcKey)
		b.LoadSamples(srcKey)
		sa, sb := statuses(t, a, 1, 200), statuses(t, b, 1, 200)
		if diff := cmp.Diff(sa, sb); diff != "" {
			t.Errorf("same seed, different faults (-a +b):\n%s", diff)
		}
		if !slices.ContainsFunc(sa, func(s int) bool { return s != 200 }) {
			t.Error("no fault in 200 requests")
		}
	})
	t.Run("downloads not faulted", func(t *testing.T) {
		t.Parallel()
		srv := setup(t, hrflowtest.Config{ErrorRate: 1})
		srv.LoadSamples(srcKey)
		raw, _ := srv.Profile(srcKey, hrflowtest.SampleProfileKey)
		u := publicURL(t, raw)
		for range 20 {
			if a := do(t, u, http.Header{}); a.Status != 200 {
				t.Fatalf("download status %d", a.Status)
			}
		}
		if a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleProfileKey)); a.Status < 500 {
			t.Errorf("API status %d with ErrorRate 1", a.Status)
		}
	})
	t.Run("download faults", func(t *testing.T) {
		t.Parallel()
		srv := setup(t, hrflowtest.Config{DownloadErrorRate: 1})
		srv.LoadSamples(srcKey)
		raw, _ := srv.Profile(srcKey, hrflowtest.SampleProfileKey)
		if a := do(t, publicURL(t, raw), http.Header{}); a.Status != 503 {
			t.Errorf("download status %d", a.Status)
		}
		if got := srv.Downloads(); got != 0 {
			t.Errorf("Downloads() = %d", got)
		}
	})
}

func publicURL(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var p struct {
		Attachments []struct {
			PublicURL string `json:"public_url"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || len(p.Attachments) == 0 {
		t.Fatalf("no attachment (%v): %s", err, raw)
	}
	return p.Attachments[0].PublicURL
}

func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 50 * time.Millisecond
	srv := setup(t, hrflowtest.Config{Latency: latency})
	srv.LoadSamples(srcKey)
	start := time.Now()
	if a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleProfileKey)); a.Status != 200 {
		t.Fatalf("status %d", a.Status)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("answered in %s, before the %s latency", d, latency)
	}
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	if a := get(t, srv, "/jobs/searching", nil); a.Status != 404 || a.Envelope.Code != 404 {
		t.Errorf("status %d: %s", a.Status, a.Body)
	}
	if got := srv.Stats()[hrflowtest.Stat{Path: hrflowtest.PathOther, Status: 404}]; got != 1 {
		t.Errorf("Stats()[other 404] = %d", got)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []hrflowtest.Config{
		{ErrorRate: -0.1},
		{RateLimitRate: 1.5},
		{DownloadErrorRate: 2},
		{ErrorRate: 0.6, RateLimitRate: 0.6},
		{Latency: -time.Second},
	} {
		if srv, err := hrflowtest.Listen("127.0.0.1:0", cfg); err == nil {
			srv.Close()
			t.Errorf("Listen(%+v) accepted an invalid config", cfg)
		}
	}
	srv, err := hrflowtest.Listen("127.0.0.1:0", hrflowtest.Config{APIKey: secret.Value(testKey), UserEmail: testEmail})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.LoadSamples(srcKey)
	if a := get(t, srv, "/profile/indexing", profileQuery(hrflowtest.SampleFixtureKey)); a.Status != 200 {
		t.Errorf("Listen server: status %d", a.Status)
	}
	busy := strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "http://"), "/v1")
	if _, err := hrflowtest.Listen(busy, hrflowtest.Config{}); err == nil {
		t.Error("Listen on a busy address succeeded")
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			keys := srv.Generate(srcKey, 50, int64(i))
			for _, k := range keys[:10] {
				if a := get(t, srv, "/profile/indexing", profileQuery(k)); a.Status != 200 {
					t.Errorf("get %s: %d", k, a.Status)
				}
				srv.RemoveProfile(srcKey, k)
			}
			listPage(t, srv, url.Values{"return_profile": {"true"}})
		})
	}
	wg.Wait()
	if total := listPage(t, srv, url.Values{}).Envelope.Meta["total"]; total != 4*40 {
		t.Errorf("total %d, want %d", total, 4*40)
	}
}

// TestTouchProfile: a touched profile comes first when listing by updated_at, newest first,
// with the new time in both the list summary and the full profile.
func TestTouchProfile(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	keys := srv.Generate(srcKey, 10, 1)
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	if !srv.TouchProfile(srcKey, keys[3], at) {
		t.Fatal("TouchProfile: profile not found")
	}
	if srv.TouchProfile(srcKey, "nope", at) || srv.TouchProfile("nosource", keys[3], at) {
		t.Error("TouchProfile reports an unknown profile or source as found")
	}
	for _, full := range []string{"false", "true"} {
		got := items(t, listPage(t, srv, url.Values{"sort_by": {"updated_at"}, "order_by": {"desc"}, "return_profile": {full}}))
		if len(got) != 10 || got[0].Key != keys[3] || got[0].UpdatedAt != "2030-05-06T07:08:09+0000" {
			t.Errorf("return_profile=%s: first of %d is %s updated %s, want %s updated 2030-05-06T07:08:09+0000", full, len(got), got[0].Key, got[0].UpdatedAt, keys[3])
		}
	}
}
