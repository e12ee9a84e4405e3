package jobs_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/jobs"
)

// BenchmarkPublishAll compares what `enqueue bulk` does, Publisher.PublishAll, with a plain
// asynchronous publish of the same messages (the same bytes, subject and Nats-Msg-Id, encoded
// beforehand) on the same embedded JetStream server, each into a fresh jobs stream. It
// reports jobs/s for both and ratio, PublishAll's throughput over the plain publish's.
func BenchmarkPublishAll(b *testing.B) {
	const n = 20000
	_, js := brokertest.JetStream(b)
	newJobs := func(run string) []*jobs.Job {
		all := make([]*jobs.Job, n)
		for i := range all {
			all[i] = &jobs.Job{ID: fmt.Sprintf("%s-%d", run, i), WorkflowID: "bench", Target: "jobadder",
				SourceKey: "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", ProfileKey: fmt.Sprintf("%s-profile-%06d", run, i), BatchID: run}
		}
		return all
	}
	fresh := func() {
		b.Helper()
		if err := js.DeleteStream(b.Context(), jobs.JobsStream); err != nil && err != jetstream.ErrStreamNotFound {
			b.Fatal(err)
		}
		if _, err := jobs.EnsureStreams(b.Context(), js, jobs.StreamConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		// The plain publish: the same messages, encoded beforehand.
		plain := newJobs(fmt.Sprintf("plain-%d", i))
		type msg struct {
			subject, id string
			data        []byte
		}
		msgs := make([]msg, n)
		for k, j := range plain {
			j.Version, j.EnqueuedAt = jobs.Version, time.Now().UTC()
			data, err := json.Marshal(j)
			if err != nil {
				b.Fatal(err)
			}
			msgs[k] = msg{j.Subject(), j.MsgID(), data}
		}
		fresh()
		start := time.Now()
		for _, m := range msgs {
			if _, err := js.PublishAsync(m.subject, m.data, jetstream.WithMsgID(m.id)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-b.Context().Done():
			b.Fatal(b.Context().Err())
		}
		plainTook := time.Since(start)

		ours := newJobs(fmt.Sprintf("ours-%d", i))
		fresh()
		stored := 0
		start = time.Now()
		err := jobs.NewPublisher(js).PublishAll(b.Context(), ours, func(r jobs.PublishResult) {
			if r.Err != nil {
				b.Error(r.Err)
			}
			if !r.Duplicate {
				stored++
			}
		})
		oursTook := time.Since(start)
		if err != nil || stored != n {
			b.Fatalf("PublishAll stored %d of %d: %v", stored, n, err)
		}
		b.ReportMetric(n/oursTook.Seconds(), "jobs/s")
		b.ReportMetric(n/plainTook.Seconds(), "plain-jobs/s")
		b.ReportMetric(plainTook.Seconds()/oursTook.Seconds(), "ratio")
	}
}
