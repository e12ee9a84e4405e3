package bullhorn

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCases are HrFlow profiles in testdata (copies of the samples in the project's specs)
// and the golden file of their format.
var goldenCases = []struct{ profile, golden string }{
	{"profile-get-response.json", "profile-get-response.golden.json"},
	{"profile-sdk-fixture.json", "profile-sdk-fixture.golden.json"},
}

// loadProfile reads a profile, bare or in HrFlow's {"data": ...} envelope.
func loadProfile(t *testing.T, name string) *hrflow.Profile {
	t.Helper()
	b, err := hrflowtest.ReadProfile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := new(hrflow.Profile)
	if err := json.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFormatGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			got, err := json.MarshalIndent(Format(loadProfile(t, tc.profile)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Format (-want +got):\n%s\nrun go test -update to accept", diff)
			}
		})
	}
}

// TestFormatPayload checks that Format's output is a payload the target accepts.
func TestFormatPayload(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		p, err := parsePayload(Format(loadProfile(t, tc.profile)))
		if err != nil {
			t.Errorf("%s: %v", tc.profile, err)
			continue
		}
		if _, ok := p.candidate["id"]; ok {
			t.Errorf("%s: the candidate sets id", tc.profile)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	date := hrflow.ParseTime
	ms := func(s string) int64 { return date(s).UnixMilli() }
	tests := []struct {
		name    string
		profile hrflow.Profile
		want    map[string]any
	}{{
		name:    "empty profile",
		profile: hrflow.Profile{},
		want:    map[string]any{"source": "HrFlow"},
	}, {
		name: "names from the full name, trimmed",
		profile: hrflow.Profile{Info: hrflow.Info{
			FullName: " Hermione Jean  Granger ", Email: " hermione@example.com ", Phone: "  ",
		}},
		want: map[string]any{
			"name": "Hermione Jean  Granger", "firstName": "Hermione", "lastName": "Jean Granger",
			"email": "hermione@example.com", "source": "HrFlow",
		},
	}, {
		name:    "name from first and last names",
		profile: hrflow.Profile{Info: hrflow.Info{FirstName: "Ron", LastName: "Weasley"}},
		want:    map[string]any{"name": "Ron Weasley", "firstName": "Ron", "lastName": "Weasley", "source": "HrFlow"},
	}, {
		name: "dates in epoch milliseconds",
		profile: hrflow.Profile{Info: hrflow.Info{DateBirth: date("1980-07-31T00:00:00+0000")},
			ExperiencesDuration: 12.9},
		want: map[string]any{"dateOfBirth": int64(333849600000), "experience": 12, "source": "HrFlow"},
	}, {
		name: "address without country",
		profile: hrflow.Profile{Info: hrflow.Info{Location: hrflow.Location{Fields: hrflow.LocationFields{
			Road: "Privet Drive", HouseNumber: "4", City: "Little Whinging", State: "Surrey", Postcode: "KT1", Country: "GBR",
		}}}},
		want: map[string]any{"source": "HrFlow", "address": map[string]any{
			"address1": "4 Privet Drive", "city": "Little Whinging", "state": "Surrey", "zip": "KT1",
		}},
	}, {
		name: "phone compacted to fit, skills without duplicates, text as description",
		profile: hrflow.Profile{
			Info:   hrflow.Info{Phone: "+44 (0) 20 7946 0000 00", Summary: "Seeker"},
			Skills: []hrflow.Skill{{Name: "Potions"}, {Name: " potions "}, {Name: ""}, {Name: "Quidditch"}},
			Text:   "Harry Potter resume",
		},
		want: map[string]any{
			"mobile": "+440207946000000", "skillSet": "Potions, Quidditch", "description": "Harry Potter resume",
			"source": "HrFlow",
		},
	}, {
		name: "work histories with the latest ongoing as the last job",
		profile: hrflow.Profile{Experiences: []hrflow.Experience{
			{Key: "k1", Company: "Ministry", Title: "Auror", DateStart: date("2005-09-01"), DateEnd: date("2010-01-31")},
			{Company: "Hogwarts", Title: "Teacher", DateStart: date("2010-02-01")},
			{Company: "Daily Prophet", Title: strings.Repeat("Editor ", 10), DateStart: date("2012-05-01T00:00:00+0000")},
			{Description: "  "},
		}},
		want: map[string]any{"source": "HrFlow", "workHistories": []any{
			map[string]any{"key": "k1", "companyName": "Ministry", "title": "Auror", "isLastJob": false,
				"startDate": ms("2005-09-01"), "endDate": ms("2010-01-31")},
			map[string]any{"companyName": "Hogwarts", "title": "Teacher", "isLastJob": false, "startDate": ms("2010-02-01")},
			map[string]any{"companyName": "Daily Prophet", "title": strings.TrimSpace(strings.Repeat("Editor ", 8)[:50]),
				"isLastJob": true, "startDate": ms("2012-05-01")},
		}},
	}, {
		name: "educations keep their end date without a start date",
		profile: hrflow.Profile{Educations: []hrflow.Education{
			{School: "Hogwarts", Title: "NEWT", Description: "Charms", DateEnd: date("1998-06-30"),
				Location: hrflow.Location{Text: "Highlands, Scotland"}},
			{Title: "Apparition licence", Location: hrflow.Location{Fields: hrflow.LocationFields{City: "London"}}},
			{},
		}},
		want: map[string]any{"source": "HrFlow", "educations": []any{
			map[string]any{"school": "Hogwarts", "degree": "NEWT", "comments": "Charms", "city": "Highlands, Scotland",
				"endDate": ms("1998-06-30")},
			map[string]any{"degree": "Apparition licence", "city": "London"},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Format(&tt.profile)); diff != "" {
				t.Errorf("Format (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatLimits(t *testing.T) {
	t.Parallel()
	got := Format(&hrflow.Profile{
		Info: hrflow.Info{
			FirstName: strings.Repeat("é", 60), LastName: strings.Repeat("ü", 60),
			Email: strings.Repeat("a", 95) + "@example.com", Phone: strings.Repeat("0", 21),
			Location: hrflow.Location{Fields: hrflow.LocationFields{City: strings.Repeat("c", 60), Postcode: strings.Repeat("9", 20)}},
		},
		Experiences: []hrflow.Experience{{Company: strings.Repeat("x", 120), Title: strings.Repeat("t", 60)}},
		Educations:  []hrflow.Education{{School: strings.Repeat("s", 120), Location: hrflow.Location{Text: strings.Repeat("c", 60)}}},
	})
	address := got["address"].(map[string]any)
	wh := got["workHistories"].([]any)[0].(map[string]any)
	ed := got["educations"].([]any)[0].(map[string]any)
	for name, tc := range map[string]struct {
		value any
		max   int
	}{
		"firstName": {got["firstName"], 50}, "lastName": {got["lastName"], 50},
		"address.city": {address["city"], 40}, "address.zip": {address["zip"], 15},
		"workHistory.companyName": {wh["companyName"], 100}, "workHistory.title": {wh["title"], 50},
		"education.school": {ed["school"], 100}, "education.city": {ed["city"], 40},
	} {
		if n := utf8.RuneCountInString(tc.value.(string)); n != tc.max {
			t.Errorf("%s has %d runes, want %d", name, n, tc.max)
		}
	}
	for _, key := range []string{"email", "mobile"} {
		if v, ok := got[key]; ok {
			t.Errorf("%s %q too long for Bullhorn is sent", key, v)
		}
	}
}

func TestFormatDatesAreMilliseconds(t *testing.T) {
	t.Parallel()
	got := Format(loadProfile(t, "profile-get-response.json"))
	birth := time.UnixMilli(got["dateOfBirth"].(int64)).UTC()
	if want := time.Date(1990, 8, 9, 0, 0, 0, 0, time.UTC); !birth.Equal(want) {
		t.Errorf("dateOfBirth is %v, want %v", birth, want)
	}
	for _, member := range []string{keyEducations, keyWorkHistories} {
		for _, r := range got[member].([]any) {
			for _, field := range []string{"startDate", "endDate"} {
				if v, ok := r.(map[string]any)[field]; ok && v.(int64) < 1e11 {
					t.Errorf("%s %s = %d is not in milliseconds", member, field, v)
				}
			}
		}
	}
}
