package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hrpush/hrpush/pkg/jobs"
	"github.com/hrpush/hrpush/pkg/problem"
	"github.com/hrpush/hrpush/pkg/workflow"
)

// Profile events that become push jobs: a profile parsed into a source, stored (indexed) in
// it, or updated there. HrFlow's docs name the storing events "profile.indexing.*" in one
// revision, so both spellings are read.
const (
	EventParsingSuccess  = "profile.parsing.success"
	EventStoringSuccess  = "profile.storing.success"
	EventStoringUpdate   = "profile.storing.update"
	EventIndexingSuccess = "profile.indexing.success"
	EventIndexingUpdate  = "profile.indexing.update"
)

// pushEvents are the events turned into jobs.
var pushEvents = map[string]bool{ //nolint:gochecknoglobals // read-only table
	EventParsingSuccess: true, EventStoringSuccess: true, EventStoringUpdate: true,
	EventIndexingSuccess: true, EventIndexingUpdate: true,
}

// knownEvents are the other documented event names; they label the metrics as themselves,
// anything else as "other" (a hostile sender must not grow the label set).
var knownEvents = map[string]bool{ //nolint:gochecknoglobals // read-only table
	"profile.parsing.error": true, "profile.storing.error": true, "profile.indexing.error": true,
	"profile.searching.success": true, "profile.searching.update": true, "profile.searching.error": true,
	"profile.embedding.success": true, "profile.embedding.error": true,
}

func eventLabel(typ string) string {
	if pushEvents[typ] || knownEvents[typ] {
		return typ
	}
	return "other"
}

// keyPattern is what a source or profile key from a payload may be: HrFlow keys are hex
// digests; anything else from outside is refused.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// payload is one event of a delivery.
type payload struct {
	Type    string          `json:"type"`
	Origin  string          `json:"origin"`
	Message string          `json:"message"`
	Profile json.RawMessage `json:"profile"`
}

// profileRef is what the receiver reads of the event's profile.
type profileRef struct {
	Key       string          `json:"key"`
	SourceKey string          `json:"source_key"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	Source    *struct {
		Key string `json:"key"`
	} `json:"source"`
}

// decodePayloads reads a delivery: one event object or, as older docs allow, an array of them.
func decodePayloads(data []byte, allowArray bool, maxEvents int) ([]payload, *problem.Details) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		if !allowArray {
			return nil, problem.New(400, "malformed-payload", "the hex signature scheme signs one event: an array of events cannot be checked")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, problem.New(400, "malformed-payload", "the payload is not JSON: "+err.Error())
		}
		if len(list) > maxEvents {
			return nil, problem.New(413, "too-many-events", fmt.Sprintf("%d events in one delivery; at most %d", len(list), maxEvents))
		}
		out := make([]payload, len(list))
		for i, raw := range list {
			if err := json.Unmarshal(raw, &out[i]); err != nil {
				p := problem.New(400, "malformed-payload", "an event is not a JSON object of the documented shape")
				p.Errors = []problem.FieldError{{Pointer: fmt.Sprintf("/%d", i), Detail: err.Error()}}
				return nil, p
			}
		}
		return out, nil
	}
	var one payload
	if err := json.Unmarshal(data, &one); err != nil {
		return nil, problem.New(400, "malformed-payload", "the payload is not a JSON event object: "+err.Error())
	}
	return []payload{one}, nil
}

// job maps a push event to its job for wf; pointer prefixes field errors ("" or "/3").
func job(wf *workflow.Workflow, p payload, pointer string, now time.Time) (*jobs.Job, []problem.FieldError) {
	var ref profileRef
	if len(p.Profile) == 0 || json.Unmarshal(p.Profile, &ref) != nil {
		return nil, []problem.FieldError{{Pointer: pointer + "/profile", Detail: "missing or not an object"}}
	}
	source := ref.SourceKey
	if ref.Source != nil && ref.Source.Key != "" {
		source = ref.Source.Key
	}
	var errs []problem.FieldError
	if !keyPattern.MatchString(ref.Key) {
		errs = append(errs, problem.FieldError{Pointer: pointer + "/profile/key", Detail: "missing or not a key (" + keyPattern.String() + ")"})
	}
	if !keyPattern.MatchString(source) {
		errs = append(errs, problem.FieldError{Pointer: pointer + "/profile/source/key", Detail: "missing or not a key (" + keyPattern.String() + ")"})
	}
	if errs != nil {
		return nil, errs
	}
	id := dedupKey(wf, source, ref.Key, p.Profile, hasVersion(ref.UpdatedAt), now)
	return &jobs.Job{
		ID: id, WorkflowID: wf.ID, Target: wf.Target, SourceKey: source, ProfileKey: ref.Key,
		DedupKey: id,
	}, nil
}

func hasVersion(updatedAt json.RawMessage) bool {
	s := strings.TrimSpace(string(updatedAt))
	return s != "" && s != "null" && s != `""`
}

// unversionedWindow is how long a delivery whose profile has no updated_at is taken for a
// redelivery of an identical one: without a version, a redelivery and a second edit look
// alike, and a short window keeps a second edit from being dropped for long.
const unversionedWindow = time.Minute

// dedupKey identifies an event: the workflow, target, source and profile, and the profile's
// content as the payload carries it (canonical JSON: key order and spacing do not matter).
// A redelivery carries the same profile, so it gets the same key and the stream stores it
// once; an edit changes the profile (its updated_at at least), so two updates of one profile
// are two jobs even within the stream's duplicates window. The parsing and storing events of
// one new profile carry the same profile and make one job. A profile without updated_at is
// also keyed by the minute it arrived in (see unversionedWindow).
func dedupKey(wf *workflow.Workflow, source, key string, profile json.RawMessage, versioned bool, now time.Time) string {
	h := sha256.New()
	for _, part := range []string{wf.ID, wf.Target, source, key} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(canonical(profile))
	if !versioned {
		fmt.Fprintf(h, "\x00%d", now.Truncate(unversionedWindow).Unix())
	}
	return "hook-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// canonical re-encodes a JSON value with sorted object keys and no spacing; numbers keep
// their spelling. raw was decoded once already, so it is valid JSON.
func canonical(raw json.RawMessage) []byte {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw
	}
	return b.Bytes()
}
