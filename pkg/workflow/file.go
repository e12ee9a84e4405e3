package workflow

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/itchyny/gojq"
	"gopkg.in/yaml.v3"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/targets"
)

// ReadMode says which of a workflow's jobs are pushed, as the seed connectors' read_mode.
type ReadMode string

// Read modes.
const (
	// ReadSync pushes every job's profile. It is the default.
	ReadSync ReadMode = "sync"
	// ReadIncremental skips a profile whose HrFlow updated_at is not newer than when the
	// workflow last pushed it successfully (event skipped_unchanged). It needs
	// PipelineConfig.State.
	ReadIncremental ReadMode = "incremental"
)

// Timeouts of a workflow's programs.
const (
	// DefaultTimeout bounds each jq program and Go logic of a workflow when the file sets no
	// timeout.
	DefaultTimeout = time.Second
	// MaxTimeout is the longest timeout a workflows file may set: programs run inside a job,
	// which has its own deadline.
	MaxTimeout = 30 * time.Second
)

// Workflow is one workflow of a workflows file, checked and compiled.
type Workflow struct {
	// ID is the workflow id jobs name.
	ID string
	// Target is where the workflow pushes: "jobadder" or "bullhorn".
	Target string
	// Connection is the account it pushes to, unless a job names one; "" is the default
	// connection (the workers' environment).
	Connection string
	ReadMode   ReadMode
	// Timeout bounds each program of the workflow.
	Timeout time.Duration

	format  step
	logics  []step
	options targets.Options
}

// Set is the workflows of a workflows file, by id; [Load] returns it. It is read-only and
// safe for concurrent use.
type Set struct {
	file      string
	workflows map[string]*Workflow
}

// Workflow returns the workflow declared under id.
func (s *Set) Workflow(id string) (*Workflow, bool) {
	w, ok := s.workflows[id]
	return w, ok
}

// IDs returns the declared workflow ids, sorted.
func (s *Set) IDs() []string { return slices.Sorted(maps.Keys(s.workflows)) }

// File is the name the set was loaded from.
func (s *Set) File() string { return s.file }

// incremental reports whether a workflow of the set reads incrementally.
func (s *Set) incremental() bool {
	for _, w := range s.workflows {
		if w.ReadMode == ReadIncremental {
			return true
		}
	}
	return false
}

// FileError is one problem of a workflows file. [Load] returns all of them at once, joined
// with [errors.Join].
type FileError struct {
	File     string
	Workflow string // "" for a problem of the file as a whole
	Field    string // e.g. "logics[1]"; "" for a problem of the workflow as a whole
	Err      error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Workflow != "" {
		fmt.Fprintf(&b, ": workflow %q", e.Workflow)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// idPattern is what a workflow id may contain; jobs check the same pattern.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Load reads, checks and compiles the workflows file at path (YAML, or JSON). Relative
// "@file" references are read from the file's directory; "go:NAME" and built-in formats are
// looked up in reg, which may be nil when the file uses neither. The error lists every
// problem of the file, each naming the file, the workflow and the field.
func Load(path string, reg *Registry) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workflows file: %w", err)
	}
	return Parse(path, data, reg)
}

