package hrflowtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Generate adds n generated profiles to the source sourceKey and returns their keys, in
// creation order. The same seed and index always give the same profile (and key), so calling
// Generate twice with one seed replaces the profiles instead of adding more.
//
// Generated profiles are varied the way real ones are: international names (with accents),
// unique emails except about 1 profile in 50 that has none, phones in each country's format,
// dates of birth (about 1 in 5 null), a location in France, the United Kingdom, the United
// States, Australia, Germany or Canada with parsed fields or, for about 1 in 8, an empty
// fields array, links as a list (most with LinkedIn) or, for about 1 in 20, in the old object
// form, 0 to 4 experiences (the latest often ongoing, dates with and without a "+0000" zone),
// 0 to 3 educations, hard and soft skills, languages and tags. About 9 in 10 have a resume
// attachment (and some an "original" one too) served by this server as a small PDF.
func (s *Server) Generate(sourceKey string, n int, seed int64) []string {
	cat := newCatalog()
	entries := make([]*entry, n)
	keys := make([]string, n)
	for i := range n {
		entries[i] = cat.entry(sourceKey, seed, i)
		keys[i] = entries[i].key
	}
	s.store(sourceKey, entries...)
	return keys
}

// Parse adds n generated profiles as [Server.Generate] does, as if HrFlow had just parsed n
// resumes into the source: with webhooks, each profile is delivered as
// profile.parsing.success then profile.storing.success. Use a seed of its own for new
// profiles (one seed gives the same keys).
func (s *Server) Parse(sourceKey string, n int, seed int64) []string {
	cat := newCatalog()
	keys := make([]string, n)
	for i := range n {
		e := cat.entry(sourceKey, seed, i)
		s.store(sourceKey, e)
		keys[i] = e.key
		s.notify(EventParsingSuccess, e)
		s.notify(EventStoringSuccess, e)
	}
	return keys
}

// Date layouts HrFlow uses: timestamps carry a zone, experience dates often do not.
const (
	layoutZone   = "2006-01-02T15:04:05-0700"
	layoutNoZone = "2006-01-02T15:04:05"
)

type person struct {
	name, ascii, gender string
}

type surname struct {
	name, ascii string
}

type city struct {
	name, state, country, countryName string
	lat, lng                          float64
	postcodes, roads                  []string
	phone                             func(r *rand.Rand) string
}

// catalog holds the lists profiles are drawn from.
type catalog struct {
	// epoch is when the first profile was created; profile i is created about i×10 minutes
	// later, so creation order follows the index.
	epoch time.Time
	// today is the date careers are laid out back from, fixed for determinism.
	today time.Time

	first      []person
	last       []surname
	cities     []city
	companies  []string
	titles     []string
	schools    []string
	degrees    []string
	hardSkills []string
	softSkills []string
	languages  []string
	interests  []string
}

