package hrflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
)

// FuzzProfileDecode checks readProfile, the decoder of every profile the client returns:
// it never panics, it accepts what encoding/json accepts and decodes it to the same profile,
// and a profile it accepts keeps its exact bytes in Raw, answers Resume and URLs.Get, and
// encodes to JSON that decodes again, into a profile whose encoding is stable.
func FuzzProfileDecode(f *testing.F) {
	for _, seed := range profileSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodeProfile(data)
		// readProfile decodes with json v2 and encoding/json's semantics: encoding/json is the
		// reference (a null is a profile to it and none to readProfile).
		var want Profile
		wantErr := json.Unmarshal(data, &want)
		switch isNull := string(bytes.Trim(data, " \t\r\n")) == "null"; {
		case (err == nil) != (wantErr == nil && !isNull):
			t.Fatalf("decodeProfile error %v, encoding/json error %v", err, wantErr)
		case err == nil:
			want.Raw = p.Raw
			if diff := cmp.Diff(&want, p); diff != "" {
				t.Fatalf("decodeProfile and encoding/json differ (-encoding/json +decodeProfile):\n%s", diff)
			}
		}
		if err != nil {
			if p != nil {
				t.Fatalf("decodeProfile returned a profile and the error %v", err)
			}
			return
		}
		if p == nil {
			t.Fatal("decodeProfile returned neither a profile nor an error")
		}
		if !bytes.Equal(p.Raw, bytes.Trim(data, " \t\r\n")) {
			t.Fatalf("Raw = %q, want the decoded bytes %q", p.Raw, data)
		}
		checkResume(t, p)
		checkURLs(t, p.Info.URLs)
		for name, tm := range profileTimes(p) {
			if tm.Raw != "" && !tm.IsZero() {
				t.Fatalf("%s is both a time (%v) and the unparsed %q", name, tm.Time, tm.Raw)
			}
		}

		// A profile built or changed in Go has no Raw and is encoded from its fields (jq's
		// $profile, test fixtures): the encoding must decode again. The first encoding may lose
		// what the model cannot say twice (sub-second times, the 1969-12-31 sentinel given as a
		// number), after which it is a fixed point.
		enc1 := encodeProfile(t, p)
		p2, err := decodeProfile(enc1)
		if err != nil {
			t.Fatalf("decode the encoded profile %s: %v", enc1, err)
		}
		enc2 := encodeProfile(t, p2)
		p3, err := decodeProfile(enc2)
		if err != nil {
			t.Fatalf("decode the re-encoded profile %s: %v", enc2, err)
		}
		if enc3 := encodeProfile(t, p3); !bytes.Equal(enc2, enc3) {
			t.Fatalf("the encoding is not stable:\n%s\n%s", enc2, enc3)
		}
	})
}

// decodeProfile decodes data, one JSON value and nothing else, with readProfile.
func decodeProfile(data []byte) (*Profile, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(data), decodeOptions) // as Client.do decodes
	p, err := readProfile(dec, data)
	switch {
	case err != nil:
		return nil, err
	case p == nil:
		return nil, errors.New("no profile")
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("data after the profile (%v)", err)
	}
	return p, nil
}

// checkResume checks that Resume returns the first attachment of type resume with a public URL.
func checkResume(t *testing.T, p *Profile) {
	t.Helper()
	r := p.Resume()
	for i := range p.Attachments {
		a := &p.Attachments[i]
		if a.Type == "resume" && a.PublicURL != "" {
			if r != a {
				t.Fatalf("Resume() = %+v, want attachment %d %+v", r, i, *a)
			}
			return
		}
	}
	if r != nil {
		t.Fatalf("Resume() = %+v for a profile without a resume", *r)
	}
}

// checkURLs checks that Get returns the first non-empty URL of a type, in any case.
func checkURLs(t *testing.T, urls URLs) {
	t.Helper()
	types := []string{"linkedin", "LinkedIn", "github", "twitter", "facebook", "from_resume", ""}
	for _, u := range urls {
		types = append(types, u.Type, strings.ToUpper(u.Type))
	}
	for _, typ := range types {
		want := ""
		for _, u := range urls {
			if strings.EqualFold(u.Type, typ) && u.URL != "" {
				want = u.URL
				break
			}
		}
		if got := urls.Get(typ); got != want {
			t.Fatalf("URLs.Get(%q) = %q, want %q", typ, got, want)
		}
	}
}

// profileTimes returns the times of a profile by JSON path.
func profileTimes(p *Profile) map[string]Time {
	m := map[string]Time{
		"created_at": p.CreatedAt, "updated_at": p.UpdatedAt, "archived_at": p.ArchivedAt,
		"info.date_birth": p.Info.DateBirth,
	}
	for i, e := range p.Experiences {
		m["experiences["+strconv.Itoa(i)+"].date_start"], m["experiences["+strconv.Itoa(i)+"].date_end"] = e.DateStart, e.DateEnd
	}
	for i, e := range p.Educations {
		m["educations["+strconv.Itoa(i)+"].date_start"], m["educations["+strconv.Itoa(i)+"].date_end"] = e.DateStart, e.DateEnd
	}
	for i, a := range p.Attachments {
		m["attachments["+strconv.Itoa(i)+"].created_at"], m["attachments["+strconv.Itoa(i)+"].updated_at"] = a.CreatedAt, a.UpdatedAt
	}
	return m
}

