package bullhorntest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// This file parses and evaluates the Lucene query syntax of GET search/Candidate, as Lucene's
// classic QueryParser reads it (Bullhorn does not say which parser it runs: UNCONFIRMED):
//
//   - clauses joined by AND, OR, &&, || or nothing (OR), each optionally prefixed by +, -,
//     ! or NOT, and grouped with parentheses; "a OR b AND c" means what the classic parser
//     makes of it (a SHOULD, b and c MUST);
//   - field:term, field:"phrase", field:(group), field:[lo TO hi] and {lo TO hi} (* open),
//     field:* (has a value), *:* (everything), wildcards * and ? in terms, ^boost (ignored);
//   - a backslash escapes any character; unescaped, + - && || ! ( ) { } [ ] ^ " ~ * ? : \ /
//     are syntax (+ and - only at the start of a term, so user+tag@example.com and
//     mary-jane@example.com are single terms, as in Lucene). @ and . need no escaping.
//
// Strings match whole field values without regard to case (no tokenising: the fake is more
// precise than an analysed index, see the package documentation). Fuzzy (~), regular
// expressions (/re/), and terms without a field answer 501; syntax errors and unknown fields
// answer 400.

type tokKind int

const (
	tEOF tokKind = iota
	tAnd
	tOr
	tNot
	tPlus
	tMinus
	tLParen
	tRParen
	tColon
	tCaret
	tTilde
	tTerm
	tPhrase
	tRange
	tRegex
)

type token struct {
	kind tokKind
	text string // tTerm, tPhrase: unescaped text
	raw  string // tTerm: as written
	wild *regexp.Regexp
	// tRange
	lo, hi         *string // nil: open (*)
	loIncl, hiIncl bool
	pos            int
}

// queryError is a query the fake refuses: 400 for bad syntax or fields, 501 for syntax it
// does not evaluate.
type queryError struct {
	status int
	msg    string
}

func (e *queryError) Error() string { return e.msg }

func syntaxError(pos int, format string, args ...any) *queryError {
	return &queryError{status: http.StatusBadRequest, msg: fmt.Sprintf("Cannot parse query: %s at position %d", fmt.Sprintf(format, args...), pos)}
}

func unsupportedQuery(format string, args ...any) *queryError {
	return &queryError{status: http.StatusNotImplemented, msg: "bullhorntest: " + fmt.Sprintf(format, args...) + " is not implemented by the fake"}
}

func isQuerySpace(c rune) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\u3000'
}

// endsTerm reports whether c ends a term (Lucene's _TERM_CHAR excludes it).
func endsTerm(c rune) bool {
	return isQuerySpace(c) || strings.ContainsRune(`!():^[]"{}~/`, c)
}

