package bullhorntest

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// indexLocked queues rec's current state for the search index: search sees it IndexLag later.
func (s *Server) indexLocked(rec *record, now time.Time) {
	doc := cloneFields(rec.fields)
	doc["id"] = int64(rec.id)
	doc["dateAdded"] = rec.added.UnixMilli()
	doc["dateLastModified"] = rec.modified.UnixMilli()
	s.st.pending = append(s.st.pending, pendingIndex{id: rec.id, doc: doc, visible: now.Add(s.cfg.IndexLag)})
	if s.cfg.IndexLag == 0 {
		s.promoteLocked(now)
	}
}

// promoteLocked makes the writes due by now visible to search, in the order they were made.
func (s *Server) promoteLocked(now time.Time) {
	st := &s.st
	n := 0
	for n < len(st.pending) && !st.pending[n].visible.After(now) {
		p := st.pending[n]
		n++
		rec := st.records[EntityCandidate][p.id]
		s.indexTermsLocked(rec.id, rec.indexed, false)
		rec.indexed = p.doc
		s.indexTermsLocked(rec.id, rec.indexed, true)
	}
	if n == len(st.pending) {
		st.pending = nil
	} else {
		st.pending = st.pending[n:]
	}
}

func (s *Server) indexTermsLocked(id int, doc map[string]any, add bool) {
	for _, f := range indexedFields {
		v, _ := doc[f].(string)
		if v == "" {
			continue
		}
		key := termKey(f, v)
		ids := s.st.terms[key]
		if add {
			if ids == nil {
				ids = map[int]struct{}{}
				s.st.terms[key] = ids
			}
			ids[id] = struct{}{}
			continue
		}
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.st.terms, key)
		}
	}
}

// sortKey is one entry of the sort parameter.
type sortKey struct {
	f    searchField
	desc bool
}

// search serves GET search/Candidate?query=…&fields=…&count=…&start=…&sort=… and the POST
// variant, whose JSON body {"query": …} carries the query.
func (s *Server) search(w *recorder, r *http.Request) {
	q := r.URL.Query()
	query := q.Get("query")
	if r.Method == http.MethodPost {
		body, ok := s.readObject(w, r)
		if !ok {
			return
		}
		for k, v := range body {
			qs, isString := v.(string)
			if k != "query" || !isString {
				s.fail(w, http.StatusBadRequest, badRequest("The search body is {\"query\": \"…\"}; unexpected "+k))
				return
			}
			query = qs
		}
	}
	if strings.TrimSpace(query) == "" {
		s.fail(w, http.StatusBadRequest, badRequest("Missing required parameter: query"))
		return
	}
	node, qerr := parseLucene(query)
	if qerr != nil {
		key := "errors.invalidQuery"
		if qerr.status == http.StatusNotImplemented {
			key = "bullhorntest.notImplemented"
		}
		s.fail(w, qerr.status, apiError{ErrorMessage: qerr.msg, ErrorMessageKey: key, ErrorCode: qerr.status})
		return
	}
	sels, ok := s.fieldsParam(w, q, schemas[EntityCandidate], false)
	if !ok {
		return
	}
	start, count, ok := s.page(w, q)
	if !ok {
		return
	}
	var keys []sortKey
	for part := range strings.SplitSeq(q.Get("sort"), ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "_score" {
			continue
		}
		desc := strings.HasPrefix(part, "-")
		f, qerr := resolveSearchField(strings.TrimPrefix(part, "-"))
		if qerr != nil {
			s.fail(w, qerr.status, apiError{ErrorMessage: qerr.msg, ErrorMessageKey: "errors.invalidSort", ErrorCode: qerr.status})
			return
		}
		keys = append(keys, sortKey{f: f, desc: desc})
	}

	s.mu.Lock()
	st := &s.st
	st.searches++
	s.promoteLocked(s.cfg.Now())
	var docs []map[string]any
	if ids, ok := prefilter(node, st); ok {
		for _, id := range ids {
			if rec, ok := st.records[EntityCandidate][id]; ok && rec.indexed != nil && node.match(rec.indexed) {
				docs = append(docs, rec.indexed)
			}
		}
	} else {
		for _, rec := range st.records[EntityCandidate] {
			if rec.indexed != nil && node.match(rec.indexed) {
				docs = append(docs, rec.indexed)
			}
		}
	}
	slices.SortFunc(docs, func(a, b map[string]any) int {
		for _, k := range keys {
			c := compareValues(k.f.value(a), k.f.value(b))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return compareValues(a["id"], b["id"])
	})
	total := len(docs)
	page := docs[min(start, total):min(start+count, total)]
	data := make([]any, 0, len(page))
	for _, doc := range page {
		id, _ := doc["id"].(int64)
		if sels == nil {
			data = append(data, id)
			continue
		}
		// The index finds the ids; the fields come from the stored entity.
		row := s.projectLocked(st.records[EntityCandidate][int(id)], sels)
		row["_score"] = 1.0
		data = append(data, row)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "start": start, "count": len(data), "data": data})
}
