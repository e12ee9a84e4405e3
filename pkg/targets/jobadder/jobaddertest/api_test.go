package jobaddertest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

// fullCandidate uses every field of AddCandidateCommand.
func fullCandidate(email string) map[string]any {
	return map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "email": email, "phone": "+44 20 7946 0000",
		"mobile": "+44 7700 900000", "salutation": "Ms", "statusId": 3, "rating": "A", "source": "HrFlow",
		"seeking": "Yes", "unsubscribed": false, "summary": "Analyst", "dateOfBirth": "1815-12-10",
		"emergencyContact": "Charles", "emergencyPhone": "+44 20 7946 0001",
		"social":    map[string]any{"linkedin": "https://www.linkedin.com/in/ada"},
		"address":   map[string]any{"street": []string{"12 St James's Square"}, "city": "London", "state": "", "postalCode": "SW1Y 4JH", "countryCode": "GB"},
		"skillTags": []string{"mathematics", "engines"},
		"employment": map[string]any{
			"current": map[string]any{"employer": "Babbage", "position": "Analyst", "workTypeId": 2,
				"salary": map[string]any{"ratePer": "Year", "rate": 1000.5, "currency": "GBP"}},
			"ideal": map[string]any{"position": "Programmer", "workTypeId": nil,
				"salary": map[string]any{"ratePer": "Hour", "rateLow": 10, "rateHigh": 20, "currency": "GBP"},
				"other":  []any{map[string]any{"workTypeId": 1, "salary": map[string]any{"ratePer": "Day", "rateLow": 100}}}},
			"history": []any{map[string]any{"employer": "Babbage", "position": "Analyst", "start": "1842-09", "end": "Present", "description": "Notes"}},
		},
		"availability":    map[string]any{"immediate": false, "relative": map[string]any{"period": 2, "unit": "Week"}},
		"education":       []any{map[string]any{"institution": "Home", "course": "Mathematics", "date": "1833"}},
		"custom":          []any{map[string]any{"fieldId": 7, "value": "x"}, map[string]any{"fieldId": 8, "value": []string{"a", "b"}}},
		"recruiterUserId": []int{5},
	}
}

func TestAPIUnauthorized(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, jobaddertest.Config{})
	for name, token := range map[string]string{"no token": "", "unknown token": "nope"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, srv, token, http.MethodPost, "/v2/candidates", map[string]any{"firstName": "A"})
			wantStatus(t, res, http.StatusUnauthorized)
			if diff := cmp.Diff(errorModel{Message: "Unauthorized"}, decode[errorModel](t, res)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("scheme other than Bearer", func(t *testing.T) {
		t.Parallel()
		res := call(t, srv, "", http.MethodGet, "/v2/candidates", nil, "Authorization", "Basic "+srv.IssueToken().AccessToken)
		wantStatus(t, res, http.StatusUnauthorized)
	})
	t.Run("missing scope", func(t *testing.T) {
		t.Parallel()
		ro, _ := setup(t, jobaddertest.Config{Scopes: []string{"read"}})
		tok := ro.IssueToken().AccessToken
		wantStatus(t, call(t, ro, tok, http.MethodGet, "/v2/candidates", nil), http.StatusOK)
		wantStatus(t, call(t, ro, tok, http.MethodPost, "/v2/candidates", map[string]any{}), http.StatusForbidden)
	})
	if n := srv.State().Candidates; n != 0 {
		t.Errorf("%d candidates written", n)
	}
}

