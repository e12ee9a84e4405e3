package bullhorn

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

// FuzzFormat checks that Format never panics and that whatever profile it is given, built here
// from fuzzed strings, yields a payload the target and Bullhorn accept (see checkPayload).
func FuzzFormat(f *testing.F) {
	// The arguments, in order: first, last and full name, email, phone; the birth date and the
	// start and end dates of the experiences and educations (parsed with hrflow.ParseTime);
	// house number, road, city, state, postcode and country of the address; company, title,
	// school, degree; skill names separated by commas; the profile's text; a byte of counts and
	// flags (see fuzzProfile); the years of experience.
	f.Add("Harry", "Potter", "Harry James Potter", "harry.potter@hogwarts.net", "+44 (0) 20 7946 0000 00",
		"1980-07-31T00:00:00+0000", "2005-09-01", "2010-01-31",
		"4", "Privet Drive", "Little Whinging", "Surrey", "KT1", "GBR",
		"Ministry of Magic", "Auror", "Hogwarts", "NEWT", "Potions, Quidditch, potions", "Harry Potter resume",
		uint8(0b0001_0011), 12.9)
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", uint8(0), 0.0)
	f.Add(" ", "\t", " \u00a0\u3000 ", " \n", "  ", " ", "\t", "\n", " ", " ", "\u2003", "\u00a0", " ", " ", " ", " ", " ", " ", " , ,", " ",
		uint8(0xff), 0.5)
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	f.Add(long("é", 60), long("ü", 60), long("é", 60)+" "+long("ü", 60), long("a", 95)+"@example.com", long("0", 21),
		"1990-08-09T00:00:00.123456789+02:00", "2018-01-01T00:00:00", "2018-07-01T00:00:00.999999",
		long("9", 30), long("r", 300), long("c", 300), long("s", 300), long("z", 300), "fra",
		long("C", 300), long("T", 300), long("S", 300), long("D", 300), long("skill,", 200), long("text ", 300),
		uint8(0b0111_1111), 1e6)
	// Characters outside the Basic Multilingual Plane are two UTF-16 code units each, Bullhorn's
	// (Java's) unit of length: 25 of them are 50 units, the names' limit.
	f.Add(long("𝓗", 25), long("😀", 25), "𝓗𝓪𝓻𝓻𝔂 𝓟𝓸𝓽𝓽𝓮𝓻", long("😀", 20)+"@example.com", "☎ "+long("𝟘", 9),
		"1990-08", "1990", "2000-02-29 23:59:59",
		"٤", "شارع", "東京", "Île-de-France", "〒100", " gbr ",
		"Ünïcödé GmbH", "Ingénieur\u200b", "École", "Maîtrise", "Go,go,GO,Ｇｏ", "テキスト",
		uint8(0b1010_1001), 3.0)
	f.Add("Hermione", "", "", "not an email", "+33 6 12 34 56 78 99 00 11", "1969-12-31", "1969-12-31T23:00:00+0000", "0000-01-01",
		"", "", "", "", "", "XYZ", "", "", "", "", "", "",
		uint8(0b0000_1001), -1.0)
	f.Add("", "", "Ron  Bilius\tWeasley", "", "(01)-23.45/67 89 01 23 45", "9999-12-31T23:59:59-2359", "0001-01-01T00:00:00+0100", "not a date",
		"", "", "", "", "", "FR", "", "Keeper", "", "", "", "",
		uint8(0b1001_0010), 2147483647.5)
	f.Add("", "", "", "", "", "", "2010-02-01", "", "", "", "", "", "", "", "Hogwarts", "", "", "", "", "",
		uint8(0b1000_0101), 0.0)

	f.Fuzz(func(t *testing.T, first, last, full, email, phone, birth, start, end,
		house, road, city, state, zip, country, company, title, school, degree, skills, text string,
		counts uint8, years float64,
	) {
		if math.IsInf(years, 0) || math.IsNaN(years) {
			return // not a JSON number: no profile has it
		}
		p := fuzzProfile(first, last, full, email, phone, birth, start, end,
			house, road, city, state, zip, country, company, title, school, degree, skills, text, counts, years)
		checkPayload(t, p)
	})
}

