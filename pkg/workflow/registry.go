package workflow

import (
	"context"
	"fmt"
	"github.com/hrpush/hrpush/pkg/targets"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hrpush/hrpush/pkg/hrflow"
)

// Format turns an HrFlow profile into a target payload (a JSON object). It is the seed
// connectors' format hook. A format that returns an error or a nil payload fails the job
// (format_failure); a panic is recovered into such an error.
type Format func(p *hrflow.Profile) (map[string]any, error)

// Logic is one of a workflow's logics, the seed connectors' logics hook: it receives the item
// (the payload the format made, as changed by the logics before it) and the profile, and
// returns the item, possibly changed, or nil to discard it (logics_discard). An error fails
// the job (logics_failure); a panic is recovered into such an error. ctx carries the
// workflow's timeout: a logic that waits on anything must watch it, and one that returns after
// the timeout fails all the same.
//
// The item may be changed in place and returned. Numbers that jq programs produced are
// json.Number, int, float64 or *big.Int; values a Go format or logic set keep their Go types.
type Logic func(ctx context.Context, item map[string]any, p *hrflow.Profile) (map[string]any, error)

// Registry names the Go formats and logics that a workflows file can use as "go:NAME". Build
// it at start-up, before [Load]; it is not safe for concurrent registration. cmd/worker
// registers each target's built-in format under the target's name, which is what a
// workflow's format "builtin" (or the target's name) resolves to.
type Registry struct {
	formats map[string]Format
	logics  map[string]Logic
	options map[string]targets.OptionKinds // by target
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{formats: map[string]Format{}, logics: map[string]Logic{}, options: map[string]targets.OptionKinds{}}
}

// Options declares the options a workflow may set for target (each target package exports
// its own, e.g. jobadder.Options); a target without declared options accepts none.
func (r *Registry) Options(target string, kinds targets.OptionKinds) {
	r.options[target] = kinds
}

// funcName is what a registered name may contain.
var funcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Format registers f under name. Like [net/http.ServeMux.Handle], it panics when name is not a
// valid name (letters, digits, '_', '.', '-'; at most 128), when f is nil, or when a format is
// already registered under name: these are mistakes in start-up code.
func (r *Registry) Format(name string, f Format) {
	checkName("format", name, f == nil, r.formats[name] != nil)
	r.formats[name] = f
}

// Logic registers l under name. It panics in the cases [Registry.Format] does.
func (r *Registry) Logic(name string, l Logic) {
	checkName("logic", name, l == nil, r.logics[name] != nil)
	r.logics[name] = l
}

func checkName(kind, name string, isNil, taken bool) {
	switch {
	case !funcName.MatchString(name):
		panic(fmt.Sprintf("workflow: %s name %q must match %s", kind, name, funcName))
	case isNil:
		panic(fmt.Sprintf("workflow: %s %q is nil", kind, name))
	case taken:
		panic(fmt.Sprintf("workflow: a %s is already registered as %q", kind, name))
	}
}

// lookupFormat returns the format registered under name; r may be nil.
func (r *Registry) lookupFormat(name string) (Format, bool) {
	if r == nil {
		return nil, false
	}
	f, ok := r.formats[name]
	return f, ok
}

// lookupOptions returns the options declared for target; r may be nil.
func (r *Registry) lookupOptions(target string) targets.OptionKinds {
	if r == nil {
		return nil
	}
	return r.options[target]
}

// lookupLogic returns the logic registered under name; r may be nil.
func (r *Registry) lookupLogic(name string) (Logic, bool) {
	if r == nil {
		return nil, false
	}
	l, ok := r.logics[name]
	return l, ok
}

// registered lists the names of m, sorted, for error messages.
func registered[F any](m map[string]F) string {
	if len(m) == 0 {
		return "none is registered"
	}
	return "registered: " + strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