func lex(q string) ([]token, *queryError) {
	rs := []rune(q)
	var toks []token
	i := 0
	for i < len(rs) {
		c := rs[i]
		start := i
		switch {
		case isQuerySpace(c):
			i++
			continue
		case c == '&' && i+1 < len(rs) && rs[i+1] == '&':
			toks = append(toks, token{kind: tAnd, pos: start})
			i += 2
			continue
		case c == '|' && i+1 < len(rs) && rs[i+1] == '|':
			toks = append(toks, token{kind: tOr, pos: start})
			i += 2
			continue
		}
		i++
		switch c {
		case '+':
			toks = append(toks, token{kind: tPlus, pos: start})
		case '-':
			toks = append(toks, token{kind: tMinus, pos: start})
		case '!':
			toks = append(toks, token{kind: tNot, pos: start})
		case '(':
			toks = append(toks, token{kind: tLParen, pos: start})
		case ')':
			toks = append(toks, token{kind: tRParen, pos: start})
		case ':':
			toks = append(toks, token{kind: tColon, pos: start})
		case '^', '~':
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			if c == '^' && j == i {
				return nil, syntaxError(start, "'^' without a number")
			}
			kind := tCaret
			if c == '~' {
				kind = tTilde
			}
			toks = append(toks, token{kind: kind, text: string(rs[i:j]), pos: start})
			i = j
		case '"':
			var b strings.Builder
			closed := false
			for i < len(rs) {
				ch := rs[i]
				i++
				if ch == '\\' {
					if i == len(rs) {
						return nil, syntaxError(i, "escape character at the end of the query")
					}
					b.WriteRune(rs[i])
					i++
					continue
				}
				if ch == '"' {
					closed = true
					break
				}
				b.WriteRune(ch)
			}
			if !closed {
				return nil, syntaxError(start, "unterminated phrase")
			}
			toks = append(toks, token{kind: tPhrase, text: b.String(), pos: start})
		case '[', '{':
			tok, next, err := lexRange(rs, start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i = next
		case ']', '}':
			return nil, syntaxError(start, "unexpected %q", c)
		case '/':
			return nil, unsupportedQuery("a regular expression query (an unescaped '/' at position %d; escape it as \\/)", start)
		default:
			i = start
			tok, next, err := lexTerm(rs, start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i = next
		}
	}
	return append(toks, token{kind: tEOF, pos: len(rs)}), nil
}

// lexTerm reads a term from rs[start:]: escapes are resolved, unescaped * and ? make it a
// wildcard term.
func lexTerm(rs []rune, start int) (token, int, *queryError) {
	var text, pattern strings.Builder
	wild, escaped := false, false
	i := start
	for i < len(rs) && !endsTerm(rs[i]) {
		ch := rs[i]
		i++
		switch ch {
		case '\\':
			if i == len(rs) {
				return token{}, 0, syntaxError(i, "escape character at the end of the query")
			}
			escaped = true
			text.WriteRune(rs[i])
			pattern.WriteString(regexp.QuoteMeta(string(rs[i])))
			i++
		case '*', '?':
			wild = true
			text.WriteRune(ch)
			if ch == '*' {
				pattern.WriteString(".*")
			} else {
				pattern.WriteString(".")
			}
		default:
			text.WriteRune(ch)
			pattern.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	raw := string(rs[start:i])
	tok := token{kind: tTerm, text: text.String(), raw: raw, pos: start}
	if !escaped {
		switch raw {
		case "AND":
			tok.kind = tAnd
		case "OR":
			tok.kind = tOr
		case "NOT":
			tok.kind = tNot
		}
	}
	if wild && tok.kind == tTerm {
		re, err := regexp.Compile("(?is)^" + pattern.String() + "$")
		if err != nil {
			return token{}, 0, syntaxError(start, "bad wildcard term %q", raw)
		}
		tok.wild = re
	}
	return tok, i, nil
}

// lexRange reads [lo TO hi] or {lo TO hi} (mixed brackets allowed) from rs[start:].
func lexRange(rs []rune, start int) (token, int, *queryError) {
	i := start + 1
	var parts []*string
	var quoted []bool
	for {
		for i < len(rs) && isQuerySpace(rs[i]) {
			i++
		}
		if i == len(rs) {
			return token{}, 0, syntaxError(start, "unterminated range")
		}
		if rs[i] == ']' || rs[i] == '}' {
			break
		}
		var b strings.Builder
		isQuoted := rs[i] == '"'
		if isQuoted {
			i++
			for i < len(rs) && rs[i] != '"' {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				b.WriteRune(rs[i])
				i++
			}
			if i == len(rs) {
				return token{}, 0, syntaxError(start, "unterminated phrase in range")
			}
			i++
		} else {
			for i < len(rs) && !isQuerySpace(rs[i]) && rs[i] != ']' && rs[i] != '}' {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				b.WriteRune(rs[i])
				i++
			}
		}
		p := b.String()
		parts = append(parts, &p)
		quoted = append(quoted, isQuoted)
	}
	if len(parts) != 3 || *parts[1] != "TO" || quoted[1] {
		return token{}, 0, syntaxError(start, "a range is [lower TO upper]")
	}
	tok := token{kind: tRange, pos: start, loIncl: rs[start] == '[', hiIncl: rs[i] == ']'}
	if quoted[0] || *parts[0] != "*" {
		tok.lo = parts[0]
	}
	if quoted[2] || *parts[2] != "*" {
		tok.hi = parts[2]
	}
	return tok, i + 1, nil
}

// Query nodes.

type qnode interface {
	match(doc map[string]any) bool
}

type occur int

const (
	should occur = iota
	must
	mustNot
)

type qclause struct {
	occur occur
	q     qnode
}

type boolQuery struct {
	clauses []qclause
	top     bool // a purely negative top-level query matches everything but its exclusions (Solr)
}

func (b *boolQuery) match(doc map[string]any) bool {
	hasMust, hasShould, anyShould := false, false, false
	for _, c := range b.clauses {
		switch c.occur {
		case must:
			hasMust = true
			if !c.q.match(doc) {
				return false
			}
		case mustNot:
			if c.q.match(doc) {
				return false
			}
		case should:
			hasShould = true
			if !anyShould && c.q.match(doc) {
				anyShould = true
			}
		}
	}
	switch {
	case hasMust:
		return true
	case hasShould:
		return anyShould
	default:
		return b.top
	}
}

type allQuery struct{}

func (allQuery) match(map[string]any) bool { return true }

// searchField is a field a query names.
type searchField struct {
	name   string // as written
	parent string // composite of an address subfield
	key    string // key in the document (or in the composite)
	kind   kind
}

func (f searchField) value(doc map[string]any) any {
	if f.parent != "" {
		m, _ := doc[f.parent].(map[string]any)
		return m[f.key]
	}
	return doc[f.key]
}

// resolveSearchField finds a searchable Candidate field.
func resolveSearchField(name string) (searchField, *queryError) {
	unknown := &queryError{status: http.StatusBadRequest, msg: "Invalid search field: '" + name + "' does not exist on Candidate"}
	if parent, sub, ok := strings.Cut(name, "."); ok {
		f, ok := schemas[EntityCandidate].fields[parent]
		if !ok || f.kind != kAddress {
			return searchField{}, unknown
		}
		sf, ok := addressFields[sub]
		if !ok {
			return searchField{}, unknown
		}
		return searchField{name: name, parent: parent, key: sub, kind: sf.kind}, nil
	}
	f, ok := schemas[EntityCandidate].fields[name]
	if !ok {
		return searchField{}, unknown
	}
	switch f.kind {
	case kString, kInt, kNumber, kBool, kTimestamp:
		return searchField{name: name, key: name, kind: f.kind}, nil
	default:
		return searchField{}, unsupportedQuery("searching the %s field %s", f.kind, name)
	}
}

// existsQuery is field:*.
type existsQuery struct{ f searchField }

func (q existsQuery) match(doc map[string]any) bool {
	v := q.f.value(doc)
	s, isString := v.(string)
	return v != nil && (!isString || s != "")
}

// termQuery is field:value for one normalised value.
type termQuery struct {
	f   searchField
	val any // string (normalised), int64, float64 or bool
}

func normString(s string) string { return strings.ToLower(s) }

func (q termQuery) match(doc map[string]any) bool {
	v := q.f.value(doc)
	if s, ok := v.(string); ok {
		v = normString(s)
	}
	return v != nil && v == q.val
}

type wildcardQuery struct {
	f  searchField
	re *regexp.Regexp
}

func (q wildcardQuery) match(doc map[string]any) bool {
	s, ok := q.f.value(doc).(string)
	return ok && q.re.MatchString(s)
}

type rangeQuery struct {
	f              searchField
	lo, hi         any // nil: open
	loIncl, hiIncl bool
}

func (q rangeQuery) match(doc map[string]any) bool {
	v := q.f.value(doc)
	if s, ok := v.(string); ok {
		v = normString(s)
	}
	if v == nil {
		return false
	}
	if q.lo != nil {
		c := compareValues(v, q.lo)
		if c < 0 || c == 0 && !q.loIncl {
			return false
		}
	}
	if q.hi != nil {
		c := compareValues(v, q.hi)
		if c > 0 || c == 0 && !q.hiIncl {
			return false
		}
	}
	return true
}

// compareValues orders two values of one kind; values of different kinds sort nil first.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmpOrdered(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpOrdered(boolInt(x), boolInt(y))
		}
	}
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return 0
}

func cmpOrdered[T int64 | float64 | int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseValue turns a term's text into a value of the field's kind.
func parseValue(f searchField, text string, pos int) (any, *queryError) {
	bad := func(what string) *queryError {
		return &queryError{status: http.StatusBadRequest, msg: fmt.Sprintf("Cannot parse query: %q is not %s for field %s at position %d", text, what, f.name, pos)}
	}
	switch f.kind {
	case kInt, kTimestamp:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		if f.kind == kTimestamp && len(text) == 14 && (strings.HasPrefix(text, "19") || strings.HasPrefix(text, "20")) {
			return nil, unsupportedQuery("dates written yyyyMMddHHmmss (%s: use epoch milliseconds)", text)
		}
		return n, nil
	case kNumber:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, bad("a number")
		}
		return x, nil
	case kBool:
		switch strings.ToLower(text) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, bad("a boolean (0, 1, true or false)")
	default:
		return normString(text), nil
	}
}

// parser reads the tokens of one query.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// parseLucene parses a query for search/Candidate.
func parseLucene(q string) (qnode, *queryError) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	node, err := p.query("", 0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, syntaxError(t.pos, "unexpected ')'")
	}
	if b, ok := node.(*boolQuery); ok {
		b.top = true
	}
	return node, nil
}

