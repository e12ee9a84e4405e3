package targetstest_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hrpush/hrpush/pkg/targets/targetstest"
)

func TestCheckRates(t *testing.T) {
	t.Parallel()
	errs := targetstest.CheckRates("fake", map[string]float64{
		"ZeroRate": 0, "OneRate": 1, "HalfRate": 0.5,
		"Negative": -0.1, "Above": 1.5, "NaN": math.NaN(),
	})
	want := "fake: Above 1.5 is not between 0 and 1\n" +
		"fake: NaN NaN is not between 0 and 1\n" +
		"fake: Negative -0.1 is not between 0 and 1"
	if got := errors.Join(errs...); got == nil || got.Error() != want {
		t.Errorf("errors\n%v\nwant\n%s", got, want)
	}
	if errs := targetstest.CheckRates("fake", map[string]float64{"A": 0, "B": 1}); errs != nil {
		t.Errorf("valid rates: %v", errs)
	}
}

func TestCheckDurations(t *testing.T) {
	t.Parallel()
	errs := targetstest.CheckDurations("fake", map[string]time.Duration{
		"Zero": 0, "Positive": time.Second, "TTL": -time.Second, "Latency": -time.Millisecond,
	})
	want := "fake: Latency -1ms is negative\nfake: TTL -1s is negative"
	if got := errors.Join(errs...); got == nil || got.Error() != want {
		t.Errorf("errors\n%v\nwant\n%s", got, want)
	}
	if errs := targetstest.CheckDurations("fake", map[string]time.Duration{"A": 0}); errs != nil {
		t.Errorf("valid durations: %v", errs)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := targetstest.NewClock(start)
	if !clk.Now().Equal(start) {
		t.Errorf("Now %v, want %v", clk.Now(), start)
	}
	clk.Advance(90 * time.Second)
	if want := start.Add(90 * time.Second); !clk.Now().Equal(want) {
		t.Errorf("after Advance: Now %v, want %v", clk.Now(), want)
	}
}
