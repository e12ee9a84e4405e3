package hrflow

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Profile is an HrFlow profile as returned by GET /v1/profile/indexing.
//
// The model is lenient where the API is known to vary: [LocationFields] accepts an object or an
// empty array, [URLs] accepts a list of {type, url} or an object keyed by network, and [Time]
// accepts ISO dates with or without a zone, null and empty strings.
type Profile struct {
	ID                  int64             `json:"id,omitempty"`
	Key                 string            `json:"key"`
	Reference           string            `json:"reference,omitempty"`
	SourceKey           string            `json:"source_key,omitempty"`
	Source              Source            `json:"source"`
	CreatedAt           Time              `json:"created_at"`
	UpdatedAt           Time              `json:"updated_at"`
	ArchivedAt          Time              `json:"archived_at"`
	Info                Info              `json:"info"`
	TextLanguage        string            `json:"text_language,omitempty"`
	Text                string            `json:"text,omitempty"`
	ExperiencesDuration float64           `json:"experiences_duration,omitempty"`
	EducationsDuration  float64           `json:"educations_duration,omitempty"`
	Experiences         []Experience      `json:"experiences"`
	Educations          []Education       `json:"educations"`
	Attachments         []Attachment      `json:"attachments"`
	Skills              []Skill           `json:"skills"`
	Languages           []Tag             `json:"languages"`
	Certifications      []Tag             `json:"certifications"`
	Courses             []Tag             `json:"courses"`
	Tasks               []Tag             `json:"tasks"`
	Interests           []Tag             `json:"interests"`
	Tags                []Tag             `json:"tags"`
	Metadatas           []Tag             `json:"metadatas"`
	Labels              []json.RawMessage `json:"labels,omitempty"`

	// Raw is the profile exactly as HrFlow sent it (the "data" member of the envelope). It is
	// what jq programs see as $profile. It is not serialised.
	Raw json.RawMessage `json:"-"`
}