const (
	conjNone = iota
	conjAnd
	conjOr
)

// query reads clauses up to a ')' or the end, as the classic parser's Query production.
func (p *parser) query(field string, depth int) (qnode, *queryError) {
	if depth > 20 {
		return nil, syntaxError(p.peek().pos, "too deeply nested")
	}
	var clauses []qclause
	for {
		t := p.peek()
		if t.kind == tEOF || t.kind == tRParen {
			break
		}
		conj := conjNone
		if t.kind == tAnd || t.kind == tOr {
			if len(clauses) == 0 {
				return nil, syntaxError(t.pos, "unexpected operator")
			}
			conj = conjOr
			if t.kind == tAnd {
				conj = conjAnd
			}
			p.next()
			t = p.peek()
		}
		var mod tokKind
		switch t.kind {
		case tPlus, tMinus, tNot:
			mod = t.kind
			p.next()
		}
		q, err := p.clause(field, depth)
		if err != nil {
			return nil, err
		}
		clauses = addClause(clauses, conj, mod, q)
	}
	if len(clauses) == 0 {
		return nil, syntaxError(p.peek().pos, "empty query")
	}
	if len(clauses) == 1 && clauses[0].occur != mustNot {
		return clauses[0].q, nil
	}
	return &boolQuery{clauses: clauses}, nil
}

