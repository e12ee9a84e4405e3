package hrflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

// dataOf returns the exact bytes of the "data" member of an envelope.
func dataOf(t *testing.T, envelope []byte) []byte {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(envelope, env.Data)
	if start < 0 {
		t.Fatal("data not found verbatim in the envelope")
	}
	return envelope[start : start+len(env.Data)]
}

func floatPtr(f float64) *float64 { return &f }

func TestGetSamples(t *testing.T) {
	t.Parallel()
	readFile := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sample := readFile("hrflow-profile-get-response.sample.json")
	fixture := bytes.TrimSpace(readFile("hrflow-profile-index-payload.sdk-fixture.json"))
	tests := []struct {
		name     string
		envelope []byte
		wantRaw  []byte
		check    func(t *testing.T, p *hrflow.Profile)
	}{
		{
			name:     "get response sample",
			envelope: sample,
			wantRaw:  dataOf(t, sample),
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				want := hrflow.Info{
					FullName: "Harry Potter", FirstName: "Harry", LastName: "Potter",
					Email: "harry.potter@gmail.com", Phone: "+33 6 12 34 56 78",
					DateBirth: hrflow.Time{Time: time.Date(1990, 8, 9, 0, 0, 0, 0, time.UTC)},
					Location: hrflow.Location{
						Text: "18 Rue Daru, 75008 Paris, France", Lat: floatPtr(48.8771), Lng: floatPtr(2.3017),
						Fields: hrflow.LocationFields{
							City: "Paris", CityDistrict: "8e Arrondissement", Country: "FRA", HouseNumber: "18",
							Postcode: "75008", Road: "Rue Daru", State: "Ile-de-France", StateDistrict: "Paris",
							Suburb: "8e Arrondissement", Text: "18 Rue Daru, 75008 Paris, France",
						},
					},
					URLs: hrflow.URLs{
						{Type: "from_resume"}, {Type: "linkedin", URL: "https://www.linkedin.com/in/harry-potter"},
						{Type: "twitter"}, {Type: "facebook"}, {Type: "github"},
					},
					Picture: "https://riminder-documents-eu-2019-12.s3-eu-west-1.amazonaws.com/picture.png",
					Gender:  "male", Summary: "Brief summary",
				}
				if diff := cmp.Diff(want, p.Info, timeEqual); diff != "" {
					t.Errorf("Info (-want +got):\n%s", diff)
				}
				if p.Key != profileKey || p.Reference != "ats-cand-000123" || p.Source.Key != srcKey || len(p.Skills) != 4 {
					t.Errorf("profile %+v", p)
				}
				if got := p.Experiences[1]; !got.DateEnd.IsZero() || got.Location.Fields != (hrflow.LocationFields{}) ||
					!got.DateStart.Equal(time.Date(2019, 8, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("ongoing experience with [] fields: %+v", got)
				}
				if r := p.Resume(); r == nil || r.FileSize != 528305 || r.Extension != ".pdf" {
					t.Errorf("Resume() = %+v", r)
				}
			},
		},
		{
			name:     "sdk indexing fixture",
			envelope: fmt.Appendf(nil, `{"code":200,"message":"Profile details","data":%s}`, fixture),
			wantRaw:  fixture,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				if p.Info.FullName != "Harry James Potter" || p.Info.DrivingLicense != "Class B" ||
					p.Info.URLs.Get("github") != "https://github.com/Riminder" || p.Resume() != nil {
					t.Errorf("profile %+v", p)
				}
				if got := p.Educations[0].DateStart; !got.Equal(time.Date(2001, 12, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("education start %v", got)
				}
				if got := p.Experiences[0].Skills; len(got) != 1 || got[0].Value != "90/100" {
					t.Errorf("experience skills %+v", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, mux, _ := setup(t)
			mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, r *http.Request) {
				testAuth(t, r)
				want := url.Values{"source_key": {srcKey}, "key": {profileKey}}
				if diff := cmp.Diff(want, r.URL.Query()); diff != "" {
					t.Errorf("query (-want +got):\n%s", diff)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(tt.envelope)
			})
			p, resp, err := client.Profiles.Get(t.Context(), srcKey, profileKey)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
			if !bytes.Equal(p.Raw, tt.wantRaw) {
				t.Errorf("Raw is not the exact data:\n%s", p.Raw)
			}
			tt.check(t, p)
		})
	}
}

// timeEqual compares hrflow.Time by instant.
var timeEqual = cmp.Comparer(func(a, b hrflow.Time) bool { return a.Equal(b.Time) && a.Raw == b.Raw })

func TestDecodeVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		profile string
		check   func(t *testing.T, p *hrflow.Profile)
	}{
		{
			name:    "location fields as empty array",
			profile: `{"key":"k","info":{"location":{"text":"Montreal","lat":null,"lng":null,"fields":[]}}}`,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				if p.Info.Location.Fields != (hrflow.LocationFields{}) || p.Info.Location.Text != "Montreal" || p.Info.Location.Lat != nil {
					t.Errorf("location %+v", p.Info.Location)
				}
			},
		},
		{
			name:    "location fields as object",
			profile: `{"key":"k","info":{"location":{"text":"Berlin","lat":52.5,"lng":13.4,"fields":{"city":"Berlin","country":"DEU","postcode":"10115","unit":null}}}}`,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				want := hrflow.LocationFields{City: "Berlin", Country: "DEU", Postcode: "10115"}
				if p.Info.Location.Fields != want || *p.Info.Location.Lat != 52.5 {
					t.Errorf("location %+v", p.Info.Location)
				}
			},
		},
		{
			name:    "urls in the old object form",
			profile: `{"key":"k","info":{"urls":{"linkedin":"https://linkedin.com/in/x","twitter":null,"github":"https://github.com/x"}}}`,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				want := hrflow.URLs{{Type: "github", URL: "https://github.com/x"}, {Type: "linkedin", URL: "https://linkedin.com/in/x"}}
				if diff := cmp.Diff(want, p.Info.URLs); diff != "" {
					t.Errorf("urls (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:    "null dates",
			profile: `{"key":"k","created_at":null,"info":{"date_birth":null},"experiences":[{"date_start":null,"date_end":null}]}`,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				if !p.CreatedAt.IsZero() || !p.Info.DateBirth.IsZero() || !p.Experiences[0].DateStart.IsZero() || !p.Experiences[0].DateEnd.IsZero() {
					t.Errorf("dates %+v %+v", p.CreatedAt, p.Experiences[0])
				}
			},
		},
		{
			name:    "dates with and without zone",
			profile: `{"key":"k","updated_at":"2020-09-11T10:26:36+0000","experiences":[{"date_start":"2017-08-01T00:00:00","date_end":"2018-01-01T00:00:00+0000"}]}`,
			check: func(t *testing.T, p *hrflow.Profile) {
				t.Helper()
				if !p.UpdatedAt.Equal(time.Date(2020, 9, 11, 10, 26, 36, 0, time.UTC)) ||
					!p.Experiences[0].DateStart.Equal(time.Date(2017, 8, 1, 0, 0, 0, 0, time.UTC)) ||
					!p.Experiences[0].DateEnd.Equal(time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("dates %v %+v", p.UpdatedAt, p.Experiences[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, mux, _ := setup(t)
			mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, `{"code":200,"message":"Profile details","data":%s}`, tt.profile)
			})
			p, _, err := client.Profiles.Get(t.Context(), srcKey, "k")
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Raw) != tt.profile {
				t.Errorf("Raw = %s", p.Raw)
			}
			tt.check(t, p)
		})
	}
}

