package bullhorntest_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

func ada() map[string]any {
	return map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "name": "Ada Lovelace", "email": "ada@example.com",
		"phone": "+44 20 7946 0000", "occupation": "Analyst", "source": "HrFlow", "externalID": "hrflow:abc",
		"dateOfBirth": int64(-4906915200000), "experience": 12, "gender": "F", "willRelocate": true,
		"address":     map[string]any{"address1": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH", "countryID": 2359},
		"description": strings.Repeat("Resume text. ", 1000),
	}
}

func TestCandidateCRUD(t *testing.T) {
	t.Parallel()
	srv, sess, clk := setupSession(t, bullhorntest.Config{})

	res := call(t, sess, http.MethodPut, "entity/Candidate", ada())
	wantStatus(t, res, http.StatusOK)
	created := decode[crud](t, res)
	if created.ChangedEntityType != "Candidate" || created.ChangeType != "INSERT" || created.ChangedEntityID == 0 {
		t.Fatalf("create: %+v", created)
	}
	if created.Data["email"] != "ada@example.com" {
		t.Errorf("create data %v", created.Data)
	}
	id := strconv.Itoa(created.ChangedEntityID)

	res = call(t, sess, http.MethodGet, "entity/Candidate/"+id+"?fields=firstName,name,email,dateOfBirth,address(city,countryID),isDeleted,dateAdded", nil)
	wantStatus(t, res, http.StatusOK)
	got := decode[map[string]map[string]any](t, res)["data"]
	want := map[string]any{
		"id": float64(created.ChangedEntityID), "firstName": "Ada", "name": "Ada Lovelace", "email": "ada@example.com",
		"dateOfBirth": float64(-4906915200000), "address": map[string]any{"city": "London", "countryID": float64(2359)},
		"isDeleted": false, "dateAdded": float64(clk.Now().UnixMilli()),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}

	clk.Advance(time.Minute)
	res = call(t, sess, http.MethodPost, "entity/Candidate/"+id, map[string]any{
		"id": created.ChangedEntityID, "mobile": "+44 7700 900000", "address": map[string]any{"zip": "SW1Y 4JJ"},
	})
	wantStatus(t, res, http.StatusOK)
	if u := decode[crud](t, res); u.ChangeType != "UPDATE" || u.ChangedEntityID != created.ChangedEntityID {
		t.Errorf("update: %+v", u)
	}
	res = call(t, sess, http.MethodGet, "entity/Candidate/"+id+"?fields=*", nil)
	wantStatus(t, res, http.StatusOK)
	all := decode[map[string]map[string]any](t, res)["data"]
	addr, _ := all["address"].(map[string]any)
	if all["mobile"] != "+44 7700 900000" || all["firstName"] != "Ada" || addr["zip"] != "SW1Y 4JJ" || addr["city"] != "London" {
		t.Errorf("after update: %v", all)
	}
	if all["dateLastModified"] != float64(clk.Now().UnixMilli()) {
		t.Errorf("dateLastModified %v", all["dateLastModified"])
	}

	for name, tc := range map[string]struct {
		method, path string
		body         any
		status       int
	}{
		"GET unknown id":        {http.MethodGet, "entity/Candidate/1?fields=id", nil, http.StatusNotFound},
		"POST unknown id":       {http.MethodPost, "entity/Candidate/1", map[string]any{"firstName": "X"}, http.StatusNotFound},
		"GET without fields":    {http.MethodGet, "entity/Candidate/" + id, nil, http.StatusBadRequest},
		"GET unknown field":     {http.MethodGet, "entity/Candidate/" + id + "?fields=id,foo", nil, http.StatusBadRequest},
		"GET bad id":            {http.MethodGet, "entity/Candidate/abc?fields=id", nil, http.StatusBadRequest},
		"DELETE":                {http.MethodDelete, "entity/Candidate/" + id, nil, http.StatusNotImplemented},
		"other entity":          {http.MethodPut, "entity/JobOrder", map[string]any{"title": "x"}, http.StatusNotImplemented},
		"query Candidate":       {http.MethodGet, "query/Candidate?where=id=1&fields=id", nil, http.StatusBadRequest},
		"body not an object":    {http.MethodPut, "entity/Candidate", "[1]", http.StatusBadRequest},
		"malformed JSON":        {http.MethodPut, "entity/Candidate", `{"firstName":`, http.StatusBadRequest},
		"two JSON values":       {http.MethodPut, "entity/Candidate", `{} {}`, http.StatusBadRequest},
		"GET entity/Candidate":  {http.MethodGet, "entity/Candidate", nil, http.StatusMethodNotAllowed},
		"layout not modelled":   {http.MethodGet, "entity/Candidate/" + id + "?layout=Default", nil, http.StatusNotImplemented},
		"to-many not modelled":  {http.MethodGet, "entity/Candidate/" + id + "/placements?fields=id", nil, http.StatusNotImplemented},
		"not an association":    {http.MethodGet, "entity/Candidate/" + id + "/email?fields=id", nil, http.StatusBadRequest},
		"unknown REST resource": {http.MethodGet, "nothing", nil, http.StatusNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, sess, tc.method, tc.path, tc.body)
			wantStatus(t, res, tc.status)
			if e := decode[apiError](t, res); e.ErrorMessage == "" {
				t.Errorf("no errorMessage: %s", res.body)
			}
		})
	}
	t.Run("several ids", func(t *testing.T) {
		t.Parallel()
		res := call(t, sess, http.MethodGet, "entity/Candidate/1,"+id+"?fields=email", nil)
		wantStatus(t, res, http.StatusOK)
		if data := decode[map[string][]map[string]any](t, res)["data"]; len(data) != 1 || data[0]["email"] != "ada@example.com" {
			t.Errorf("data %v", data)
		}
	})
	t.Cleanup(func() {
		if st := srv.State(); st.Candidates != 1 || st.CreatedWithoutName != 0 {
			t.Errorf("candidates %d, without name %d", st.Candidates, st.CreatedWithoutName)
		}
	})
}

