package bullhorntest

import (
	"encoding/base64"
	"mime"
	"net/http"
	"path"
	"strings"
)

// fileEntityName names uploads in persistence errors.
const fileEntityName = "CandidateFileAttachment"

// putFile serves PUT file/Candidate/{id}: a JSON body with the file as base64.
func (s *Server) putFile(w *recorder, r *http.Request, seg string) {
	id, ok := s.parseID(w, seg)
	if !ok {
		return
	}
	body, ok := s.readObject(w, r)
	if !ok {
		return
	}
	v := validation{vals: map[string]any{}}
	for _, k := range sortedKeys(body) {
		f, known := fileFields[k]
		switch {
		case !known:
			v.errs = append(v.errs, fieldErr(k, "UNKNOWN_PROPERTY", "'%s' does not exist on %s", k, fileEntityName))
		case body[k] == nil:
		default:
			v.convert(k, k, f, body[k])
		}
	}
	for _, k := range fileRequired {
		if val := body[k]; val == nil || val == "" {
			v.errs = append(v.errs, fieldErr(k, "MISSING_REQUIRED_PROPERTY", "missing required property: %s", k))
		}
	}
	var content []byte
	if enc, _ := v.vals["fileContent"].(string); enc != "" {
		var err error
		if content, err = base64.StdEncoding.DecodeString(enc); err != nil {
			v.errs = append(v.errs, fieldErr("fileContent", "INVALID_VALUE", "'fileContent' is not valid base64: %v", err))
		}
	}
	if ft, _ := v.vals["fileType"].(string); ft != "" && ft != "SAMPLE" {
		v.errs = append(v.errs, fieldErr("fileType", "INVALID_VALUE", "'fileType' must be SAMPLE, got %q", ft))
	}
	if len(v.errs) > 0 {
		s.persistError(w, fileEntityName, v.errs)
		return
	}
	str := func(k string) string { sv, _ := v.vals[k].(string); return sv }
	f := &file{
		candidateID: id, externalID: str("externalID"), name: str("name"), fileType: str("fileType"),
		typ: str("type"), contentType: str("contentType"), description: str("description"),
		fileExtension: str("fileExtension"), content: content,
	}
	if f.fileExtension == "" {
		f.fileExtension = path.Ext(f.name) // "If a file extension is included as part of the name and the fileExtension field is not set, the file extension in the name is used."
	}
	if f.contentType == "" {
		f.contentType = cmpOr(mime.TypeByExtension(f.fileExtension), "application/octet-stream")
	}
	s.mu.Lock()
	c, ok := s.st.records[EntityCandidate][id]
	if !ok {
		s.mu.Unlock()
		s.fail(w, http.StatusNotFound, entityNotFound(EntityCandidate, id))
		return
	}
	s.st.nextFileID++
	f.id = s.st.nextFileID
	f.added = s.cfg.Now()
	s.st.files[f.id] = f
	c.files = append(c.files, f.id)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"fileId": f.id})
}

// splitContentType splits "application/pdf" as Bullhorn reports it: contentType "application",
// contentSubType "pdf".
func splitContentType(ct string) (string, string) {
	ct, _, _ = strings.Cut(ct, ";")
	main, sub, _ := strings.Cut(strings.TrimSpace(ct), "/")
	return main, sub
}

// projectFile returns the fileAttachments fields of f that sels ask for; id is always there.
func projectFile(f *file, sels []sel) map[string]any {
	main, sub := splitContentType(f.contentType)
	all := map[string]any{
		"id": f.id, "name": f.name, "type": f.typ, "contentType": main, "contentSubType": sub,
		"description": f.description, "externalID": f.externalID, "fileExtension": f.fileExtension,
		"fileSize": len(f.content), "fileType": f.fileType, "dateAdded": f.added.UnixMilli(),
		"isDeleted": false, "isPrivate": false, "distribution": "internal",
	}
	out := map[string]any{"id": f.id}
	for _, sl := range sels {
		if sl.name == "*" {
			return all
		}
		out[sl.name] = all[sl.name]
	}
	return out
}

// getFile serves GET file/Candidate/{id}/{fileId}.
func (s *Server) getFile(w *recorder, seg, fileSeg string) {
	id, ok := s.parseID(w, seg)
	if !ok {
		return
	}
	fileID, ok := s.parseID(w, fileSeg)
	if !ok {
		return
	}
	s.mu.Lock()
	f, ok := s.st.files[fileID]
	ok = ok && f.candidateID == id
	var out map[string]any
	if ok {
		out = map[string]any{"File": map[string]any{
			"contentType": f.contentType, "fileContent": base64.StdEncoding.EncodeToString(f.content), "name": f.name,
		}}
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, notFoundError("Unable to find file with id "+fileSeg+" on Candidate "+seg))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// entityFiles serves the deprecated GET entityFiles/Candidate/{id}.
func (s *Server) entityFiles(w *recorder, seg string) {
	id, ok := s.parseID(w, seg)
	if !ok {
		return
	}
	s.mu.Lock()
	c, ok := s.st.records[EntityCandidate][id]
	list := []map[string]any{}
	if ok {
		for _, fid := range c.files {
			f := s.st.files[fid]
			main, sub := splitContentType(f.contentType)
			list = append(list, map[string]any{
				"id": f.id, "type": nilIfEmpty(f.typ), "name": f.name, "description": nilIfEmpty(f.description),
				"contentType": main, "contentSubType": sub,
			})
		}
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, entityNotFound(EntityCandidate, id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"EntityFiles": list})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