func encodeProfile(t *testing.T, p *Profile) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("encode profile: %v", err)
	}
	return b
}

// profileSeeds are the sample profiles of testdata and variations of the members the model
// decodes leniently: location fields, URLs and dates in every shape HrFlow has sent, and values
// of the wrong type.
func profileSeeds(f *testing.F) [][]byte {
	f.Helper()
	envelope, err := os.ReadFile(filepath.Join("testdata", "hrflow-profile-get-response.sample.json"))
	if err != nil {
		f.Fatal(err)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		f.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "hrflow-profile-index-payload.sdk-fixture.json"))
	if err != nil {
		f.Fatal(err)
	}
	base := []byte(env.Data)
	seeds := [][]byte{
		base, fixture, envelope,
		nil, []byte("null"), []byte("{}"), []byte("[]"), []byte(`"profile"`), []byte("{"), []byte(`{"key":"k"} {}`),
		[]byte(`{"info":{"urls":{"linkedin":"linkedin.com/in/x","github":null}},"attachments":[{"type":"resume","public_url":"u"}]}`),
		[]byte(`{"info":{"location":{"fields":[]}},"experiences":[{"date_start":"2020","date_end":null}]}`),
	}

	variations := []struct {
		path   string
		values []string
	}{
		{"info.location.fields", []string{`[]`, `{}`, `null`, `"Paris"`, `42`, `[{"city":"Paris"}]`, `{"city":12}`, `{"city":null,"country":"fra"}`}},
		{"info.urls", []string{
			`[{"type":"linkedin","url":"https://www.linkedin.com/in/x"},{"type":"LinkedIn","url":null}]`,
			`{"linkedin":"https://www.linkedin.com/in/x","github":null,"twitter":""}`,
			`null`, `42`, `"https://example.com"`, `[]`, `{}`, `[null,{"type":1}]`, `{"linkedin":1}`,
		}},
		{"info.date_birth", []string{
			`"1990-08-09T00:00:00+0000"`, `"1990-08-09T00:00:00Z"`, `"1990-08-09T00:00:00.123456789+02:00"`,
			`"1990-08-09T00:00:00"`, `"1990-08-09T00:00:00.123456"`, `"1990-08-09 00:00:00"`, `"1990-08-09"`,
			`"1990-08"`, `"1990"`, `"1969-12-31"`, `"1969-12-31T00:00:00+0000"`, `" 1990-08-09 "`, `""`, `null`,
			`"09/08/1990"`, `"0000-01-01"`, `"9999-12-31T23:59:59-2359"`, `650160000`, `650160000.5`, `-86400`, `0`,
			`1e300`, `-1e300`, `650160000000`, `1e999`, `true`, `[]`, `{}`,
		}},
		{"experiences", []string{`null`, `{}`, `[]`, `[null]`, `[{"date_start":"2018-01","date_end":"1969-12-31"}]`, `[{"date_end":1530403200}]`}},
		{"attachments", []string{`null`, `[{"type":"resume","public_url":""},{"type":"resume","public_url":"https://x/cv.pdf"}]`, `[{"type":"RESUME","public_url":"u","file_size":1.5}]`}},
		{"skills", []string{`[{"name":"Go","value":{"nested":[1,"two",null]}}]`, `[{"name":3}]`, `null`}},
		{"info.email", []string{`42`, `null`, `"\u00e9\ud83d\ude00"`}},
		{"id", []string{`"104523"`, `1.5`, `-1`, `9223372036854775808`}},
		{"labels", []string{`[1,{"a":[]},null]`, `"label"`}},
		{"experiences_duration", []string{`"0.7"`, `-1`, `1e308`}},
	}
	for _, v := range variations {
		for _, value := range v.values {
			seeds = append(seeds, withMember(f, base, v.path, value))
		}
	}
	return seeds
}

// withMember returns the JSON object doc with the member at the dotted path set to value.
func withMember(f *testing.F, doc []byte, path, value string) []byte {
	f.Helper()
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		f.Fatal(err)
	}
	keys := strings.Split(path, ".")
	m := root
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			f.Fatalf("no object at %s in the seed", k)
		}
		m = next
	}
	m[keys[len(keys)-1]] = json.RawMessage(value)
	b, err := json.Marshal(root)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// BenchmarkProfileDecode decodes a Profile API answer (the sample in testdata) as the client
// does each profile it reads: the envelope and the profile in one pass.
func BenchmarkProfileDecode(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "hrflow-profile-get-response.sample.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p *Profile
		if _, err := decodeEnvelope(body, func(dec *jsontext.Decoder, body []byte) (err error) {
			p, err = readProfile(dec, body)
			return err
		}); err != nil || p == nil {
			b.Fatalf("profile %v, error %v", p, err)
		}
	}
}
