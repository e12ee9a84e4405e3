package jobadder

import (
	"cmp"
	"net/url"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets"
)

// Limits of AddCandidateCommand in JobAdder's OpenAPI document.
const (
	maxNameLen   = 50  // firstName, lastName, phone, source
	maxEmailLen  = 100 // email
	maxSkillTags = 100 // skillTags: maxLength on an array, .NET's MaxLength on a list caps its items
)

// Format is the built-in format: it maps an HrFlow profile onto JobAdder's AddCandidateCommand.
// Empty values are omitted, strings are cut to the schema's maximum lengths, and only fields
// of the schema are produced; see the package documentation for the mapping.
func Format(p *hrflow.Profile) map[string]any {
	out := map[string]any{}
	first, last := strings.TrimSpace(p.Info.FirstName), strings.TrimSpace(p.Info.LastName)
	if first == "" && last == "" {
		if f := strings.Fields(p.Info.FullName); len(f) > 0 {
			first, last = f[0], strings.Join(f[1:], " ")
		}
	}
	targets.SetText(out, "firstName", first, maxNameLen)
	targets.SetText(out, "lastName", last, maxNameLen)
	if email := strings.TrimSpace(p.Info.Email); targets.Length(email) <= maxEmailLen {
		targets.SetText(out, "email", email, 0) // a cut email is a wrong email: omit one that is too long
	}
	targets.SetText(out, "phone", p.Info.Phone, maxNameLen)
	targets.SetText(out, "dateOfBirth", date(p.Info.DateBirth), 0)
	if a := address(p.Info.Location.Fields); len(a) > 0 {
		out["address"] = a
	}
	targets.SetText(out, "summary", p.Info.Summary, 0)
	if tags := skillTags(p.Skills); len(tags) > 0 {
		out["skillTags"] = tags
	}
	if ed := education(p.Educations); len(ed) > 0 {
		out["education"] = ed
	}
	if emp := employment(p.Experiences); len(emp) > 0 {
		out["employment"] = emp
	}
	if s := social(p.Info.URLs); len(s) > 0 {
		out["social"] = s
	}
	out["source"] = "HrFlow"
	return out
}

func address(f hrflow.LocationFields) map[string]any {
	a := map[string]any{}
	if street := strings.TrimSpace(strings.TrimSpace(f.HouseNumber) + " " + strings.TrimSpace(f.Road)); street != "" {
		a["street"] = []any{street}
	}
	targets.SetText(a, "city", f.City, 0)
	targets.SetText(a, "state", f.State, 0)
	targets.SetText(a, "postalCode", f.Postcode, 0)
	targets.SetText(a, "countryCode", hrflow.Alpha2(strings.TrimSpace(f.Country)), 0)
	return a
}

func skillTags(skills []hrflow.Skill) []any {
	var tags []any
	seen := map[string]bool{}
	for _, s := range skills {
		name := strings.TrimSpace(s.Name)
		if name == "" || seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		tags = append(tags, name)
		if len(tags) == maxSkillTags {
			break
		}
	}
	return tags
}

func education(eds []hrflow.Education) []any {
	var out []any
	for _, e := range eds {
		m := map[string]any{}
		targets.SetText(m, "institution", e.School, 0)
		targets.SetText(m, "course", cmp.Or(strings.TrimSpace(e.Title), strings.TrimSpace(e.Description)), 0)
		targets.SetText(m, "date", date(e.DateEnd), 0)
		if len(m) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// employment maps experiences to history, and the ongoing one (the latest started, if
// several) or else the latest ended one to current.
func employment(exps []hrflow.Experience) map[string]any {
	var history []any
	var cur *hrflow.Experience
	for i := range exps {
		e := &exps[i]
		m := map[string]any{}
		targets.SetText(m, "employer", e.Company, 0)
		targets.SetText(m, "position", e.Title, 0)
		if len(m) == 0 {
			continue
		}
		targets.SetText(m, "start", date(e.DateStart), 0)
		if ongoing(e) {
			m["end"] = "Present"
		} else {
			targets.SetText(m, "end", date(e.DateEnd), 0)
		}
		targets.SetText(m, "description", e.Description, 0)
		history = append(history, m)
		if cur == nil || later(e, cur) {
			cur = e
		}
	}
	if cur == nil {
		return nil
	}
	current := map[string]any{}
	targets.SetText(current, "employer", cur.Company, 0)
	targets.SetText(current, "position", cur.Title, 0)
	return map[string]any{"current": current, "history": history}
}

// ongoing reports whether an experience has started and has not ended.
func ongoing(e *hrflow.Experience) bool {
	return e.DateEnd.IsZero() && !e.DateStart.IsZero()
}

// later reports whether a is more current than b.
func later(a, b *hrflow.Experience) bool {
	switch {
	case ongoing(a) != ongoing(b):
		return ongoing(a)
	case ongoing(a):
		return a.DateStart.After(b.DateStart.Time)
	}
	return a.DateEnd.After(b.DateEnd.Time)
}

func social(urls hrflow.URLs) map[string]any {
	m := map[string]any{}
	for _, network := range []string{"linkedin", "github", "twitter", "facebook"} {
		raw := strings.TrimSpace(urls.Get(network))
		if raw != "" && !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !validHost(u.Host) {
			continue
		}
		u.RawQuery = u.Query().Encode() // escape what the profile left raw
		m[network] = u.String()
	}
	return m
}

// validHost reports whether h is a host name or address with an optional port: what a URI
// allows, which url.Parse does not check.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]", r)) {
			return false
		}
	}
	return true
}

// date formats a known date as an ISO full-date, in the zone HrFlow wrote it in.
func date(t hrflow.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}