func TestCandidateValidation(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{})
	with := func(k string, v any) map[string]any {
		m := map[string]any{"firstName": "Ada", "lastName": "Lovelace", "name": "Ada Lovelace"}
		m[k] = v
		return m
	}
	for name, tc := range map[string]struct {
		body     map[string]any
		property string
		typ      string
	}{
		"unknown field":           {with("content_type", "x"), "content_type", "UNKNOWN_PROPERTY"},
		"field of another entity": {with("title", "x"), "title", "UNKNOWN_PROPERTY"},
		"firstName too long":      {with("firstName", strings.Repeat("a", 51)), "firstName", "INVALID_SIZE"},
		"occupation too long":     {with("occupation", strings.Repeat("a", 51)), "occupation", "INVALID_SIZE"},
		"email too long":          {with("email", strings.Repeat("a", 90)+"@example.com"), "email", "INVALID_SIZE"},
		"phone too long":          {with("phone", strings.Repeat("1", 21)), "phone", "INVALID_SIZE"},
		"gender spelled out":      {with("gender", "Female"), "gender", "INVALID_SIZE"},
		"string date":             {with("dateOfBirth", "1815-12-10"), "dateOfBirth", "INVALID_TYPE"},
		"fractional date":         {with("dateAvailable", 1.5e12+0.5), "dateAvailable", "INVALID_TYPE"},
		"string experience":       {with("experience", "12"), "experience", "INVALID_TYPE"},
		"number as string field":  {with("phone", 123), "phone", "INVALID_TYPE"},
		"string boolean":          {with("willRelocate", "true"), "willRelocate", "INVALID_TYPE"},
		"id in create":            {with("id", 5), "id", "READ_ONLY_PROPERTY"},
		"dateAdded in create":     {with("dateAdded", 1), "dateAdded", "READ_ONLY_PROPERTY"},
		"to-many in body":         {with("educations", []any{map[string]any{"school": "x"}}), "educations", "INVALID_ASSOCIATION"},
		"to-one not an object":    {with("owner", 1), "owner", "INVALID_ASSOCIATION"},
		"to-one with extra keys":  {with("owner", map[string]any{"id": 1, "name": "x"}), "owner", "INVALID_ASSOCIATION"},
		"address unknown field":   {with("address", map[string]any{"postcode": "x"}), "address.postcode", "UNKNOWN_PROPERTY"},
		"address city too long":   {with("address", map[string]any{"city": strings.Repeat("c", 41)}), "address.city", "INVALID_SIZE"},
		"address string country":  {with("address", map[string]any{"countryID": "GB"}), "address.countryID", "INVALID_TYPE"},
		"null firstName":          {with("firstName", nil), "firstName", "NULL_NOT_ALLOWED"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, sess, http.MethodPut, "entity/Candidate", tc.body)
			wantStatus(t, res, http.StatusBadRequest)
			e := decode[apiError](t, res)
			if e.ErrorMessage != "error persisting an entity of type: Candidate" || e.EntityName != "Candidate" || len(e.Errors) != 1 {
				t.Fatalf("body %s", res.body)
			}
			if got := e.Errors[0]; got.PropertyName != tc.property || got.Type != tc.typ || !strings.Contains(got.DetailMessage, tc.property) {
				t.Errorf("error %+v, want %s on %s", got, tc.typ, tc.property)
			}
		})
	}
	t.Run("every error is listed", func(t *testing.T) {
		t.Parallel()
		body := with("content_type", "x")
		body["dateOfBirth"] = "1815"
		res := call(t, sess, http.MethodPut, "entity/Candidate", body)
		wantStatus(t, res, http.StatusBadRequest)
		var props []string
		for _, e := range decode[apiError](t, res).Errors {
			props = append(props, e.PropertyName)
		}
		if diff := cmp.Diff([]string{"content_type", "dateOfBirth"}, props); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("limits are inclusive", func(t *testing.T) {
		t.Parallel()
		body := with("firstName", strings.Repeat("é", 50))
		body["email"] = strings.Repeat("a", 88) + "@example.com"
		body["owner"] = map[string]any{"id": 1}
		body["dateOfBirth"] = nil
		wantStatus(t, call(t, sess, http.MethodPut, "entity/Candidate", body), http.StatusOK)
	})
	t.Run("update refuses what create refuses", func(t *testing.T) {
		t.Parallel()
		id := strconv.Itoa(createCandidate(t, sess, with("email", "v@example.com")))
		for _, body := range []map[string]any{{"id": 1}, {"dateOfBirth": "2000-01-01"}, {"foo": 1}} {
			wantStatus(t, call(t, sess, http.MethodPost, "entity/Candidate/"+id, body), http.StatusBadRequest)
		}
	})
	t.Cleanup(func() {
		// Only "limits are inclusive" and "update refuses" created anyone.
		if st := srv.State(); st.Candidates != 2 {
			t.Errorf("%d candidates stored", st.Candidates)
		}
	})
}

func TestNameIsNotDerived(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{})
	id := createCandidate(t, sess, map[string]any{"firstName": "Ada", "lastName": "Lovelace"})
	res := call(t, sess, http.MethodGet, "entity/Candidate/"+strconv.Itoa(id)+"?fields=name", nil)
	wantStatus(t, res, http.StatusOK)
	if data := decode[map[string]map[string]any](t, res)["data"]; data["name"] != nil {
		t.Errorf("name %v, want null", data["name"])
	}
	if st := srv.State(); st.CreatedWithoutName != 1 {
		t.Errorf("CreatedWithoutName %d", st.CreatedWithoutName)
	}
}