func TestCreateCandidate(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})

	res := call(t, srv, tok, http.MethodPost, "/v2/candidates", fullCandidate("ada@example.com"))
	wantStatus(t, res, http.StatusCreated)
	wantValid(t, res)
	got := decode[map[string]any](t, res)
	want := map[string]any{
		"candidateId": float64(1), "firstName": "Ada", "email": "ada@example.com", "source": "HrFlow",
		"status": map[string]any{"statusId": float64(3), "name": "Status 3", "active": true, "default": false},
		"links":  map[string]any{"self": srv.URL() + "/v2/candidates/1", "attachments": srv.URL() + "/v2/candidates/1/attachments"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if res.header.Get("Location") != srv.URL()+"/v2/candidates/1" {
		t.Errorf("Location %q", res.header.Get("Location"))
	}

	// A minimal candidate, and one with nulls where the document allows them.
	res = call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"firstName": "B"})
	wantStatus(t, res, http.StatusCreated)
	wantValid(t, res)
	res = call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"firstName": nil, "email": nil, "address": map[string]any{"city": nil}})
	wantStatus(t, res, http.StatusCreated)
	wantValid(t, res)

	res = call(t, srv, tok, http.MethodGet, "/v2/candidates/1", nil)
	wantStatus(t, res, http.StatusOK)
	wantValid(t, res)
	if diff := cmp.Diff(got, decode[map[string]any](t, res)); diff != "" {
		t.Errorf("GET differs from POST answer (-post +get):\n%s", diff)
	}
	wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates/99", nil), http.StatusNotFound)
	wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates/abc", nil), http.StatusNotFound)

	cands := srv.Candidates()
	if len(cands) != 3 || cands[0].ID != 1 || cands[0].Email != "ada@example.com" || cands[0].Source != "HrFlow" ||
		cands[0].FirstName != "Ada" || !strings.Contains(string(cands[0].Body), `"postalCode":"SW1Y 4JH"`) {
		t.Errorf("Candidates() = %+v", cands)
	}
	if st := srv.State(); st.Requests["POST /v2/candidates 201"] != 3 || st.Requests["GET /v2/candidates/{candidateId} 404"] != 2 {
		t.Errorf("requests %v", st.Requests)
	}
}

func TestDuplicateEmail(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "ada@example.com"}), http.StatusCreated)

	dup := map[string]any{"firstName": "Ada", "email": "  ADA@Example.com "}
	res := call(t, srv, tok, http.MethodPost, "/v2/candidates", dup)
	wantStatus(t, res, http.StatusConflict)
	wantValid(t, res)
	want := errorModel{Message: "Candidate with this email already exists", Errors: []jobaddertest.ErrorItem{{
		Code: "AlreadyExists", Message: "Candidate with this email already exists", Fields: []string{"email"},
	}}}
	if diff := cmp.Diff(want, decode[errorModel](t, res)); diff != "" {
		t.Errorf("409 body (-want +got):\n%s", diff)
	}
	code := res.header.Get("X-Allow-Duplicates")
	if code == "" || code == "true" {
		t.Fatalf("X-Allow-Duplicates %q, want an override code", code)
	}

	for _, wrong := range []string{"true", "1", code + "x"} {
		res = call(t, srv, tok, http.MethodPost, "/v2/candidates", dup, "X-Allow-Duplicates", wrong)
		wantStatus(t, res, http.StatusConflict)
		if res.header.Get("X-Allow-Duplicates") != code {
			t.Errorf("override code changed")
		}
	}
	res = call(t, srv, tok, http.MethodPost, "/v2/candidates", dup, "X-Allow-Duplicates", code)
	wantStatus(t, res, http.StatusCreated)
	wantValid(t, res)

	// A code is tied to its email.
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "bob@example.com"}), http.StatusCreated)
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "bob@example.com"}, "X-Allow-Duplicates", code), http.StatusConflict)

	// No email, no conflict.
	for range 2 {
		wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"firstName": "Anon"}), http.StatusCreated)
	}

	st := srv.State()
	if st.Candidates != 5 || st.AllowedDuplicates != 1 || st.DuplicateConflicts != 5 {
		t.Errorf("candidates %d, allowed duplicates %d, conflicts %d; want 5, 1, 5", st.Candidates, st.AllowedDuplicates, st.DuplicateConflicts)
	}
	if diff := cmp.Diff([]string{"ada@example.com"}, st.Duplicates); diff != "" {
		t.Errorf("duplicates (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"ada@example.com": 2, "bob@example.com": 1}, st.CandidatesByEmail); diff != "" {
		t.Errorf("by email (-want +got):\n%s", diff)
	}
	if c := srv.Candidates()[1]; !c.AllowedDuplicate || c.Email != "  ADA@Example.com " {
		t.Errorf("duplicate %+v", c)
	}
}

