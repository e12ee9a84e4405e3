package jobaddertest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// specJSON is JobAdder's OpenAPI 3.0.1 document for API v2, byte for byte as the vendor
// publishes it (see /work/shared/specs/APIS.md, source S9).
//
//go:embed openapi.json
var specJSON []byte

// basePath is where the API is served, and the "servers" entry of the document.
const basePath = "/v2"

// servedPaths are the document's paths whose operations the fake routes. Operations of these
// paths that the fake does not implement answer 501; other paths answer 404.
var servedPaths = []string{ //nolint:gochecknoglobals // constant list
	"/candidates",
	"/candidates/{candidateId}",
	"/candidates/{candidateId}/attachments",
	"/candidates/{candidateId}/attachments/{attach}",
}

// loadSpec parses the embedded document once per process. Parsing the 1.2 MB document takes
// about 150 ms (over a second under -race), so a server per parallel test cannot afford its own
// copy. The result is never written after loading, so sharing it is safe.
var loadSpec = sync.OnceValues(parseSpec) //nolint:gochecknoglobals // lazily initialised, read-only

// apiSpec is the part of the document the fake serves, and a router over it.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

func parseSpec() (*apiSpec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(specJSON)
	if err != nil {
		return nil, fmt.Errorf("jobaddertest: load openapi.json: %w", err)
	}
	// The full document does not pass kin-openapi's own validation (it declares conflicting
	// requisition attachment paths), and the router insists on a valid document: keep only the
	// paths the fake serves. Schemas and everything else stay as published.
	paths := openapi3.NewPaths()
	for _, p := range servedPaths {
		item := doc.Paths.Value(p)
		if item == nil {
			return nil, fmt.Errorf("jobaddertest: openapi.json has no path %s", p)
		}
		paths.Set(p, item)
	}
	doc.Paths = paths
	doc.Servers = openapi3.Servers{{URL: basePath}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("jobaddertest: route openapi.json: %w", err)
	}
	return &apiSpec{doc: doc, router: router}, nil
}

// mustSpec returns the parsed document; the embedded file is known good, so failing to parse it
// is a bug in this package.
func mustSpec() *apiSpec {
	spec, err := loadSpec()
	if err != nil {
		panic(err)
	}
	return spec
}

// findRoute matches a request to one of the served operations. ok is false when no served path
// matches; a matching path without that method gives a route with a nil Operation.
func (spec *apiSpec) findRoute(r *http.Request) (route *routers.Route, params map[string]string, ok bool) {
	// Route on the path alone: a request built for a client (with scheme and host) must match
	// the relative server URL too.
	rr := *r
	rr.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath}
	route, params, err := spec.router.FindRoute(&rr)
	if err == nil {
		return route, params, true
	}
	// The legacy router reports "method not allowed" only for literal paths: try the other
	// methods to tell a wrong method (405) from a wrong path (404).
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		rr.Method = m
		if other, _, err := spec.router.FindRoute(&rr); err == nil {
			return &routers.Route{Spec: spec.doc, Path: other.Path, PathItem: other.PathItem, Method: r.Method}, nil, true
		}
	}
	return nil, nil, false
}

// ErrorItem is one entry of JobAdder's ErrorModel.errors.
type ErrorItem struct {
	// Code is one of the document's ErrorCode values: Invalid, Missing, MissingField,
	// AlreadyExists.
	Code    string   `json:"code"`
	Message string   `json:"message,omitempty"`
	Fields  []string `json:"fields,omitempty"`
}

// errorModel is the document's ErrorModel, the body of 4xx answers of the API.
type errorModel struct {
	Message string      `json:"message"`
	Errors  []ErrorItem `json:"errors,omitempty"`
}

// requestProblem is a request the fake refuses during validation.
type requestProblem struct {
	status int
	body   errorModel
}

const msgValidation = "Validation error"

// validateRequest checks r against the operation's parameters and request body. body is the
// request body, already read; r.Body is replaced. It returns nil when the request is valid.
func validateRequest(ctx context.Context, route *routers.Route, params map[string]string, r *http.Request, body []byte) *requestProblem {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			// The fake checks bearer tokens itself.
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			MultiError:          true,
			SkipSettingDefaults: true,
		},
	}
	err := openapi3filter.ValidateRequest(ctx, in)
	if err == nil {
		return checkCollectionLengths(route, r, body)
	}
	return classify(err)
}

