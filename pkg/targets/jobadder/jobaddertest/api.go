package jobaddertest

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// maxBodySize caps request bodies; larger ones answer 413.
const maxBodySize = 32 << 20

// Operations the fake implements, by operationId, with the query parameters each implements.
// Other operations of the served paths answer 501, and so does a request using a declared
// query parameter the fake does not implement: silently ignoring a filter would return the
// wrong candidates.
var implemented = map[string][]string{ //nolint:gochecknoglobals // constant table
	"FindCandidates":           {"CandidateId", "Name", "Email", "Phone", "Offset", "Limit"},
	"AddCandidate":             nil,
	"GetCandidate":             nil,
	"UpdateCandidate":          nil,
	"FindCandidateAttachments": {"Type", "Category", "Latest", "Offset", "Limit"},
	"AddCandidateAttachment":   nil,
	"GetCandidateAttachment":   nil,
}

const (
	headerAllowDuplicates = "X-Allow-Duplicates"
	msgDuplicate          = "Candidate with this email already exists"
	msgNotFound           = "Resource not found"
)

// api serves /v2: fault dice, bearer token, request validation, then the operation (the
// answer's latency is ServeHTTP's).
func (s *Server) api(w *recorder, r *http.Request) {
	route, params, ok := s.spec.findRoute(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorModel{Message: msgNotFound})
		return
	}
	if route.Operation == nil {
		w.route = basePath + route.Path
		writeJSON(w, http.StatusMethodNotAllowed, errorModel{Message: "The requested resource does not support http method '" + r.Method + "'."})
		return
	}
	w.route = basePath + route.Path
	request := r.Method + " " + w.route
	if s.apiFault(w) {
		return
	}
	if !s.authenticate(w, r, operationScopes(route.Operation)) {
		return
	}
	op := route.Operation.OperationID
	supported, ok := implemented[op]
	if !ok {
		writeJSON(w, http.StatusNotImplemented, errorModel{Message: "jobaddertest: operation " + op + " is not implemented by the fake"})
		return
	}
	s.recordIgnored(request, "query", canonicalQuery(route.Operation, r))
	for name := range r.URL.Query() {
		if declaredQuery(route.Operation, name) && !slices.Contains(supported, name) {
			writeJSON(w, http.StatusNotImplemented, errorModel{Message: "jobaddertest: query parameter " + name + " of " + op + " is not implemented by the fake"})
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorModel{Message: "Request entity too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, errorModel{Message: "Cannot read the request body"})
		return
	}
	var file *filePart
	if op == "AddCandidateAttachment" {
		var ignored []string
		body, file, ignored = splitMultipart(route.Operation, r, body, "fileData")
		s.recordIgnored(request, "part", ignored)
	}
	if p := validateRequest(r.Context(), route, params, r, body); p != nil {
		s.refuse(w, request, p)
		return
	}
	q := r.URL.Query()
	base := s.baseURL(r)
	switch op {
	case "FindCandidates":
		s.findCandidates(w, q, base)
	case "AddCandidate":
		s.addCandidate(w, r, request, body, base)
	case "GetCandidate":
		s.getCandidate(w, params, base)
	case "UpdateCandidate":
		s.updateCandidate(w, r, request, params, body)
	case "FindCandidateAttachments":
		s.findAttachments(w, params, q, base)
	case "AddCandidateAttachment":
		s.addAttachment(w, request, params, file, base)
	case "GetCandidateAttachment":
		s.getAttachment(w, params)
	}
}

// refuse answers a request the fake will not process and records validation failures.
func (s *Server) refuse(w http.ResponseWriter, request string, p *requestProblem) {
	if p.status == http.StatusUnprocessableEntity || p.status == http.StatusUnsupportedMediaType {
		s.recordFailure(ValidationFailure{Request: request, Status: p.status, Message: p.body.Message, Errors: p.body.Errors})
	}
	writeJSON(w, p.status, p.body)
}

// operationScopes lists the scopes any one of which grants the operation. The document puts
// alternatives ("write", "write_candidate") in one requirement; JobAdder requires either.
func operationScopes(op *openapi3.Operation) []string {
	if op.Security == nil {
		return nil
	}
	var scopes []string
	for _, req := range *op.Security {
		for _, sc := range req {
			scopes = append(scopes, sc...)
		}
	}
	return scopes
}

func declaredQuery(op *openapi3.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Name == name {
			return true
		}
	}
	return false
}

// candidate is a stored candidate.
type candidate struct {
	id               int32
	body             map[string]any // last body written, decoded
	raw              []byte         // last body written, as received
	email            string         // normalised
	source           *string
	createdAt        time.Time
	updatedAt        time.Time
	allowedDuplicate bool
	attachments      []*Attachment
}

// normEmail is the key of duplicate detection: trimmed and lower-cased.
func normEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// commandBody decodes a validated candidate command. The document does not mark the body
// required, but the API binds it to a command object, so an empty body (or null) is refused.
func (s *Server) commandBody(w http.ResponseWriter, request string, body []byte) (map[string]any, bool) {
	v, err := decodeJSON(body)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		s.refuse(w, request, &requestProblem{status: http.StatusUnprocessableEntity, body: errorModel{
			Message: msgValidation,
			Errors:  []ErrorItem{{Code: "Missing", Message: "A non-empty request body is required."}},
		}})
		return nil, false
	}
	return m, true
}

func stringField(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// overrideCodeLocked returns the duplicate override code of an email, making one up the first
// time.
func (s *Server) overrideCodeLocked(email string) string {
	code, ok := s.store.overrideCodes[email]
	if !ok {
		code = newSecret()
		s.store.overrideCodes[email] = code
	}
	return code
}

// duplicateLocked decides whether writing email conflicts with candidates other than self. It
// answers 409 itself when it does and reports whether the write may go on, and whether it goes
// on thanks to a valid override code.
func (s *Server) duplicateLocked(w http.ResponseWriter, r *http.Request, email string, others bool) (goOn, allowed bool) {
	if email == "" || !others {
		return true, false
	}
	code := s.overrideCodeLocked(email)
	if got := r.Header.Get(headerAllowDuplicates); got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(code)) == 1 {
		s.store.allowedDups++
		return true, true
	}
	s.store.conflicts++
	w.Header().Set(headerAllowDuplicates, code)
	writeJSON(w, http.StatusConflict, errorModel{Message: msgDuplicate, Errors: []ErrorItem{{
		Code: "AlreadyExists", Message: msgDuplicate, Fields: []string{"email"},
	}}})
	return false, false
}

// addCandidate serves POST /v2/candidates.
func (s *Server) addCandidate(w http.ResponseWriter, r *http.Request, request string, raw []byte, base string) {
	body, ok := s.commandBody(w, request, raw)
	if !ok {
		return
	}
	email := normEmail(stringField(body, "email"))
	s.mu.Lock()
	goOn, allowed := s.duplicateLocked(w, r, email, len(s.store.byEmail[email]) > 0)
	if !goOn {
		s.mu.Unlock()
		return
	}
	now := s.cfg.Now().UTC()
	s.store.nextCandidateID++
	c := &candidate{
		id:               s.store.nextCandidateID,
		body:             body,
		raw:              slices.Clone(raw),
		email:            email,
		createdAt:        now,
		updatedAt:        now,
		allowedDuplicate: allowed,
	}
	if src, ok := body["source"].(string); ok {
		c.source = &src
	}
	s.store.candidates[c.id] = c
	if email != "" {
		s.store.byEmail[email] = append(s.store.byEmail[email], c.id)
	}
	rep := representation(c, base)
	s.mu.Unlock()
	w.Header().Set("Location", candidateURL(base, c.id))
	writeJSON(w, http.StatusCreated, rep)
}