func TestUpdateCandidate(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", fullCandidate("ada@example.com")), http.StatusCreated)
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"email": "bob@example.com"}), http.StatusCreated)

	update := fullCandidate("ada@example.com")
	delete(update, "source") // not part of UpdateCandidateCommand
	update["lastName"] = "King"
	res := call(t, srv, tok, http.MethodPut, "/v2/candidates/1", update)
	wantStatus(t, res, http.StatusOK)
	wantValid(t, res)
	if len(res.body) != 0 {
		t.Errorf("PUT answered a body: %s", res.body)
	}
	got := decode[map[string]any](t, call(t, srv, tok, http.MethodGet, "/v2/candidates/1", nil))
	if got["lastName"] != "King" || got["source"] != "HrFlow" {
		t.Errorf("after PUT: lastName %v, source %v", got["lastName"], got["source"])
	}

	t.Run("source is refused", func(t *testing.T) {
		res := call(t, srv, tok, http.MethodPut, "/v2/candidates/1", map[string]any{"source": "HrFlow"})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantFields(t, res, "source")
	})
	t.Run("unknown candidate", func(t *testing.T) {
		wantStatus(t, call(t, srv, tok, http.MethodPut, "/v2/candidates/42", map[string]any{"firstName": "X"}), http.StatusNotFound)
	})
	t.Run("email of another candidate", func(t *testing.T) {
		res := call(t, srv, tok, http.MethodPut, "/v2/candidates/1", map[string]any{"email": "Bob@example.com"})
		wantStatus(t, res, http.StatusConflict)
		wantValid(t, res)
		code := res.header.Get("X-Allow-Duplicates")
		res = call(t, srv, tok, http.MethodPut, "/v2/candidates/1", map[string]any{"email": "Bob@example.com"}, "X-Allow-Duplicates", code)
		wantStatus(t, res, http.StatusOK)
		// Its own email never conflicts.
		wantStatus(t, call(t, srv, tok, http.MethodPut, "/v2/candidates/1", map[string]any{"email": "bob@example.com"}), http.StatusOK)
	})

	st := srv.State()
	if diff := cmp.Diff(map[string]int{"bob@example.com": 2}, st.CandidatesByEmail); diff != "" {
		t.Errorf("by email (-want +got):\n%s", diff)
	}
	if st.AllowedDuplicates != 1 {
		t.Errorf("allowed duplicates %d", st.AllowedDuplicates)
	}
	if c := srv.Candidates()[0]; c.Source != "HrFlow" || c.Email != "bob@example.com" || strings.Contains(string(c.Body), "King") {
		t.Errorf("candidate %+v", c)
	}
}