// Source is the source a profile belongs to.
type Source struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Type        string `json:"type,omitempty"`
	Subtype     string `json:"subtype,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// Info holds a profile's personal information.
type Info struct {
	FullName       string   `json:"full_name"`
	FirstName      string   `json:"first_name"`
	LastName       string   `json:"last_name"`
	Email          string   `json:"email"`
	Phone          string   `json:"phone"`
	DrivingLicense string   `json:"driving_license,omitempty"`
	DateBirth      Time     `json:"date_birth"`
	Location       Location `json:"location"`
	URLs           URLs     `json:"urls"`
	Picture        string   `json:"picture,omitempty"`
	Gender         string   `json:"gender,omitempty"`
	Summary        string   `json:"summary"`
}

// Location is a geocoded place. Lat and Lng are nil when unknown.
type Location struct {
	Text   string         `json:"text"`
	Lat    *float64       `json:"lat"`
	Lng    *float64       `json:"lng"`
	Gmaps  string         `json:"gmaps,omitempty"`
	Fields LocationFields `json:"fields"`
}

// LocationFields are the parsed parts of a location. HrFlow sends an empty array instead of an
// object when nothing is known; that decodes to the zero value.
type LocationFields struct {
	City          string `json:"city,omitempty"`
	CityDistrict  string `json:"city_district,omitempty"`
	Country       string `json:"country,omitempty"` // ISO 3166-1 alpha-3, e.g. "FRA"
	CountryRegion string `json:"country_region,omitempty"`
	HouseNumber   string `json:"house_number,omitempty"`
	Postcode      string `json:"postcode,omitempty"`
	Road          string `json:"road,omitempty"`
	State         string `json:"state,omitempty"`
	StateDistrict string `json:"state_district,omitempty"`
	Suburb        string `json:"suburb,omitempty"`
	Text          string `json:"text,omitempty"`
}

// UnmarshalJSON accepts an object, null, or an (empty) array.
func (f *LocationFields) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		*f = LocationFields{}
		return nil
	}
	type plain LocationFields
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = LocationFields(p)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for json v2 (the client's decoder), which calls it
// instead: reading from the decoder saves a second parse of the value.
func (f *LocationFields) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		*f = LocationFields{}
		return dec.SkipValue()
	}
	type plain LocationFields
	var p plain
	if err := jsonv2.UnmarshalDecode(dec, &p); err != nil {
		return err
	}
	*f = LocationFields(p)
	return nil
}

// URL is one link of a profile (type is from_resume, linkedin, twitter, facebook or github).
type URL struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// URLs is the list of a profile's links. Old profiles carry an object keyed by network instead
// of a list; both decode to a list.
type URLs []URL

// UnmarshalJSON accepts a list of {type, url} objects, an object keyed by type, or null.
func (u *URLs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || b[0] == 'n':
		*u = nil
		return nil
	case b[0] == '{':
		var m map[string]*string
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		*u = urlsByType(m)
		return nil
	}
	var list []URL
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*u = list
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for json v2 (the client's decoder), which calls it
// instead: reading from the decoder saves a second parse of the value.
func (u *URLs) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		*u = nil
		return dec.SkipValue()
	case '{':
		var m map[string]*string
		if err := jsonv2.UnmarshalDecode(dec, &m); err != nil {
			return err
		}
		*u = urlsByType(m)
		return nil
	}
	var list []URL
	if err := jsonv2.UnmarshalDecode(dec, &list); err != nil {
		return err
	}
	*u = list
	return nil
}

// urlsByType returns the links of the old object form, sorted by type, without the nulls.
func urlsByType(m map[string]*string) URLs {
	out := make(URLs, 0, len(m))
	for k, v := range m {
		if v != nil {
			out = append(out, URL{Type: k, URL: *v})
		}
	}
	slices.SortFunc(out, func(a, b URL) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// Get returns the first non-empty URL of the given type, or "".
func (u URLs) Get(typ string) string {
	for _, x := range u {
		if strings.EqualFold(x.Type, typ) && x.URL != "" {
			return x.URL
		}
	}
	return ""
}

// Experience is one job of a profile.
type Experience struct {
	Key            string   `json:"key,omitempty"`
	Company        string   `json:"company"`
	Logo           string   `json:"logo,omitempty"`
	Title          string   `json:"title"`
	Description    string   `json:"description"`
	Location       Location `json:"location"`
	DateStart      Time     `json:"date_start"`
	DateEnd        Time     `json:"date_end"`
	Skills         []Skill  `json:"skills"`
	Certifications []Tag    `json:"certifications"`
	Courses        []Tag    `json:"courses"`
	Tasks          []Tag    `json:"tasks"`
	Languages      []Tag    `json:"languages"`
	Interests      []Tag    `json:"interests"`
}

// Education is one degree or course of a profile.
type Education struct {
	Key            string   `json:"key,omitempty"`
	School         string   `json:"school"`
	Logo           string   `json:"logo,omitempty"`
	Title          string   `json:"title"`
	Description    string   `json:"description"`
	Location       Location `json:"location"`
	DateStart      Time     `json:"date_start"`
	DateEnd        Time     `json:"date_end"`
	Skills         []Skill  `json:"skills"`
	Certifications []Tag    `json:"certifications"`
	Courses        []Tag    `json:"courses"`
	Tasks          []Tag    `json:"tasks"`
	Languages      []Tag    `json:"languages"`
	Interests      []Tag    `json:"interests"`
}

// Attachment is a file attached to a profile. PublicURL can be downloaded without HrFlow auth.
type Attachment struct {
	Type             string `json:"type"` // resume, original, cover, other, ...
	Alt              string `json:"alt,omitempty"`
	FileName         string `json:"file_name"`
	OriginalFileName string `json:"original_file_name,omitempty"`
	Extension        string `json:"extension"` // with the dot, e.g. ".pdf"
	FileSize         int64  `json:"file_size,omitempty"`
	PublicURL        string `json:"public_url"`
	CreatedAt        Time   `json:"created_at"`
	UpdatedAt        Time   `json:"updated_at"`
}

// Resume returns the profile's resume attachment, or nil when it has none.
func (p *Profile) Resume() *Attachment {
	for i := range p.Attachments {
		if p.Attachments[i].Type == "resume" && p.Attachments[i].PublicURL != "" {
			return &p.Attachments[i]
		}
	}
	return nil
}

// Skill is a hard or soft skill.
type Skill struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"` // hard or soft
	Value any    `json:"value"`
}

// Tag is a {name, value} pair, the shape of tags, metadatas, languages, courses, tasks, ...
type Tag struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Time is a date or timestamp from HrFlow. The zero Time means unknown: null, "", an
// unparseable string (kept in Raw) or the 1969-12-31 sentinel some old profiles use for "ongoing".
type Time struct {
	time.Time
	// Raw is the string HrFlow sent when it could not be parsed.
	Raw string
}

