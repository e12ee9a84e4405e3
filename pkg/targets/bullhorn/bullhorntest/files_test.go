package bullhorntest_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/targets/bullhorn/bullhorntest"
)

func resume(content string) map[string]any {
	return map[string]any{
		"externalID": "hrflow-resume", "fileContent": base64.StdEncoding.EncodeToString([]byte(content)),
		"fileType": "SAMPLE", "name": "ada-lovelace.pdf", "contentType": "application/pdf", "type": "Resume",
		"description": "Resume from HrFlow",
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	srv, sess, _ := setupSession(t, bullhorntest.Config{})
	cid := createCandidate(t, sess, map[string]any{"firstName": "Ada", "lastName": "Lovelace", "name": "Ada Lovelace"})
	path := "file/Candidate/" + strconv.Itoa(cid)

	res := call(t, sess, http.MethodPut, path, resume("%PDF-1.4 resume"))
	wantStatus(t, res, http.StatusOK)
	fileID := decode[map[string]int](t, res)["fileId"]
	if fileID == 0 {
		t.Fatalf("body %s", res.body)
	}

	res = call(t, sess, http.MethodGet, "entity/Candidate/"+strconv.Itoa(cid)+"/fileAttachments?fields=id,name,type,contentType,contentSubType,fileExtension,fileSize", nil)
	wantStatus(t, res, http.StatusOK)
	want := []map[string]any{{
		"id": float64(fileID), "name": "ada-lovelace.pdf", "type": "Resume", "contentType": "application",
		"contentSubType": "pdf", "fileExtension": ".pdf", "fileSize": float64(len("%PDF-1.4 resume")),
	}}
	if diff := cmp.Diff(want, decode[searchResult](t, res).Data); diff != "" {
		t.Errorf("fileAttachments (-want +got):\n%s", diff)
	}

	res = call(t, sess, http.MethodGet, "entityFiles/Candidate/"+strconv.Itoa(cid), nil)
	wantStatus(t, res, http.StatusOK)
	files := decode[map[string][]map[string]any](t, res)["EntityFiles"]
	if len(files) != 1 || files[0]["name"] != "ada-lovelace.pdf" || files[0]["contentSubType"] != "pdf" {
		t.Errorf("EntityFiles %s", res.body)
	}

	res = call(t, sess, http.MethodGet, path+"/"+strconv.Itoa(fileID), nil)
	wantStatus(t, res, http.StatusOK)
	got := decode[map[string]map[string]string](t, res)["File"]
	if content, _ := base64.StdEncoding.DecodeString(got["fileContent"]); string(content) != "%PDF-1.4 resume" || got["contentType"] != "application/pdf" {
		t.Errorf("File %v", got)
	}

	with := func(k string, v any) map[string]any {
		m := resume("x")
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for name, tc := range map[string]struct {
		body     map[string]any
		property string
	}{
		"bad base64":           {with("fileContent", "not base64!"), "fileContent"},
		"content_type":         {with("content_type", "application/pdf"), "content_type"},
		"no externalID":        {with("externalID", nil), "externalID"},
		"no fileType":          {with("fileType", nil), "fileType"},
		"fileType not SAMPLE":  {with("fileType", "cover"), "fileType"},
		"no name":              {with("name", nil), "name"},
		"empty content":        {with("fileContent", ""), "fileContent"},
		"content not a string": {with("fileContent", 12), "fileContent"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := call(t, sess, http.MethodPut, path, tc.body)
			wantStatus(t, res, http.StatusBadRequest)
			e := decode[apiError](t, res)
			if len(e.Errors) != 1 || e.Errors[0].PropertyName != tc.property {
				t.Errorf("body %s", res.body)
			}
		})
	}
	t.Run("unknown candidate", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, sess, http.MethodPut, "file/Candidate/1", resume("x")), http.StatusNotFound)
	})
	t.Run("raw upload not modelled", func(t *testing.T) {
		t.Parallel()
		wantStatus(t, call(t, sess, http.MethodPut, path+"/raw?filetype=SAMPLE&externalID=x", strings.Repeat("x", 10)), http.StatusNotImplemented)
	})
	t.Cleanup(func() {
		st := srv.State()
		c := srv.Candidates()
		if st.Files[cid] != 1 || len(c) != 1 || len(c[0].Files) != 1 || string(c[0].Files[0].Content) != "%PDF-1.4 resume" {
			t.Errorf("files %v, candidates %+v", st.Files, c)
		}
	})
}