// classify turns kin-openapi's validation errors into the status and ErrorModel the API sends.
//
//   - An integer path parameter that does not parse answers 404, as a route constraint does.
//   - A Content-Type the operation does not accept answers 415.
//   - Everything else (body schema, undecodable body, query, header, enum path parameter)
//     answers 422 with one ErrorItem per offending field.
func classify(err error) *requestProblem {
	p := &requestProblem{status: http.StatusUnprocessableEntity, body: errorModel{Message: msgValidation}}
	for _, e := range flatten(err) {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			p.body.Errors = append(p.body.Errors, ErrorItem{Code: "Invalid", Message: e.Error()})
			continue
		}
		switch {
		case re.Parameter != nil:
			param := re.Parameter
			if param.In == openapi3.ParameterInPath && param.Schema != nil && param.Schema.Value != nil &&
				param.Schema.Value.Type.Is(openapi3.TypeInteger) {
				return &requestProblem{status: http.StatusNotFound, body: errorModel{Message: "Resource not found"}}
			}
			p.body.Errors = append(p.body.Errors, ErrorItem{Code: "Invalid", Message: paramReason(re), Fields: []string{param.Name}})
		case re.RequestBody != nil && re.Err == nil && strings.HasPrefix(re.Reason, "header Content-Type"):
			return &requestProblem{status: http.StatusUnsupportedMediaType, body: errorModel{
				Message: "The request entity's media type is not supported for this resource",
			}}
		case re.RequestBody != nil:
			p.body.Errors = append(p.body.Errors, bodyItems(re)...)
		default:
			p.body.Errors = append(p.body.Errors, ErrorItem{Code: "Invalid", Message: re.Error()})
		}
	}
	// kin-openapi walks objects in map order: sort for stable answers.
	slices.SortStableFunc(p.body.Errors, func(a, b ErrorItem) int {
		return strings.Compare(strings.Join(a.Fields, ","), strings.Join(b.Fields, ","))
	})
	return p
}

// flatten expands kin-openapi's MultiError trees, but not errors that wrap one.
func flatten(err error) []error {
	if me, ok := err.(openapi3.MultiError); ok { //nolint:errorlint // wrapped MultiErrors stay whole

		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func paramReason(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return re.Parameter.Name + ": " + schemaReason(se)
	}
	reason := re.Reason
	if reason == "" && re.Err != nil {
		reason = re.Err.Error()
	}
	return re.Parameter.Name + ": " + reason
}

// bodyItems lists the fields a request body error is about.
func bodyItems(re *openapi3filter.RequestError) []ErrorItem {
	var items []ErrorItem
	for _, e := range flatten(re.Err) {
		var se *openapi3.SchemaError
		if !errors.As(e, &se) {
			msg := re.Reason
			if e != nil {
				msg += ": " + e.Error()
			}
			items = append(items, ErrorItem{Code: "Invalid", Message: msg})
			continue
		}
		path := se.JSONPointer()
		code := "Invalid"
		switch se.SchemaField {
		case "properties":
			// "property \"postcode\" is unsupported": the field is the unknown property.
			if name, ok := unsupportedProperty(se.Reason); ok {
				path = append(path, name)
			}
		case "required":
			code = "Missing" // the path already ends with the missing property
		}
		item := ErrorItem{Code: code, Message: schemaReason(se)}
		if f := fieldName(path); f != "" {
			item.Fields = []string{f}
		}
		items = append(items, item)
	}
	return items
}

func schemaReason(se *openapi3.SchemaError) string {
	if se.Reason != "" {
		return se.Reason
	}
	if se.Origin != nil {
		return se.Origin.Error()
	}
	return "does not match schema field " + se.SchemaField
}

func unsupportedProperty(reason string) (string, bool) {
	return quotedName(reason, "property ", " is unsupported")
}

func quotedName(reason, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(reason, prefix)
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, suffix)
	if !ok {
		return "", false
	}
	name, err := strconv.Unquote(rest)
	return name, err == nil
}