func TestEducationAndWorkHistory(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{})
	cid := createCandidate(t, sess, map[string]any{"firstName": "Ada", "lastName": "Lovelace", "name": "Ada Lovelace"})
	cand := map[string]any{"id": cid}
	job := func(title string) map[string]any {
		return map[string]any{"candidate": cand, "title": title, "companyName": "Babbage & Co", "startDate": int64(1262304000000), "isLastJob": true}
	}

	res := call(t, sess, http.MethodPut, "entity/CandidateWorkHistory", job(strings.Repeat("t", 50)))
	wantStatus(t, res, http.StatusOK)
	wh := decode[crud](t, res)
	if wh.ChangedEntityType != "CandidateWorkHistory" || wh.ChangeType != "INSERT" {
		t.Errorf("%+v", wh)
	}
	wantStatus(t, call(t, sess, http.MethodPut, "entity/CandidateWorkHistory", job(strings.Repeat("t", 50))), http.StatusOK) // a duplicate row
	res = call(t, sess, http.MethodPut, "entity/CandidateEducation", map[string]any{
		"candidate": cand, "school": "Home", "degree": "None", "city": "London", "endDate": int64(1262304000), // seconds!
	})
	wantStatus(t, res, http.StatusOK)
	edu := decode[crud](t, res).ChangedEntityID

	for name, tc := range map[string]struct {
		entity   string
		body     map[string]any
		property string
	}{
		"title of 51":         {"CandidateWorkHistory", job(strings.Repeat("t", 51)), "title"},
		"isLastJob as string": {"CandidateWorkHistory", map[string]any{"candidate": cand, "isLastJob": "yes"}, "isLastJob"},
		"no candidate":        {"CandidateWorkHistory", map[string]any{"title": "x"}, "candidate"},
		"unknown candidate":   {"CandidateEducation", map[string]any{"candidate": map[string]any{"id": 1}, "school": "x"}, "candidate"},
		"education as id":     {"CandidateEducation", map[string]any{"candidate": map[string]any{"id": edu}}, "candidate"},
		"city of 41":          {"CandidateEducation", map[string]any{"candidate": cand, "city": strings.Repeat("c", 41)}, "city"},
		"string date":         {"CandidateEducation", map[string]any{"candidate": cand, "startDate": "2010-01"}, "startDate"},
		"candidate field":     {"CandidateEducation", map[string]any{"candidate": cand, "title": "x"}, "title"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, sess, http.MethodPut, "entity/"+tc.entity, tc.body)
			wantStatus(t, res, http.StatusBadRequest)
			e := decode[apiError](t, res)
			if len(e.Errors) != 1 || e.Errors[0].PropertyName != tc.property || e.EntityName != tc.entity {
				t.Errorf("body %s", res.body)
			}
		})
	}

	t.Run("associations", func(t *testing.T) {
		t.Parallel()
		res := call(t, sess, http.MethodGet, "entity/Candidate/"+strconv.Itoa(cid)+"/workHistories?fields=id,title,candidate,isLastJob", nil)
		wantStatus(t, res, http.StatusOK)
		list := decode[searchResult](t, res)
		if list.Total != 2 || len(list.Data) != 2 || list.Data[0]["isLastJob"] != true {
			t.Fatalf("work histories %s", res.body)
		}
		if c, _ := list.Data[0]["candidate"].(map[string]any); c["id"] != float64(cid) || c["firstName"] != "Ada" {
			t.Errorf("candidate %v", list.Data[0]["candidate"])
		}
		res = call(t, sess, http.MethodGet, "entity/Candidate/"+strconv.Itoa(cid)+"?fields=educations(id,school),workHistories", nil)
		wantStatus(t, res, http.StatusOK)
		data := decode[map[string]map[string]any](t, res)["data"]
		edus, _ := data["educations"].(map[string]any)
		rows, _ := edus["data"].([]any)
		if edus["total"] != float64(1) || len(rows) != 1 || rows[0].(map[string]any)["school"] != "Home" {
			t.Errorf("nested educations %v", data["educations"])
		}
		wantStatus(t, call(t, sess, http.MethodGet, "entity/Candidate/1/educations?fields=id", nil), http.StatusNotFound)
	})

	t.Run("update moves a row", func(t *testing.T) {
		t.Parallel()
		other := createCandidate(t, sess, map[string]any{"firstName": "Charles", "lastName": "Babbage", "name": "Charles Babbage"})
		id := createRow(t, sess, "CandidateEducation", map[string]any{"candidate": map[string]any{"id": other}, "school": "Cambridge"})
		res := call(t, sess, http.MethodPost, "entity/CandidateEducation/"+strconv.Itoa(id), map[string]any{"major": "Mathematics", "isDeleted": true})
		wantStatus(t, res, http.StatusOK)
		res = call(t, sess, http.MethodGet, "entity/CandidateEducation/"+strconv.Itoa(id)+"?fields=school,major,isDeleted", nil)
		wantStatus(t, res, http.StatusOK)
		want := map[string]any{"id": float64(id), "school": "Cambridge", "major": "Mathematics", "isDeleted": true}
		if diff := cmp.Diff(want, decode[map[string]map[string]any](t, res)["data"]); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Cleanup(func() {
		st := srv.State()
		if st.WorkHistories[cid] != 2 || st.DuplicateWorkHistories[cid] != 1 || st.Educations[cid] != 1 || st.SuspectTimestamps != 1 {
			t.Errorf("work histories %v (duplicates %v), educations %v, suspect timestamps %d",
				st.WorkHistories, st.DuplicateWorkHistories, st.Educations, st.SuspectTimestamps)
		}
		c := srv.Candidates()[0]
		if len(c.WorkHistories) != 2 || c.WorkHistories[0].Fields["title"] != strings.Repeat("t", 50) {
			t.Errorf("Candidates()[0] = %+v", c)
		}
	})
}

func createRow(t *testing.T, sess bullhorntest.Session, entity string, fields map[string]any) int {
	t.Helper()
	res := call(t, sess, http.MethodPut, "entity/"+entity, fields)
	wantStatus(t, res, http.StatusOK)
	return decode[crud](t, res).ChangedEntityID
}

func TestAllFieldsNotAllowed(t *testing.T) {
	t.Parallel()
	_, sess, _ := setupSession(t, bullhorntest.Config{AllFieldsNotAllowed: true})
	id := createCandidate(t, sess, map[string]any{"firstName": "A", "lastName": "B", "name": "A B"})
	res := call(t, sess, http.MethodGet, "entity/Candidate/"+strconv.Itoa(id)+"?fields=*", nil)
	wantStatus(t, res, http.StatusBadRequest)
	if e := decode[apiError](t, res); e.ErrorMessageKey != "errors.allFieldsNotAllowed" {
		t.Errorf("body %s", res.body)
	}
}
