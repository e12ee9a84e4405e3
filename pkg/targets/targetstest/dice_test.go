package targetstest_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

// TestFaultSequence pins the faults of seed 42 with the rates of the fakes' own fault tests, as
// the fakes drew them before they shared their dice.
func TestFaultSequence(t *testing.T) {
	t.Parallel()
	want := []int{
		0, 429, 0, 0, 0, 0, 0, 0, 0, 0, 429, 0, 0, 429, 0, 0, 500, 0, 0, 500,
		0, 0, 0, 0, 503, 0, 500, 429, 0, 429, 0, 500, 0, 429, 0, 429, 0, 0, 0, 0,
	}
	d := targetstest.NewDice(42)
	var got []int
	for range want {
		got = append(got, d.API.Fault(0.2, 0.1))
	}
	if !slices.Equal(got, want) {
		t.Errorf("faults\n%v\nwant\n%v", got, want)
	}
}

func TestDiceShare(t *testing.T) {
	t.Parallel()
	const n = 20000
	near := func(count int, want float64) bool {
		share := float64(count) / n
		return share > want-0.015 && share < want+0.015
	}
	d := targetstest.NewDice(1)
	faults := map[int]int{}
	hits := map[string]int{}
	for range n {
		faults[d.API.Fault(0.2, 0.1)]++
		if d.Auth.Hit(0.25) {
			hits["auth"]++
		}
		if d.Slow.Hit(0.5) {
			hits["slow"]++
		}
	}
	if !near(faults[http.StatusTooManyRequests], 0.2) || !near(faults[http.StatusInternalServerError], 0.05) ||
		!near(faults[http.StatusServiceUnavailable], 0.05) || !near(faults[0], 0.7) || len(faults) != 4 {
		t.Errorf("faults %v of %d, want 20%% 429, 5%% 500, 5%% 503, 70%% none", faults, n)
	}
	if !near(hits["auth"], 0.25) || !near(hits["slow"], 0.5) {
		t.Errorf("hits %v of %d, want 25%% auth and 50%% slow", hits, n)
	}
	// The dice count what they injected, for State.
	if d.API.Hits() != n-faults[0] || d.Auth.Hits() != hits["auth"] || d.Slow.Hits() != hits["slow"] ||
		d.Faults() != n-faults[0]+hits["auth"] {
		t.Errorf("counted %d API, %d auth, %d slow, %d faults; want %d, %d, %d, %d",
			d.API.Hits(), d.Auth.Hits(), d.Slow.Hits(), d.Faults(), n-faults[0], hits["auth"], hits["slow"], n-faults[0]+hits["auth"])
	}
	for rate, want := range map[float64]int{0: 0, 1: n} {
		got := 0
		for range n {
			if d.Slow.Hit(rate) {
				got++
			}
		}
		if got != want {
			t.Errorf("rate %v hit %d of %d", rate, got, n)
		}
	}
	if got, want := d.Slow.Hits(), hits["slow"]+n; got != want {
		t.Errorf("after rates 0 and 1: %d slow hits counted, want %d", got, want)
	}
	for range n {
		if f := d.API.Fault(0, 1); f != http.StatusInternalServerError && f != http.StatusServiceUnavailable {
			t.Fatalf("error rate 1: fault %d", f)
		}
		if f := d.API.Fault(1, 0); f != http.StatusTooManyRequests {
			t.Fatalf("rate-limit rate 1: fault %d", f)
		}
	}
}

// rolls throws n rolls of each stream, the API's as faults, the others as hits at 0.5.
func rolls(d *targetstest.Dice, n int) string {
	var api, auth, slow []any
	for range n {
		api = append(api, d.API.Fault(0.3, 0.3))
		auth = append(auth, d.Auth.Hit(0.5))
		slow = append(slow, d.Slow.Hit(0.5))
	}
	return fmt.Sprint(api, auth, slow)
}

func TestDiceDeterministic(t *testing.T) {
	t.Parallel()
	if a, b := rolls(targetstest.NewDice(7), 100), rolls(targetstest.NewDice(7), 100); a != b {
		t.Errorf("same seed, different rolls:\n%s\n%s", a, b)
	}
	if a, b := rolls(targetstest.NewDice(7), 100), rolls(targetstest.NewDice(8), 100); a == b {
		t.Errorf("seeds 7 and 8 rolled the same: %s", a)
	}

	// Streams are independent: a stream's rolls do not depend on how often the others rolled,
	// and a zero rate throws no roll.
	busy := targetstest.NewDice(7)
	for range 37 {
		busy.Auth.Hit(0.5)
		busy.Slow.Hit(0.5)
		busy.Slow.Hit(0)
		busy.API.Hit(0)
		busy.API.Fault(0, 0)
	}
	quiet := targetstest.NewDice(7)
	for range 100 {
		if a, b := busy.API.Fault(0.3, 0.3), quiet.API.Fault(0.3, 0.3); a != b {
			t.Fatalf("the API stream depends on the others: %d, %d", a, b)
		}
	}
}

// TestDiceConcurrent: concurrent callers share a stream's rolls, each thrown once.
func TestDiceConcurrent(t *testing.T) {
	t.Parallel()
	const workers, each = 8, 500
	want := map[int]int{}
	seq := targetstest.NewDice(3)
	for range workers * each {
		want[seq.API.Fault(0.3, 0.3)]++
	}
	d := targetstest.NewDice(3)
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				f := d.API.Fault(0.3, 0.3)
				mu.Lock()
				got[f]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("concurrent faults %v, sequential %v", got, want)
	}
}