// addClause is the classic QueryParser's addClause with the default operator OR.
func addClause(clauses []qclause, conj int, mod tokKind, q qnode) []qclause {
	if len(clauses) > 0 && conj == conjAnd && clauses[len(clauses)-1].occur != mustNot {
		clauses[len(clauses)-1].occur = must
	}
	prohibited := mod == tMinus || mod == tNot
	required := mod == tPlus || conj == conjAnd && !prohibited
	o := should
	switch {
	case prohibited:
		o = mustNot
	case required:
		o = must
	}
	return append(clauses, qclause{occur: o, q: q})
}

// clause reads [field:] followed by a term, phrase, range or group.
func (p *parser) clause(field string, depth int) (qnode, *queryError) {
	t := p.next()
	switch t.kind {
	case tTerm:
		if p.peek().kind == tColon {
			p.next()
			return p.fieldValue(t, depth)
		}
		return p.value(field, t)
	case tPhrase, tRange:
		return p.value(field, t)
	case tLParen:
		q, err := p.query(field, depth+1)
		if err != nil {
			return nil, err
		}
		if r := p.next(); r.kind != tRParen {
			return nil, syntaxError(r.pos, "missing ')'")
		}
		p.boost()
		return q, nil
	case tRegex:
		return nil, unsupportedQuery("a regular expression query")
	case tEOF:
		return nil, syntaxError(t.pos, "unexpected end of query")
	default:
		return nil, syntaxError(t.pos, "unexpected token")
	}
}