// The range of numeric dates (seconds since the epoch) accepted: 1900-01-01 to 2200-01-01.
const (
	minSeconds = -2208988800
	maxSeconds = 7258118400
)

var timeLayouts = []string{
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
	"2006-01",
	"2006",
}

// ParseTime parses the date formats HrFlow is known to send. It returns the zero Time for
// an empty string and keeps an unparseable one in Raw.
func ParseTime(s string) Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return Time{}
	}
	if t, ok := parseCommon(s); ok {
		return known(t)
	}
	// A string of 19 or 10 characters can only be in the layout without a zone or in the
	// date-only one (the layouts before them need more characters): try it first, as a layout
	// that fails costs an error's allocation.
	if layout := shortLayout(s); layout != "" {
		if t, err := time.Parse(layout, s); err == nil {
			return known(t)
		}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return known(t)
		}
	}
	return Time{Raw: s}
}

// parseCommon parses the two layouts nearly every HrFlow date is in, 2006-01-02T15:04:05 and
// 2006-01-02T15:04:05+0000, to the same Time as time.Parse, without its cost (a profile holds
// dozens of dates, and time.Parse walks its layout element by element). It reports false for
// anything else, which ParseTime then parses with time.Parse.
func parseCommon(s string) (time.Time, bool) {
	const layout = "2006-01-02T15:04:05"
	if len(s) != len(layout) && (len(s) != len(layout+"+0000") || s[len(layout):] != "+0000") {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // day out of range for its month: time.Parse refuses it
	}
	if len(s) == len(layout) {
		return t, true // no zone: UTC, as time.Parse
	}
	// time.Parse gives a +0000 time the local location when it is at offset 0 then, and
	// otherwise a location of its own: leave that case to it.
	local := t.In(time.Local)
	if _, off := local.Zone(); off == 0 {
		return local, true
	}
	return time.Time{}, false
}

// shortLayout returns the first layout of timeLayouts a string of s's length can be in, when
// no layout before it can hold that many characters, or "".
func shortLayout(s string) string {
	switch {
	case len(s) == len("2006-01-02T15:04:05") && s[10] == 'T':
		return "2006-01-02T15:04:05"
	case len(s) == len("2006-01-02"):
		return "2006-01-02"
	}
	return ""
}

// known returns t, or the zero Time for the 1969-12-31 "ongoing" sentinel.
func known(t time.Time) Time {
	if t.Year() == 1969 && t.Month() == time.December && t.Day() == 31 {
		return Time{}
	}
	return Time{Time: t}
}

// UnmarshalJSON accepts a string, null, or a number of seconds since the epoch.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || b[0] == 'n':
		*t = Time{}
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = ParseTime(s)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		*t = Time{Raw: string(b)}
		return nil
	}
	*t = fromSeconds(secs, b)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for json v2 (the client's decoder), which calls it
// instead: reading from the decoder saves a second parse of the value.
func (t *Time) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		*t = Time{}
		return dec.SkipValue()
	case '"':
		// A token rather than UnmarshalDecode: the same string (invalid UTF-8 mangled as
		// encoding/json does, under the decoder's options) without the cost of a nested
		// unmarshal, which was most of a date's decoding.
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*t = ParseTime(tok.String())
		return nil
	}
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	secs, err := strconv.ParseFloat(string(b), 64) // as encoding/json parses a number
	if b.Kind() != '0' || err != nil {
		*t = Time{Raw: string(b)}
		return nil
	}
	*t = fromSeconds(secs, b)
	return nil
}

// fromSeconds returns the time secs seconds after the epoch, b as HrFlow wrote it.
func fromSeconds(secs float64, b []byte) Time {
	// Seconds outside 1900–2200 are not a date HrFlow meant (milliseconds, garbage): unknown.
	if secs < minSeconds || secs > maxSeconds {
		return Time{Raw: string(b)}
	}
	u := time.Unix(int64(secs), 0).UTC()
	if u.Year() == 1969 && u.Month() == time.December && u.Day() == 31 {
		return Time{} // the "ongoing" sentinel, as in the string form
	}
	return Time{Time: u}
}

// MarshalJSON writes the time in HrFlow's own layout, or null when unknown.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		if t.Raw != "" {
			return json.Marshal(t.Raw)
		}
		return []byte("null"), nil
	}
	return json.Marshal(t.Format("2006-01-02T15:04:05-0700"))
}