// Parse checks and compiles a workflows file read from name; see [Load].
func Parse(name string, data []byte, reg *Registry) (*Set, error) {
	p := &parser{file: name, dir: filepath.Dir(name), reg: reg}
	set := p.parse(data)
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// parser collects the problems of one file.
type parser struct {
	file string
	dir  string
	reg  *Registry
	errs []error
}

func (p *parser) fail(workflow, field string, format string, args ...any) {
	p.errs = append(p.errs, &FileError{File: p.file, Workflow: workflow, Field: field, Err: fmt.Errorf(format, args...)})
}

func (p *parser) failErr(workflow, field string, err error) {
	p.errs = append(p.errs, &FileError{File: p.file, Workflow: workflow, Field: field, Err: err})
}

// Fields of the file and of a workflow.
var (
	fileFields     = []string{"timeout", "workflows"}                                                                       //nolint:gochecknoglobals // read-only list
	workflowFields = []string{"description", "target", "connection", "read_mode", "format", "logics", "options", "timeout"} //nolint:gochecknoglobals // read-only list
)

func (p *parser) parse(data []byte) *Set {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.failErr("", "", err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.fail("", "", "the file is empty: want a mapping with workflows")
		return nil
	}
	top, ok := p.mapping(doc.Content[0], "", "")
	if !ok {
		return nil
	}
	timeout := DefaultTimeout
	if n, ok := top.get("timeout"); ok {
		timeout = p.timeout(n, "", DefaultTimeout)
	}
	wfs, ok := top.get("workflows")
	if !ok {
		p.fail("", "workflows", "missing")
		return nil
	}
	set := &Set{file: p.file, workflows: map[string]*Workflow{}}
	entries, ok := p.mapping(wfs, "", "workflows")
	if !ok {
		return nil
	}
	if len(entries.keys) == 0 {
		p.fail("", "workflows", "no workflow is declared")
	}
	for i, id := range entries.keys {
		if !idPattern.MatchString(id) {
			p.fail(id, "", "the id must match %s", idPattern)
			continue
		}
		if w := p.workflow(id, entries.values[i], timeout); w != nil {
			set.workflows[id] = w
		}
	}
	return set
}

// mappingNode is a YAML mapping with string keys, in file order.
type mappingNode struct {
	keys   []string
	values []*yaml.Node
}

func (m mappingNode) get(key string) (*yaml.Node, bool) {
	i := slices.Index(m.keys, key)
	if i < 0 {
		return nil, false
	}
	return m.values[i], true
}

// mapping reads n as a mapping with unique string keys. The keys of the file's top level and
// of a workflow (field "") must be known fields.
func (p *parser) mapping(n *yaml.Node, workflow, field string) (mappingNode, bool) {
	var m mappingNode
	if n.Kind != yaml.MappingNode {
		p.fail(workflow, field, "want a mapping (line %d)", n.Line)
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(workflow, field, "a key is not a string (line %d)", k.Line)
			continue
		}
		if slices.Contains(m.keys, k.Value) {
			p.fail(workflow, join(field, k.Value), "declared twice (line %d)", k.Line)
			continue
		}
		m.keys = append(m.keys, k.Value)
		m.values = append(m.values, v)
	}
	var allowed []string
	switch {
	case workflow == "" && field == "":
		allowed = fileFields
	case workflow != "" && field == "":
		allowed = workflowFields
	}
	if allowed != nil {
		for i, k := range m.keys {
			if !slices.Contains(allowed, k) {
				p.fail(workflow, k, "unknown field (line %d; known fields: %s)", m.values[i].Line, strings.Join(allowed, ", "))
			}
		}
	}
	return m, true
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// str reads a scalar string.
func (p *parser) str(n *yaml.Node, workflow, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(workflow, field, "want a string (line %d)", n.Line)
		return "", false
	}
	return n.Value, true
}

func (p *parser) timeout(n *yaml.Node, workflow string, def time.Duration) time.Duration {
	s, ok := p.str(n, workflow, "timeout")
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.fail(workflow, "timeout", "want a duration such as 500ms or 2s, got %q", s)
		return def
	case d <= 0 || d > MaxTimeout:
		p.fail(workflow, "timeout", "%s is out of range (0, %s]", d, MaxTimeout)
		return def
	}
	return d
}

func (p *parser) workflow(id string, n *yaml.Node, timeout time.Duration) *Workflow {
	before := len(p.errs)
	m, ok := p.mapping(n, id, "")
	if !ok {
		return nil
	}
	w := &Workflow{ID: id, ReadMode: ReadSync, Timeout: timeout}
	if n, ok := m.get("description"); ok {
		p.str(n, id, "description")
	}
	if n, ok := m.get("timeout"); ok {
		w.Timeout = p.timeout(n, id, timeout)
	}
	if n, ok := m.get("target"); !ok {
		p.fail(id, "target", "missing (want one of %s)", strings.Join(jobs.Targets, ", "))
	} else if t, ok := p.str(n, id, "target"); ok {
		if !slices.Contains(jobs.Targets, t) {
			p.fail(id, "target", "unknown target %q (want one of %s)", t, strings.Join(jobs.Targets, ", "))
		} else {
			w.Target = t
		}
	}
	if n, ok := m.get("connection"); ok {
		if c, ok := p.str(n, id, "connection"); ok {
			if !jobs.ConnectionPattern.MatchString(c) {
				p.fail(id, "connection", "%q must match %s", c, jobs.ConnectionPattern)
			} else if c != "default" {
				w.Connection = c
			}
		}
	}
	if n, ok := m.get("read_mode"); ok {
		if s, ok := p.str(n, id, "read_mode"); ok {
			switch ReadMode(s) {
			case ReadSync, ReadIncremental:
				w.ReadMode = ReadMode(s)
			default:
				p.fail(id, "read_mode", "unknown read mode %q (want sync or incremental)", s)
			}
		}
	}
	format := "builtin"
	if n, ok := m.get("format"); ok {
		if s, ok := p.str(n, id, "format"); ok {
			format = s
		}
	}
	if w.Target != "" {
		w.format = p.formatStep(id, w.Target, format)
	}
	if n, ok := m.get("logics"); ok {
		w.logics = p.logicSteps(id, n)
	}
	if n, ok := m.get("options"); ok && w.Target != "" {
		w.options = p.options(id, w.Target, n)
	}
	if len(p.errs) > before {
		return nil
	}
	return w
}

