package goroutines

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestPool: functions run one after another reuse a goroutine (without reuse there would be 50,
// or none left waiting); functions running at once get one each; every function runs; closing
// stop ends the waiting goroutines.
func TestPool(t *testing.T) {
	stop := make(chan struct{})
	p := New(stop)
	base := runtime.NumGoroutine()

	ran := 0
	for range 50 {
		done := make(chan struct{})
		p.Go(func() { ran++; close(done) })
		<-done
		time.Sleep(time.Millisecond) // for the goroutine to wait for the next function again
	}
	if ran != 50 {
		t.Fatalf("ran %d of 50", ran)
	}
	if n := runtime.NumGoroutine() - base; n < 1 || n > 2 {
		t.Errorf("%d goroutines left for 50 functions run in turn, want 1 (2 if one was slow to wait again)", n)
	}

	var wg sync.WaitGroup
	release := make(chan struct{})
	before := runtime.NumGoroutine()
	for range 10 {
		wg.Add(1)
		p.Go(func() { defer wg.Done(); <-release })
	}
	if n := runtime.NumGoroutine() - before; n < 8 || n > 10 {
		t.Errorf("%d new goroutines for 10 functions at once, want 10 less those already waiting", n)
	}
	close(release)
	wg.Wait()

	close(stop)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after stop, want %d", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
}