func TestGetArguments(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("GET /profile/indexing", func(w http.ResponseWriter, r *http.Request) {
		if diff := cmp.Diff(url.Values{"source_key": {srcKey}, "reference": {"ref 1/2"}}, r.URL.Query()); diff != "" {
			t.Errorf("query (-want +got):\n%s", diff)
		}
		fmt.Fprint(w, `{"code":200,"message":"Profile details","data":{"key":"k","reference":"ref 1/2"}}`)
	})
	if p, _, err := client.Profiles.GetByReference(t.Context(), srcKey, "ref 1/2"); err != nil || p.Reference != "ref 1/2" {
		t.Errorf("GetByReference() = %+v, %v", p, err)
	}
	for _, call := range []func() error{
		func() error { _, _, err := client.Profiles.Get(t.Context(), "", "k"); return err },
		func() error { _, _, err := client.Profiles.Get(t.Context(), srcKey, ""); return err },
		func() error { _, _, err := client.Profiles.GetByReference(t.Context(), srcKey, ""); return err },
	} {
		if err := call(); err == nil || !strings.HasPrefix(err.Error(), "hrflow: ") {
			t.Errorf("error = %v", err)
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("GET /storing/profiles", func(w http.ResponseWriter, r *http.Request) {
		testAuth(t, r)
		want := url.Values{
			"source_keys": {`["k1","k2"]`}, "page": {"2"}, "limit": {"30"}, "return_profile": {"true"},
			"order_by": {"asc"}, "sort_by": {"updated_at"}, "created_at_min": {"2024-01-02"}, "created_at_max": {"2024-03-04"},
		}
		if diff := cmp.Diff(want, r.URL.Query()); diff != "" {
			t.Errorf("query (-want +got):\n%s", diff)
		}
		fmt.Fprint(w, `{"code":200,"message":"List of profiles","meta":{"page":2,"maxPage":5,"count":2,"total":140},
			"data":[{"key":"a","reference":"ra","info":{"full_name":"A"}}, {"key":"b","reference":null}]}`)
	})
	opts := &hrflow.ListOptions{
		SourceKeys: []string{"k1", "k2"}, Page: 2, ReturnProfile: true, OrderBy: hrflow.OrderAsc, SortBy: hrflow.SortByUpdatedAt,
		CreatedAtMin: time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC), CreatedAtMax: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC),
	}
	before := *opts
	profiles, resp, err := client.Profiles.List(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&before, opts); diff != "" {
		t.Errorf("List modified opts (-before +after):\n%s", diff)
	}
	if resp.Page != 2 || resp.MaxPage != 5 || resp.Count != 2 || resp.Total != 140 {
		t.Errorf("Response pagination %+v", resp)
	}
	if len(profiles) != 2 || profiles[0].Key != "a" || profiles[0].Info.FullName != "A" || profiles[1].Key != "b" ||
		string(profiles[1].Raw) != `{"key":"b","reference":null}` {
		t.Errorf("profiles %+v", profiles)
	}
}