func newCatalog() *catalog {
	digits := func(r *rand.Rand, n int) int { return r.IntN(int(math.Pow10(n))) }
	fra := func(r *rand.Rand) string {
		return fmt.Sprintf("+33 %d %02d %02d %02d %02d", 6+r.IntN(2), digits(r, 2), digits(r, 2), digits(r, 2), digits(r, 2))
	}
	gbr := func(r *rand.Rand) string { return fmt.Sprintf("+44 7%03d %06d", digits(r, 3), digits(r, 6)) }
	nanp := func(areas ...int) func(r *rand.Rand) string {
		return func(r *rand.Rand) string {
			return fmt.Sprintf("+1 (%d) %03d-%04d", areas[r.IntN(len(areas))], 200+r.IntN(800), digits(r, 4))
		}
	}
	aus := func(r *rand.Rand) string {
		return fmt.Sprintf("+61 4%02d %03d %03d", digits(r, 2), digits(r, 3), digits(r, 3))
	}
	deu := func(r *rand.Rand) string { return fmt.Sprintf("+49 15%d %07d", 1+r.IntN(9), digits(r, 7)) }
	return &catalog{
		epoch: time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC),
		today: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		first: []person{
			{"Amélie", "amelie", "female"}, {"Lukas", "lukas", "male"}, {"Sofía", "sofia", "female"},
			{"Mateo", "mateo", "male"}, {"Chloé", "chloe", "female"}, {"Jonas", "jonas", "male"},
			{"Aisha", "aisha", "female"}, {"Hiroshi", "hiroshi", "male"}, {"Yuki", "yuki", "female"},
			{"Priya", "priya", "female"}, {"Arjun", "arjun", "male"}, {"Olga", "olga", "female"},
			{"Mohammed", "mohammed", "male"}, {"Fatima", "fatima", "female"}, {"Liam", "liam", "male"},
			{"Olivia", "olivia", "female"}, {"Noah", "noah", "male"}, {"Emma", "emma", "female"},
			{"Wei", "wei", "male"}, {"Mei", "mei", "female"}, {"Kwame", "kwame", "male"},
			{"Ngozi", "ngozi", "female"}, {"Søren", "soren", "male"}, {"Zoë", "zoe", "female"},
			{"João", "joao", "male"}, {"Björn", "bjorn", "male"}, {"Giulia", "giulia", "female"},
			{"Ahmet", "ahmet", "male"}, {"Elif", "elif", "female"}, {"Dmitri", "dmitri", "male"},
			{"Siobhán", "siobhan", "female"}, {"Jakub", "jakub", "male"}, {"Zuzana", "zuzana", "female"},
			{"Minh", "minh", "male"}, {"Thandiwe", "thandiwe", "female"}, {"Rafael", "rafael", "male"},
			{"Léa", "lea", "female"}, {"Ingrid", "ingrid", "female"}, {"Alex", "alex", "undefined"},
			{"Sam", "sam", "undefined"},
		},
		last: []surname{
			{"Dubois", "dubois"}, {"Müller", "muller"}, {"García", "garcia"}, {"Rossi", "rossi"},
			{"Nakamura", "nakamura"}, {"Patel", "patel"}, {"Okafor", "okafor"}, {"Nguyen", "nguyen"},
			{"Kowalski", "kowalski"}, {"O'Brien", "obrien"}, {"Smith", "smith"}, {"Johansson", "johansson"},
			{"Ivanova", "ivanova"}, {"Silva", "silva"}, {"Kim", "kim"}, {"Chen", "chen"},
			{"Haddad", "haddad"}, {"Yılmaz", "yilmaz"}, {"Novák", "novak"}, {"Jensen", "jensen"},
			{"Moreau", "moreau"}, {"Schmidt", "schmidt"}, {"Fernández", "fernandez"}, {"Russo", "russo"},
			{"Tanaka", "tanaka"}, {"Sharma", "sharma"}, {"Mensah", "mensah"}, {"Tremblay", "tremblay"},
			{"Wilson", "wilson"}, {"Brown", "brown"}, {"Martin", "martin"}, {"Lefèvre", "lefevre"},
			{"van den Berg", "vandenberg"}, {"Al-Sayed", "alsayed"}, {"MacDonald", "macdonald"},
			{"Çelik", "celik"}, {"Søndergaard", "sondergaard"}, {"Da Costa", "dacosta"},
		},
		cities: []city{
			{"Paris", "Île-de-France", "FRA", "France", 48.8566, 2.3522,
				[]string{"75001", "75008", "75011", "75015"}, []string{"Rue Daru", "Rue de Rivoli", "Boulevard Voltaire", "Avenue de Suffren"}, fra},
			{"Lyon", "Auvergne-Rhône-Alpes", "FRA", "France", 45.764, 4.8357,
				[]string{"69001", "69003", "69007"}, []string{"Rue de la République", "Cours Gambetta", "Quai Claude Bernard"}, fra},
			{"London", "England", "GBR", "United Kingdom", 51.5072, -0.1276,
				[]string{"EC1A 1BB", "SW1A 2AA", "N1 9GU", "E14 5AB"}, []string{"Baker Street", "Old Street", "Upper Street", "Bank Street"}, gbr},
			{"Manchester", "England", "GBR", "United Kingdom", 53.4808, -2.2426,
				[]string{"M1 1AE", "M4 6WX"}, []string{"Deansgate", "Oxford Road", "Portland Street"}, gbr},
			{"New York", "New York", "USA", "United States", 40.7128, -74.006,
				[]string{"10001", "10013", "11201"}, []string{"Broadway", "5th Avenue", "Atlantic Avenue"}, nanp(212, 646, 718)},
			{"San Francisco", "California", "USA", "United States", 37.7749, -122.4194,
				[]string{"94103", "94110"}, []string{"Mission Street", "Valencia Street", "Market Street"}, nanp(415, 628)},
			{"Austin", "Texas", "USA", "United States", 30.2672, -97.7431,
				[]string{"78701", "78704"}, []string{"Congress Avenue", "South Lamar Boulevard"}, nanp(512, 737)},
			{"Sydney", "New South Wales", "AUS", "Australia", -33.8688, 151.2093,
				[]string{"2000", "2010"}, []string{"George Street", "Oxford Street", "Crown Street"}, aus},
			{"Melbourne", "Victoria", "AUS", "Australia", -37.8136, 144.9631,
				[]string{"3000", "3065"}, []string{"Collins Street", "Brunswick Street"}, aus},
			{"Berlin", "Berlin", "DEU", "Germany", 52.52, 13.405,
				[]string{"10115", "10999", "12043"}, []string{"Friedrichstraße", "Oranienstraße", "Karl-Marx-Straße"}, deu},
			{"Munich", "Bavaria", "DEU", "Germany", 48.1351, 11.582,
				[]string{"80331", "80799"}, []string{"Leopoldstraße", "Sendlinger Straße"}, deu},
			{"Toronto", "Ontario", "CAN", "Canada", 43.6532, -79.3832,
				[]string{"M5V 2T6", "M4Y 1R5"}, []string{"Queen Street West", "Yonge Street", "King Street East"}, nanp(416, 647)},
			{"Montréal", "Quebec", "CAN", "Canada", 45.5019, -73.5674,
				[]string{"H2X 1Y4", "H3B 2Y5"}, []string{"Rue Sainte-Catherine", "Boulevard Saint-Laurent"}, nanp(514, 438)},
		},
		companies: []string{
			"Capgemini", "Doctolib", "BlaBlaCar", "Monzo", "Ocado Technology", "Deliveroo", "Stripe",
			"Shopify", "Atlassian", "Canva", "Zalando", "SAP", "Siemens", "N26", "Datadog", "Accenture",
			"BNP Paribas", "Barclays", "Commonwealth Bank", "Spotify", "Airbus", "Tesco", "Ubisoft",
			"Mairie de Lyon", "Royal Free London NHS Foundation Trust",
		},
		titles: []string{
			"Software Engineer", "Senior Data Scientist", "Product Manager", "UX Designer",
			"DevOps Engineer", "Account Executive", "Marketing Manager", "Financial Analyst",
			"HR Business Partner", "Project Manager", "Customer Success Manager", "Backend Developer",
			"Frontend Developer", "Registered Nurse", "Sales Director", "Talent Acquisition Specialist",
			"Business Analyst", "QA Engineer", "Mechanical Engineer", "Supply Chain Analyst",
			"Chargé de clientèle", "Werkstudent Softwareentwicklung",
		},
		schools: []string{
			"Université Paris-Saclay", "Sorbonne Université", "University of Oxford",
			"Imperial College London", "University of Manchester", "Columbia University",
			"Stanford University", "The University of Texas at Austin", "The University of Sydney",
			"University of Melbourne", "Technische Universität München", "Humboldt-Universität zu Berlin",
			"University of Toronto", "McGill University", "HEC Paris", "ETH Zürich",
		},
		degrees: []string{
			"Master of Science in Computer Science", "Bachelor of Arts in Economics", "MBA",
			"Bachelor of Engineering", "Master in Finance", "BSc Psychology", "Diplôme d'ingénieur",
			"PhD in Physics", "Licence en Droit", "Bachelor of Nursing", "Baccalauréat scientifique",
		},
		hardSkills: []string{
			"Python", "Go", "Java", "SQL", "Kubernetes", "AWS", "React", "TypeScript", "Excel",
			"Salesforce", "Tableau", "Figma", "Machine Learning", "Docker", "Terraform", "SAP",
			"Financial Modelling", "Agile", "Scrum", "Git", "C++", "Power BI",
		},
		softSkills: []string{
			"Communication", "Leadership", "Teamwork", "Problem solving", "Adaptability",
			"Time management", "Creativity", "Negotiation",
		},
		languages: []string{"English", "French", "German", "Spanish", "Japanese", "Mandarin", "Hindi", "Arabic", "Portuguese"},
		interests: []string{"football", "chess", "hiking", "photography", "cooking", "climbing", "jazz", "volunteering"},
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// chance is true with probability 1 in n.
func chance(r *rand.Rand, n int) bool { return r.IntN(n) == 0 }

// pickSome returns between lo and hi distinct elements of xs.
func pickSome[T any](r *rand.Rand, xs []T, lo, hi int) []T {
	n := min(lo+r.IntN(hi-lo+1), len(xs))
	out := make([]T, 0, n)
	for _, i := range r.Perm(len(xs))[:n] {
		out = append(out, xs[i])
	}
	return out
}

type object = map[string]any

// entry generates profile i of seed for sourceKey.
func (c *catalog) entry(sourceKey string, seed int64, i int) *entry {
	sum := sha256.Sum256(fmt.Appendf(nil, "hrflowtest/%d/%d", seed, i))
	key := hex.EncodeToString(sum[:20])
	r := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[20:28]), uint64(i)))

	first, last := pick(r, c.first), pick(r, c.last)
	fullName := first.name + " " + last.name
	home := pick(r, c.cities)
	created := c.epoch.Add(time.Duration(i)*10*time.Minute + time.Duration(r.IntN(600))*time.Second)
	updated := created.Add(time.Duration(r.IntN(90*24)) * time.Hour)
	reference := fmt.Sprintf("hrflowtest-%d-%d", seed, i)

	var email any
	emailText := ""
	if !chance(r, 50) {
		// The index makes emails unique within a call, the key prefix across seeds.
		emailText = fmt.Sprintf("%s.%s.%d.%s@%s", first.ascii, last.ascii, i, key[:6],
			pick(r, []string{"example.com", "example.org", "example.net"}))
		email = emailText
	}
	var phone any
	if !chance(r, 25) {
		phone = home.phone(r)
	}
	var birth any
	if !chance(r, 5) {
		birth = time.Date(1960+r.IntN(44), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(layoutZone)
	}

	experiences, expYears, end := c.experiences(r)
	educations, eduYears := c.educations(r, end)
	title := "Graduate"
	if len(experiences) > 0 {
		title = experiences[0]["title"].(string)
	}
	skills := slices.Concat(skillList(pickSome(r, c.hardSkills, 2, 6), "hard"), skillList(pickSome(r, c.softSkills, 0, 3), "soft"))
	languages := []any{object{"name": "English", "value": pick(r, []string{"Native", "Fluent", "Professional"})}}
	for _, l := range pickSome(r, c.languages[1:], 0, 2) {
		languages = append(languages, object{"name": l, "value": pick(r, []string{"Native", "Fluent", "Intermediate", "Beginner"})})
	}
	about := fmt.Sprintf("%s with %.0f years of experience, based in %s.", title, math.Round(expYears), home.name)

	e := &entry{key: key, reference: reference, createdAt: created, updatedAt: updated}
	attachments := []any{}
	if !chance(r, 10) {
		e.pdf = resumePDF(first.ascii+" "+last.ascii, emailText, title, key)
		e.files = map[string]bool{}
		attach := func(typ string) {
			name := typ + ".pdf"
			e.files[name] = true
			alt := sha256.Sum256(slices.Concat(e.pdf, []byte(typ)))
			attachments = append(attachments, object{
				"type": typ, "alt": hex.EncodeToString(alt[:20]), "file_size": len(e.pdf),
				"file_name": typ, "original_file_name": fmt.Sprintf("%s_%s_CV.pdf", first.ascii, last.ascii),
				"extension": ".pdf", "public_url": fileURL(sourceKey, key, name),
				"created_at": created.Format(layoutZone), "updated_at": created.Format(layoutZone),
			})
		}
		attach("resume")
		if chance(r, 3) {
			attach("original")
		}
	}

	// Every draw from r happens above this literal, in a fixed order.
	location, links := c.homeLocation(r, home), urls(r, first.ascii, last.ascii, key)
	license, interests, tags := pick(r, []any{nil, nil, "B"}), nameList(pickSome(r, c.interests, 0, 3)), c.tags(r)
	consent := object{"parsing": true, "revealing": false, "embedding": true, "searching": true, "scoring": true, "reasoning": false}
	profile := object{
		"id":         int64(binary.BigEndian.Uint32(sum[:4])),
		"key":        key,
		"reference":  reference,
		"source_key": sourceKey,
		"source": object{
			"key": sourceKey, "name": "hrflowtest", "type": "api", "subtype": "http", "environment": "sandbox",
		},
		"archived_at":         nil,
		"created_at":          created.Format(layoutZone),
		"updated_at":          updated.Format(layoutZone),
		"consent_algorithmic": object{"owner": consent, "controller": consent},
		"info": object{
			"full_name":       fullName,
			"first_name":      first.name,
			"last_name":       last.name,
			"email":           email,
			"phone":           phone,
			"date_birth":      birth,
			"driving_license": license,
			"location":        location,
			"urls":            links,
			"picture":         nil,
			"gender":          first.gender,
			"summary":         about,
		},
		"text_language":        "en",
		"text":                 strings.Join([]string{fullName, emailText, about, title}, " "),
		"experiences_duration": math.Round(expYears*100) / 100,
		"educations_duration":  math.Round(eduYears*100) / 100,
		"experiences":          experiences,
		"educations":           educations,
		"attachments":          attachments,
		"skills":               skills,
		"languages":            languages,
		"certifications":       []any{},
		"courses":              []any{},
		"tasks":                []any{},
		"interests":            interests,
		"labels":               []any{},
		"tags":                 tags,
		"metadatas":            []any{},
	}
	e.raw = mustJSON(profile)
	e.summary = summary(key, reference, sourceKey, mustJSON(profile["created_at"]), mustJSON(profile["updated_at"]))
	return e
}

// nameList returns {name, value: null} objects, the shape of interests, tasks, courses, ...
func nameList(names []string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, object{"name": n, "value": nil})
	}
	return out
}

// skillList returns skills of type typ (hard or soft).
func skillList(names []string, typ string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, object{"name": n, "type": typ, "value": nil})
	}
	return out
}

func (c *catalog) tags(r *rand.Rand) []any {
	out := []any{}
	if !chance(r, 4) {
		out = append(out, object{"name": "salary_expectation", "value": fmt.Sprint(35000 + 5000*r.IntN(20))})
	}
	if chance(r, 2) {
		out = append(out, object{"name": "availability", "value": pick(r, []string{"immediate", "1 month", "3 months"})})
	}
	if chance(r, 3) {
		out = append(out, object{"name": "remote", "value": r.IntN(2) == 0})
	}
	return out
}

// homeLocation is a street address in home; about 1 in 8 has an empty fields array.
func (c *catalog) homeLocation(r *rand.Rand, home city) object {
	number := fmt.Sprint(1 + r.IntN(180))
	road, postcode := pick(r, home.roads), pick(r, home.postcodes)
	var text string
	switch home.country {
	case "FRA":
		text = fmt.Sprintf("%s %s, %s %s, %s", number, road, postcode, home.name, home.countryName)
	case "DEU":
		text = fmt.Sprintf("%s %s, %s %s, %s", road, number, postcode, home.name, home.countryName)
	case "GBR":
		text = fmt.Sprintf("%s %s, %s %s, %s", number, road, home.name, postcode, home.countryName)
	default:
		text = fmt.Sprintf("%s %s, %s, %s %s, %s", number, road, home.name, home.state, postcode, home.countryName)
	}
	loc := object{
		"text": text, "lat": jitter(r, home.lat), "lng": jitter(r, home.lng), "gmaps": nil, "fields": []any{},
	}
	if !chance(r, 8) {
		loc["fields"] = object{
			"city": home.name, "country": home.country, "postcode": postcode, "state": home.state,
			"road": road, "house_number": number, "text": text,
			"category": nil, "city_district": nil, "country_region": nil, "suburb": nil, "unit": nil,
		}
	}
	return loc
}

