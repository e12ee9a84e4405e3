package targetstest

import "testing"

// TestRollPinned pins rolls the fakes threw before this package existed: seeded runs, and the
// tests written against them, must see the same faults.
func TestRollPinned(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		seed, stream, n uint64
		roll            float64
		bit             bool
	}{
		{0, 1, 1, 0.17601256256594233, false},
		{0, 1, 2, 0.45906731214326846, false},
		{42, 1, 1, 0.8436906260802505, false},
		{42, 2, 1, 0.36722134700661546, false},
		{42, 3, 1, 0.7828760767764527, true},
		{7, 1, 50, 0.7252490683751668, false},
	} {
		if r, bit := roll(c.seed, c.stream, c.n); r != c.roll || bit != c.bit {
			t.Errorf("roll(%d, %d, %d) = %v, %v; want %v, %v", c.seed, c.stream, c.n, r, bit, c.roll, c.bit)
		}
	}
}
