package bullhorntest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// maxBodySize caps request bodies; larger ones answer 413.
const maxBodySize = 32 << 20

// unimplementedOps are REST operations Bullhorn has and the fake does not: they answer 501.
var unimplementedOps = map[string]bool{ //nolint:gochecknoglobals // constant set
	"meta": true, "massUpdate": true, "association": true, "find": true, "lookup": true, "options": true,
	"settings": true, "userHeadshot": true, "resume": true, "savedSearch": true, "event": true,
	"subscription": true, "allCorpNotes": true, "myCandidates": true, "myJobOrders": true, "services": true,
	"entitlements": true, "departmentEntities": true, "entity-query": true, "fastFind": true, "tearsheet": true,
}

// rest serves everything under /rest-services/{corpToken}/: fault dice, session, call budget,
// then the operation; a slow answer (Config.SlowRate) is sent SlowLatency after all that.
func (s *Server) rest(w *recorder, r *http.Request, rest, base string) {
	corp, sub, _ := strings.Cut(rest, "/")
	segs := strings.Split(strings.TrimSuffix(sub, "/"), "/")
	w.route = "/rest-services/{corpToken}/" + routeTemplate(segs)
	if s.cfg.SlowLatency > 0 && s.dice.Slow.Hit(s.cfg.SlowRate) { // a slow answer: done now, sent SlowLatency later
		held := &targetstest.HeldAnswer{}
		out := w.ResponseWriter
		w.ResponseWriter = held
		defer held.Send(out, r, s.cfg.SlowLatency)
	}
	if s.restFault(w) {
		return
	}
	tok, ok := s.authenticate(w, r, corp)
	if !ok {
		return
	}
	s.dispatch(w, r, tok, segs)
}

// routeTemplate names a REST route for State, with ids replaced.
func routeTemplate(segs []string) string {
	out := slices.Clone(segs)
	for i, seg := range out {
		if isIDList(seg) {
			out[i] = "{id}"
			if i == 3 && out[0] == "file" {
				out[i] = "{fileId}"
			}
		}
	}
	return strings.Join(out, "/")
}

func isIDList(seg string) bool {
	if seg == "" {
		return false
	}
	for _, c := range seg {
		if (c < '0' || c > '9') && c != ',' {
			return false
		}
	}
	return true
}