// formatStep resolves a workflow's format: "builtin" or a target's name (the built-in format
// registered under that name), "go:NAME", "@file.jq", or an inline jq program.
func (p *parser) formatStep(id, target, spec string) step {
	s := step{field: "format", event: EventFormatFailure}
	name, isGo := strings.CutPrefix(spec, "go:")
	switch {
	case spec == "builtin" || slices.Contains(jobs.Targets, spec):
		if spec == "builtin" {
			spec = target
		}
		f, ok := p.reg.lookupFormat(spec)
		if !ok {
			p.fail(id, "format", "no built-in format is registered for %s on this worker", spec)
			return s
		}
		s.source, s.format = "builtin "+spec, f
	case isGo:
		f, ok := p.reg.lookupFormat(name)
		if !ok {
			p.fail(id, "format", "%s is not a registered Go format (%s)", spec, p.registeredFormats())
			return s
		}
		s.source, s.format = spec, f
	default:
		s.source, s.jq = p.program(id, "format", spec)
	}
	return s
}

func (p *parser) registeredFormats() string {
	if p.reg == nil {
		return "none is registered"
	}
	return registered(p.reg.formats)
}

func (p *parser) logicSteps(id string, n *yaml.Node) []step {
	if n.Kind != yaml.SequenceNode {
		p.fail(id, "logics", "want a list (line %d)", n.Line)
		return nil
	}
	steps := make([]step, 0, len(n.Content))
	for i, item := range n.Content {
		field := fmt.Sprintf("logics[%d]", i)
		spec, ok := p.str(item, id, field)
		if !ok {
			continue
		}
		s := step{field: field, event: EventLogicsFailure}
		if name, isGo := strings.CutPrefix(spec, "go:"); isGo {
			l, ok := p.reg.lookupLogic(name)
			if !ok {
				reg := "none is registered"
				if p.reg != nil {
					reg = registered(p.reg.logics)
				}
				p.fail(id, field, "%s is not a registered Go logic (%s)", spec, reg)
				continue
			}
			s.source, s.logic = spec, l
		} else {
			s.source, s.jq = p.program(id, field, spec)
		}
		steps = append(steps, s)
	}
	return steps
}

// program compiles an inline jq program or the one of "@file".
func (p *parser) program(id, field, spec string) (string, *gojq.Code) {
	source, src := "jq", spec
	if path, isFile := strings.CutPrefix(strings.TrimSpace(spec), "@"); isFile {
		source = "@" + path
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			p.failErr(id, field, err)
			return source, nil
		}
		src = string(data)
	}
	code, err := compileJQ(src)
	if err != nil {
		p.failErr(id, field, err)
	}
	return source, code
}

// option is a target option a workflow may set: how to read its value and how it changes the
// item pushed.
func (p *parser) options(id, target string, n *yaml.Node) targets.Options {
	m, ok := p.mapping(n, id, "options")
	if !ok {
		return nil
	}
	known := p.reg.lookupOptions(target)
	out := targets.Options{}
	for i, k := range m.keys {
		field := "options." + k
		kind, ok := known[k]
		if !ok {
			if len(known) == 0 {
				p.fail(id, field, "unknown option: %s has no options", target)
			} else {
				p.fail(id, field, "unknown option for %s (known: %s)", target, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
			continue
		}
		v, err := optionValue(kind, m.values[i])
		if err != nil {
			p.failErr(id, field, err)
			continue
		}
		out[k] = v
	}
	return out
}

// optionValue reads an option's value of kind.
func optionValue(kind targets.OptionKind, n *yaml.Node) (any, error) {
	switch kind {
	case targets.OptionBool:
		var v bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
			return nil, fmt.Errorf("want true or false, got %q (line %d)", n.Value, n.Line)
		}
		return v, nil
	}
	return nil, fmt.Errorf("option of unknown kind %d", kind)
}
