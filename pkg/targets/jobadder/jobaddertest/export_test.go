package jobaddertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// ValidateResponse checks a response of the API to req against the document, including that the
// document declares its status.
func ValidateResponse(ctx context.Context, req *http.Request, status int, header http.Header, body []byte) error {
	spec, err := loadSpec()
	if err != nil {
		return err
	}
	route, params, ok := spec.findRoute(req)
	if !ok || route.Operation == nil {
		return errors.New("no operation for " + req.Method + " " + req.URL.Path)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(ctx, in)
}
