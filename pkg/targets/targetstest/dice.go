package targetstest

import (
	"net/http"
	"sync/atomic"
)

// Dice are a fake's fault dice: one stream of rolls for API calls, one for authentication
// requests (token, login), one for slow answers. The n-th roll of a stream depends only on the
// seed, the stream and n, so a run is reproducible as far as the order of calls is, and rolls
// need no shared generator state. The dice also count what they inject, for a fake's State.
type Dice struct {
	// API decides the faults of API calls ([Stream.Fault]).
	API Stream
	// Auth decides the faults of token and login requests ([Stream.Hit]).
	Auth Stream
	// Slow decides which answers are held back ([Stream.Hit], then [HeldAnswer]).
	Slow Stream
}

// NewDice returns dice seeded by seed. Streams are numbered 1 (API), 2 (Auth) and 3 (Slow):
// the same seed gives the same rolls in every fake.
func NewDice(seed uint64) *Dice {
	d := &Dice{}
	d.API.seed, d.API.id = seed, 1
	d.Auth.seed, d.Auth.id = seed, 2
	d.Slow.seed, d.Slow.id = seed, 3
	return d
}

// Faults returns how many faults the API and Auth streams picked.
func (d *Dice) Faults() int { return d.API.Hits() + d.Auth.Hits() }

// Stream is one stream of rolls. It is safe for concurrent use: concurrent callers get
// distinct rolls, in the order they reach it.
type Stream struct {
	seed, id uint64
	n        atomic.Uint64 // rolls thrown
	hits     atomic.Int64  // Hit true, Fault not 0
}

// Hits returns how many calls to Hit reported true, and to Fault picked a fault.
func (s *Stream) Hits() int { return int(s.hits.Load()) }

// Hit reports whether the next roll falls under rate, a share of calls between 0 and 1. A
// rate of 0 never hits and throws no roll.
func (s *Stream) Hit(rate float64) bool {
	if rate == 0 {
		return false
	}
	r, _ := s.next()
	if r >= rate {
		return false
	}
	s.hits.Add(1)
	return true
}

// Fault picks an injected fault for the next call: 429 (http.StatusTooManyRequests) for a
// share rateLimitRate of calls, 500 or 503 (about half each) for a share errorRate, and 0, no
// fault, for the rest. With both rates 0 it throws no roll.
func (s *Stream) Fault(rateLimitRate, errorRate float64) int {
	if rateLimitRate == 0 && errorRate == 0 {
		return 0
	}
	r, bit := s.next()
	fault := 0
	switch {
	case r < rateLimitRate:
		fault = http.StatusTooManyRequests
	case r < rateLimitRate+errorRate && bit:
		fault = http.StatusServiceUnavailable
	case r < rateLimitRate+errorRate:
		fault = http.StatusInternalServerError
	default:
		return 0
	}
	s.hits.Add(1)
	return fault
}

func (s *Stream) next() (float64, bool) { return roll(s.seed, s.id, s.n.Add(1)) }

// roll returns the n-th roll in [0, 1) of stream for seed, and a bit: a SplitMix64 hash.
func roll(seed, stream, n uint64) (r float64, bit bool) {
	z := seed + stream*0xD1B54A32D192ED03 + n*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / (1 << 53), z&1 == 1
}