func wantFields(t *testing.T, res response, fields ...string) {
	t.Helper()
	body := decode[errorModel](t, res)
	var got []string
	for _, e := range body.Errors {
		got = append(got, e.Fields...)
	}
	if diff := cmp.Diff(fields, got); diff != "" || body.Message == "" {
		t.Errorf("fields of %s (-want +got):\n%s", res.body, diff)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        any
		contentType string
		status      int
		fields      []string
		code        string
	}{
		{name: "postcode in address", body: map[string]any{"address": map[string]any{"postcode": "SW1"}}, fields: []string{"address.postcode"}},
		{name: "firstName of 51", body: map[string]any{"firstName": strings.Repeat("a", 51)}, fields: []string{"firstName"}},
		{name: "email of 101", body: map[string]any{"email": strings.Repeat("a", 91) + "@x.example"}, fields: []string{"email"}},
		{name: "educations", body: map[string]any{"educations": []any{}}, fields: []string{"educations"}},
		{name: "employments", body: map[string]any{"employments": []any{}}, fields: []string{"employments"}},
		{name: "FirstName", body: map[string]any{"FirstName": "Ada"}, fields: []string{"FirstName"}},
		{name: "country in address", body: map[string]any{"address": map[string]any{"country": "France"}}, fields: []string{"address.country"}},
		{name: "nested unknown", body: map[string]any{"education": []any{map[string]any{"school": "X"}}}, fields: []string{"education[0].school"}},
		{name: "statusId string", body: map[string]any{"statusId": "3"}, fields: []string{"statusId"}},
		{name: "statusId beyond int32", body: map[string]any{"statusId": 1 << 40}, fields: []string{"statusId"}},
		{name: "firstName number", body: map[string]any{"firstName": 7}, fields: []string{"firstName"}},
		{name: "street string", body: map[string]any{"address": map[string]any{"street": "1 Main St"}}, fields: []string{"address.street"}},
		{name: "unsubscribed null", body: map[string]any{"unsubscribed": nil}, fields: []string{"unsubscribed"}},
		{name: "dateOfBirth not ISO", body: map[string]any{"dateOfBirth": "10/12/1815"}, fields: []string{"dateOfBirth"}},
		{name: "seeking enum", body: map[string]any{"seeking": "Perhaps"}, fields: []string{"seeking"}},
		{name: "ratePer enum", body: map[string]any{"employment": map[string]any{"current": map[string]any{"salary": map[string]any{"ratePer": "Annum"}}}}, fields: []string{"employment.current.salary.ratePer"}},
		{name: "101 skillTags", body: map[string]any{"skillTags": make([]string, 101)}, fields: []string{"skillTags"}},
		{name: "custom without fieldId", body: map[string]any{"custom": []any{map[string]any{"value": "x"}}}, fields: []string{"custom[0].fieldId"}, code: "Missing"},
		{name: "two errors", body: map[string]any{"firstName": strings.Repeat("a", 51), "postcode": "x"}, fields: []string{"firstName", "postcode"}},
		{name: "empty body", body: "", fields: nil, code: "Missing"},
		{name: "null body", body: "null", fields: nil},
		{name: "malformed JSON", body: `{"firstName":`, fields: nil},
		{name: "array body", body: `[]`, fields: nil},
		{name: "text/plain", body: `{"firstName":"Ada"}`, contentType: "text/plain", status: http.StatusUnsupportedMediaType},
		{name: "no Content-Type", body: `{"firstName":"Ada"}`, contentType: "-", status: http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, tok := setup(t, jobaddertest.Config{})
			var header []string
			switch tt.contentType {
			case "":
			case "-":
				header = []string{"Content-Type", ""}
			default:
				header = []string{"Content-Type", tt.contentType}
			}
			res := call(t, srv, tok, http.MethodPost, "/v2/candidates", tt.body, header...)
			want := tt.status
			if want == 0 {
				want = http.StatusUnprocessableEntity
			}
			wantStatus(t, res, want)
			if want == http.StatusUnprocessableEntity {
				wantValid(t, res)
				body := decode[errorModel](t, res)
				var fields []string
				for _, e := range body.Errors {
					fields = append(fields, e.Fields...)
					if e.Code != cmpOr(tt.code, "Invalid") || e.Message == "" {
						t.Errorf("error item %+v", e)
					}
				}
				if diff := cmp.Diff(tt.fields, fields); diff != "" {
					t.Errorf("fields (-want +got):\n%s\nbody: %s", diff, res.body)
				}
			}
			st := srv.State()
			if st.Candidates != 0 || st.ValidationFailures != 1 || len(st.RecentFailures) != 1 ||
				st.RecentFailures[0].Request != "POST /v2/candidates" || st.RecentFailures[0].Status != want {
				t.Errorf("state: %d candidates, failures %d %+v", st.Candidates, st.ValidationFailures, st.RecentFailures)
			}
		})
	}

	t.Run("limits are inclusive", func(t *testing.T) {
		t.Parallel()
		srv, tok := setup(t, jobaddertest.Config{})
		res := call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{
			"firstName": strings.Repeat("é", 50), "salutation": strings.Repeat("a", 20),
			"skillTags": make([]string, 100), "statusId": 1<<31 - 1, "dateOfBirth": "2000-02-29",
		}, "Content-Type", "application/json; charset=utf-8")
		wantStatus(t, res, http.StatusCreated)
	})

	t.Run("recent failures are capped", func(t *testing.T) {
		t.Parallel()
		srv, tok := setup(t, jobaddertest.Config{MaxRecentFailures: 2})
		for i := range 3 {
			call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{fmt.Sprint("x", i): 1})
		}
		st := srv.State()
		if st.ValidationFailures != 3 || len(st.RecentFailures) != 2 || st.RecentFailures[1].Errors[0].Fields[0] != "x2" {
			t.Errorf("failures %d %+v", st.ValidationFailures, st.RecentFailures)
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestFindCandidates(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	for _, c := range []map[string]any{
		{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "mobile": "0700"},
		{"firstName": "Bob", "lastName": "Smith", "email": "bob@example.com"},
		{"firstName": "Ada", "lastName": "Byron", "phone": "0800"},
	} {
		wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", c), http.StatusCreated)
	}
	ids := func(res response) []float64 {
		t.Helper()
		wantStatus(t, res, http.StatusOK)
		wantValid(t, res)
		var got []float64
		for _, it := range decode[struct{ Items []map[string]any }](t, res).Items {
			got = append(got, it["candidateId"].(float64))
		}
		return got
	}
	tests := map[string]struct {
		query string
		want  []float64
	}{
		"all":                  {"", []float64{1, 2, 3}},
		"Email":                {"?Email=ADA@example.com", []float64{1}},
		"email, any case":      {"?email=%20bob@example.com", []float64{2}},
		"Name":                 {"?name=ada", []float64{1, 3}},
		"full name":            {"?Name=ada%20byron", []float64{3}},
		"Phone matches mobile": {"?Phone=0700", []float64{1}},
		"CandidateId":          {"?CandidateId=1&candidateid=3", []float64{1, 3}},
		"no match":             {"?Email=nobody@example.com", nil},
		"page":                 {"?Offset=1&Limit=1", []float64{2}},
		"unknown parameter":    {"?foo=bar", []float64{1, 2, 3}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, ids(call(t, srv, tok, http.MethodGet, "/v2/candidates"+tt.query, nil))); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("links and count", func(t *testing.T) {
		t.Parallel()
		res := call(t, srv, tok, http.MethodGet, "/v2/candidates?Name=o&Limit=1&Offset=1", nil)
		got := decode[struct {
			TotalCount int
			Links      map[string]string
		}](t, res)
		base := srv.URL() + "/v2/candidates?"
		want := map[string]string{
			"first": base + "Limit=1&Name=o&Offset=0", "prev": base + "Limit=1&Name=o&Offset=0",
			"next": base + "Limit=1&Name=o&Offset=2", "last": base + "Limit=1&Name=o&Offset=2",
		}
		if diff := cmp.Diff(want, got.Links); diff != "" || got.TotalCount != 3 {
			t.Errorf("total %d, links (-want +got):\n%s", got.TotalCount, diff)
		}
		res = call(t, srv, tok, http.MethodGet, "/v2/candidates?Limit=0", nil)
		wantValid(t, res)
		if string(res.body) != `{"totalCount":3}` {
			t.Errorf("Limit=0: %s", res.body)
		}
	})
	for name, q := range map[string]string{"Limit over 1000": "?Limit=1001", "Limit negative": "?Limit=-1", "Offset not a number": "?offset=x", "CandidateId not a number": "?CandidateId=x"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, srv, tok, http.MethodGet, "/v2/candidates"+q, nil)
			wantStatus(t, res, http.StatusUnprocessableEntity)
		})
	}
	t.Run("unimplemented filter", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates?city=London", nil), http.StatusNotImplemented)
	})
	t.Run("ignored parameters are counted", func(t *testing.T) {
		t.Parallel()
		call(t, srv, tok, http.MethodGet, "/v2/candidates?bar=1", nil)
		if got := srv.State().IgnoredFields["GET /v2/candidates: query bar"]; got != 1 {
			t.Errorf("ignored fields %v", srv.State().IgnoredFields)
		}
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v2/jobs", http.StatusNotFound},
		{http.MethodDelete, "/v2/candidates/1", http.StatusMethodNotAllowed},
		{http.MethodPut, "/v2/candidates/1/attachments/1", http.StatusNotImplemented},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			wantStatus(t, call(t, srv, tok, tt.method, tt.path, nil), tt.status)
		})
	}
}
