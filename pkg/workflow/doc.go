// Package workflow runs hrpush's push-profile workflow for one job: read the profile from
// HrFlow, format it for the target, apply the logics, write it to the target.
//
// The steps and their run events follow the seed connectors: a read that fails is
// read_failure, a format that fails is format_failure, a logic that fails is logics_failure
// (one that drops the item is logics_discard), a write that fails is write_failure, and a
// write that succeeds is written. An incremental workflow that finds a profile unchanged since
// its last push skips it with skipped_unchanged (an hrpush addition).
//
// # Workflows file
//
// A workflows file (YAML, or JSON) declares, per workflow id, where and how to push. [Load]
// reads it at start-up: it checks every workflow and compiles every program, and reports all
// the problems at once, each naming the file, the workflow and the field. Jobs then name their
// workflow; a job naming one the file does not declare is a bad_job. Without a file, every
// workflow id is accepted and uses its target's built-in format with no logics.
//
//	timeout: 1s                      # per program, default 1s, at most 30s
//	workflows:
//	  engineers-to-jobadder:         # workflow id: letters, digits, '_' and '-'
//	    description: free text
//	    target: jobadder             # jobadder or bullhorn
//	    read_mode: sync              # sync (default) or incremental
//	    format: builtin              # builtin, jobadder, bullhorn, go:NAME, @file.jq or jq
//	    logics:                      # go:NAME, @file.jq or jq; applied in order
//	      - 'if (.email // "") == "" then null else . end'
//	      - '.skillTags += ["from-hrflow"]'
//	    options:
//	      allow_duplicates: false    # declared by the target (jobadder.Options, bullhorn.Options)
//	    timeout: 2s                  # overrides the file's
//
// "@file.jq" paths are relative to the workflows file's directory. "go:NAME" names a [Format]
// or [Logic] registered in the [Registry] given to [Load]; "builtin" is the format registered
// under the target's name.
//
// # jq programs
//
// Programs run with github.com/itchyny/gojq, each bounded by the workflow's timeout. A
// format's input is the HrFlow profile as HrFlow sent it; it must output one object, the
// target payload. A logic's input is the item; its output replaces the item, and null or no
// output (empty) discards it. Every program sees the profile as $profile. A program that
// outputs more than one value fails (which one to push would be ambiguous). The environment
// ($ENV, env), modules and input/inputs are not available. hrpush adds these functions:
//
//   - to_epoch_ms: a date or timestamp string as HrFlow writes it (with or without zone,
//     "YYYY-MM-DD", "YYYY-MM", "YYYY") to epoch milliseconds; a time without zone is UTC.
//     null, "" and HrFlow's 1969-12-31 "unknown" give null; anything else unparseable fails.
//   - to_date: the same inputs to an ISO full date "YYYY-MM-DD", in the zone written.
//   - truncate(n): a string cut to at most n characters (runes); null stays null.
//   - compact: a value without the null, "", [] and {} members and elements of its objects
//     and arrays, recursively.
//   - alpha2: the ISO 3166-1 alpha-2 code of an alpha-3 country code, as in HrFlow's
//     location.fields.country ("FRA" to "FR"); null for null or an unknown code.
//
// # Go functions
//
// Programs that build their own worker register Go functions by name in a [Registry], then
// name them in the file as "go:NAME". [Workflow.Run] runs a workflow on a profile without
// writing it anywhere.
package workflow
