package jobadder

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/hrflow/hrflowtest"
)

// FuzzFormat checks that Format never panics and that whatever profile it is given, built here
// from fuzzed strings, yields a payload JobAdder accepts (see checkPayload).
func FuzzFormat(f *testing.F) {
	// The arguments, in order: first, last and full name, email, phone; the birth date and the
	// start and end dates of the experiences and educations (parsed with hrflow.ParseTime);
	// house number, road, city, state, postcode and country of the address; company, title,
	// school, degree; skill names separated by commas; a link given for each social network;
	// a byte of counts and flags (see fuzzProfile); the years of experience.
	f.Add("Harry", "Potter", "Harry James Potter", "harry.potter@hogwarts.net", "+44 20 7946 0000",
		"1980-07-31T00:00:00+0000", "2005-09-01", "2010-01-31",
		"4", "Privet Drive", "Little Whinging", "Surrey", "KT1", "GBR",
		"Ministry of Magic", "Auror", "Hogwarts", "NEWT", "Potions, Quidditch, potions", "www.linkedin.com/in/harry",
		uint8(0b0001_0011), 12.9)
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", uint8(0), 0.0)
	f.Add(" ", "\t", " \u00a0\u3000 ", " \n", "  ", " ", "\t", "\n", " ", " ", "\u2003", "\u00a0", " ", " ", " ", " ", " ", " ", " , ,", " ",
		uint8(0xff), 0.5)
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	f.Add(long("é", 60), long("ü", 60), long("é", 60)+" "+long("ü", 60), long("a", 95)+"@example.com", long("0", 60),
		"1990-08-09T00:00:00.123456789+02:00", "2018-01-01T00:00:00", "2018-07-01T00:00:00.999999",
		long("9", 30), long("r", 300), long("c", 300), long("s", 300), long("z", 300), "fra",
		long("C", 300), long("T", 300), long("S", 300), long("D", 300), long("skill,", 200), "https://github.com/"+long("x", 300),
		uint8(0b0111_1111), 1e6)
	// Characters outside the Basic Multilingual Plane are two UTF-16 code units each: 25 of them
	// are 50 units, the names' limit.
	f.Add(long("𝓗", 25), long("😀", 25), "𝓗𝓪𝓻𝓻𝔂 𝓟𝓸𝓽𝓽𝓮𝓻", long("😀", 20)+"@example.com", "☎ "+long("𝟘", 20),
		"1990-08", "1990", "2000-02-29 23:59:59",
		"٤", "شارع", "東京", "Île-de-France", "〒100", " gbr ",
		"Ünïcödé GmbH", "Ingénieur\u200b", "École", "Maîtrise", "Go,go,GO,Ｇｏ", "https://bücher.example/ä#ü",
		uint8(0b1010_1001), 3.0)
	f.Add("Hermione", "", "", "not an email", "phone", "1969-12-31", "1969-12-31T23:00:00+0000", "0000-01-01",
		"", "", "", "", "", "XYZ", "", "", "", "", "", "javascript:alert(1)",
		uint8(0b0000_1001), -1.0)
	f.Add("", "", "Ron  Bilius\tWeasley", "", "", "9999-12-31T23:59:59-2359", "0001-01-01T00:00:00+0100", "not a date",
		"", "", "", "", "", "FR", "", "Keeper", "", "", "", "http://",
		uint8(0b1001_0010), 7.0)
	f.Add("", "", "", "", "", "", "2010-02-01", "", "", "", "", "", "", "", "Hogwarts", "", "", "", "", "//github.com/ron",
		uint8(0b1000_0101), 0.0)

	add, upd := loadCommandSchemas(f)
	f.Fuzz(func(t *testing.T, first, last, full, email, phone, birth, start, end,
		house, road, city, state, zip, country, company, title, school, degree, skills, link string,
		counts uint8, years float64,
	) {
		p := fuzzProfile(first, last, full, email, phone, birth, start, end,
			house, road, city, state, zip, country, company, title, school, degree, skills, link, counts, years)
		checkPayload(t, add, upd, p)
	})
}

// FuzzFormatJSON is FuzzFormat with profiles decoded from fuzzed JSON, as HrFlow sends them:
// every document that decodes into an hrflow.Profile must yield a payload JobAdder accepts.
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
		`{"info":{"full_name":"Luna Lovegood","date_birth":650160000,"urls":{"linkedin":"linkedin.com/in/luna","github":null},"location":{"fields":[]}}}`,
		`{"info":{"date_birth":"1969-12-31","location":{"fields":{"country":"nor","road":"The Burrow"}},"urls":[{"type":"GitHub","url":"github.com/x"}]}}`,
		`{"experiences":[{"company":"A","date_start":"2001","date_end":null},{"title":"B","date_start":1230768000,"date_end":"2003-01-01T00:00:00+0000"}],"educations":[{"school":"S","date_end":"1998-06"},{}]}`,
		`{"skills":[{"name":"Go"},{"name":"go"},{"name":null},{"name":" "}],"info":{"email":"  a@b.c  ","phone":"  "}}`,
	} {
		f.Add([]byte(s))
	}

	add, upd := loadCommandSchemas(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p hrflow.Profile
		if err := json.Unmarshal(data, &p); err != nil {
			return // not a profile: only valid profiles must give valid payloads
		}
		checkPayload(t, add, upd, &p)
	})
}