func TestListOptionsInvalid(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) { t.Error("invalid options reached the server") })
	for _, opts := range []*hrflow.ListOptions{
		nil,
		{},
		{SourceKeys: []string{"k"}, Page: -1},
		{SourceKeys: []string{"k"}, Limit: -1},
		{SourceKeys: []string{"k"}, OrderBy: "ascending"},
		{SourceKeys: []string{"k"}, SortBy: "scoring"},
	} {
		if _, _, err := client.Profiles.List(t.Context(), opts); err == nil || !strings.HasPrefix(err.Error(), "hrflow: ") {
			t.Errorf("List(%+v) error = %v", opts, err)
		}
		for _, err := range client.Profiles.All(t.Context(), opts) {
			if err == nil {
				t.Errorf("All(%+v) yielded a profile", opts)
			}
		}
	}
}

// fake starts a fake HrFlow server and a client for it.
func fake(t *testing.T, cfg hrflowtest.Config) (*hrflow.Client, *hrflowtest.Server) {
	t.Helper()
	cfg.APIKey, cfg.UserEmail = testSecret, testEmail
	srv := hrflowtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	client, err := hrflow.New(hrflow.WithBaseURL(srv.URL()), hrflow.WithAPISecret(testSecret), hrflow.WithUserEmail(testEmail), loopbackDownloads(t))
	if err != nil {
		t.Fatal(err)
	}
	return client, srv
}

