package jobs_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// TestSetupLeavesDifferencesUnlessApplied: a process with other settings than the streams'
// changes nothing (EnsureStreams), a plan says what differs, and only ApplyChanges applies it.
func TestSetupLeavesDifferencesUnlessApplied(t *testing.T) {
	t.Parallel()
	js := setup(t)
	limited := jobs.StreamConfig{Jobs: jobs.Limits{MaxMsgs: 5, MaxAge: time.Hour}, Events: jobs.Limits{MaxBytes: 1 << 20}}
	if _, err := jobs.EnsureStreams(t.Context(), js, limited); err != nil {
		t.Fatal(err)
	}
	if cfg := streamConfig(t, js, jobs.JobsStream); cfg.MaxMsgs != -1 || cfg.MaxAge != 0 {
		t.Fatalf("EnsureStreams changed the jobs stream: max_msgs %d, max_age %s", cfg.MaxMsgs, cfg.MaxAge)
	}
	_, plan, err := jobs.Setup(t.Context(), js, limited, jobs.PlanChanges)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stream PUSH_PROFILES: max_msgs unlimited → 5, max_age unlimited → 1h0m0s",
		"stream PUSH_EVENTS: max_bytes unlimited → 1048576",
	}
	if got := changeStrings(plan); !slices.Equal(got, want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cfg := streamConfig(t, js, jobs.JobsStream); cfg.MaxMsgs != -1 {
		t.Fatalf("a plan changed the jobs stream: max_msgs %d", cfg.MaxMsgs)
	}
	_, applied, err := jobs.Setup(t.Context(), js, limited, jobs.ApplyChanges)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeStrings(applied); !slices.Equal(got, want) || !applied[0].Applied || !applied[1].Applied {
		t.Fatalf("applied %v, want %v applied", applied, want)
	}
	if cfg := streamConfig(t, js, jobs.JobsStream); cfg.MaxMsgs != 5 || cfg.MaxAge != time.Hour {
		t.Fatalf("after apply: max_msgs %d, max_age %s", cfg.MaxMsgs, cfg.MaxAge)
	}
	if _, again, err := jobs.Setup(t.Context(), js, limited, jobs.PlanChanges); err != nil || len(again) != 0 {
		t.Fatalf("after apply, plan %v (%v), want nothing", again, err)
	}
}

// TestSetupCreatesEveryBucket: a fresh server gets every stream and bucket from a plan's
// list, and Buckets opens each.
func TestSetupCreatesEveryBucket(t *testing.T) {
	t.Parallel()
	_, js := brokertest.JetStream(t)
	_, plan, err := jobs.Setup(t.Context(), js, jobs.StreamConfig{}, jobs.PlanChanges)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 3+len(jobs.StreamConfig{}.Buckets()) {
		t.Fatalf("plan %v: want every stream and bucket created", plan)
	}
	b, made, err := jobs.Setup(t.Context(), js, jobs.StreamConfig{}, jobs.CreateMissing)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range made {
		if !c.Create || !c.Applied || c.String() != plan[i].String() {
			t.Errorf("change %d: %+v, want %s done", i, c, plan[i])
		}
	}
	for _, kc := range (jobs.StreamConfig{}).Buckets() {
		if b.KV(kc.Bucket) == nil {
			t.Errorf("bucket %s not opened", kc.Bucket)
		}
	}
	if b.Tokens == nil || b.IDs == nil || b.Locks == nil || b.State == nil || b.Connections == nil {
		t.Error("a bucket field is nil")
	}
}

