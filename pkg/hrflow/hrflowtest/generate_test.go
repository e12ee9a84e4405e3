package hrflowtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	a, b := setup(t, hrflowtest.Config{}), setup(t, hrflowtest.Config{})
	keysA, keysB := a.Generate(srcKey, 50, 7), b.Generate(srcKey, 50, 7)
	if diff := cmp.Diff(keysA, keysB); diff != "" {
		t.Fatalf("same seed, different keys (-a +b):\n%s", diff)
	}
	originA, originB := strings.TrimSuffix(a.URL(), "/v1"), strings.TrimSuffix(b.URL(), "/v1")
	for _, k := range keysA {
		pa, _ := a.Profile(srcKey, k)
		pb, _ := b.Profile(srcKey, k)
		// The servers differ only in the origin attachments point at.
		if !bytes.Equal(bytes.ReplaceAll(pa, []byte(originA), []byte(originB)), pb) {
			t.Fatalf("profile %s differs:\n%s\n%s", k, pa, pb)
		}
	}
	if other := a.Generate(srcKey, 50, 8); slices.ContainsFunc(other, func(k string) bool { return slices.Contains(keysA, k) }) {
		t.Error("another seed generated the same keys")
	}
	// Generating again with a seed replaces its profiles.
	a.Generate(srcKey, 50, 7)
	if total := listPage(t, a, url.Values{}).Envelope.Meta["total"]; total != 100 {
		t.Errorf("total %d after regenerating, want 100", total)
	}
}

// TestGenerateVaried checks that generated profiles cover the shapes the client must handle,
// and that every one decodes into hrflow.Profile.
func TestGenerateVaried(t *testing.T) {
	t.Parallel()
	const n = 1000
	srv := setup(t, hrflowtest.Config{})
	keys := srv.Generate(srcKey, n, 1)

	hexKey := regexp.MustCompile(`^[0-9a-f]{40}$`)
	seen := map[string]int{}
	emails := map[string]bool{}
	keySet := map[string]bool{}
	for _, k := range keys {
		if !hexKey.MatchString(k) {
			t.Fatalf("key %q is not 40 hex digits", k)
		}
		keySet[k] = true
		raw, ok := srv.Profile(srcKey, k)
		if !ok {
			t.Fatalf("Profile(%s) not found", k)
		}
		var p hrflow.Profile
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("profile %s does not decode: %v\n%s", k, err, raw)
		}
		var shape struct {
			Info struct {
				Location struct {
					Fields json.RawMessage `json:"fields"`
				} `json:"location"`
				URLs json.RawMessage `json:"urls"`
			} `json:"info"`
			Experiences []struct {
				DateStart string  `json:"date_start"`
				DateEnd   *string `json:"date_end"`
			} `json:"experiences"`
		}
		if err := json.Unmarshal(raw, &shape); err != nil {
			t.Fatal(err)
		}

		if p.Key != k || p.SourceKey != srcKey || p.Info.FirstName == "" || p.Info.LastName == "" ||
			p.Info.FullName != p.Info.FirstName+" "+p.Info.LastName || p.CreatedAt.IsZero() || p.UpdatedAt.Before(p.CreatedAt.Time) {
			t.Fatalf("profile %s lacks identity fields: %+v", k, p)
		}
		if p.Info.Email == "" {
			seen["no email"]++
		} else if emails[p.Info.Email] {
			t.Errorf("email %s used twice", p.Info.Email)
		} else {
			emails[p.Info.Email] = true
		}
		if p.Info.DateBirth.IsZero() {
			seen["no birth date"]++
		}
		if p.Info.Phone != "" {
			seen["phone"]++
		}
		if string(shape.Info.Location.Fields) == "[]" {
			seen["fields []"]++
		} else {
			seen["country "+p.Info.Location.Fields.Country]++
			if p.Info.Location.Fields.City == "" || p.Info.Location.Fields.Postcode == "" {
				t.Errorf("profile %s: location fields %+v", k, p.Info.Location.Fields)
			}
		}
		if bytes.HasPrefix(shape.Info.URLs, []byte("{")) {
			seen["urls object"]++
		}
		if p.Info.URLs.Get("linkedin") != "" {
			seen["linkedin"]++
		}
		if strings.ContainsFunc(p.Info.FullName, func(r rune) bool { return r > 127 }) {
			seen["non-ASCII name"]++
		}
		seen["experiences "+strconv.Itoa(len(p.Experiences))]++
		seen["educations "+strconv.Itoa(len(p.Educations))]++
		for i, x := range shape.Experiences {
			if x.DateEnd == nil {
				seen["ongoing"]++
				if i != 0 {
					t.Errorf("profile %s: experience %d ongoing but not the latest", k, i)
				}
			}
			if strings.HasSuffix(x.DateStart, "+0000") {
				seen["date with zone"]++
			} else {
				seen["date without zone"]++
			}
			if p.Experiences[i].DateStart.IsZero() {
				t.Errorf("profile %s: experience date %q not parsed", k, x.DateStart)
			}
		}
		for _, s := range p.Skills {
			seen["skill "+s.Type]++
		}
		if len(p.Tags) > 0 {
			seen["tags"]++
		}
		if r := p.Resume(); r != nil {
			seen["resume"]++
			if !strings.HasPrefix(r.PublicURL, strings.TrimSuffix(srv.URL(), "/v1")+"/files/") {
				t.Errorf("profile %s: resume url %s not served by the fake", k, r.PublicURL)
			}
		}
	}
	if len(keySet) != n {
		t.Errorf("%d distinct keys, want %d", len(keySet), n)
	}
	t.Logf("shapes: %v", seen)

	atLeast := func(what string, lo int) {
		t.Helper()
		if seen[what] < lo {
			t.Errorf("%q: %d of %d profiles, want at least %d", what, seen[what], n, lo)
		}
	}
	atMost := func(what string, hi int) {
		t.Helper()
		if seen[what] > hi {
			t.Errorf("%q: %d of %d profiles, want at most %d", what, seen[what], n, hi)
		}
	}
	atLeast("no email", 5) // about 1 in 50
	atMost("no email", 50)
	atLeast("no birth date", 100)
	atLeast("phone", 900)
	atLeast("fields []", 50)
	atMost("fields []", 250)
	atLeast("urls object", 20)
	atMost("urls object", 100)
	atLeast("linkedin", 700)
	atLeast("non-ASCII name", 50)
	for _, c := range []string{"FRA", "GBR", "USA", "AUS", "DEU", "CAN"} {
		atLeast("country "+c, 30)
	}
	for i := range 5 {
		atLeast("experiences "+strconv.Itoa(i), 100)
	}
	for i := range 4 {
		atLeast("educations "+strconv.Itoa(i), 100)
	}
	atLeast("ongoing", 200)
	atLeast("date with zone", 300)
	atLeast("date without zone", 300)
	atLeast("skill hard", n*2)
	atLeast("skill soft", 500)
	atLeast("tags", 700)
	atLeast("resume", 850)
	atMost("resume", 960)
}