func TestAll(t *testing.T) {
	t.Parallel()
	client, srv := fake(t, hrflowtest.Config{})
	keys := srv.Generate(srcKey, 70, 1)
	listCalls := func() int {
		return srv.Stats()[hrflowtest.Stat{Path: hrflowtest.PathProfiles, Status: http.StatusOK}]
	}

	opts := &hrflow.ListOptions{SourceKeys: []string{srcKey}, OrderBy: hrflow.OrderAsc, ReturnProfile: true}
	var got []string
	for p, err := range client.Profiles.All(t.Context(), opts) {
		if err != nil {
			t.Fatal(err)
		}
		if p.Info.FullName == "" {
			t.Errorf("profile %s without a name: return_profile not honoured", p.Key)
		}
		got = append(got, p.Key)
	}
	if diff := cmp.Diff(keys, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if n := listCalls(); n != 3 {
		t.Errorf("%d list requests for 70 profiles by 30, want 3", n)
	}
	if opts.Page != 0 {
		t.Errorf("All modified opts: Page = %d", opts.Page)
	}

	// Breaking out of the loop stops the requests.
	for range client.Profiles.All(t.Context(), opts) {
		break
	}
	if n := listCalls(); n != 4 {
		t.Errorf("%d list requests after a break on the first profile, want 4", n)
	}

	// Starting from a page.
	got = got[:0]
	for p, err := range client.Profiles.All(t.Context(), &hrflow.ListOptions{SourceKeys: []string{srcKey}, OrderBy: hrflow.OrderAsc, Page: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Key)
	}
	if diff := cmp.Diff(keys[60:], got); diff != "" {
		t.Errorf("from page 3 (-want +got):\n%s", diff)
	}
}

func TestAllEmptySource(t *testing.T) {
	t.Parallel()
	client, srv := fake(t, hrflowtest.Config{})
	srv.AddSource("empty")
	for p, err := range client.Profiles.All(t.Context(), &hrflow.ListOptions{SourceKeys: []string{"empty"}}) {
		t.Errorf("yielded %v, %v", p, err)
	}
	var n int
	for p, err := range client.Profiles.All(t.Context(), &hrflow.ListOptions{SourceKeys: []string{"nosuch"}}) {
		n++
		if p != nil || !errors.Is(err, hrflow.ErrNotFound) {
			t.Errorf("unknown source: yielded %v, %v", p, err)
		}
	}
	if n != 1 {
		t.Errorf("%d yields for an unknown source, want 1", n)
	}
}

func TestAllStopsAtError(t *testing.T) {
	t.Parallel()
	client, mux, _ := setup(t)
	var calls atomic.Int32
	mux.HandleFunc("GET /storing/profiles", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("page") == "2" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"code":200,"message":"List of profiles","meta":{"page":1,"maxPage":3,"count":1,"total":3},"data":[{"key":"a"}]}`)
	})
	var keys []string
	var errs []error
	for p, err := range client.Profiles.All(t.Context(), &hrflow.ListOptions{SourceKeys: []string{"k"}, Limit: 1}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, p.Key)
	}
	if !slices.Equal(keys, []string{"a"}) || len(errs) != 1 || calls.Load() != 2 {
		t.Errorf("keys %v errors %v after %d calls", keys, errs, calls.Load())
	}
}

func TestDownload(t *testing.T) {
	t.Parallel()
	client, mux, base := setup(t)
	mux.HandleFunc("GET /files/resume.pdf", func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"X-API-KEY", "X-USER-EMAIL", "Authorization"} {
			if v := r.Header.Get(h); v != "" {
				t.Errorf("download sent %s: %q", h, v)
			}
		}
		w.Header().Set("Content-Type", "application/pdf")
		fmt.Fprint(w, "%PDF-1.4 resume")
	})
	mux.HandleFunc("GET /files/gone.pdf", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
	})
	mux.HandleFunc("GET /files/denied.pdf", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
	})
	mux.HandleFunc("GET /files/busy.pdf", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<Error><Code>SlowDown</Code></Error>", http.StatusServiceUnavailable)
	})

	body, contentType, err := client.Download(t.Context(), base+"/files/resume.pdf")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if contentType != "application/pdf" || buf.String() != "%PDF-1.4 resume" {
		t.Errorf("Download() = %q, %q", buf.String(), contentType)
	}

	for _, tt := range []struct {
		file          string
		status        int
		wantPermanent bool
	}{
		{"gone.pdf", 404, true},
		{"denied.pdf", 403, true},
		{"busy.pdf", 503, false},
	} {
		u := base + "/files/" + tt.file + "?X-Amz-Signature=s3cr3t&X-Amz-Expires=300"
		_, _, err := client.Download(t.Context(), u)
		var de *hrflow.DownloadError
		if !errors.As(err, &de) || de.StatusCode != tt.status || de.Permanent() != tt.wantPermanent {
			t.Errorf("%s: error %v", tt.file, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "X-Amz") || !strings.Contains(err.Error(), "/files/"+tt.file) {
			t.Errorf("%s: error %q shows the query or hides the path", tt.file, err)
		}
		var cred interface{ Credentials() bool }
		if errors.As(err, &cred) {
			t.Errorf("%s: a download error claims HrFlow credentials were refused", tt.file)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, _, err := client.Download(t.Context(), closed.URL+"/r.pdf?X-Amz-Signature=s3cr3t"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("download from a closed server: error %v", err)
	}
	for _, bad := range []string{"", "/files/resume.pdf", "file:///etc/passwd", "http://%zz"} {
		if _, _, err := client.Download(t.Context(), bad); err == nil {
			t.Errorf("Download(%q) succeeded", bad)
		}
	}
}

func TestAgainstFake(t *testing.T) {
	t.Parallel()
	t.Run("sample and its resume", func(t *testing.T) {
		t.Parallel()
		client, srv := fake(t, hrflowtest.Config{})
		srv.LoadSamples(srcKey)
		p, _, err := client.Profiles.Get(t.Context(), srcKey, hrflowtest.SampleProfileKey)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := srv.Profile(srcKey, hrflowtest.SampleProfileKey); !bytes.Equal(p.Raw, want) {
			t.Errorf("Raw differs from the served profile")
		}
		body, contentType, err := client.Download(t.Context(), p.Resume().PublicURL)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(body)
		if contentType != "application/pdf" || !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Errorf("resume %q %.10q", contentType, buf.Bytes())
		}
		if srv.Downloads() != 1 {
			t.Errorf("Downloads() = %d", srv.Downloads())
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		client, srv := fake(t, hrflowtest.Config{})
		srv.LoadSamples(srcKey)
		_, _, err := client.Profiles.Get(t.Context(), srcKey, strings.Repeat("a", 40))
		var er *hrflow.ErrorResponse
		if !errors.Is(err, hrflow.ErrNotFound) || !errors.As(err, &er) || !er.Permanent() {
			t.Errorf("error %v", err)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		t.Parallel()
		_, srv := fake(t, hrflowtest.Config{})
		srv.LoadSamples(srcKey)
		client, err := hrflow.New(hrflow.WithBaseURL(srv.URL()), hrflow.WithAPISecret("wrong-secret"), hrflow.WithUserEmail(testEmail))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = client.Profiles.Get(t.Context(), srcKey, hrflowtest.SampleProfileKey)
		var er *hrflow.ErrorResponse
		if !errors.As(err, &er) || !er.Credentials() || er.Permanent() {
			t.Errorf("error %v", err)
		}
	})
	t.Run("faults", func(t *testing.T) {
		t.Parallel()
		client, srv := fake(t, hrflowtest.Config{ErrorRate: 0.5, RateLimitRate: 0.5, Seed: 3})
		srv.LoadSamples(srcKey)
		seen := map[string]int{}
		for range 40 {
			_, _, err := client.Profiles.Get(t.Context(), srcKey, hrflowtest.SampleProfileKey)
			var rl *hrflow.RateLimitError
			var er *hrflow.ErrorResponse
			switch {
			case errors.As(err, &rl):
				if rl.RetryAfter() != time.Second {
					t.Errorf("RetryAfter() = %s", rl.RetryAfter())
				}
				seen["429"]++
			case errors.As(err, &er) && !er.Permanent() && !er.Credentials():
				seen[fmt.Sprint(er.StatusCode)]++
				if er.StatusCode == http.StatusBadGateway && er.Message != "A generic error occurred on the server" {
					t.Errorf("502 message %q", er.Message)
				}
			default:
				t.Errorf("error %v", err)
			}
		}
		if seen["429"] == 0 || seen["502"] == 0 || seen["503"] == 0 {
			t.Errorf("faults seen: %v", seen)
		}
	})
}