// placeLocation is a city-level location, for experiences and educations.
func (c *catalog) placeLocation(r *rand.Rand) object {
	place := pick(r, c.cities)
	text := place.name + ", " + place.countryName
	loc := object{"text": text, "lat": nil, "lng": nil, "gmaps": nil, "fields": []any{}}
	if !chance(r, 3) {
		loc["lat"], loc["lng"] = jitter(r, place.lat), jitter(r, place.lng)
		loc["fields"] = object{"city": place.name, "country": place.country, "state": place.state, "text": text}
	}
	return loc
}

func jitter(r *rand.Rand, deg float64) float64 {
	return math.Round((deg+(r.Float64()-0.5)/20)*1e5) / 1e5
}

// urls are a profile's links: a list of {type, url}, or for about 1 in 20 the old object form.
func urls(r *rand.Rand, first, last, key string) any {
	var linkedin, github any
	if !chance(r, 7) {
		linkedin = fmt.Sprintf("https://www.linkedin.com/in/%s-%s-%s", first, last, key[:6])
	}
	if chance(r, 5) {
		github = fmt.Sprintf("https://github.com/%s%s", first, last)
	}
	if chance(r, 20) {
		return object{"linkedin": linkedin, "github": github, "twitter": nil, "facebook": nil}
	}
	return []any{
		object{"type": "from_resume", "url": nil},
		object{"type": "linkedin", "url": linkedin},
		object{"type": "twitter", "url": nil},
		object{"type": "facebook", "url": nil},
		object{"type": "github", "url": github},
	}
}

// experiences returns 0 to 4 jobs, most recent first, their total length in years and the
// start of the earliest one.
func (c *catalog) experiences(r *rand.Rand) ([]object, float64, time.Time) {
	n := r.IntN(5)
	out := make([]object, 0, n)
	end := c.today.AddDate(0, -r.IntN(4), 0)
	var years float64
	for j := range n {
		months := 6 + r.IntN(55)
		start := end.AddDate(0, -months, 0)
		years += float64(months) / 12
		layout := pick(r, []string{layoutZone, layoutNoZone})
		var dateEnd any = end.Format(layout)
		if j == 0 && !chance(r, 3) {
			dateEnd = nil // ongoing
		}
		company := pick(r, c.companies)
		out = append(out, object{
			"key": randomKey(r), "company": company, "logo": nil, "title": pick(r, c.titles),
			"description": "Worked at " + company + ".", "location": c.placeLocation(r),
			"date_start": start.Format(layout), "date_end": dateEnd,
			"skills": skillList(pickSome(r, c.hardSkills, 0, 3), "hard"),
			"tasks":  []any{}, "certifications": []any{}, "courses": []any{}, "languages": []any{}, "interests": []any{},
		})
		end = start.AddDate(0, -r.IntN(7), 0)
	}
	return out, years, end
}

// educations returns 0 to 3 degrees ending before before, most recent first, and their total
// length in years. About 1 in 10 has no dates.
func (c *catalog) educations(r *rand.Rand, before time.Time) ([]object, float64) {
	n := r.IntN(4)
	out := make([]object, 0, n)
	end := time.Date(before.Year(), time.September, 1, 0, 0, 0, 0, time.UTC)
	var years float64
	for range n {
		length := 1 + r.IntN(4)
		start := end.AddDate(-length, 0, 0)
		var dateStart, dateEnd any = start.Format(layoutNoZone), end.Format(layoutNoZone)
		if chance(r, 10) {
			dateStart, dateEnd = nil, nil
		} else {
			years += float64(length)
		}
		out = append(out, object{
			"key": randomKey(r), "school": pick(r, c.schools), "logo": nil, "title": pick(r, c.degrees),
			"description": "", "location": c.placeLocation(r), "date_start": dateStart, "date_end": dateEnd,
			"skills": []any{}, "tasks": []any{}, "certifications": []any{}, "courses": []any{}, "languages": []any{}, "interests": []any{},
		})
		end = start
	}
	return out, years
}

func randomKey(r *rand.Rand) string {
	var b [20]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return hex.EncodeToString(b[:])
}
