package bullhorntest_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

// dedupQuery is the email lookup a client makes before creating a candidate, with the address
// escaped for Lucene.
func dedupQuery(email string) string {
	var b strings.Builder
	for _, r := range email {
		if strings.ContainsRune(`+-&|!(){}[]^"~*?:\/@.`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	e := b.String()
	return "(email:" + e + " OR email2:" + e + " OR email3:" + e + ") AND isDeleted:0"
}

func TestSearchIndexLag(t *testing.T) {
	t.Parallel()
	srv, sess, clk := setupSession(t, bullhorntest.Config{IndexLag: 30 * time.Second})
	id := createCandidate(t, sess, map[string]any{"firstName": "Ada", "lastName": "Lovelace", "name": "Ada Lovelace", "email": "Ada@Example.com"})

	find := func() searchResult {
		res := search(t, sess, dedupQuery("ada@example.com"), "id,email,firstName")
		wantStatus(t, res, http.StatusOK)
		return decode[searchResult](t, res)
	}
	if got := find(); got.Total != 0 || len(got.Data) != 0 {
		t.Fatalf("found before the index caught up: %+v", got)
	}
	if st := srv.State(); st.PendingIndex != 1 {
		t.Errorf("PendingIndex %d", st.PendingIndex)
	}
	clk.Advance(29 * time.Second)
	if got := find(); got.Total != 0 {
		t.Fatalf("found after 29s: %+v", got)
	}
	clk.Advance(time.Second)
	got := find()
	if got.Total != 1 || got.Count != 1 || len(got.Data) != 1 {
		t.Fatalf("not found after IndexLag: %+v", got)
	}
	row := got.Data[0]
	if row["id"] != float64(id) || row["email"] != "Ada@Example.com" || row["_score"] == nil {
		t.Errorf("row %v", row)
	}

	// A change becomes searchable IndexLag later too; until then search sees the old state.
	wantStatus(t, call(t, sess, http.MethodPost, "entity/Candidate/"+strconv.Itoa(id), map[string]any{"email": "ada@lovelace.example"}), http.StatusOK)
	if got := find(); got.Total != 1 {
		t.Errorf("old address not found right after the update: %+v", got)
	}
	clk.Advance(30 * time.Second)
	if got := find(); got.Total != 0 {
		t.Errorf("old address still found: %+v", got)
	}
	if c := srv.Candidates(); len(c) != 1 || !c[0].Searchable {
		t.Errorf("Candidates %+v", c)
	}
}

func TestSearchEmail(t *testing.T) {
	t.Parallel()
	_, sess, _ := setupSession(t, bullhorntest.Config{})
	email := "mary-jane+hrflow@mail.example.co.uk"
	id := createCandidate(t, sess, map[string]any{"firstName": "Mary", "lastName": "Jane", "name": "Mary Jane", "email": email})
	other := createCandidate(t, sess, map[string]any{"firstName": "M", "lastName": "J", "name": "M J", "email2": email})
	deleted := createCandidate(t, sess, map[string]any{"firstName": "M", "lastName": "J", "name": "M J", "email3": email, "isDeleted": true})
	createCandidate(t, sess, map[string]any{"firstName": "Z", "lastName": "Z", "name": "Z Z", "email": "mary@mail.example.co.uk"})

	for name, tc := range map[string]struct {
		query string
		want  []int
	}{
		"escaped dedup query":       {dedupQuery(email), []int{id, other}},
		"unescaped + and - in term": {"email:" + email, []int{id}},
		"quoted phrase":             {`email:"` + email + `"`, []int{id}},
		"other case":                {"email:" + strings.ToUpper(email), []int{id}},
		"deleted included":          {`(email:"` + email + `" OR email2:"` + email + `" OR email3:"` + email + `")`, []int{id, other, deleted}},
		"deleted only":              {`email3:"` + email + `" AND isDeleted:1`, []int{deleted}},
		"by id":                     {"id:" + strconv.Itoa(other), []int{other}},
		"ids":                       {"id:" + strconv.Itoa(id) + " OR id:" + strconv.Itoa(deleted), []int{id, deleted}},
		"wildcard":                  {`email:mary\-jane*`, []int{id}},
		"negation":                  {`email:*mail.example.co.uk -email:mary@mail.example.co.uk`, []int{id}},
		"another address":           {"email:mary@mail.example.co.uk", []int{id + 3}},
		"no match":                  {dedupQuery("nobody@example.com"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := search(t, sess, tc.query, "id")
			wantStatus(t, res, http.StatusOK)
			got := decode[searchResult](t, res)
			var ids []int
			for _, row := range got.Data {
				ids = append(ids, int(row["id"].(float64)))
			}
			if got.Total != len(tc.want) || !equalInts(ids, tc.want) {
				t.Errorf("query %s: total %d, ids %v; want %v", tc.query, got.Total, ids, tc.want)
			}
		})
	}

	t.Run("ids only without fields", func(t *testing.T) {
		t.Parallel()
		res := search(t, sess, dedupQuery(email), "")
		wantStatus(t, res, http.StatusOK)
		if got := decode[map[string]any](t, res); !strings.Contains(string(res.body), `"data":[`+strconv.Itoa(id)+","+strconv.Itoa(other)+"]") {
			t.Errorf("body %s (%v)", res.body, got)
		}
	})

	t.Run("POST", func(t *testing.T) {
		t.Parallel()
		res := call(t, sess, http.MethodPost, "search/Candidate?fields=id,email&count=1&start=1", map[string]any{"query": dedupQuery(email)})
		wantStatus(t, res, http.StatusOK)
		got := decode[searchResult](t, res)
		if got.Total != 2 || got.Start != 1 || got.Count != 1 || got.Data[0]["id"] != float64(other) {
			t.Errorf("%+v", got)
		}
	})

	t.Run("sort", func(t *testing.T) {
		t.Parallel()
		q := url.Values{"fields": {"id"}, "sort": {"-id"}, "query": {dedupQuery(email)}}
		res := call(t, sess, http.MethodGet, "search/Candidate?"+q.Encode(), nil)
		wantStatus(t, res, http.StatusOK)
		if got := decode[searchResult](t, res); len(got.Data) != 2 || got.Data[0]["id"] != float64(other) {
			t.Errorf("%+v", got)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSearchRefusals(t *testing.T) {
	t.Parallel()
	_, sess, _ := setupSession(t, bullhorntest.Config{})
	for name, tc := range map[string]struct {
		query  string
		status int
	}{
		"unbalanced parenthesis": {"(email:a@b.c OR email2:a@b.c", http.StatusBadRequest},
		"extra parenthesis":      {"email:a@b.c)", http.StatusBadRequest},
		"trailing operator":      {"email:a@b.c AND", http.StatusBadRequest},
		"leading operator":       {"OR email:a@b.c", http.StatusBadRequest},
		"unterminated phrase":    {`email:"a@b.c`, http.StatusBadRequest},
		"trailing escape":        {`email:a\`, http.StatusBadRequest},
		"unescaped colon":        {"email:a:b", http.StatusBadRequest},
		"unknown field":          {"mail:a@b.c", http.StatusBadRequest},
		"id not a number":        {"id:abc", http.StatusBadRequest},
		"boolean not 0 or 1":     {"isDeleted:maybe", http.StatusBadRequest},
		"empty query":            {"  ", http.StatusBadRequest},
		"bad range":              {"id:[1 TO]", http.StatusBadRequest},
		"space from a lost +":    {"email:mary jane@b.c", http.StatusNotImplemented},
		"fuzzy":                  {"email:a@b.c~", http.StatusNotImplemented},
		"regular expression":     {"email:/a.*/", http.StatusNotImplemented},
		"unescaped slash":        {"email:a/b@c.d", http.StatusNotImplemented},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := search(t, sess, tc.query, "id")
			wantStatus(t, res, tc.status)
			if e := decode[apiError](t, res); e.ErrorMessage == "" {
				t.Errorf("no message: %s", res.body)
			}
		})
	}
	t.Run("not a searchable entity", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, sess, http.MethodGet, "search/CandidateEducation?query=id:1", nil), http.StatusBadRequest)
	})
	t.Run("bad count", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, sess, http.MethodGet, "search/Candidate?query=id:1&count=-1", nil), http.StatusBadRequest)
	})
	t.Run("unknown sort", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, sess, http.MethodGet, "search/Candidate?query=id:1&sort=nope", nil), http.StatusBadRequest)
	})
}