func (s *Server) dispatch(w *recorder, r *http.Request, tok string, segs []string) {
	m := r.Method
	allow := func(methods ...string) bool {
		if slices.Contains(methods, m) {
			return true
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		s.fail(w, http.StatusMethodNotAllowed, methodNotAllowed(m))
		return false
	}
	op := segs[0]
	switch {
	case op == "ping" && len(segs) == 1:
		if allow(http.MethodGet) {
			s.ping(w, tok)
		}
	case op == "logout" && len(segs) == 1:
		if allow(http.MethodGet, http.MethodPost) {
			s.logout(w, tok)
		}
	case op == "entity" && len(segs) >= 2:
		sch, ok := s.entitySchema(w, segs[1])
		if !ok {
			return
		}
		switch len(segs) {
		case 2:
			if allow(http.MethodPut) {
				s.create(w, r, sch)
			}
		case 3:
			switch m {
			case http.MethodGet:
				s.get(w, r, sch, segs[2])
			case http.MethodPost:
				s.update(w, r, sch, segs[2])
			case http.MethodDelete:
				s.fail(w, http.StatusNotImplemented, notImplemented("DELETE entity/"+sch.name))
			default:
				allow(http.MethodGet, http.MethodPost, http.MethodDelete)
			}
		case 4:
			switch m {
			case http.MethodGet:
				s.association(w, r, sch, segs[2], segs[3])
			case http.MethodPut, http.MethodDelete:
				s.fail(w, http.StatusNotImplemented, notImplemented(m+" of to-many associations"))
			default:
				allow(http.MethodGet, http.MethodPut, http.MethodDelete)
			}
		default:
			s.fail(w, http.StatusNotImplemented, notImplemented("entity/"+sch.name+" with ids of to-many associations"))
		}
	case op == "search" && len(segs) == 2:
		if !allow(http.MethodGet, http.MethodPost) {
			return
		}
		sch, ok := s.entitySchema(w, segs[1])
		if !ok {
			return
		}
		if sch.name != EntityCandidate {
			s.fail(w, http.StatusBadRequest, apiError{
				ErrorMessage:    "Search operation not supported for " + sch.name + ", please use /query call instead.",
				ErrorMessageKey: "errors.searchNonIndexedEntity", ErrorCode: http.StatusBadRequest,
			})
			return
		}
		s.search(w, r)
	case op == "query" && len(segs) == 2:
		if segs[1] == EntityCandidate {
			// Observed: Candidate is an indexed entity, queried through /search only.
			s.fail(w, http.StatusBadRequest, apiError{
				ErrorMessage:    "Query operation not supported for Candidate, please use /search call instead.",
				ErrorMessageKey: "errors.queryIndexedEntity", ErrorCode: http.StatusBadRequest,
			})
			return
		}
		s.fail(w, http.StatusNotImplemented, notImplemented("query/"+segs[1]))
	case op == "file" && len(segs) >= 3:
		if segs[1] != EntityCandidate {
			s.fail(w, http.StatusNotImplemented, notImplemented("files of "+segs[1]))
			return
		}
		switch {
		case len(segs) == 3:
			if allow(http.MethodPut) {
				s.putFile(w, r, segs[2])
			}
		case len(segs) == 4 && segs[3] != "raw" && m == http.MethodGet:
			s.getFile(w, segs[2], segs[3])
		default:
			s.fail(w, http.StatusNotImplemented, notImplemented(m+" "+w.route[len("/rest-services/{corpToken}/"):]))
		}
	case op == "entityFiles" && len(segs) == 3:
		if segs[1] != EntityCandidate {
			s.fail(w, http.StatusNotImplemented, notImplemented("files of "+segs[1]))
			return
		}
		if allow(http.MethodGet) {
			s.entityFiles(w, segs[2])
		}
	case unimplementedOps[op]:
		s.fail(w, http.StatusNotImplemented, notImplemented(op))
	default:
		s.fail(w, http.StatusNotFound, notFoundError("Resource not found"))
	}
}

// entitySchema finds an entity type the fake stores; it answers 501 for others.
func (s *Server) entitySchema(w *recorder, name string) (*schema, bool) {
	sch, ok := schemas[name]
	if !ok {
		s.fail(w, http.StatusNotImplemented, notImplemented("entity type "+name))
	}
	return sch, ok
}

// parseID parses one entity id of a path; it answers 400 itself.
func (s *Server) parseID(w *recorder, seg string) (int, bool) {
	id, err := strconv.Atoi(seg)
	if err != nil || id <= 0 {
		s.fail(w, http.StatusBadRequest, badRequest("Invalid entity id: "+seg))
		return 0, false
	}
	return id, true
}

// readObject reads a JSON object body; it answers 400 or 413 itself.
func (s *Server) readObject(w *recorder, r *http.Request) (map[string]any, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, http.StatusRequestEntityTooLarge, apiError{ErrorMessage: "Request entity too large", ErrorCode: http.StatusRequestEntityTooLarge})
			return nil, false
		}
		s.fail(w, http.StatusBadRequest, badRequest("Cannot read the request body"))
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	err = dec.Decode(&v)
	if err == nil {
		if _, trailing := dec.Token(); trailing != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	obj, isObj := v.(map[string]any)
	if err != nil || !isObj {
		msg := "The request body must be a JSON object"
		if err != nil {
			msg = "Malformed JSON in the request body: " + err.Error()
		}
		s.fail(w, http.StatusBadRequest, badRequest(msg))
		return nil, false
	}
	return obj, true
}

// validation is the outcome of checking a create or update body against a schema.
type validation struct {
	vals    map[string]any
	refs    []refCheck
	errs    []FieldError
	suspect int // Timestamps small enough to be seconds rather than milliseconds
}

// refCheck is a to-one association to an entity the fake stores, to check under the lock.
type refCheck struct {
	prop   string
	target string
	id     int
}

func fieldErr(prop, typ, format string, args ...any) FieldError {
	return FieldError{DetailMessage: fmt.Sprintf(format, args...), PropertyName: prop, Severity: "ERROR", Type: typ}
}

