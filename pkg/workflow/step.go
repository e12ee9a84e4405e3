package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"

	"github.com/hrpush/hrpush/pkg/hrflow"
)

// step is a workflow's format or one of its logics: a Go function or a jq program.
type step struct {
	field  string // "format", "logics[1]"
	event  string // run event of a failure: format_failure or logics_failure
	source string // "builtin jobadder", "go:NAME", "@file.jq" or "jq"
	format Format
	logic  Logic
	jq     *gojq.Code
}

// StepError is a format or logic that failed: it returned an error, panicked, timed out, or
// produced something other than an object (or, for a logic, null).
type StepError struct {
	// Event is the run event: format_failure or logics_failure.
	Event string
	// Step is "format" or "logics[i]", i counting from 0.
	Step string
	// Source is what ran: "builtin jobadder", "go:NAME", "@file.jq" or "jq" (inline).
	Source string
	Err    error
}

func (e *StepError) Error() string {
	if e.Source == "jq" {
		return e.Step + ": " + e.Err.Error()
	}
	return e.Step + " (" + e.Source + "): " + e.Err.Error()
}

func (e *StepError) Unwrap() error { return e.Err }

// Run formats the profile and applies the logics to the result, in that order, as the seed
// connectors do. It returns the item to push, or a nil item when a logic discarded it. A
// failed step returns a [*StepError]; when ctx ends first, the error is ctx's cause instead,
// as the job did not fail.
//
// Run is what the pipeline does between reading a profile and writing it; it is exported so
// that a workflow can be tried on a profile without a target.
func (w *Workflow) Run(ctx context.Context, p *hrflow.Profile) (map[string]any, error) {
	var profile any // $profile, decoded once if a jq program runs
	jqProfile := func() (any, error) {
		if profile != nil {
			return profile, nil
		}
		var err error
		profile, err = profileValue(p)
		return profile, err
	}
	item, err := w.format.runFormat(ctx, w.Timeout, p, jqProfile)
	if err != nil {
		return nil, w.format.fail(ctx, err)
	}
	for i := range w.logics {
		s := &w.logics[i]
		item, err = s.runLogic(ctx, w.Timeout, item, p, jqProfile)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if item == nil {
			return nil, nil
		}
	}
	return item, nil
}

// fail wraps a step's error, unless the job's context ended.
func (s *step) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", s.field, context.Cause(ctx))
	}
	return &StepError{Event: s.event, Step: s.field, Source: s.source, Err: err}
}

func (s *step) runFormat(ctx context.Context, timeout time.Duration, p *hrflow.Profile, jqProfile func() (any, error)) (map[string]any, error) {
	if s.format != nil {
		item, err := safeFormat(s.format, p)
		if err == nil && item == nil {
			err = errors.New("the format returned no payload")
		}
		return item, err
	}
	in, err := jqProfile()
	if err != nil {
		return nil, err
	}
	out, ok, err := runJQ(ctx, s.jq, timeout, in, in)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errors.New("the format produced no output")
	}
	item, isObject := out.(map[string]any)
	if !isObject {
		return nil, fmt.Errorf("the format produced %s, want an object", describe(out))
	}
	return item, nil
}

func (s *step) runLogic(ctx context.Context, timeout time.Duration, item map[string]any, p *hrflow.Profile, jqProfile func() (any, error)) (map[string]any, error) {
	if s.logic != nil {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := safeLogic(lctx, s.logic, item, p)
		if lctx.Err() != nil && ctx.Err() == nil {
			// Over its budget: fail even if it returned, so that the bound holds.
			return nil, fmt.Errorf("timed out after %s", timeout)
		}
		return out, err
	}
	in, err := jqItem(item)
	if err != nil {
		return nil, err
	}
	prof, err := jqProfile()
	if err != nil {
		return nil, err
	}
	out, ok, err := runJQ(ctx, s.jq, timeout, in, prof)
	switch {
	case err != nil:
		return nil, err
	case !ok || out == nil:
		return nil, nil // discarded
	}
	next, isObject := out.(map[string]any)
	if !isObject {
		return nil, fmt.Errorf("the logic produced %s, want an object or null", describe(out))
	}
	return next, nil
}

// describe names a jq value's type for an error, with a preview.
func describe(v any) string {
	return gojq.TypeOf(v) + " (" + gojq.Preview(v) + ")"
}

// safeFormat runs a Go format, turning a panic into an error.
func safeFormat(f Format, p *hrflow.Profile) (item map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(p)
}

// safeLogic runs a Go logic, turning a panic into an error.
func safeLogic(ctx context.Context, l Logic, item map[string]any, p *hrflow.Profile) (out map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return l(ctx, item, p)
}