// fieldName writes a JSON pointer the way ASP.NET names model fields: "education[0].date".
func fieldName(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		if seg != "" && strings.Trim(seg, "0123456789") == "" {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// checkCollectionLengths applies "maxLength" declared on array schemas (skillTags has one).
// JSON Schema ignores maxLength on arrays, but the document is generated from .NET models where
// [MaxLength(n)] on a collection limits its element count, so the real API refuses longer lists.
func checkCollectionLengths(route *routers.Route, r *http.Request, body []byte) *requestProblem {
	if route.Operation == nil || route.Operation.RequestBody == nil || route.Operation.RequestBody.Value == nil || len(body) == 0 {
		return nil
	}
	mt := route.Operation.RequestBody.Value.Content.Get(r.Header.Get("Content-Type"))
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil || !strings.HasPrefix(mediaType(r), "application/json") {
		return nil
	}
	value, err := decodeJSON(body)
	if err != nil {
		return nil // validated already; cannot happen
	}
	var items []ErrorItem
	walkArrays(mt.Schema.Value, value, nil, func(s *openapi3.Schema, arr []any, path []string) {
		if s.MaxLength != nil && uint64(len(arr)) > *s.MaxLength {
			items = append(items, ErrorItem{
				Code:    "Invalid",
				Message: fmt.Sprintf("maximum number of items is %d", *s.MaxLength),
				Fields:  []string{fieldName(path)},
			})
		}
	})
	if len(items) == 0 {
		return nil
	}
	return &requestProblem{status: http.StatusUnprocessableEntity, body: errorModel{Message: msgValidation, Errors: items}}
}

// walkArrays calls fn for every array in value, with the schema that describes it.
func walkArrays(s *openapi3.Schema, value any, path []string, fn func(*openapi3.Schema, []any, []string)) {
	if s == nil {
		return
	}
	switch v := value.(type) {
	case map[string]any:
		for k, child := range v {
			p := append(slices.Clip(path), k)
			if prop, ok := s.Properties[k]; ok && prop != nil {
				walkArrays(prop.Value, child, p, fn)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				walkArrays(ap.Value, child, p, fn)
			}
		}
	case []any:
		fn(s, v, path)
		if s.Items != nil {
			for i, child := range v {
				walkArrays(s.Items.Value, child, append(slices.Clip(path), strconv.Itoa(i)), fn)
			}
		}
	}
}

// mediaType returns the request's lower-cased media type without parameters.
func mediaType(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// canonicalQuery renames query parameters to the operation's spelling, case-insensitively, as
// ASP.NET binds them ("email" → "Email"). It returns the names the operation does not declare,
// which the real API ignores.
func canonicalQuery(op *openapi3.Operation, r *http.Request) (ignored []string) {
	if r.URL.RawQuery == "" {
		return nil
	}
	q := r.URL.Query()
	changed := false
	for name, values := range q {
		declared := ""
		for _, p := range op.Parameters {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && strings.EqualFold(p.Value.Name, name) {
				declared = p.Value.Name
				break
			}
		}
		switch declared {
		case "":
			ignored = append(ignored, name)
		case name:
		default:
			delete(q, name)
			q[declared] = append(q[declared], values...)
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
	slices.Sort(ignored)
	return ignored
}

// filePart is the file a multipart request carried.
type filePart struct {
	fileName    string
	contentType string
	data        []byte
}

// splitMultipart keeps the parts the operation declares and reports the others, which the real
// API ignores (the document does not forbid extra parts; kin-openapi would refuse them). It
// returns the rebuilt body and the first part named file. A body that does not parse is
// returned unchanged for the validator to refuse.
func splitMultipart(op *openapi3.Operation, r *http.Request, body []byte, file string) (out []byte, f *filePart, ignored []string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return body, nil, nil
	}
	declared := map[string]bool{}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		if m := op.RequestBody.Value.Content.Get(mt); m != nil && m.Schema != nil && m.Schema.Value != nil {
			for name := range m.Schema.Value.Properties {
				declared[name] = true
			}
		}
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(params["boundary"]); err != nil {
		return body, nil, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return body, nil, nil
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return body, nil, nil
		}
		name := part.FormName()
		if !declared[name] {
			ignored = append(ignored, name)
			continue
		}
		if name == file && f == nil {
			f = &filePart{fileName: part.FileName(), contentType: part.Header.Get("Content-Type"), data: data}
		}
		pw, err := w.CreatePart(textproto.MIMEHeader(part.Header))
		if err != nil {
			return body, nil, nil
		}
		_, _ = pw.Write(data)
	}
	if err := w.Close(); err != nil {
		return body, nil, nil
	}
	return buf.Bytes(), f, ignored
}