// validateBody checks a body against sch: unknown fields, read-only fields, types, lengths and
// the association shape. pathID is the id of an update, 0 for a create.
func validateBody(sch *schema, body map[string]any, pathID int) validation {
	v := validation{vals: map[string]any{}}
	for _, k := range sortedKeys(body) {
		val := body[k]
		f, ok := sch.fields[k]
		switch {
		case !ok:
			v.errs = append(v.errs, fieldErr(k, "UNKNOWN_PROPERTY", "'%s' does not exist on %s", k, sch.name))
		case k == "id" && pathID != 0 && sameID(val, pathID):
			// Update bodies may repeat the entity's own id (the docs' example does).
		case f.readOnly:
			v.errs = append(v.errs, fieldErr(k, "READ_ONLY_PROPERTY", "'%s' is read-only on %s", k, sch.name))
		case f.kind == kToMany:
			v.errs = append(v.errs, fieldErr(k, "INVALID_ASSOCIATION",
				"to-many association '%s' cannot be set in a create or update body: use PUT entity/%s/{id}/%s/{ids}", k, sch.name, k))
		case val == nil:
			if f.notNull || slices.Contains(sch.required, k) {
				v.errs = append(v.errs, fieldErr(k, "NULL_NOT_ALLOWED", "'%s' cannot be null", k))
				continue
			}
			v.vals[k] = nil
		default:
			v.convert(k, k, f, val)
		}
	}
	if pathID == 0 {
		for _, k := range sch.required {
			if _, ok := body[k]; !ok {
				v.errs = append(v.errs, fieldErr(k, "MISSING_REQUIRED_PROPERTY", "missing required property: %s", k))
			}
		}
	}
	return v
}

func sameID(val any, id int) bool {
	n, ok := val.(json.Number)
	if !ok {
		return false
	}
	got, err := n.Int64()
	return err == nil && got == int64(id)
}

// convert checks one value against its field and stores it in v.vals[key]; path names it in
// errors.
func (v *validation) convert(key, path string, f fieldSpec, val any) {
	bad := func(format string, args ...any) {
		v.errs = append(v.errs, fieldErr(path, "INVALID_TYPE", format, args...))
	}
	switch f.kind {
	case kString:
		s, ok := val.(string)
		if !ok {
			bad("'%s' must be a String, got %s", path, jsonType(val))
			return
		}
		if n := utf16Len(s); f.max > 0 && n > f.max {
			v.errs = append(v.errs, fieldErr(path, "INVALID_SIZE", "'%s' is %d characters long, more than its maximum of %d", path, n, f.max))
			return
		}
		v.vals[key] = s
	case kInt:
		n, ok := integer(val)
		if !ok || n < math.MinInt32 || n > math.MaxInt32 {
			bad("'%s' must be an Integer, got %s", path, jsonValue(val))
			return
		}
		v.vals[key] = n
	case kNumber:
		num, ok := val.(json.Number)
		if !ok {
			bad("'%s' must be a number, got %s", path, jsonType(val))
			return
		}
		x, err := num.Float64()
		if err != nil {
			bad("'%s' must be a number, got %s", path, num)
			return
		}
		v.vals[key] = x
	case kBool:
		b, ok := val.(bool)
		if !ok {
			bad("'%s' must be a Boolean (true or false), got %s", path, jsonValue(val))
			return
		}
		v.vals[key] = b
	case kTimestamp:
		n, ok := integer(val)
		if !ok {
			bad("'%s' is a Timestamp: epoch milliseconds as a JSON number, got %s", path, jsonValue(val))
			return
		}
		if n != 0 && n > -2.3e9 && n < 5e9 { // as seconds, 1897 to 2128: as milliseconds, days around 1970
			v.suspect++
		}
		v.vals[key] = n
	case kAddress:
		m, ok := val.(map[string]any)
		if !ok {
			bad("'%s' must be an Address object, got %s", path, jsonType(val))
			return
		}
		sub := validation{vals: map[string]any{}}
		for _, sk := range sortedKeys(m) {
			sf, ok := addressFields[sk]
			switch {
			case !ok:
				sub.errs = append(sub.errs, fieldErr(path+"."+sk, "UNKNOWN_PROPERTY", "'%s.%s' does not exist on Address", path, sk))
			case m[sk] == nil:
				sub.vals[sk] = nil
			default:
				sub.convert(sk, path+"."+sk, sf, m[sk])
			}
		}
		v.errs = append(v.errs, sub.errs...)
		v.vals[key] = sub.vals
	case kToOne:
		m, ok := val.(map[string]any)
		id, idOK := integer(m["id"])
		if !ok || len(m) != 1 || !idOK || id <= 0 || id > math.MaxInt32 {
			v.errs = append(v.errs, fieldErr(path, "INVALID_ASSOCIATION", "'%s' is a to-one association: give it as {\"id\": N}, got %s", path, jsonValue(val)))
			return
		}
		if _, stored := schemas[f.target]; stored {
			v.refs = append(v.refs, refCheck{prop: path, target: f.target, id: int(id)})
		}
		v.vals[key] = map[string]any{"id": id}
	}
}

