package bullhorn

import (
	"cmp"
	"strings"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets"
)

// Column sizes of Bullhorn's entity reference, in characters.
const (
	maxPersonName = 50  // Candidate firstName, lastName
	maxFullName   = 100 // Candidate name (not documented; the fake's guess)
	maxEmail      = 100 // Candidate email
	maxPhone      = 20  // Candidate phone, mobile
	maxAddress1   = 100 // Address address1
	maxCity       = 40  // Address city, CandidateEducation city
	maxState      = 50  // Address state
	maxZip        = 15  // Address zip
	maxSchool     = 100 // CandidateEducation school, degree; CandidateWorkHistory companyName
	maxJobTitle   = 50  // CandidateWorkHistory title
)

// Format is the built-in format: it maps an HrFlow profile onto a Bullhorn Candidate with its
// education and work-history rows, in the payload shape described in the package
// documentation. Empty values are omitted, strings are cut to Bullhorn's column sizes, dates
// are epoch milliseconds, and no id is set.
func Format(p *hrflow.Profile) map[string]any {
	out := map[string]any{}
	first, last, full := strings.TrimSpace(p.Info.FirstName), strings.TrimSpace(p.Info.LastName), strings.TrimSpace(p.Info.FullName)
	if first == "" && last == "" {
		if f := strings.Fields(full); len(f) > 0 {
			first, last = f[0], strings.Join(f[1:], " ")
		}
	}
	targets.SetText(out, "name", cmp.Or(full, strings.TrimSpace(first+" "+last)), maxFullName) // Bullhorn does not derive it
	targets.SetText(out, "firstName", first, maxPersonName)
	targets.SetText(out, "lastName", last, maxPersonName)
	if email := strings.TrimSpace(p.Info.Email); targets.Length(email) <= maxEmail {
		targets.SetText(out, "email", email, 0) // a cut email is a wrong email: omit one that is too long
	}
	targets.SetText(out, "mobile", phone(p.Info.Phone), 0)
	setDate(out, "dateOfBirth", p.Info.DateBirth)
	if a := address(p.Info.Location.Fields); len(a) > 0 {
		out["address"] = a
	}
	if p.ExperiencesDuration > 0 && p.ExperiencesDuration < 100 { // a longer career is bad data
		out["experience"] = int(p.ExperiencesDuration) // completed years
	}
	targets.SetText(out, "skillSet", skillSet(p.Skills), 0)
	targets.SetText(out, "description", cmp.Or(strings.TrimSpace(p.Text), strings.TrimSpace(p.Info.Summary)), 0)
	out["source"] = "HrFlow"
	if eds := educations(p.Educations); len(eds) > 0 {
		out[keyEducations] = eds
	}
	if whs := workHistories(p.Experiences); len(whs) > 0 {
		out[keyWorkHistories] = whs
	}
	return out
}

// phone returns s if it fits Bullhorn's 20 characters, else s without separators if that
// fits, else "": a cut number is a wrong number.
func phone(s string) string {
	s = strings.TrimSpace(s)
	if targets.Length(s) <= maxPhone {
		return s
	}
	compact := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" .-()/", r) {
			return -1
		}
		return r
	}, s)
	if targets.Length(compact) <= maxPhone {
		return compact
	}
	return ""
}

// address maps a location; Bullhorn's countryID is an account-specific integer, so the
// country is left out.
func address(f hrflow.LocationFields) map[string]any {
	a := map[string]any{}
	targets.SetText(a, "address1", strings.TrimSpace(f.HouseNumber)+" "+strings.TrimSpace(f.Road), maxAddress1)
	targets.SetText(a, "city", f.City, maxCity)
	targets.SetText(a, "state", f.State, maxState)
	targets.SetText(a, "zip", f.Postcode, maxZip)
	return a
}

func skillSet(skills []hrflow.Skill) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range skills {
		name := strings.TrimSpace(s.Name)
		if name == "" || seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

func educations(eds []hrflow.Education) []any {
	var out []any
	for _, e := range eds {
		m := map[string]any{}
		targets.SetText(m, "school", e.School, maxSchool)
		targets.SetText(m, "degree", e.Title, maxSchool)
		targets.SetText(m, "comments", e.Description, 0)
		if len(m) == 0 {
			continue
		}
		targets.SetText(m, "city", cmp.Or(strings.TrimSpace(e.Location.Fields.City), strings.TrimSpace(e.Location.Text)), maxCity)
		setDate(m, "startDate", e.DateStart)
		setDate(m, "endDate", e.DateEnd)
		targets.SetText(m, keyRow, e.Key, 0)
		out = append(out, m)
	}
	return out
}

// workHistories maps experiences; isLastJob marks the ongoing one (the latest started, if
// several) or else the latest ended one.
func workHistories(exps []hrflow.Experience) []any {
	var out []any
	var last *hrflow.Experience
	var lastRow map[string]any
	for i := range exps {
		e := &exps[i]
		m := map[string]any{}
		targets.SetText(m, "companyName", e.Company, maxSchool)
		targets.SetText(m, "title", e.Title, maxJobTitle)
		targets.SetText(m, "comments", e.Description, 0)
		if len(m) == 0 {
			continue
		}
		setDate(m, "startDate", e.DateStart)
		setDate(m, "endDate", e.DateEnd)
		m["isLastJob"] = false
		targets.SetText(m, keyRow, e.Key, 0)
		out = append(out, m)
		if last == nil || later(e, last) {
			last, lastRow = e, m
		}
	}
	if lastRow != nil {
		lastRow["isLastJob"] = true
	}
	return out
}

// ongoing reports whether an experience has started and has not ended.
func ongoing(e *hrflow.Experience) bool {
	return e.DateEnd.IsZero() && !e.DateStart.IsZero()
}

// later reports whether a is more recent than b.
func later(a, b *hrflow.Experience) bool {
	switch {
	case ongoing(a) != ongoing(b):
		return ongoing(a)
	case ongoing(a):
		return a.DateStart.After(b.DateStart.Time)
	}
	return a.DateEnd.After(b.DateEnd.Time)
}

// setDate puts a known date under key as a Bullhorn Timestamp: epoch milliseconds.
func setDate(m map[string]any, key string, t hrflow.Time) {
	if !t.IsZero() {
		m[key] = t.UnixMilli()
	}
}
