// Package builtin registers what hrpush's targets give workflows: their built-in formats (by
// target name) and the options they accept. The worker and the gateway load the workflows
// file with the same [Registry], so a file one accepts the other accepts.
package builtin

import (
	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
	"github.com/hrpush/hrpush/pkg/targets/jobadder"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// Registry returns a registry with every target's built-in format and options.
func Registry() *workflow.Registry {
	r := workflow.NewRegistry()
	r.Format("jobadder", JobAdderFormat)
	r.Format("bullhorn", BullhornFormat)
	r.Options("jobadder", jobadder.Options)
	r.Options("bullhorn", bullhorn.Options)
	return r
}

// JobAdderFormat is JobAdder's built-in format as a [workflow.Format].
func JobAdderFormat(p *hrflow.Profile) (map[string]any, error) { return jobadder.Format(p), nil }

// BullhornFormat is Bullhorn's built-in format as a [workflow.Format].
func BullhornFormat(p *hrflow.Profile) (map[string]any, error) { return bullhorn.Format(p), nil }