func integer(val any) (int64, bool) {
	n, ok := val.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return "null"
	}
}

func jsonValue(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// checkRefsLocked checks that associated entities exist.
func (s *Server) checkRefsLocked(refs []refCheck) []FieldError {
	var errs []FieldError
	for _, ref := range refs {
		if _, ok := s.st.records[ref.target][ref.id]; !ok {
			errs = append(errs, fieldErr(ref.prop, "INVALID_ASSOCIATION", "%s with id %d does not exist", ref.target, ref.id))
		}
	}
	return errs
}

func (s *Server) persistError(w *recorder, entity string, errs []FieldError) {
	s.fail(w, http.StatusBadRequest, apiError{
		ErrorMessage: "error persisting an entity of type: " + entity, ErrorMessageKey: "errors.cannotPersistEntity",
		ErrorCode: http.StatusBadRequest, EntityName: entity, Errors: errs,
	})
}

// crudResponse is the answer to a create or an update.
type crudResponse struct {
	ChangedEntityType string         `json:"changedEntityType"`
	ChangedEntityID   int            `json:"changedEntityId"`
	ChangeType        string         `json:"changeType"`
	Data              map[string]any `json:"data"`
}

// create serves PUT entity/{type}.
func (s *Server) create(w *recorder, r *http.Request, sch *schema) {
	body, ok := s.readObject(w, r)
	if !ok {
		return
	}
	v := validateBody(sch, body, 0)
	s.mu.Lock()
	v.errs = append(v.errs, s.checkRefsLocked(v.refs)...)
	if len(v.errs) > 0 {
		s.mu.Unlock()
		s.persistError(w, sch.name, v.errs)
		return
	}
	now := s.cfg.Now()
	st := &s.st
	st.suspectTimestamps += v.suspect
	st.nextID[sch.name]++
	rec := &record{id: st.nextID[sch.name], entity: sch.name, fields: cloneFields(v.vals), added: now, modified: now}
	for k, def := range sch.defaults {
		if _, ok := rec.fields[k]; !ok {
			rec.fields[k] = def
		}
	}
	st.records[sch.name][rec.id] = rec
	if sch.name == EntityCandidate {
		if name, _ := rec.fields["name"].(string); strings.TrimSpace(name) == "" {
			st.createdWithoutName++
		}
		s.indexLocked(rec, now)
	} else {
		s.linkLocked(rec, refID(rec.fields["candidate"]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, crudResponse{ChangedEntityType: sch.name, ChangedEntityID: rec.id, ChangeType: "INSERT", Data: v.vals})
}

// update serves POST entity/{type}/{id}: the fields given replace the stored ones (an
// address's given subfields replace its stored subfields).
func (s *Server) update(w *recorder, r *http.Request, sch *schema, seg string) {
	id, ok := s.parseID(w, seg)
	if !ok {
		return
	}
	body, ok := s.readObject(w, r)
	if !ok {
		return
	}
	v := validateBody(sch, body, id)
	s.mu.Lock()
	rec, ok := s.st.records[sch.name][id]
	if !ok {
		s.mu.Unlock()
		s.fail(w, http.StatusNotFound, entityNotFound(sch.name, id))
		return
	}
	v.errs = append(v.errs, s.checkRefsLocked(v.refs)...)
	if len(v.errs) > 0 {
		s.mu.Unlock()
		s.persistError(w, sch.name, v.errs)
		return
	}
	now := s.cfg.Now()
	s.st.suspectTimestamps += v.suspect
	fields := cloneFields(rec.fields)
	for k, val := range v.vals {
		if sub, isMap := val.(map[string]any); isMap && sch.fields[k].kind == kAddress {
			merged, _ := fields[k].(map[string]any)
			if merged == nil {
				merged = map[string]any{}
			}
			for sk, sv := range sub {
				merged[sk] = sv
			}
			val = merged
		}
		fields[k] = val
	}
	if sch.name != EntityCandidate {
		if to := refID(fields["candidate"]); to != rec.candidateID {
			s.unlinkLocked(rec)
			s.linkLocked(rec, to)
		}
	}
	rec.fields = fields
	rec.modified = now
	if sch.name == EntityCandidate {
		s.indexLocked(rec, now)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, crudResponse{ChangedEntityType: sch.name, ChangedEntityID: id, ChangeType: "UPDATE", Data: v.vals})
}

func entityNotFound(entity string, id int) apiError {
	return apiError{
		ErrorMessage: fmt.Sprintf("Unable to find %s with id %d", entity, id), ErrorMessageKey: "errors.entityNotFound", ErrorCode: http.StatusNotFound,
	}
}

// refID returns the id of a stored to-one association value.
func refID(v any) int {
	m, _ := v.(map[string]any)
	id, _ := m["id"].(int64)
	return int(id)
}

// linkLocked adds a child to its candidate's list.
func (s *Server) linkLocked(rec *record, candidateID int) {
	rec.candidateID = candidateID
	c, ok := s.st.records[EntityCandidate][candidateID]
	if !ok {
		return
	}
	switch rec.entity {
	case EntityEducation:
		c.educations = append(c.educations, rec.id)
	case EntityWorkHistory:
		c.workHistories = append(c.workHistories, rec.id)
	}
}

func (s *Server) unlinkLocked(rec *record) {
	c, ok := s.st.records[EntityCandidate][rec.candidateID]
	if !ok {
		return
	}
	drop := func(ids []int) []int { return slices.DeleteFunc(ids, func(id int) bool { return id == rec.id }) }
	switch rec.entity {
	case EntityEducation:
		c.educations = drop(c.educations)
	case EntityWorkHistory:
		c.workHistories = drop(c.workHistories)
	}
}

// sel is one entry of a fields parameter: a field and, for composites and associations, the
// subfields asked for.
type sel struct {
	name string
	sub  []sel
}

// parseFieldList parses "id,firstName,address(city,zip),educations(id,school)".
func parseFieldList(s string) ([]sel, error) {
	sels, rest, err := parseSels(s, 0)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q", rest)
	}
	return sels, nil
}

func parseSels(s string, depth int) ([]sel, string, error) {
	var out []sel
	for {
		i := strings.IndexAny(s, ",()")
		if i < 0 {
			i = len(s)
		}
		name := strings.TrimSpace(s[:i])
		s = s[i:]
		cur := sel{name: name}
		if strings.HasPrefix(s, "(") {
			if depth > 2 || name == "" {
				return nil, "", errors.New("unexpected '('")
			}
			sub, rest, err := parseSels(s[1:], depth+1)
			if err != nil {
				return nil, "", err
			}
			if !strings.HasPrefix(rest, ")") {
				return nil, "", errors.New("missing ')'")
			}
			cur.sub = sub
			s = rest[1:]
		}
		if cur.name != "" {
			out = append(out, cur)
		}
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case s == "" || strings.HasPrefix(s, ")"):
			return out, s, nil
		default:
			return nil, "", fmt.Errorf("unexpected %q", s)
		}
	}
}

// fieldsParam reads and checks the fields parameter against sch; it answers 400 or 501 itself.
// required says whether the call needs one (entity and association GETs do, search does not).
func (s *Server) fieldsParam(w *recorder, q url.Values, sch *schema, required bool) ([]sel, bool) {
	if q.Has("layout") {
		s.fail(w, http.StatusNotImplemented, notImplemented("the layout parameter"))
		return nil, false
	}
	raw := strings.Join(q["fields"], ",")
	if strings.TrimSpace(raw) == "" {
		if required {
			s.fail(w, http.StatusBadRequest, badRequest("At least one of the parameters fields or layout must be specified"))
		}
		return nil, !required
	}
	sels, err := parseFieldList(raw)
	if err == nil {
		err = s.checkSels(sels, sch)
	}
	if err != nil {
		var ni notImplementedError
		if errors.As(err, &ni) {
			s.fail(w, http.StatusNotImplemented, notImplemented(string(ni)))
			return nil, false
		}
		if errors.Is(err, errAllFields) {
			s.fail(w, http.StatusBadRequest, apiError{ErrorMessage: "You are not authorized to request all fields.", ErrorMessageKey: "errors.allFieldsNotAllowed", ErrorCode: http.StatusBadRequest})
			return nil, false
		}
		s.fail(w, http.StatusBadRequest, apiError{ErrorMessage: "Invalid fields parameter: " + err.Error(), ErrorMessageKey: "errors.invalidField", ErrorCode: http.StatusBadRequest})
		return nil, false
	}
	return sels, true
}

type notImplementedError string

func (e notImplementedError) Error() string { return string(e) }

var errAllFields = errors.New("all fields not allowed")

// checkSels checks field names against a schema (nil: the file attachment fields).
func (s *Server) checkSels(sels []sel, sch *schema) error {
	for _, sl := range sels {
		if sl.name == "*" {
			if s.cfg.AllFieldsNotAllowed {
				return errAllFields
			}
			continue
		}
		if sch == nil {
			if _, ok := fileAttachmentFields[sl.name]; !ok || sl.sub != nil {
				return fmt.Errorf("'%s' does not exist on %s", sl.name, entityFile)
			}
			continue
		}
		f, ok := sch.fields[sl.name]
		if !ok {
			return fmt.Errorf("'%s' does not exist on %s", sl.name, sch.name)
		}
		switch f.kind {
		case kAddress:
			for _, sub := range sl.sub {
				if _, ok := addressFields[sub.name]; !ok || sub.sub != nil {
					return fmt.Errorf("'%s.%s' does not exist on Address", sl.name, sub.name)
				}
			}
		case kToOne:
			if target, ok := schemas[f.target]; ok {
				if err := s.checkSels(sl.sub, target); err != nil {
					return err
				}
			}
		case kToMany:
			switch f.target {
			case EntityEducation, EntityWorkHistory:
				if err := s.checkSels(sl.sub, schemas[f.target]); err != nil {
					return err
				}
			case entityFile:
				if err := s.checkSels(sl.sub, nil); err != nil {
					return err
				}
			default:
				return notImplementedError("the to-many association " + sl.name)
			}
		default:
			if sl.sub != nil {
				return fmt.Errorf("'%s' has no subfields", sl.name)
			}
		}
	}
	return nil
}

// projectLocked returns the fields of rec that sels ask for; id is always there.
func (s *Server) projectLocked(rec *record, sels []sel) map[string]any {
	sch := schemas[rec.entity]
	out := map[string]any{"id": rec.id}
	for _, sl := range sels {
		if sl.name == "*" {
			for k, v := range rec.fields {
				out[k] = v
			}
			out["dateAdded"] = rec.added.UnixMilli()
			out["dateLastModified"] = rec.modified.UnixMilli()
			continue
		}
		out[sl.name] = s.valueLocked(rec, sch, sl)
	}
	return out
}

func (s *Server) valueLocked(rec *record, sch *schema, sl sel) any {
	switch sl.name {
	case "id":
		return rec.id
	case "dateAdded":
		return rec.added.UnixMilli()
	case "dateLastModified":
		return rec.modified.UnixMilli()
	}
	f := sch.fields[sl.name]
	v := rec.fields[sl.name]
	switch f.kind {
	case kAddress:
		m, _ := v.(map[string]any)
		out := map[string]any{}
		if len(sl.sub) == 0 {
			for k := range addressFields {
				out[k] = m[k]
			}
			return out
		}
		for _, sub := range sl.sub {
			out[sub.name] = m[sub.name]
		}
		return out
	case kToOne:
		id := refID(v)
		if id == 0 {
			return nil
		}
		target, ok := s.st.records[f.target][id]
		if !ok {
			return map[string]any{"id": id}
		}
		sub := sl.sub
		if len(sub) == 0 && f.target == EntityCandidate {
			sub = []sel{{name: "firstName"}, {name: "lastName"}}
		}
		return s.projectLocked(target, sub)
	case kToMany:
		rows := s.toManyLocked(rec, f.target, sl.sub)
		total := len(rows)
		return map[string]any{"total": total, "data": rows[:min(total, maxNestedToManyRows)]}
	default:
		return v
	}
}

// toManyLocked returns a candidate's rows of a to-many association, projected.
func (s *Server) toManyLocked(rec *record, target string, sub []sel) []map[string]any {
	rows := []map[string]any{}
	switch target {
	case EntityEducation, EntityWorkHistory:
		ids := rec.educations
		if target == EntityWorkHistory {
			ids = rec.workHistories
		}
		for _, id := range ids {
			rows = append(rows, s.projectLocked(s.st.records[target][id], sub))
		}
	case entityFile:
		for _, id := range rec.files {
			rows = append(rows, projectFile(s.st.files[id], sub))
		}
	}
	return rows
}

// get serves GET entity/{type}/{id}[,{id}...]?fields=….
func (s *Server) get(w *recorder, r *http.Request, sch *schema, seg string) {
	var ids []int
	for part := range strings.SplitSeq(seg, ",") {
		id, ok := s.parseID(w, part)
		if !ok {
			return
		}
		ids = append(ids, id)
	}
	sels, ok := s.fieldsParam(w, r.URL.Query(), sch, true)
	if !ok {
		return
	}
	s.mu.Lock()
	var found []map[string]any
	for _, id := range ids {
		if rec, ok := s.st.records[sch.name][id]; ok {
			found = append(found, s.projectLocked(rec, sels))
		}
	}
	s.mu.Unlock()
	switch {
	case len(found) == 0:
		s.fail(w, http.StatusNotFound, entityNotFound(sch.name, ids[0]))
	case len(ids) == 1:
		writeJSON(w, http.StatusOK, map[string]any{"data": found[0]})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"data": found})
	}
}

// association serves GET entity/Candidate/{id}/{educations|workHistories|fileAttachments}.
func (s *Server) association(w *recorder, r *http.Request, sch *schema, seg, assoc string) {
	f, ok := sch.fields[assoc]
	if !ok || f.kind != kToMany {
		s.fail(w, http.StatusBadRequest, apiError{
			ErrorMessage: fmt.Sprintf("'%s' is not a to-many association of %s", assoc, sch.name), ErrorMessageKey: "errors.invalidAssociation", ErrorCode: http.StatusBadRequest,
		})
		return
	}
	target := schemas[f.target]
	if f.target != entityFile && target == nil {
		s.fail(w, http.StatusNotImplemented, notImplemented("the to-many association "+assoc))
		return
	}
	id, ok := s.parseID(w, seg)
	if !ok {
		return
	}
	sels, ok := s.fieldsParam(w, r.URL.Query(), target, true)
	if !ok {
		return
	}
	start, count, ok := s.page(w, r.URL.Query())
	if !ok {
		return
	}
	s.mu.Lock()
	rec, found := s.st.records[sch.name][id]
	var rows []map[string]any
	if found {
		rows = s.toManyLocked(rec, f.target, sels)
	}
	s.mu.Unlock()
	if !found {
		s.fail(w, http.StatusNotFound, entityNotFound(sch.name, id))
		return
	}
	total := len(rows)
	page := rows[min(start, total):min(start+count, total)]
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "start": start, "count": len(page), "data": page})
}

// Result window of lists and search.
const (
	defaultCount = 20
	maxCount     = 500 // UNCONFIRMED as a cap; larger counts are cut to it
)

// page reads start and count; it answers 400 itself.
func (s *Server) page(w *recorder, q url.Values) (start, count int, ok bool) {
	start, count = 0, defaultCount
	for name, dst := range map[string]*int{"start": &start, "count": &count} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, http.StatusBadRequest, badRequest("Invalid value for parameter "+name+": "+v))
			return 0, 0, false
		}
		*dst = n
	}
	return start, min(count, maxCount), true
}
