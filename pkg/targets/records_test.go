package targets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hrpush/hrpush/pkg/broker/brokertest"
	"github.com/hrpush/hrpush/pkg/targets"
)

type record struct {
	N int `json:"n"`
	targets.Lease
}

func TestRecords(t *testing.T) {
	t.Parallel()
	kv := brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: "records"})
	r := targets.Records{KV: kv, Name: "test: record"}
	ctx := t.Context()

	t.Run("get of a missing key", func(t *testing.T) {
		v := record{N: 7}
		rev, err := r.Get(ctx, "missing", &v)
		if err != nil || rev != 0 || v.N != 7 {
			t.Errorf("Get = rev %d, %+v, %v; want 0, the value untouched, nil", rev, v, err)
		}
	})

	t.Run("swap by revision", func(t *testing.T) {
		rev, err := r.Swap(ctx, "swap", record{N: 1}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Swap(ctx, "swap", record{N: 9}, 0); !errors.Is(err, targets.ErrRecordChanged) {
			t.Errorf("create over an existing record: %v, want ErrRecordChanged", err)
		}
		rev2, err := r.Swap(ctx, "swap", record{N: 2}, rev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Swap(ctx, "swap", record{N: 9}, rev); !errors.Is(err, targets.ErrRecordChanged) {
			t.Errorf("update at a stale revision: %v, want ErrRecordChanged", err)
		}
		if _, err := r.Keep(ctx, "swap", record{N: 9}, rev); !errors.Is(err, targets.ErrRecordChanged) {
			t.Errorf("Keep at a stale revision: %v, want ErrRecordChanged", err)
		}
		var v record
		if got, err := r.Get(ctx, "swap", &v); err != nil || got != rev2 || v.N != 2 {
			t.Errorf("Get = rev %d, %+v, %v; want %d, N 2", got, v, err, rev2)
		}
	})

	t.Run("writes outlive a cancelled context", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.Put(done, "put", record{N: 3}); err != nil {
			t.Errorf("Put: %v", err)
		}
		var v record
		rev, err := r.Get(ctx, "put", &v)
		if err != nil || v.N != 3 {
			t.Fatalf("after Put: %+v, %v", v, err)
		}
		if _, err := r.Keep(done, "put", record{N: 4}, rev); err != nil {
			t.Errorf("Keep: %v", err)
		}
		if _, err := r.Get(ctx, "put", &v); err != nil || v.N != 4 {
			t.Errorf("after Keep: %+v, %v", v, err)
		}
		if err := r.Delete(done, "put"); err != nil {
			t.Errorf("Delete: %v", err)
		}
		v = record{}
		if rev, err := r.Get(ctx, "put", &v); err != nil || rev != 0 {
			t.Errorf("after Delete: rev %d, %v", rev, err)
		}
	})

	t.Run("a record that is not JSON", func(t *testing.T) {
		if _, err := kv.Put(ctx, "garbled", []byte("{")); err != nil {
			t.Fatal(err)
		}
		var v record
		if _, err := r.Get(ctx, "garbled", &v); err == nil || !strings.Contains(err.Error(), "test: record garbled is not valid JSON") {
			t.Errorf("Get = %v, want an error naming the record", err)
		}
	})

	t.Run("wait for a change", func(t *testing.T) {
		rev, err := r.Swap(ctx, "wait", record{N: 1}, 0)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.WaitChange(ctx, "wait", rev, 200*time.Millisecond); err != nil {
			t.Errorf("WaitChange without a change: %v", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("WaitChange without a change returned after %v, before its bound", d)
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, _ = r.Swap(context.Background(), "wait", record{N: 2}, rev)
		}()
		start = time.Now()
		if err := r.WaitChange(ctx, "wait", rev, time.Minute); err != nil {
			t.Errorf("WaitChange: %v", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("WaitChange returned after %v, not at the change", d)
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.WaitChange(done, "wait", rev+1, time.Minute); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitChange with a cancelled context: %v", err)
		}
	})
}

func TestLeaseHeldByOther(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name  string
		lease targets.Lease
		want  bool
	}{
		{"none", targets.Lease{}, false},
		{"ours", targets.Lease{LeaseOwner: "me", LeaseUntil: now.Add(time.Minute)}, false},
		{"another's", targets.Lease{LeaseOwner: "other", LeaseUntil: now.Add(time.Minute)}, true},
		{"another's, expired", targets.Lease{LeaseOwner: "other", LeaseUntil: now.Add(-time.Second)}, false},
	}
	for _, tt := range tests {
		if got := tt.lease.HeldByOther("me", now); got != tt.want {
			t.Errorf("%s: HeldByOther = %t, want %t", tt.name, got, tt.want)
		}
	}
}

// flakyKV fails its first writes as a bucket whose leader was lost does (no answer).
type flakyKV struct {
	jetstream.KeyValue
	failures int // writes left to fail
	writes   int
}

func (k *flakyKV) fail() error {
	k.writes++
	if k.failures > 0 {
		k.failures--
		return context.DeadlineExceeded
	}
	return nil
}

func (k *flakyKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := k.fail(); err != nil {
		return 0, err
	}
	return k.KeyValue.Put(ctx, key, value)
}

func (k *flakyKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := k.fail(); err != nil {
		return 0, err
	}
	return k.KeyValue.Update(ctx, key, value, rev)
}

// TestRecordsWritesRetry: Put and Keep try a failed write again until it is stored; Keep does
// not try again a write refused because the record changed.
func TestRecordsWritesRetry(t *testing.T) {
	t.Parallel()
	kv := &flakyKV{KeyValue: brokertest.Start(t).KeyValue(t, jetstream.KeyValueConfig{Bucket: "records"})}
	r := targets.Records{KV: kv, Name: "test: record"}

	kv.failures = 2
	if err := r.Put(t.Context(), "k", record{N: 1}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	var v record
	rev, err := r.Get(t.Context(), "k", &v)
	if err != nil || v.N != 1 || kv.writes != 3 {
		t.Fatalf("after Put: %+v, %v, %d writes; want n 1 after 3 writes", v, err, kv.writes)
	}

	kv.failures, kv.writes = 2, 0
	rev, err = r.Keep(t.Context(), "k", record{N: 2}, rev)
	if err != nil || rev == 0 || kv.writes != 3 {
		t.Fatalf("Keep: rev %d, %v, %d writes; want a new revision after 3 writes", rev, err, kv.writes)
	}

	kv.writes = 0
	if _, err := r.Keep(t.Context(), "k", record{N: 3}, rev-1); !errors.Is(err, targets.ErrRecordChanged) || kv.writes != 1 {
		t.Errorf("Keep at a stale revision: %v after %d writes; want ErrRecordChanged after 1", err, kv.writes)
	}
}