// FuzzFormatJSON is FuzzFormat with profiles decoded from fuzzed JSON, as HrFlow sends them:
// every document that decodes into an hrflow.Profile must yield a payload the target accepts.
func FuzzFormatJSON(f *testing.F) {
	for _, tc := range goldenCases {
		b, err := hrflowtest.ReadProfile(filepath.Join("testdata", tc.profile))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `null`, `[]`,
		`{"info":{"full_name":"Luna Lovegood","date_birth":650160000,"location":{"fields":[]}},"experiences_duration":7.99}`,
		`{"info":{"date_birth":"1969-12-31","location":{"fields":{"road":"The Burrow","house_number":" "}}},"text":" "}`,
		`{"experiences":[{"key":"k","company":"A","date_start":"2001","date_end":null},{"key":"k","title":"B","date_start":1230768000,"date_end":"2003-01-01T00:00:00+0000"},{"description":"C","date_end":-86400}],"educations":[{"school":"S","date_end":"1998-06","location":{"text":"Oxford"}},{}]}`,
		`{"skills":[{"name":"Go"},{"name":"go"},{"name":null},{"name":" "}],"info":{"email":"  a@b.c  ","phone":"  "},"experiences_duration":1e-300}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var p hrflow.Profile
		if err := json.Unmarshal(data, &p); err != nil {
			return // not a profile: only valid profiles must give valid payloads
		}
		checkPayload(t, &p)
	})
}

// fuzzProfile builds a profile from fuzzed values. counts holds the number of experiences
// (bits 0-2) and educations (bits 3-5), whether 150 more skills are added (bit 6) and which
// experiences are ongoing (bit 7 flips the odd ones and the even ones).
func fuzzProfile(first, last, full, email, phone, birth, start, end,
	house, road, city, state, zip, country, company, title, school, degree, skills, text string,
	counts uint8, years float64,
) *hrflow.Profile {
	p := &hrflow.Profile{
		Info: hrflow.Info{
			FirstName: first, LastName: last, FullName: full, Email: email, Phone: phone,
			DateBirth: hrflow.ParseTime(birth),
			Location: hrflow.Location{Text: city, Fields: hrflow.LocationFields{
				HouseNumber: house, Road: road, City: city, State: state, Postcode: zip, Country: country,
			}},
			Summary: title + "\n" + degree,
		},
		Text:                text,
		ExperiencesDuration: years,
	}
	for i := range int(counts & 7) {
		e := hrflow.Experience{
			Key: fmt.Sprintf("exp-%d", i), Company: company, Title: title, Description: degree,
			DateStart: hrflow.ParseTime(start),
		}
		if (i%2 == 1) == (counts&0x80 == 0) {
			e.DateEnd = hrflow.ParseTime(end)
		}
		p.Experiences = append(p.Experiences, e)
	}
	for i := range int(counts>>3) & 7 {
		e := hrflow.Education{
			School: school, Title: degree, Description: title,
			Location:  hrflow.Location{Text: city, Fields: hrflow.LocationFields{City: zip, State: state}},
			DateStart: hrflow.ParseTime(start), DateEnd: hrflow.ParseTime(end),
		}
		if i%2 == 0 {
			e.Key = fmt.Sprintf("edu-%d", i) // the others are keyed by school and start date
		}
		p.Educations = append(p.Educations, e)
	}
	for name := range strings.SplitSeq(skills, ",") {
		p.Skills = append(p.Skills, hrflow.Skill{Name: name})
	}
	if counts&0x40 != 0 {
		for i := range 150 {
			p.Skills = append(p.Skills, hrflow.Skill{Name: fmt.Sprintf("%.20s %d", skills, i)})
		}
	}
	return p
}

// bullhornField is a field of the fake's whitelist (bullhorntest/schema.go): its type and, for
// a String, its maximum length in UTF-16 code units (Java's String.length).
type bullhornField struct {
	kind string // "string", "text" (no limit), "int", "timestamp", "bool" or "address"
	max  int
}

// bullhornFields replicates the part of bullhorntest's whitelist that Format may write: the
// fields of Candidate, Address, CandidateEducation and CandidateWorkHistory, with their types
// and lengths. Running each fuzzed payload through a bullhorntest.Server and the real Target
// would be the faithful check but is far too slow for fuzzing (TestAgainstFake does it for the
// samples), so keep this table in step with bullhorntest/schema.go.
func bullhornFields() map[string]map[string]bullhornField {
	str := func(n int) bullhornField { return bullhornField{kind: "string", max: n} }
	text := bullhornField{kind: "text"}
	ts := bullhornField{kind: "timestamp"}
	return map[string]map[string]bullhornField{
		"Candidate": {
			"name": str(100), "firstName": str(50), "lastName": str(50), "middleName": str(50),
			"email": str(100), "email2": str(100), "email3": str(100),
			"phone": str(20), "mobile": str(20), "workPhone": str(20), "occupation": str(50), "source": str(200),
			"skillSet": text, "description": text, "comments": text,
			"dateOfBirth": ts, "dateAvailable": ts, "experience": {kind: "int"}, "address": {kind: "address"},
		},
		"Address": {
			"address1": str(100), "address2": str(100), "city": str(40), "state": str(50), "zip": str(15),
			"countryID": {kind: "int"}, "countryName": str(100),
		},
		keyEducations: {
			"school": str(100), "degree": str(100), "major": str(100), "certification": str(100),
			"city": str(40), "state": str(50), "comments": text,
			"startDate": ts, "endDate": ts, "graduationDate": ts, "expirationDate": ts,
		},
		keyWorkHistories: {
			"title": str(50), "companyName": str(100), "comments": text, "terminationReason": str(100),
			"startDate": ts, "endDate": ts, "isLastJob": {kind: "bool"},
		},
	}
}

// checkPayload formats p and checks the payload: the target's parsePayload accepts it; no
// object sets "id"; every field is one the fake accepts, of its type and, for a string, within
// its length in UTF-16 code units; strings are trimmed and not empty; every Timestamp is the
// epoch milliseconds of one of the profile's dates, in the years an ISO date can say; an email
// or phone is whole or absent; experience is whole years that fit an Integer; and one
// work-history row at most is the last job.
func checkPayload(t *testing.T, p *hrflow.Profile) {
	t.Helper()
	out := Format(p)
	if _, err := parsePayload(out); err != nil {
		t.Fatalf("parsePayload(%s): %v", jsonString(out), err)
	}
	if out["source"] != "HrFlow" {
		t.Fatalf("source = %v, want HrFlow", out["source"])
	}
	fields := bullhornFields()
	dates := profileDates(p)
	candidate := map[string]any{}
	for k, v := range out {
		if k != keyEducations && k != keyWorkHistories {
			candidate[k] = v
		}
	}
	checkEntity(t, fields, "Candidate", "", candidate, dates)
	lastJobs := 0
	for _, member := range []string{keyEducations, keyWorkHistories} {
		v, ok := out[member]
		if !ok {
			continue
		}
		rows, ok := v.([]any)
		if !ok || len(rows) == 0 {
			t.Fatalf("%s is %#v, want a non-empty list", member, v)
		}
		for i, r := range rows {
			row, ok := r.(map[string]any)
			if !ok {
				t.Fatalf("%s[%d] is %#v, want an object", member, i, r)
			}
			body := map[string]any{}
			for k, v := range row {
				if k == keyRow {
					if s, ok := v.(string); !ok || s == "" {
						t.Fatalf("%s[%d].key is %#v, want a non-empty string", member, i, v)
					}
					continue
				}
				body[k] = v
			}
			if len(body) == 0 {
				t.Fatalf("%s[%d] is empty", member, i)
			}
			checkEntity(t, fields, member, fmt.Sprintf("%s[%d].", member, i), body, dates)
			if row["isLastJob"] == true {
				lastJobs++
			}
		}
	}
	if _, ok := out[keyWorkHistories]; ok && lastJobs != 1 {
		t.Fatalf("%d work-history rows are the last job, want 1: %s", lastJobs, jsonString(out[keyWorkHistories]))
	}

	if v, ok := out["email"]; ok && v != strings.TrimSpace(p.Info.Email) {
		t.Fatalf("email %q is not the profile's %q", v, p.Info.Email)
	}
	if v, ok := out["mobile"]; ok {
		digits := func(s string) string {
			return strings.Map(func(r rune) rune {
				if strings.ContainsRune(" .-()/", r) {
					return -1
				}
				return r
			}, strings.TrimSpace(s))
		}
		if digits(v.(string)) != digits(p.Info.Phone) {
			t.Fatalf("mobile %q is cut from the profile's phone %q", v, p.Info.Phone)
		}
	}
	if v, ok := out["experience"]; ok {
		if years := math.Floor(p.ExperiencesDuration); v != int(years) || years < 0 {
			t.Fatalf("experience %v is not the whole years of %v", v, p.ExperiencesDuration)
		}
	}
}

// checkEntity checks the fields of one object of the payload against the whitelist.
func checkEntity(t *testing.T, fields map[string]map[string]bullhornField, entity, path string, m map[string]any, dates []hrflow.Time) {
	t.Helper()
	for k, v := range m {
		name := path + k
		if k == "id" {
			t.Fatalf("%s: the payload sets the read-only id", name)
		}
		f, ok := fields[entity][k]
		if !ok {
			t.Fatalf("%s: %s has no field %q", name, entity, k)
		}
		switch f.kind {
		case "string", "text":
			s, ok := v.(string)
			if !ok {
				t.Fatalf("%s is %#v, want a string", name, v)
			}
			if s == "" || strings.TrimSpace(s) != s {
				t.Fatalf("%s is %q: empty or untrimmed", name, s)
			}
			if n := len(utf16.Encode([]rune(s))); f.max > 0 && n > f.max {
				t.Fatalf("%s is %d UTF-16 code units long, more than Bullhorn's %d: %q", name, n, f.max, s)
			}
		case "int":
			n, ok := v.(int)
			if !ok || n < math.MinInt32 || n > math.MaxInt32 {
				t.Fatalf("%s is %#v, want an Integer (32 bits)", name, v)
			}
		case "bool":
			if _, ok := v.(bool); !ok {
				t.Fatalf("%s is %#v, want a Boolean", name, v)
			}
		case "timestamp":
			ms, ok := v.(int64)
			if !ok {
				t.Fatalf("%s is %#v, want epoch milliseconds as an int64", name, v)
			}
			checkTimestamp(t, name, ms, dates)
		case "address":
			a, ok := v.(map[string]any)
			if !ok || len(a) == 0 {
				t.Fatalf("%s is %#v, want a non-empty Address", name, v)
			}
			checkEntity(t, fields, "Address", name+".", a, dates)
		}
	}
}

// checkTimestamp checks that ms, converted back with time.UnixMilli, is one of the profile's
// dates (to the millisecond, hence on the same calendar day in the date's own zone), and that
// the date is in years 0 to 9999, the range of the ISO dates HrFlow sends.
func checkTimestamp(t *testing.T, name string, ms int64, dates []hrflow.Time) {
	t.Helper()
	got := time.UnixMilli(ms)
	for _, d := range dates {
		if d.IsZero() || !got.Equal(d.Truncate(time.Millisecond)) {
			continue
		}
		if y := d.Year(); y < 0 || y > 9999 {
			t.Fatalf("%s = %d is the date %v, out of the years 0 to 9999", name, ms, d.Time)
		}
		if got.In(d.Location()).Format(time.DateOnly) != d.Format(time.DateOnly) {
			t.Fatalf("%s = %d is on %v, not on the profile's %v", name, ms, got, d.Time)
		}
		return
	}
	t.Fatalf("%s = %d (%v) is none of the profile's dates %v", name, ms, got.UTC(), dates)
}

// profileDates returns every date of a profile that Format may write.
func profileDates(p *hrflow.Profile) []hrflow.Time {
	dates := []hrflow.Time{p.Info.DateBirth}
	for _, e := range p.Experiences {
		dates = append(dates, e.DateStart, e.DateEnd)
	}
	for _, e := range p.Educations {
		dates = append(dates, e.DateStart, e.DateEnd)
	}
	return dates
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }
