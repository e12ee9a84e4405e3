package bullhorntest

import (
	"net/http"
	"testing"
)

func TestLucene(t *testing.T) {
	t.Parallel()
	docs := map[string]map[string]any{
		"a": {"id": int64(1), "email": "a+1@x.io", "firstName": "Ada", "isDeleted": false, "experience": int64(3), "address": map[string]any{"city": "London"}},
		"b": {"id": int64(2), "email": "b-2@x.io", "firstName": "Bob", "isDeleted": false, "experience": int64(10)},
		"c": {"id": int64(3), "email2": "a+1@x.io", "firstName": "Cy", "isDeleted": true},
	}
	for _, tc := range []struct {
		query string
		want  string // names of matching docs, in order a, b, c
	}{
		{`email:a+1@x.io`, "a"},
		{`email:a\+1\@x\.io`, "a"},
		{`email:"a+1@x.io"`, "a"},
		{`(email:a\+1@x.io OR email2:a\+1@x.io) AND isDeleted:0`, "a"},
		{`(email:a\+1@x.io || email2:a\+1@x.io) && isDeleted:false`, "a"},
		{`email:a\+1@x.io OR email2:a\+1@x.io`, "ac"},
		{`+email2:a\+1@x.io`, "c"},
		{`-isDeleted:1`, "ab"},
		{`NOT isDeleted:1`, "ab"},
		{`!isDeleted:1`, "ab"},
		{`*:* -firstName:ada`, "bc"},
		{`firstName:ada firstName:bob`, "ab"},
		{`firstName:ada AND firstName:bob`, ""},
		{`firstName:ada OR firstName:bob AND isDeleted:1`, ""}, // classic parser: ada SHOULD, bob MUST, isDeleted MUST
		{`firstName:(ada OR cy)`, "ac"},
		{`firstName:(ada cy) AND NOT isDeleted:1`, "a"},
		{`firstName:b*`, "b"},
		{`firstName:?y`, "c"},
		{`email2:*`, "c"},
		{`id:[2 TO *]`, "bc"},
		{`id:{1 TO 3}`, "b"},
		{`experience:[3 TO 10}`, "a"},
		{`firstName:[a TO b]`, "a"},
		{`address.city:london`, "a"},
		{`id:1^2`, "a"},
		{`(id:1)^2 OR id:3`, "ac"},
		{`email:b-2@x.io`, "b"},
		{`email:a&&b`, ""},
	} {
		q, err := parseLucene(tc.query)
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		got := ""
		for _, name := range []string{"a", "b", "c"} {
			if q.match(docs[name]) {
				got += name
			}
		}
		if got != tc.want {
			t.Errorf("%s matches %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestLuceneErrors(t *testing.T) {
	t.Parallel()
	for query, status := range map[string]int{
		`email:`:                          http.StatusBadRequest,
		`(id:1`:                           http.StatusBadRequest,
		`id:1)`:                           http.StatusBadRequest,
		`AND id:1`:                        http.StatusBadRequest,
		`id:1 AND`:                        http.StatusBadRequest,
		`id:1 AND NOT`:                    http.StatusBadRequest,
		`id:[1 2]`:                        http.StatusBadRequest,
		`id:[1 TO 2`:                      http.StatusBadRequest,
		`id:1]`:                           http.StatusBadRequest,
		`id:^2`:                           http.StatusBadRequest,
		`nope:1`:                          http.StatusBadRequest,
		`id:x`:                            http.StatusBadRequest,
		`experience:1*`:                   http.StatusBadRequest,
		`e*mail:x`:                        http.StatusBadRequest,
		`educations:1`:                    http.StatusNotImplemented,
		`ada`:                             http.StatusNotImplemented,
		`id:1~`:                           http.StatusNotImplemented,
		`email:/x/`:                       http.StatusNotImplemented,
		`dateAdded:[20240101000000 TO *]`: http.StatusNotImplemented,
	} {
		_, err := parseLucene(query)
		if err == nil || err.status != status {
			t.Errorf("%s: error %v, want status %d", query, err, status)
		}
	}
}

func TestPrefilter(t *testing.T) {
	t.Parallel()
	st := newStore(true)
	st.terms[termKey("email", "a@x.io")] = map[int]struct{}{7: {}}
	st.terms[termKey("email2", "a@x.io")] = map[int]struct{}{9: {}}
	for query, want := range map[string][]int{
		`(email:a@x.io OR email2:A@x.io) AND isDeleted:0`: {7, 9},
		`id:5 AND firstName:x`:                            {5},
		`email:b@x.io`:                                    nil,
	} {
		q, err := parseLucene(query)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := prefilter(q, &st)
		if !ok || len(got) != len(want) {
			t.Errorf("%s: %v %v, want %v", query, got, ok, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", query, got, want)
			}
		}
	}
	for _, query := range []string{`firstName:x`, `-id:1`, `email:a@x.io OR firstName:x`} {
		q, _ := parseLucene(query)
		if _, ok := prefilter(q, &st); ok {
			t.Errorf("%s: prefiltered", query)
		}
	}
}