// fuzzProfile builds a profile from fuzzed values. counts holds the number of experiences
// (bits 0-2) and educations (bits 3-5), whether 150 more skills are added (bit 6) and which
// experiences are ongoing (bit 7 flips the odd ones and the even ones).
func fuzzProfile(first, last, full, email, phone, birth, start, end,
	house, road, city, state, zip, country, company, title, school, degree, skills, link string,
	counts uint8, years float64,
) *hrflow.Profile {
	p := &hrflow.Profile{
		Info: hrflow.Info{
			FirstName: first, LastName: last, FullName: full, Email: email, Phone: phone,
			DateBirth: hrflow.ParseTime(birth),
			Location: hrflow.Location{Text: city, Fields: hrflow.LocationFields{
				HouseNumber: house, Road: road, City: city, State: state, Postcode: zip, Country: country,
			}},
			URLs: hrflow.URLs{
				{Type: "from_resume", URL: link}, {Type: "linkedin", URL: link}, {Type: "GitHub", URL: link},
				{Type: "twitter", URL: ""}, {Type: "twitter", URL: link}, {Type: "facebook", URL: link},
			},
			Summary: title + "\n" + degree,
		},
		Text:                full + " " + title,
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
		p.Educations = append(p.Educations, hrflow.Education{
			Key: fmt.Sprintf("edu-%d", i), School: school, Title: degree, Description: title,
			Location:  hrflow.Location{Text: city, Fields: hrflow.LocationFields{City: zip, State: state}},
			DateStart: hrflow.ParseTime(start), DateEnd: hrflow.ParseTime(end),
		})
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

// loadCommandSchemas loads AddCandidateCommand and UpdateCandidateCommand from
// testdata/addcandidate.schema.json (see TestFormatMatchesSchema), once per fuzzing process:
// the fuzz function only reads them.
func loadCommandSchemas(f *testing.F) (add, upd *openapi3.Schema) {
	f.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("testdata", "addcandidate.schema.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := doc.Validate(f.Context()); err != nil {
		f.Fatal(err)
	}
	return doc.Components.Schemas["AddCandidateCommand"].Value, doc.Components.Schemas["UpdateCandidateCommand"].Value
}

// Formats of the payload's values that the schema describes in prose or that the validator
// does not check.
var (
	// isoDate is the schema's "Year, month or date": ISO date-fullyear, then -month, then -day.
	isoDate = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$`) //nolint:gochecknoglobals // constant
	// uriChars are the characters of an RFC 3986 URI (format "uri"), percent-encodings checked
	// apart.
	uriChars   = regexp.MustCompile(`^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$`) //nolint:gochecknoglobals // constant
	pctBad     = regexp.MustCompile(`%([^0-9A-Fa-f]|.[^0-9A-Fa-f]|.?$)`)        //nolint:gochecknoglobals // constant
	alpha2Code = regexp.MustCompile(`^[A-Z]{2}$`)                               //nolint:gochecknoglobals // constant
)

// checkPayload formats p and checks the payload: it matches AddCandidateCommand and, without
// source, UpdateCandidateCommand; its strings fit their maxLength as JobAdder (.NET, whose
// string length is in UTF-16 code units) counts it, which the validator (counting code points)
// does not check; its dates are ISO dates; its social links are http(s) URIs; it has no empty
// or untrimmed string; skill tags are unique and at most 100; and the current employment is
// one of the history, an ongoing one if there is any.
func checkPayload(t *testing.T, add, upd *openapi3.Schema, p *hrflow.Profile) {
	t.Helper()
	out := Format(p)
	payload := jsonValue(t, out)
	if err := add.VisitJSON(payload, openapi3.MultiErrors()); err != nil {
		t.Fatalf("AddCandidateCommand refuses %s: %v", jsonString(out), err)
	}
	update := maps.Clone(payload)
	delete(update, "source")
	if err := upd.VisitJSON(update, openapi3.MultiErrors()); err != nil {
		t.Fatalf("UpdateCandidateCommand refuses %s: %v", jsonString(out), err)
	}
	if out["source"] != "HrFlow" {
		t.Fatalf("source = %v, want HrFlow", out["source"])
	}
	checkUTF16Lengths(t, add, payload, "")
	checkStrings(t, payload, "")

	if v, ok := payload["dateOfBirth"].(string); ok {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			t.Fatalf("dateOfBirth %q is not a date: %v", v, err)
		}
	}
	for _, e := range asList(payload["education"]) {
		checkDate(t, "education.date", e.(map[string]any)["date"], false)
	}
	if emp, ok := payload["employment"].(map[string]any); ok {
		checkEmployment(t, emp)
	}
	if social, ok := payload["social"].(map[string]any); ok {
		for network, v := range social {
			checkURI(t, "social."+network, v.(string))
		}
	}
	if tags := asList(payload["skillTags"]); len(tags) > maxSkillTags {
		t.Fatalf("%d skill tags, more than %d", len(tags), maxSkillTags)
	} else {
		seen := map[string]bool{}
		for _, tag := range tags {
			if k := strings.ToLower(tag.(string)); seen[k] {
				t.Fatalf("skill tag %q is repeated", tag)
			} else {
				seen[k] = true
			}
		}
	}
	if a, ok := payload["address"].(map[string]any); ok {
		if c, ok := a["countryCode"].(string); ok && !alpha2Code.MatchString(c) {
			t.Fatalf("countryCode %q is not an ISO 3166-1 alpha-2 code", c)
		}
	}
}

func checkEmployment(t *testing.T, emp map[string]any) {
	t.Helper()
	history := asList(emp["history"])
	current, ok := emp["current"].(map[string]any)
	if !ok || len(history) == 0 {
		t.Fatalf("employment without both current and history: %v", emp)
	}
	var isHistory, ongoing, currentOngoing bool
	for _, h := range history {
		h := h.(map[string]any)
		checkDate(t, "employment.history.start", h["start"], false)
		checkDate(t, "employment.history.end", h["end"], true)
		if h["end"] == "Present" {
			ongoing = true
		}
		if h["employer"] == current["employer"] && h["position"] == current["position"] {
			isHistory = true
			currentOngoing = currentOngoing || h["end"] == "Present"
		}
	}
	if !isHistory {
		t.Fatalf("current employment %v is none of the history %v", current, history)
	}
	if ongoing && !currentOngoing {
		t.Fatalf("current employment %v is not ongoing though the history has an ongoing one: %v", current, history)
	}
}

// checkDate checks a "Year, month or date" value, or "Present" when present is allowed.
func checkDate(t *testing.T, name string, v any, present bool) {
	t.Helper()
	if v == nil || present && v == "Present" {
		return
	}
	s, _ := v.(string)
	if !isoDate.MatchString(s) {
		t.Fatalf("%s %q is not an ISO year, month or date", name, s)
	}
	if _, err := time.Parse("2006-01-02"[:len(s)], s); err != nil {
		t.Fatalf("%s %q is not a calendar date: %v", name, s, err)
	}
}

// checkURI checks a value of format "uri": an absolute http(s) URI with a host, in the
// characters RFC 3986 allows.
func checkURI(t *testing.T, name, s string) {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.Fatalf("%s %q is not an http(s) URL with a host (%v)", name, s, err)
	}
	if !uriChars.MatchString(s) || pctBad.MatchString(s) {
		t.Fatalf("%s %q is not an RFC 3986 URI", name, s)
	}
}

// checkUTF16Lengths checks the strings of v against the maxLength of their schema, in UTF-16
// code units.
func checkUTF16Lengths(t *testing.T, schema *openapi3.Schema, v any, path string) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if schema.MaxLength != nil {
			if n := len(utf16.Encode([]rune(v))); uint64(n) > *schema.MaxLength {
				t.Fatalf("%s is %d UTF-16 code units long, more than its maxLength %d: %q", path, n, *schema.MaxLength, v)
			}
		}
	case []any:
		if schema.Items != nil {
			for i, x := range v {
				checkUTF16Lengths(t, schema.Items.Value, x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case map[string]any:
		for k, x := range v {
			switch {
			case schema.Properties[k] != nil:
				checkUTF16Lengths(t, schema.Properties[k].Value, x, path+"."+k)
			case schema.AdditionalProperties.Schema != nil:
				checkUTF16Lengths(t, schema.AdditionalProperties.Schema.Value, x, path+"."+k)
			}
		}
	}
}

// checkStrings checks that Format omits empty values and trims strings.
func checkStrings(t *testing.T, v any, path string) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if v == "" || strings.TrimSpace(v) != v {
			t.Fatalf("%s is %q: empty or untrimmed", path, v)
		}
	case []any:
		if len(v) == 0 {
			t.Fatalf("%s is an empty list", path)
		}
		for i, x := range v {
			checkStrings(t, x, fmt.Sprintf("%s[%d]", path, i))
		}
	case map[string]any:
		if len(v) == 0 {
			t.Fatalf("%s is an empty object", path)
		}
		for k, x := range v {
			checkStrings(t, x, path+"."+k)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }
