package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/hrpush/hrpush/pkg/apikeys"
	"github.com/hrpush/hrpush/pkg/batch"
	"github.com/hrpush/hrpush/pkg/connections"
	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
)

// jobsResponse is the answer to POST /v1/jobs: what the stream did with each job, in the
// order posted.
type jobsResponse struct {
	// Enqueued jobs are new in the stream; Duplicates were dropped as already enqueued
	// within the stream's duplicates window (same message id).
	Enqueued   int         `json:"enqueued"`
	Duplicates int         `json:"duplicates"`
	Jobs       []jobResult `json:"jobs"`
}

type jobResult struct {
	ID        string `json:"id"`
	MsgID     string `json:"msg_id"`
	Subject   string `json:"subject"`
	Duplicate bool   `json:"duplicate"`
	// StreamSeq is the job's sequence in the stream (the first copy's, for a duplicate).
	StreamSeq uint64 `json:"stream_seq"`
}

// readBody reads the body up to the limit; it returns false when it has answered.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		problem.Write(w, problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "send the body as Content-Type: application/json"), 0)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		problem.Write(w, problem.New(http.StatusRequestEntityTooLarge, "body-too-large",
			fmt.Sprintf("the body is larger than %d bytes; send fewer jobs per request", a.cfg.MaxBodyBytes)), 0)
		return nil, false
	case err != nil:
		problem.Write(w, problem.New(http.StatusBadRequest, "unreadable-body", "the body could not be read"), 0)
		return nil, false
	}
	return body, true
}

// decode parses body into v strictly: no unknown or repeated members, no wrong types.
func decode(body []byte, v any) *problem.Details {
	err := jsonv2.Unmarshal(body, v, jsonv2.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) {
		detail := "invalid value"
		switch {
		case errors.Is(sem.Err, jsonv2.ErrUnknownName):
			detail = "unknown field"
		case sem.GoType != nil && sem.Err == nil:
			detail = "wrong type: want " + jsonType(sem.GoType)
		case sem.GoType != nil:
			detail = "wrong value: want " + jsonType(sem.GoType) + ": " + sem.Err.Error()
		}
		p := problem.New(http.StatusUnprocessableEntity, "invalid-body", "the body does not match the API's schema (see /v1/openapi.json)")
		p.Errors = []problem.FieldError{{Pointer: string(sem.JSONPointer), Detail: detail}}
		return p
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return problem.New(http.StatusBadRequest, "malformed-json", fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", syn.Err, syn.ByteOffset))
	}
	return problem.New(http.StatusBadRequest, "malformed-json", "the body is not valid JSON")
}

// jsonType names a Go type's JSON form for error messages.
func jsonType(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 date-time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// decodeJobs parses one job or an array of them, fills what the gateway may fill (version,
// id, enqueued_at) and validates each with the v1 contract. ptr names job i in errors.
func (a *API) decodeJobs(body []byte) (list []*jobs.Job, ptr func(i int) string, p *problem.Details) {
	ptr = func(int) string { return "" } // a lone job is the whole body
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if p := decode(body, &list); p != nil {
			return nil, nil, p
		}
		ptr = func(i int) string { return "/" + strconv.Itoa(i) }
	} else {
		var j jobs.Job
		if p := decode(body, &j); p != nil {
			return nil, nil, p
		}
		list = []*jobs.Job{&j}
	}
	switch {
	case len(list) == 0:
		return nil, nil, problem.New(http.StatusUnprocessableEntity, "no-jobs", "the array holds no job")
	case len(list) > a.cfg.MaxJobs:
		return nil, nil, problem.New(http.StatusRequestEntityTooLarge, "too-many-jobs",
			fmt.Sprintf("%d jobs in one request; at most %d: split it, or post a batch (POST /v1/batches)", len(list), a.cfg.MaxJobs))
	}
	now := a.cfg.Now()
	var errs []problem.FieldError
	for i, j := range list {
		if j == nil {
			errs = append(errs, problem.FieldError{Pointer: ptr(i), Detail: "null is not a job"})
			continue
		}
		if j.Version == 0 {
			j.Version = jobs.Version
		}
		if j.ID == "" {
			j.ID = batch.NewID(now)
		}
		if j.EnqueuedAt.IsZero() {
			j.EnqueuedAt = now.UTC()
		}
		if err := j.Validate(); err != nil {
			errs = append(errs, problem.FieldError{Pointer: ptr(i), Detail: strings.TrimPrefix(err.Error(), jobs.ErrBadJob.Error()+": ")})
		}
	}
	if len(errs) > 0 {
		p := problem.New(http.StatusUnprocessableEntity, "invalid-job", fmt.Sprintf("%d of %d jobs are not valid v1 jobs; nothing was enqueued", len(errs), len(list)))
		p.Errors = errs
		return nil, nil, p
	}
	return list, ptr, nil
}

// connectionOf is the connection a job writes to, for scopes: its own, else its workflow's,
// else the default one.
func (a *API) connectionOf(workflowID, connection string) string {
	if connection != "" {
		return connection
	}
	if a.cfg.Workflows != nil {
		if wf, ok := a.cfg.Workflows.Workflow(workflowID); ok && wf.Connection != "" {
			return wf.Connection
		}
	}
	return connections.Default
}

// admit checks that key may enqueue for each job (403), that its workflow is declared for its
// target (422) and that the connection it names exists (422). ptr names job i in errors.
func (a *API) admit(ctx context.Context, key *apikeys.Key, list []*jobs.Job, ptr func(i int) string) *problem.Details {
	var scope, unknownWF, unknownConn []problem.FieldError
	known := map[string]error{}
	for i, j := range list {
		conn := a.connectionOf(j.WorkflowID, j.Connection)
		if !key.Allows(j.WorkflowID, conn) {
			scope = append(scope, problem.FieldError{Pointer: ptr(i), Detail: fmt.Sprintf("this API key may not enqueue for workflow %q on connection %q", j.WorkflowID, conn)})
			continue
		}
		if a.cfg.Workflows != nil {
			wf, ok := a.cfg.Workflows.Workflow(j.WorkflowID)
			switch {
			case !ok:
				unknownWF = append(unknownWF, problem.FieldError{Pointer: ptr(i) + "/workflow_id", Detail: fmt.Sprintf("workflow %q is not declared", j.WorkflowID)})
				continue
			case wf.Target != j.Target:
				unknownWF = append(unknownWF, problem.FieldError{Pointer: ptr(i) + "/target", Detail: fmt.Sprintf("workflow %q pushes to %s, not %s", wf.ID, wf.Target, j.Target)})
				continue
			}
		}
		if j.Connection == "" || j.Connection == connections.Default {
			continue
		}
		k := connections.Key(j.Target, j.Connection)
		err, seen := known[k]
		if !seen {
			_, _, err = a.connections.Get(ctx, j.Target, j.Connection)
			known[k] = err
		}
		switch {
		case errors.Is(err, connections.ErrNotFound):
			unknownConn = append(unknownConn, problem.FieldError{Pointer: ptr(i) + "/connection", Detail: fmt.Sprintf("no %s connection %q", j.Target, j.Connection)})
		case err != nil:
			return problem.New(http.StatusServiceUnavailable, "unavailable", "cannot read the connections: the queue is unreachable; retry later")
		}
	}
	var p *problem.Details
	switch {
	case len(scope) > 0:
		p = problem.New(http.StatusForbidden, "out-of-scope", "this API key may not enqueue some of these jobs; nothing was enqueued")
		p.Errors = scope
	case len(unknownWF) > 0:
		p = problem.New(http.StatusUnprocessableEntity, "unknown-workflow", "some jobs name a workflow the workflows file does not declare for their target; nothing was enqueued")
		p.Errors = unknownWF
	case len(unknownConn) > 0:
		p = problem.New(http.StatusUnprocessableEntity, "unknown-connection", "some jobs name a connection that does not exist (enqueue connections list); nothing was enqueued")
		p.Errors = unknownConn
	}
	return p
}

func (a *API) postJobs(w http.ResponseWriter, r *http.Request, key *apikeys.Key) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	it, ok := a.reserve(w, r, key, body)
	if !ok {
		return
	}
	list, ptr, p := a.decodeJobs(body)
	if p == nil {
		p = a.admit(r.Context(), key, list, ptr)
	}
	if p != nil {
		a.release(r, it)
		problem.Write(w, p, retryAfter(p))
		return
	}
	resp, failed := a.publish(r.Context(), list)
	if len(failed) > 0 {
		a.release(r, it)
		a.cfg.Logger.Error("publishing jobs failed", "failed", len(failed), "of", len(list), "error", failed[0].Detail)
		p := problem.New(http.StatusServiceUnavailable, "publish-failed",
			fmt.Sprintf("%d of %d jobs could not be enqueued; the others were: send the same request again (the jobs already enqueued are dropped as duplicates)", len(failed), len(list)))
		p.Errors = failed
		problem.Write(w, p, time.Second)
		return
	}
	a.respond(w, r, it, http.StatusAccepted, "", resp)
}