func (p *parser) boost() {
	if p.peek().kind == tCaret {
		p.next() // scores are not modelled
	}
}

// fieldValue reads what follows "field:".
func (p *parser) fieldValue(name token, depth int) (qnode, *queryError) {
	if name.wild != nil && name.text != "*" {
		return nil, syntaxError(name.pos, "wildcard in a field name")
	}
	t := p.next()
	switch t.kind {
	case tLParen:
		if name.text == "*" {
			return nil, unsupportedQuery("*:(...)")
		}
		q, err := p.query(name.text, depth+1)
		if err != nil {
			return nil, err
		}
		if r := p.next(); r.kind != tRParen {
			return nil, syntaxError(r.pos, "missing ')'")
		}
		p.boost()
		return q, nil
	case tTerm, tPhrase, tRange:
		return p.value(name.text, t)
	default:
		return nil, syntaxError(t.pos, "missing value after %s:", name.raw)
	}
}

// value turns a term, phrase or range for field into a query node.
func (p *parser) value(field string, t token) (qnode, *queryError) {
	if p.peek().kind == tTilde {
		return nil, unsupportedQuery("a fuzzy or proximity query (~)")
	}
	p.boost()
	if field == "" {
		return nil, unsupportedQuery("a term without a field (%q; the fake has no default field — did a '+' in the query lose its URL encoding and become a space?)", t.text)
	}
	if field == "*" {
		if t.kind == tTerm && t.raw == "*" {
			return allQuery{}, nil
		}
		return nil, unsupportedQuery("*:%s", t.text)
	}
	f, err := resolveSearchField(field)
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tRange:
		q := rangeQuery{f: f, loIncl: t.loIncl, hiIncl: t.hiIncl}
		for _, b := range []struct {
			src *string
			dst *any
		}{{t.lo, &q.lo}, {t.hi, &q.hi}} {
			if b.src == nil {
				continue
			}
			v, err := parseValue(f, *b.src, t.pos)
			if err != nil {
				return nil, err
			}
			*b.dst = v
		}
		return q, nil
	case tTerm:
		if t.wild != nil {
			if t.raw == "*" {
				return existsQuery{f: f}, nil
			}
			if f.kind != kString {
				return nil, syntaxError(t.pos, "wildcard on the non-text field %s", f.name)
			}
			return wildcardQuery{f: f, re: t.wild}, nil
		}
	}
	v, err := parseValue(f, t.text, t.pos)
	if err != nil {
		return nil, err
	}
	return termQuery{f: f, val: v}, nil
}

// indexedFields are the fields the search index keeps term lists of, to find candidates
// without a scan.
var indexedFields = []string{"email", "email2", "email3"} //nolint:gochecknoglobals // constant list

func termKey(field, value string) string { return field + "\x00" + normString(value) }

// prefilter returns ids that include every match of q, when the index can tell.
func prefilter(q qnode, st *store) ([]int, bool) {
	switch q := q.(type) {
	case termQuery:
		if q.f.parent != "" {
			return nil, false
		}
		if q.f.key == "id" {
			id, _ := q.val.(int64)
			return []int{int(id)}, true
		}
		if s, ok := q.val.(string); ok && slices.Contains(indexedFields, q.f.key) {
			var ids []int
			for id := range st.terms[termKey(q.f.key, s)] {
				ids = append(ids, id)
			}
			return ids, true
		}
	case *boolQuery:
		var union []int
		musts, shoulds := 0, 0
		for _, c := range q.clauses {
			switch c.occur {
			case must:
				musts++
				if ids, ok := prefilter(c.q, st); ok {
					return ids, true
				}
			case should:
				shoulds++
				ids, ok := prefilter(c.q, st)
				if !ok {
					shoulds = -1 << 30
				}
				union = append(union, ids...)
			}
		}
		if musts == 0 && shoulds > 0 {
			slices.Sort(union)
			return slices.Compact(union), true
		}
	}
	return nil, false
}
