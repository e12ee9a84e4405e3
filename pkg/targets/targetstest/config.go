package targetstest

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// CheckRates returns an error for each rate, a share of calls, that is not between 0 and 1
// (NaN included), in the order of the names: "<prefix>: <name> <rate> is not between 0 and 1".
// A fake's Config.Validate uses it with the package name as prefix.
func CheckRates(prefix string, rates map[string]float64) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(rates)) {
		if r := rates[name]; r < 0 || r > 1 || math.IsNaN(r) {
			errs = append(errs, fmt.Errorf("%s: %s %v is not between 0 and 1", prefix, name, r))
		}
	}
	return errs
}

// CheckDurations returns an error for each negative duration, in the order of the names:
// "<prefix>: <name> <duration> is negative".
func CheckDurations(prefix string, durations map[string]time.Duration) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(durations)) {
		if d := durations[name]; d < 0 {
			errs = append(errs, fmt.Errorf("%s: %s %v is negative", prefix, name, d))
		}
	}
	return errs
}