func TestGeneratedResume(t *testing.T) {
	t.Parallel()
	srv := setup(t, hrflowtest.Config{})
	for _, k := range srv.Generate(srcKey, 30, 3) {
		raw, _ := srv.Profile(srcKey, k)
		var p hrflow.Profile
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		r := p.Resume()
		if r == nil {
			continue
		}
		a := do(t, r.PublicURL, http.Header{})
		if a.Status != 200 || a.ContentType != "application/pdf" {
			t.Fatalf("%s: %d %s", r.PublicURL, a.Status, a.ContentType)
		}
		if int64(len(a.Body)) != r.FileSize {
			t.Errorf("file_size %d, served %d bytes", r.FileSize, len(a.Body))
		}
		checkPDF(t, a.Body)
		if !bytes.Contains(a.Body, []byte("(Profile "+k+")")) {
			t.Errorf("resume of %s does not name its profile", k)
		}
	}
}

// checkPDF verifies the PDF's cross-reference table: each offset must point at its object, and
// startxref at the table.
func checkPDF(t *testing.T, pdf []byte) {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF: %q", pdf)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(pdf)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(pdf[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(pdf[xref:], -1)
	if len(entries) != 5 {
		t.Fatalf("%d xref entries, want 5", len(entries))
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		if want := strconv.Itoa(i+1) + " 0 obj"; !bytes.HasPrefix(pdf[off:], []byte(want)) {
			t.Errorf("xref entry %d: offset %d does not start %q", i+1, off, want)
		}
	}
	loc := regexp.MustCompile(`/Length (\d+) >>\nstream\n`).FindSubmatchIndex(pdf)
	if loc == nil {
		t.Fatal("no content stream")
	}
	length, _ := strconv.Atoi(string(pdf[loc[2]:loc[3]]))
	if !bytes.HasPrefix(pdf[loc[1]+length:], []byte("endstream")) {
		t.Errorf("stream /Length %d does not end at endstream", length)
	}
}