// getCandidate serves GET /v2/candidates/{candidateId}.
func (s *Server) getCandidate(w http.ResponseWriter, params map[string]string, base string) {
	id := pathID(params["candidateId"])
	s.mu.Lock()
	c, ok := s.store.candidates[int32(id)]
	var rep map[string]any
	if ok {
		rep = representation(c, base)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, errorModel{Message: "Candidate not found"})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// updateCandidate serves PUT /v2/candidates/{candidateId}. The command replaces every field it
// has (omitted fields are cleared); source, absent from the update command, is kept. The
// document gives the 200 answer no body, so none is sent.
func (s *Server) updateCandidate(w http.ResponseWriter, r *http.Request, request string, params map[string]string, raw []byte) {
	body, ok := s.commandBody(w, request, raw)
	if !ok {
		return
	}
	id := int32(pathID(params["candidateId"]))
	email := normEmail(stringField(body, "email"))
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.store.candidates[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorModel{Message: "Candidate not found"})
		return
	}
	// Only a change of email can conflict: the candidate's own email never does.
	goOn, allowed := s.duplicateLocked(w, r, email, email != c.email && len(s.store.byEmail[email]) > 0)
	if !goOn {
		return
	}
	if email != c.email {
		if c.email != "" {
			ids := slices.DeleteFunc(s.store.byEmail[c.email], func(x int32) bool { return x == id })
			if len(ids) == 0 {
				delete(s.store.byEmail, c.email)
			} else {
				s.store.byEmail[c.email] = ids
			}
		}
		if email != "" {
			ids := append(s.store.byEmail[email], id)
			slices.Sort(ids)
			s.store.byEmail[email] = ids
		}
		c.email = email
	}
	c.allowedDuplicate = c.allowedDuplicate || allowed
	c.body = body
	c.raw = slices.Clone(raw)
	c.updatedAt = s.cfg.Now().UTC()
	w.WriteHeader(http.StatusOK)
}

// findCandidates serves GET /v2/candidates with the filters CandidateId, Name (part of the full
// name), Email (whole address, trimmed, any case) and Phone (phone or mobile), and Offset/Limit.
func (s *Server) findCandidates(w http.ResponseWriter, q url.Values, base string) {
	var ids []int32
	for _, v := range q["CandidateId"] {
		n, _ := strconv.ParseInt(v, 10, 32)
		ids = append(ids, int32(n))
	}
	name := strings.ToLower(strings.TrimSpace(q.Get("Name")))
	email := normEmail(q.Get("Email"))
	phone := strings.TrimSpace(q.Get("Phone"))
	offset, limit := page(q)

	s.mu.Lock()
	var matches []*candidate
	for _, c := range s.store.candidates {
		full := strings.ToLower(stringField(c.body, "firstName") + " " + stringField(c.body, "lastName"))
		switch {
		case len(ids) > 0 && !slices.Contains(ids, c.id):
		case q.Has("Name") && !strings.Contains(full, name):
		case q.Has("Email") && c.email != email:
		case q.Has("Phone") && stringField(c.body, "phone") != phone && stringField(c.body, "mobile") != phone:
		default:
			matches = append(matches, c)
		}
	}
	slices.SortFunc(matches, func(a, b *candidate) int { return int(a.id) - int(b.id) })
	total := len(matches)
	var items []any
	if limit > 0 {
		items = []any{}
		for _, c := range window(matches, offset, limit) {
			items = append(items, summary(c))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listJSON(items, total, offset, limit, base+basePath+"/candidates", q))
}

// page reads Offset (default 0) and Limit (default 100, validated to 0..1000).
func page(q url.Values) (offset, limit int) {
	offset, limit = 0, 100
	if v, err := strconv.Atoi(q.Get("Offset")); err == nil && v > 0 {
		offset = v
	}
	if v, err := strconv.Atoi(q.Get("Limit")); err == nil {
		limit = v
	}
	return offset, limit
}

func window[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(len(all), offset+limit)]
}

// listJSON builds a list representation with PageLinks.
func listJSON(items []any, total, offset, limit int, endpoint string, q url.Values) map[string]any {
	out := map[string]any{"totalCount": total}
	if items != nil {
		out["items"] = items
	}
	if limit == 0 {
		return out
	}
	link := func(off int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("Offset", strconv.Itoa(off))
		v.Set("Limit", strconv.Itoa(limit))
		return endpoint + "?" + v.Encode()
	}
	links := map[string]any{"first": link(0)}
	last := 0
	if total > 0 {
		last = (total - 1) / limit * limit
	}
	links["last"] = link(last)
	if offset > 0 {
		links["prev"] = link(max(0, offset-limit))
	}
	if offset+limit < total {
		links["next"] = link(offset + limit)
	}
	out["links"] = links
	return out
}

// pathID parses a path parameter the validator already checked.
func pathID(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func candidateURL(base string, id int32) string {
	return base + basePath + "/candidates/" + strconv.Itoa(int(id))
}

// apiUser is who the fake says created and updated resources: the API client's user.
func apiUser() map[string]any {
	return map[string]any{"userId": 1, "firstName": "API", "lastName": "User"}
}

func statusModel(body map[string]any) map[string]any {
	if n, ok := body["statusId"].(json.Number); ok {
		if id, err := n.Int64(); err == nil && id != 1 {
			return map[string]any{"statusId": id, "name": "Status " + n.String(), "active": true, "default": false}
		}
	}
	return map[string]any{"statusId": 1, "name": "Available", "active": true, "default": true}
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// summaryFields are the fields CandidateSummaryModel shares with the commands.
var summaryFields = []string{ //nolint:gochecknoglobals // constant list
	"firstName", "lastName", "email", "phone", "mobile", "salutation", "unsubscribed", "rating", "seeking",
}

// representationFields are the further fields CandidateRepresentation shares with the commands.
var representationFields = []string{ //nolint:gochecknoglobals // constant list
	"dateOfBirth", "emergencyContact", "emergencyPhone", "social", "summary", "skillTags", "availability", "education",
}

// summary is a CandidateSummaryModel.
func summary(c *candidate) map[string]any {
	out := map[string]any{"candidateId": c.id}
	for _, k := range summaryFields {
		if v, ok := c.body[k]; ok {
			out[k] = v
		}
	}
	if a, ok := c.body["address"]; ok {
		out["address"] = a // SubmitAddressModel's fields are all AddressModel fields
	}
	if c.source != nil {
		out["source"] = *c.source
	}
	out["status"] = statusModel(c.body)
	out["createdBy"] = apiUser()
	out["createdAt"] = timestamp(c.createdAt)
	out["updatedBy"] = apiUser()
	out["updatedAt"] = timestamp(c.updatedAt)
	return out
}

// representation is a CandidateRepresentation.
func representation(c *candidate, base string) map[string]any {
	out := summary(c)
	for _, k := range representationFields {
		if v, ok := c.body[k]; ok {
			out[k] = v
		}
	}
	if e, ok := c.body["employment"].(map[string]any); ok {
		out["employment"] = employment(e)
	}
	if cf, ok := c.body["custom"].([]any); ok {
		var custom []any
		for _, f := range cf {
			f, _ := f.(map[string]any)
			typ := "Text"
			if _, isList := f["value"].([]any); isList {
				typ = "List"
			}
			custom = append(custom, map[string]any{
				"fieldId": f["fieldId"], "name": fmt.Sprintf("Custom field %v", f["fieldId"]), "type": typ, "value": f["value"],
			})
		}
		out["custom"] = custom
	}
	if ids, ok := c.body["recruiterUserId"].([]any); ok {
		recruiters := []any{}
		for _, id := range ids {
			recruiters = append(recruiters, map[string]any{"userId": id})
		}
		out["recruiters"] = recruiters
	}
	self := candidateURL(base, c.id)
	out["links"] = map[string]any{"self": self, "attachments": self + "/attachments"}
	return out
}

// employment turns a SubmitEmploymentModel into a CandidateEmploymentModel: work type ids
// become WorkTypeModel objects; everything else has the same shape.
func employment(e map[string]any) map[string]any {
	out := map[string]any{}
	if h, ok := e["history"]; ok {
		out["history"] = h
	}
	if cur, ok := e["current"].(map[string]any); ok {
		out["current"] = withWorkType(cur)
	}
	if ideal, ok := e["ideal"].(map[string]any); ok {
		i := withWorkType(ideal)
		if other, ok := ideal["other"].([]any); ok {
			var list []any
			for _, o := range other {
				if o, ok := o.(map[string]any); ok {
					list = append(list, withWorkType(o))
				}
			}
			i["other"] = list
		}
		out["ideal"] = i
	}
	return out
}

func withWorkType(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k == "workTypeId" {
			if v != nil {
				out["workType"] = map[string]any{"workTypeId": v, "name": fmt.Sprintf("Work type %v", v)}
			}
			continue
		}
		out[k] = v
	}
	return out
}

// addAttachment serves POST /v2/candidates/{candidateId}/attachments/{attach}.
func (s *Server) addAttachment(w http.ResponseWriter, request string, params map[string]string, file *filePart, base string) {
	if file == nil || file.fileName == "" {
		// A part without a file name is a form field, not a file: the API gets no file.
		s.refuse(w, request, &requestProblem{status: http.StatusUnprocessableEntity, body: errorModel{
			Message: msgValidation,
			Errors:  []ErrorItem{{Code: "Missing", Message: "fileData must be a file", Fields: []string{"fileData"}}},
		}})
		return
	}
	id := int32(pathID(params["candidateId"]))
	contentType := file.contentType
	if contentType == "" {
		contentType = cmp.Or(mime.TypeByExtension(path.Ext(file.fileName)), "application/octet-stream")
	}
	s.mu.Lock()
	c, ok := s.store.candidates[id]
	if !ok {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, errorModel{Message: "Candidate not found"})
		return
	}
	s.store.nextAttachmentID++
	a := &Attachment{
		ID:          s.store.nextAttachmentID,
		CandidateID: id,
		Type:        params["attach"],
		FileName:    file.fileName,
		ContentType: contentType,
		Data:        file.data,
		CreatedAt:   s.cfg.Now().UTC(),
	}
	c.attachments = append(c.attachments, a)
	s.mu.Unlock()
	rep := attachmentJSON(a)
	self := attachmentURL(base, a)
	rep["links"] = map[string]any{"self": self}
	w.Header().Set("Location", self)
	writeJSON(w, http.StatusCreated, rep)
}