func retryAfter(p *problem.Details) time.Duration {
	if p.Status == http.StatusServiceUnavailable {
		return time.Second
	}
	return 0
}

// publish enqueues the jobs and says what the stream did with each.
func (a *API) publish(ctx context.Context, list []*jobs.Job) (*jobsResponse, []problem.FieldError) {
	resp := &jobsResponse{Jobs: make([]jobResult, len(list))}
	index := make(map[*jobs.Job]int, len(list))
	for i, j := range list {
		index[j] = i
		resp.Jobs[i] = jobResult{ID: j.ID, MsgID: j.MsgID(), Subject: j.Subject()}
	}
	var failed []problem.FieldError
	answered := make([]bool, len(list))
	record := func(res jobs.PublishResult) {
		i := index[res.Job]
		answered[i] = true
		switch {
		case res.Err != nil:
			failed = append(failed, problem.FieldError{Pointer: "/" + strconv.Itoa(i), Detail: "not enqueued: the queue refused or did not answer"})
		case res.Duplicate:
			resp.Duplicates++
		default:
			resp.Enqueued++
		}
		resp.Jobs[i].Duplicate, resp.Jobs[i].StreamSeq = res.Duplicate, res.Seq
	}
	if len(list) == 1 {
		res, _ := a.pub.Publish(ctx, list[0])
		record(res)
	} else if err := a.pub.PublishAll(ctx, list, record); err != nil {
		for i := range list {
			if !answered[i] {
				failed = append(failed, problem.FieldError{Pointer: "/" + strconv.Itoa(i), Detail: "not enqueued: the request ended first"})
			}
		}
	}
	return resp, failed
}
