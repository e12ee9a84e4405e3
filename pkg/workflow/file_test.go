package workflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
)

// testRegistry has a built-in format for jobadder, and Go functions named as in the tests.
func testRegistry() *Registry {
	reg := NewRegistry()
	reg.Options("jobadder", targets.OptionKinds{"allow_duplicates": targets.OptionBool})
	reg.Format("jobadder", func(p *hrflow.Profile) (map[string]any, error) {
		return map[string]any{"email": p.Info.Email, "firstName": p.Info.FirstName}, nil
	})
	reg.Format("upper-name", func(p *hrflow.Profile) (map[string]any, error) {
		return map[string]any{"name": strings.ToUpper(p.Info.FullName)}, nil
	})
	reg.Logic("has-email", func(_ context.Context, item map[string]any, _ *hrflow.Profile) (map[string]any, error) {
		if item["email"] == "" {
			return nil, nil
		}
		return item, nil
	})
	return reg
}

// writeFiles writes files (name → content) to a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"workflows.yaml": `
timeout: 500ms
workflows:
  engineers-to-jobadder:
    description: the issue's example
    target: jobadder
    read_mode: sync
    format: builtin
    logics:
      - 'if (.email // "") == "" then null else . end'
      - '.skillTags += ["from-hrflow"]'
    options:
      allow_duplicates: true
  from-file:
    target: jobadder
    read_mode: incremental
    format: "@jq/format.jq"
    logics: ["@jq/logic.jq", "go:has-email"]
    timeout: 2s
  go-format:
    target: jobadder
    format: go:upper-name
  explicit-builtin:
    target: jobadder
    format: jobadder
  defaults:
    target: bullhorn
    format: '{firstName: .info.first_name}'
`,
		"jq/format.jq": "# a comment\n{email: .info.email}\n",
		"jq/logic.jq":  ".",
	})
	set, err := Load(filepath.Join(dir, "workflows.yaml"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"defaults", "engineers-to-jobadder", "explicit-builtin", "from-file", "go-format"}, set.IDs()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	type summary struct {
		Target   string
		ReadMode ReadMode
		Timeout  time.Duration
		Format   string
		Logics   []string
		Options  int
	}
	sum := func(id string) summary {
		w, ok := set.Workflow(id)
		if !ok {
			t.Fatalf("workflow %s missing", id)
		}
		s := summary{Target: w.Target, ReadMode: w.ReadMode, Timeout: w.Timeout, Format: w.format.source, Options: len(w.options)}
		for _, l := range w.logics {
			s.Logics = append(s.Logics, l.field+" "+l.source)
		}
		return s
	}
	want := map[string]summary{
		"engineers-to-jobadder": {"jobadder", ReadSync, 500 * time.Millisecond, "builtin jobadder", []string{"logics[0] jq", "logics[1] jq"}, 1},
		"from-file":             {"jobadder", ReadIncremental, 2 * time.Second, "@jq/format.jq", []string{"logics[0] @jq/logic.jq", "logics[1] go:has-email"}, 0},
		"go-format":             {"jobadder", ReadSync, 500 * time.Millisecond, "go:upper-name", nil, 0},
		"explicit-builtin":      {"jobadder", ReadSync, 500 * time.Millisecond, "builtin jobadder", nil, 0},
		"defaults":              {"bullhorn", ReadSync, 500 * time.Millisecond, "jq", nil, 0},
	}
	for id, w := range want {
		if diff := cmp.Diff(w, sum(id)); diff != "" {
			t.Errorf("workflow %s (-want +got):\n%s", id, diff)
		}
	}
	if _, ok := set.Workflow("nosuch"); ok {
		t.Error("an undeclared workflow was found")
	}
	if !set.incremental() {
		t.Error("the set does not report its incremental workflow")
	}
	w, _ := set.Workflow("engineers-to-jobadder")
	if item := (&targets.Item{Options: w.options}); !item.Options.Bool("allow_duplicates", false) {
		t.Error("allow_duplicates was not applied")
	}
}

// TestLoadErrors checks that every problem of a file is reported at once, each with the file,
// the workflow and the field.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"workflows.yaml": `
timeout: forever
colour: blue
workflows:
  engineers-to-jobadder:
    target: jobadder
    logics:
      - '.email'
      - 'if .email then'
  bad id:
    target: jobadder
  no-target:
    format: builtin
  unknown-target:
    target: workday
  unknown-read-mode:
    target: jobadder
    read_mode: nightly
  unknown-option:
    target: jobadder
    options:
      allow_duplicates: "yes"
      folder: 12
  bullhorn-option:
    target: bullhorn
    options:
      allow_duplicates: true
  bullhorn-no-builtin:
    target: bullhorn
  missing-file:
    target: jobadder
    format: '@nosuch.jq'
  unregistered:
    target: jobadder
    format: go:nosuch
    logics: [go:nosuch, {jq: .}]
  typo:
    target: jobadder
    logic: ['.']
    timeout: 1m
  not-a-mapping: jobadder
