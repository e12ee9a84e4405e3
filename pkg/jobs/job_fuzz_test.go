package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/hrpush/hrpush/pkg/jobs"
)

// validJob is a minimal v1 job that Decode accepts; the seeds are variations of it.
const validJob = `{"version":1,"id":"j1","workflow_id":"wf","target":"jobadder","source_key":"s","profile_key":"p","enqueued_at":"2026-11-23T10:00:00Z"}`

// FuzzDecode checks that Decode never panics, that it returns ErrBadJob for whatever it
// refuses, and that every job it accepts is one the publisher and the worker can use as is:
// valid, stable through a JSON round trip, valid against job.v1.schema.json, published on a
// subject of its target, and with a Nats-Msg-Id that NATS carries unchanged.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		validJob,
		`{"version":1,"id":"job-1","workflow_id":"wf_A-1","target":"bullhorn","source_key":"src","profile_key":"p001","batch_id":"batch-1","dedup_key":"wf:src:p001","enqueued_at":"2026-11-23T10:00:00.123456789+01:00","extra":{"nested":[1,2,{"x":null}]}}`,
		// Keys match case-insensitively; the last duplicate wins.
		`{"VERSION":1,"Id":"j","WorkFlow_ID":"wf","TARGET":"jobadder","Source_Key":"s","PROFILE_KEY":"p","Enqueued_At":"2026-11-23T10:00:00Z"}`,
		`{"version":1,"id":"a","id":"b","workflow_id":"wf","target":"bullhorn","target":"jobadder","source_key":"s","profile_key":"p","enqueued_at":"2026-11-23T10:00:00Z"}`,
		// Not a JSON job document.
		``, `null`, `[]`, `"job"`, `1`, `true`, `{`, `{"version":1`, validJob + ` trailing`,
		`{"version":"1"}`, `{"version":1.0}`, `{"version":null,"id":null}`, `{"id":{"x":[1,2,{"y":[]}]}}`,
		`{"enqueued_at":"yesterday"}`, `{"enqueued_at":"2026-11-23"}`, `{"enqueued_at":1732356000}`,
		`[` + validJob + `]`, `{"version":1e400}`, "\xff\xfe{}",
		// Valid JSON, invalid job: one seed per rule of Validate.
		`{}`,
		strings.Replace(validJob, `"version":1`, `"version":2`, 1),
		strings.Replace(validJob, `"version":1,`, ``, 1),
		strings.Replace(validJob, `"id":"j1"`, `"id":"  "`, 1),
		strings.Replace(validJob, `"profile_key":"p",`, ``, 1),
		strings.Replace(validJob, `"source_key":"s"`, `"source_key":"\t\n"`, 1),
		strings.Replace(validJob, `"jobadder"`, `"workday"`, 1),
		strings.Replace(validJob, `"jobadder"`, `"JobAdder"`, 1),
		strings.Replace(validJob, `"jobadder"`, `""`, 1),
		strings.Replace(validJob, `"wf"`, `"a.b c"`, 1),
		strings.Replace(validJob, `"wf"`, `"wf>"`, 1),
		strings.Replace(validJob, `"wf"`, `"`+strings.Repeat("w", 129)+`"`, 1),
		strings.Replace(validJob, `"wf"`, `"wf\n"`, 1),
		strings.Replace(validJob, `"wf"`, `"é"`, 1),
		strings.Replace(validJob, `"id"`, `"batch_id":"b.*","id"`, 1),
		strings.Replace(validJob, `"id":"j1"`, `"id":"`+strings.Repeat("i", 257)+`"`, 1),
		strings.Replace(validJob, `"id"`, `"dedup_key":"`+strings.Repeat("d", 257)+`","id"`, 1),
		strings.Replace(validJob, `,"enqueued_at":"2026-11-23T10:00:00Z"`, ``, 1),
		strings.Replace(validJob, `"2026-11-23T10:00:00Z"`, `"0001-01-01T00:00:00Z"`, 1),
		strings.Replace(validJob, `"2026-11-23T10:00:00Z"`, `null`, 1),
		// Edge values that are valid.
		strings.Replace(validJob, `"id":"j1"`, `"id":"`+strings.Repeat("é", 128)+`"`, 1),
		strings.Replace(validJob, `"wf"`, `"`+strings.Repeat("w", 128)+`"`, 1),
		strings.Replace(validJob, `"id"`, `"dedup_key":"`+strings.Repeat("d", 256)+`","id"`, 1),
		strings.Replace(validJob, `"id"`, `"dedup_key":"","batch_id":"","id"`, 1),
		strings.Replace(validJob, `"id"`, `"dedup_key":"wf src p","id"`, 1),
		strings.Replace(validJob, `"profile_key":"p"`, `"profile_key":"p\u0000\ud83d\ude00\u2028<&>"`, 1),
		strings.Replace(validJob, `"2026-11-23T10:00:00Z"`, `"0000-01-01T00:00:00Z"`, 1),
		strings.Replace(validJob, `"2026-11-23T10:00:00Z"`, `"9999-12-31T23:59:59.999999999-23:59"`, 1),
		strings.Replace(validJob, `"id"`, `"dedup_key":null,"batch_id":null,"id"`, 1),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	schema := loadJobSchema(f)
	// subjectToken is what a NATS subject token built from a job may contain: no separator, no
	// wildcard, no whitespace.
	subjectToken := regexp.MustCompile(`^[^.*> \t\r\n]+$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := jobs.Decode(data)
		if err != nil {
			if !errors.Is(err, jobs.ErrBadJob) {
				t.Fatalf("Decode error %v does not wrap ErrBadJob", err)
			}
			if job != nil && job.Validate() == nil {
				t.Fatalf("Decode refused a job that Validate accepts: %v", err)
			}
			return
		}
		if job == nil {
			t.Fatal("Decode returned neither a job nor an error")
		}
		if err := job.Validate(); err != nil {
			t.Fatalf("Validate refuses a decoded job: %v", err)
		}
		if job.Version != jobs.Version || !slices.Contains(jobs.Targets, job.Target) {
			t.Fatalf("decoded job has version %d and target %q", job.Version, job.Target)
		}

		// The worker and the DLQ re-encode jobs: the encoding must decode to the same job and be
		// stable.
		enc, err := json.Marshal(job)
		if err != nil {
			t.Fatalf("marshal a decoded job: %v", err)
		}
		again, err := jobs.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%s) after a round trip: %v", enc, err)
		}
		if diff := cmp.Diff(job, again); diff != "" {
			t.Fatalf("job changed in a JSON round trip (-first +second):\n%s", diff)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		var doc any
		if err := json.Unmarshal(enc, &doc); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(doc, openapi3.EnableJSONSchema2020()); err != nil {
			t.Fatalf("encoded job %s does not match job.v1.schema.json: %v", enc, err)
		}

		if want := jobs.SubjectPrefix + job.Target; job.Subject() != want {
			t.Fatalf("Subject() = %q, want %q", job.Subject(), want)
		}
		for _, tok := range strings.Split(job.Subject(), ".") {
			if !subjectToken.MatchString(tok) {
				t.Fatalf("Subject() %q has an invalid token %q", job.Subject(), tok)
			}
		}
		for name, id := range map[string]string{"workflow_id": job.WorkflowID, "batch_id": job.BatchID} {
			if id != "" && !subjectToken.MatchString(id) {
				t.Fatalf("%s %q cannot be a subject token", name, id)
			}
		}

		checkMsgID(t, job)
	})
}

// checkMsgID checks the Nats-Msg-Id a job is published with.
func checkMsgID(t *testing.T, job *jobs.Job) {
	t.Helper()
	id := job.MsgID()
	if id == "" || len(id) > 256 {
		t.Fatalf("MsgID() = %q: %d bytes, want 1 to 256", id, len(id))
	}
	// Only the workflow, target, source, profile and dedup key name the message: the same
	// profile enqueued again (new id, batch and time) must be dropped as a duplicate.
	other := *job
	other.ID, other.BatchID, other.EnqueuedAt = other.ID+"-again", "another-batch", time.Unix(0, 0)
	if other.MsgID() != id {
		t.Fatalf("MsgID() depends on the job id, batch or time: %q, then %q", id, other.MsgID())
	}
	// nats.go writes a header value trimmed of surrounding whitespace, with CR and LF turned
	// into spaces (writeHeaderValue): a message id that this changes reaches the server as
	// another id. An id of spaces reaches it empty, which turns deduplication off, and distinct
	// dedup keys such as "k" and " k" collide, so that the second job is dropped as a duplicate.
	if sent := strings.NewReplacer("\r", " ", "\n", " ").Replace(textproto.TrimString(id)); sent != id {
		t.Fatalf("MsgID() %q reaches NATS as Nats-Msg-Id %q", id, sent)
	}
}

// loadJobSchema loads job.v1.schema.json, the published contract of the job document.
func loadJobSchema(f *testing.F) *openapi3.Schema {
	f.Helper()
	b, err := os.ReadFile("job.v1.schema.json")
	if err != nil {
		f.Fatal(err)
	}
	schema := new(openapi3.Schema)
	if err := json.Unmarshal(b, schema); err != nil {
		f.Fatal(err)
	}
	var valid any
	if err := json.Unmarshal([]byte(validJob), &valid); err != nil {
		f.Fatal(err)
	}
	if err := schema.VisitJSON(valid, openapi3.EnableJSONSchema2020()); err != nil {
		f.Fatalf("the schema refuses a valid job: %v", err)
	}
	var invalid any
	if err := json.Unmarshal([]byte(strings.Replace(validJob, `"jobadder"`, `"workday"`, 1)), &invalid); err != nil {
		f.Fatal(err)
	}
	if err := schema.VisitJSON(invalid, openapi3.EnableJSONSchema2020()); err == nil {
		f.Fatal("the schema accepts an unknown target: it is not enforced")
	}
	return schema
}