func attachmentURL(base string, a *Attachment) string {
	return candidateURL(base, a.CandidateID) + "/attachments/" + strconv.FormatInt(a.ID, 10)
}

// attachmentJSON is a CandidateAttachmentModel; fileType is the file's media type.
func attachmentJSON(a *Attachment) map[string]any {
	return map[string]any{
		"attachmentId": a.ID,
		"type":         a.Type,
		"fileName":     a.FileName,
		"fileType":     a.ContentType,
		"createdBy":    apiUser(),
		"createdAt":    timestamp(a.CreatedAt),
		"updatedAt":    timestamp(a.CreatedAt),
		"candidateId":  a.CandidateID,
	}
}

// findAttachments serves GET /v2/candidates/{candidateId}/attachments with the filters Type,
// Category (attachments uploaded here have none), Latest (the newest of each type), and
// Offset/Limit.
func (s *Server) findAttachments(w http.ResponseWriter, params map[string]string, q url.Values, base string) {
	id := int32(pathID(params["candidateId"]))
	types := q["Type"]
	latest := q.Get("Latest") == "true"
	offset, limit := page(q)
	s.mu.Lock()
	c, ok := s.store.candidates[id]
	var matches []*Attachment
	if ok {
		seen := map[string]bool{}
		for _, a := range slices.Backward(c.attachments) {
			switch {
			case len(types) > 0 && !slices.Contains(types, a.Type):
			case len(q["Category"]) > 0:
			case latest && seen[a.Type]:
			default:
				seen[a.Type] = true
				matches = append(matches, a)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, errorModel{Message: "Candidate not found"})
		return
	}
	slices.Reverse(matches)
	var items []any
	if limit > 0 {
		items = []any{}
		for _, a := range window(matches, offset, limit) {
			items = append(items, attachmentJSON(a))
		}
	}
	writeJSON(w, http.StatusOK, listJSON(items, len(matches), offset, limit, candidateURL(base, id)+"/attachments", q))
}

// getAttachment serves GET /v2/candidates/{candidateId}/attachments/{attach}: the file.
func (s *Server) getAttachment(w http.ResponseWriter, params map[string]string) {
	id, attach := int32(pathID(params["candidateId"])), pathID(params["attach"])
	s.mu.Lock()
	var found *Attachment
	if c, ok := s.store.candidates[id]; ok {
		for _, a := range c.attachments {
			if a.ID == attach {
				found = a
			}
		}
	}
	s.mu.Unlock()
	if found == nil {
		writeJSON(w, http.StatusNotFound, errorModel{Message: "Attachment not found"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": found.FileName}))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(found.Data)
}
