// Package goroutines runs functions on goroutines that outlive them, so that the stack a
// goroutine grew for one function serves the next.
//
// A goroutine starts with a small stack and grows it by copying it to one twice the size. A
// worker's job (decoding a profile goes deep) or a resume download did that again on each new
// goroutine: runtime.newstack was 6 % of a worker's CPU samples with a goroutine per job.
package goroutines

import "time"

// Idle is how long a goroutine of a [Pool] waits for its next function before it ends.
const Idle = time.Minute

// Pool hands functions to goroutines waiting for one, or starts a new goroutine when none
// waits. The number of goroutines follows the number of functions running at once: one that
// waits Idle without a function ends. The zero value is not usable; see [New].
type Pool struct {
	idle chan func()
	stop <-chan struct{}
}

// New returns a pool whose goroutines also end when stop is closed (nil: only when idle).
func New(stop <-chan struct{}) *Pool {
	return &Pool{idle: make(chan func()), stop: stop}
}

// Go runs fn on a goroutine of the pool.
func (p *Pool) Go(fn func()) {
	select {
	case p.idle <- fn:
		return
	default:
	}
	go p.run(fn)
}

func (p *Pool) run(fn func()) {
	idle := time.NewTimer(Idle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(Idle)
		select {
		case fn = <-p.idle:
		case <-idle.C:
			return
		case <-p.stop:
			return
		}
	}
}
