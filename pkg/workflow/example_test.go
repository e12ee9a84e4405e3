package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// A worker binary of your own registers Go formats and logics by name; its workflows file
// uses them as "go:NAME", alongside jq programs. Pass the workflow set to
// [workflow.NewPipeline] (PipelineConfig.Workflows); here [workflow.Workflow.Run] tries it on
// one profile.
func ExampleRegistry() {
	reg := workflow.NewRegistry()
	// The built-in format of a target is registered under the target's name (cmd/worker
	// registers jobadder.Format).
	reg.Format("jobadder", func(p *hrflow.Profile) (map[string]any, error) {
		return map[string]any{"firstName": p.Info.FirstName, "email": p.Info.Email}, nil
	})
	// A logic returns the item, possibly changed, or nil to discard it.
	reg.Logic("company-emails-only", func(_ context.Context, item map[string]any, _ *hrflow.Profile) (map[string]any, error) {
		email, _ := item["email"].(string)
		if !strings.HasSuffix(email, "@hogwarts.example") {
			return nil, nil
		}
		return item, nil
	})

	set, err := workflow.Parse("workflows.yaml", []byte(`
workflows:
  staff-to-jobadder:
    target: jobadder
    format: builtin
    logics:
      - go:company-emails-only
      - '.skillTags = [$profile.skills[].name]'
`), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := set.Workflow("staff-to-jobadder")

	for _, raw := range []string{
		`{"key": "k1", "info": {"first_name": "Minerva", "email": "minerva@hogwarts.example"}, "skills": [{"name": "transfiguration"}]}`,
		`{"key": "k2", "info": {"first_name": "Gilderoy", "email": "gilderoy@lockhart.example"}, "skills": []}`,
	} {
		var p hrflow.Profile
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			fmt.Println(err)
			return
		}
		p.Raw = json.RawMessage(raw)
		item, err := w.Run(context.Background(), &p)
		switch {
		case err != nil:
			fmt.Println(p.Key, "failed:", err)
		case item == nil:
			fmt.Println(p.Key, "discarded")
		default:
			out, _ := json.Marshal(item)
			fmt.Println(p.Key, string(out))
		}
	}
	// Output:
	// k1 {"email":"minerva@hogwarts.example","firstName":"Minerva","skillTags":["transfiguration"]}
	// k2 discarded
}

// A broken workflows file is refused as a whole, every problem named with the file, the
// workflow and the field.
func ExampleLoad_errors() {
	reg := workflow.NewRegistry()
	reg.Options("jobadder", jobadder.Options) // what the target accepts from a workflow
	_, err := workflow.Parse("workflows.yaml", []byte(`
workflows:
  engineers-to-jobadder:
    target: jobadder
    format: go:nosuch
    logics:
      - '.email'
      - 'if .email then'
    options:
      allow_duplicates: maybe
`), reg)
	fmt.Println(err)
	// Output:
	// workflows.yaml: workflow "engineers-to-jobadder": format: go:nosuch is not a registered Go format (none is registered)
	// workflows.yaml: workflow "engineers-to-jobadder": logics[1]: compile: unexpected EOF (line 1, column 15)
	// workflows.yaml: workflow "engineers-to-jobadder": options.allow_duplicates: want true or false, got "maybe" (line 10)
}