// TestPublishToAFullJobsStream: a full jobs stream refuses a job with ErrStreamFull, whose
// message says what to do, and keeps the jobs it has.
func TestPublishToAFullJobsStream(t *testing.T) {
	t.Parallel()
	_, js := brokertest.JetStream(t)
	if _, err := jobs.EnsureStreams(t.Context(), js, jobs.StreamConfig{Jobs: jobs.Limits{MaxMsgs: 3}}); err != nil {
		t.Fatal(err)
	}
	pub := jobs.NewPublisher(js)
	for i := range 3 {
		if _, err := pub.Publish(t.Context(), newJob(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := pub.Publish(t.Context(), newJob(3, ""))
	if !errors.Is(err, jobs.ErrStreamFull) || !strings.Contains(err.Error(), "HRPUSH_JOBS_MAX_MSGS") {
		t.Fatalf("publish to a full stream: %v, want ErrStreamFull naming the setting", err)
	}
	var results []error
	if err := pub.PublishAll(t.Context(), []*jobs.Job{newJob(4, ""), newJob(5, "")}, func(r jobs.PublishResult) { results = append(results, r.Err) }); err != nil {
		t.Fatal(err)
	}
	for _, err := range results {
		if !errors.Is(err, jobs.ErrStreamFull) {
			t.Errorf("PublishAll to a full stream: %v, want ErrStreamFull", err)
		}
	}
	if n := brokertest.StreamMsgs(t, js, jobs.JobsStream); n != 3 {
		t.Errorf("the stream holds %d jobs, want 3", n)
	}
}

func TestStreamConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == name {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	cfg, err := jobs.StreamConfigFromEnv(env("NATS_REPLICAS", "3", "HRPUSH_JOBS_MAX_BYTES", "2GiB", "HRPUSH_JOBS_MAX_MSGS", "1000000",
		"HRPUSH_DLQ_MAX_AGE", "30d", "HRPUSH_EVENTS_MAX_BYTES", "500MB", "HRPUSH_EVENTS_MAX_AGE", "72h", "HRPUSH_SETUP_TIMEOUT", "2m"))
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.StreamConfig{
		Replicas: 3, SetupTimeout: 2 * time.Minute,
		Jobs:   jobs.Limits{MaxBytes: 2 << 30, MaxMsgs: 1_000_000},
		DLQ:    jobs.Limits{MaxAge: 30 * 24 * time.Hour},
		Events: jobs.Limits{MaxBytes: 500_000_000, MaxAge: 72 * time.Hour},
	}
	if fmt.Sprint(cfg) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
	for _, bad := range [][]string{
		{"NATS_REPLICAS", "0"}, {"NATS_REPLICAS", "x"}, {"HRPUSH_JOBS_MAX_BYTES", "-1"}, {"HRPUSH_DLQ_MAX_BYTES", "lots"},
		{"HRPUSH_EVENTS_MAX_MSGS", "0"}, {"HRPUSH_JOBS_MAX_AGE", "-5m"}, {"HRPUSH_SETUP_TIMEOUT", "soon"},
	} {
		_, err := jobs.StreamConfigFromEnv(env(bad...))
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: error %v, want one naming the variable", bad[0], bad[1], err)
		}
	}
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

func changeStrings(cs []jobs.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// TestSetupWithoutJetStream: a server running without JetStream is said to be one after a
// short grace, not waited for until SetupTimeout; every way of waiting for streams says so.
func TestSetupWithoutJetStream(t *testing.T) {
	t.Parallel()
	js := brokertest.JetStreamAt(t, brokertest.StartNATS(t, &server.Options{}).ClientURL())
	cfg := jobs.StreamConfig{SetupTimeout: time.Minute}
	for name, wait := range map[string]func() error{
		"Setup":        func() error { _, _, err := jobs.Setup(t.Context(), js, cfg, jobs.CreateMissing); return err },
		"WaitStreams":  func() error { return jobs.WaitStreams(t.Context(), js, cfg, jobs.JobsStream) },
		"StreamExists": func() error { _, err := jobs.StreamExists(t.Context(), js, cfg, jobs.JobsStream); return err },
	} {
		start := time.Now()
		err := wait()
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%s: took %s, want the grace of a few seconds", name, took)
		}
		if !errors.Is(err, jobs.ErrJetStreamOff) || errors.Is(err, jobs.ErrSetupTimeout) {
			t.Errorf("%s: error %v, want ErrJetStreamOff", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "-js") {
			t.Errorf("%s: error %q does not say how to turn JetStream on", name, err)
		}
	}
}