`,
	})
	file := filepath.Join(dir, "workflows.yaml")
	_, err := Load(file, testRegistry())
	if err == nil {
		t.Fatal("a broken file was loaded")
	}
	want := []string{
		`colour: unknown field (line 3; known fields: timeout, workflows)`,
		`timeout: want a duration such as 500ms or 2s, got "forever"`,
		`workflow "engineers-to-jobadder": logics[1]: compile: unexpected EOF (line 1, column 15)`,
		`workflow "bad id": the id must match ^[A-Za-z0-9_-]{1,128}$`,
		`workflow "no-target": target: missing (want one of jobadder, bullhorn)`,
		`workflow "unknown-target": target: unknown target "workday" (want one of jobadder, bullhorn)`,
		`workflow "unknown-read-mode": read_mode: unknown read mode "nightly" (want sync or incremental)`,
		`workflow "unknown-option": options.allow_duplicates: want true or false, got "yes" (line 22)`,
		`workflow "unknown-option": options.folder: unknown option for jobadder (known: allow_duplicates)`,
		`workflow "bullhorn-option": format: no built-in format is registered for bullhorn on this worker`,
		`workflow "bullhorn-option": options.allow_duplicates: unknown option: bullhorn has no options`,
		`workflow "bullhorn-no-builtin": format: no built-in format is registered for bullhorn on this worker`,
		`workflow "missing-file": format: open ` + filepath.Join(dir, "nosuch.jq") + `: no such file or directory`,
		`workflow "unregistered": format: go:nosuch is not a registered Go format (registered: jobadder, upper-name)`,
		`workflow "unregistered": logics[0]: go:nosuch is not a registered Go logic (registered: has-email)`,
		`workflow "unregistered": logics[1]: want a string (line 36)`,
		`workflow "typo": logic: unknown field (line 39; known fields: description, target, connection, read_mode, format, logics, options, timeout)`,
		`workflow "typo": timeout: 1m0s is out of range (0, 30s]`,
		`workflow "not-a-mapping": want a mapping (line 41)`,
	}
	for i := range want {
		want[i] = file + ": " + want[i]
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != file {
		t.Errorf("errors.As(*FileError) = %+v", fe)
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, content, want string }{
		{"yaml syntax", "workflows:\n  a: [\n", "w.yaml: yaml: line 2: did not find expected node content"},
		{"empty", "", "w.yaml: the file is empty: want a mapping with workflows"},
		{"not a mapping", "- a\n", "w.yaml: want a mapping (line 1)"},
		{"no workflows", "timeout: 1s\n", "w.yaml: workflows: missing"},
		{"zero workflows", "workflows: {}\n", "w.yaml: workflows: no workflow is declared"},
		{"duplicate id", "workflows:\n  a: {target: jobadder}\n  a: {target: jobadder}\n", "w.yaml: workflows.a: declared twice (line 3)"},
		{"json", `{"workflows": {"a": {"target": "jobadder", "format": "{x: 1}", "read_mode": "sync"}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("w.yaml", []byte(tt.content), testRegistry())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nosuch.yaml"), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestExampleFile loads the documented example with the worker's registry (the JobAdder
// built-in format only).
func TestExampleFile(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	reg.Format("jobadder", func(*hrflow.Profile) (map[string]any, error) { return map[string]any{}, nil })
	reg.Options("jobadder", jobadder.Options)
	set, err := Load("../../examples/workflows.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"custom-format-to-jobadder", "engineers-to-jobadder"}, set.IDs()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestRegistryPanics(t *testing.T) {
	t.Parallel()
	logic := func(context.Context, map[string]any, *hrflow.Profile) (map[string]any, error) { return nil, nil }
	tests := map[string]func(r *Registry){
		"bad name":  func(r *Registry) { r.Logic("has email", logic) },
		"nil":       func(r *Registry) { r.Logic("x", nil) },
		"twice":     func(r *Registry) { r.Logic("x", logic); r.Logic("x", logic) },
		"nil fmt":   func(r *Registry) { r.Format("x", nil) },
		"empty":     func(r *Registry) { r.Format("", func(*hrflow.Profile) (map[string]any, error) { return nil, nil }) },
		"go prefix": func(r *Registry) { r.Logic("go:x", logic) },
	}
	for name, register := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			register(NewRegistry())
		})
	}
}
