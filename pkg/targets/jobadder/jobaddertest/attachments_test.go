package jobaddertest_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/targets/jobadder/jobaddertest"
)

func TestAttachments(t *testing.T) {
	t.Parallel()
	srv, tok := setup(t, jobaddertest.Config{})
	wantStatus(t, call(t, srv, tok, http.MethodPost, "/v2/candidates", map[string]any{"firstName": "Ada"}), http.StatusCreated)
	resume := part{name: "fileData", fileName: "ada.pdf", contentType: "application/pdf", data: "%PDF-1.7 resume"}

	res := upload(t, srv, tok, "/v2/candidates/1/attachments/Resume", resume)
	wantStatus(t, res, http.StatusCreated)
	wantValid(t, res)
	got := decode[map[string]any](t, res)
	want := map[string]any{
		"attachmentId": float64(1), "type": "Resume", "fileName": "ada.pdf", "fileType": "application/pdf",
		"candidateId": float64(1), "links": map[string]any{"self": srv.URL() + "/v2/candidates/1/attachments/1"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}

	t.Run("list", func(t *testing.T) {
		res := upload(t, srv, tok, "/v2/candidates/1/attachments/CoverLetter",
			part{name: "fileData", fileName: "letter.txt", data: "Dear"})
		wantStatus(t, res, http.StatusCreated)
		for query, want := range map[string]int{"": 2, "?Type=Resume": 1, "?type=License": 0, "?Latest=true": 2, "?Category=x": 0} {
			res = call(t, srv, tok, http.MethodGet, "/v2/candidates/1/attachments"+query, nil)
			wantStatus(t, res, http.StatusOK)
			wantValid(t, res)
			if got := decode[struct{ TotalCount int }](t, res).TotalCount; got != want {
				t.Errorf("%q: %d attachments, want %d", query, got, want)
			}
		}
		wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates/9/attachments", nil), http.StatusNotFound)
	})

	t.Run("download", func(t *testing.T) {
		res := call(t, srv, tok, http.MethodGet, "/v2/candidates/1/attachments/1", nil)
		wantStatus(t, res, http.StatusOK)
		wantValid(t, res)
		if string(res.body) != resume.data {
			t.Errorf("file %q", res.body)
		}
		wantStatus(t, call(t, srv, tok, http.MethodGet, "/v2/candidates/1/attachments/99", nil), http.StatusNotFound)
	})

	t.Run("refused", func(t *testing.T) {
		tests := map[string]struct {
			path   string
			parts  []part
			status int
			fields []string
		}{
			"missing fileData":       {"/v2/candidates/1/attachments/Resume", []part{{name: "file", fileName: "a.pdf", data: "x"}}, http.StatusUnprocessableEntity, []string{"fileData"}},
			"no parts":               {"/v2/candidates/1/attachments/Resume", nil, http.StatusUnprocessableEntity, []string{"fileData"}},
			"fileData is not a file": {"/v2/candidates/1/attachments/Resume", []part{{name: "fileData", data: "x"}}, http.StatusUnprocessableEntity, []string{"fileData"}},
			"unknown type":           {"/v2/candidates/1/attachments/Photo", []part{resume}, http.StatusUnprocessableEntity, []string{"attach"}},
			"unknown candidate":      {"/v2/candidates/9/attachments/Resume", []part{resume}, http.StatusNotFound, nil},
		}
		for name, tt := range tests {
			t.Run(name, func(t *testing.T) {
				res := upload(t, srv, tok, tt.path, tt.parts...)
				wantStatus(t, res, tt.status)
				if tt.fields != nil {
					wantFields(t, res, tt.fields...)
				}
			})
		}
		res := call(t, srv, tok, http.MethodPost, "/v2/candidates/1/attachments/Resume", []byte("%PDF"), "Content-Type", "application/pdf")
		wantStatus(t, res, http.StatusUnsupportedMediaType)
	})

	t.Run("extra parts are ignored", func(t *testing.T) {
		res := upload(t, srv, tok, "/v2/candidates/1/attachments/Other", part{name: "note", data: "hi"},
			part{name: "fileData", fileName: "x.bin", data: "\x00\x01"})
		wantStatus(t, res, http.StatusCreated)
		if got := srv.State().IgnoredFields["POST /v2/candidates/{candidateId}/attachments/{attach}: part note"]; got != 1 {
			t.Errorf("ignored %v", srv.State().IgnoredFields)
		}
	})

	atts := srv.Attachments(1)
	if len(atts) != 3 || atts[0].Type != "Resume" || string(atts[0].Data) != resume.data || atts[2].ContentType != "application/octet-stream" {
		t.Errorf("Attachments(1) = %+v", atts)
	}
	st := srv.State()
	if diff := cmp.Diff(map[int32]int{1: 3}, st.Attachments); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}
	if c := srv.Candidates()[0]; c.Attachments != 3 {
		t.Errorf("candidate has %d attachments", c.Attachments)
	}
}
