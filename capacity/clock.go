package capacity

import "time"

// Clock is the model's time source.
type Clock interface {
	Now() time.Time
}

// TimerClock is a Clock that can also run a function after a delay. Wait uses
// it for its deadline and to wake waiters when capacity recovers with time. A
// Clock given to New that is not a TimerClock gets real-time timers.
type TimerClock interface {
	Clock
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from the
	// goroutine that advances time) once d has passed. f must not be called
	// synchronously from AfterFunc.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call: Stop prevents the call if it has not
// started and reports whether it did. It is an alias so that clocks in other
// packages (capacitytest.FakeClock) satisfy TimerClock without importing this
// package.
type Timer = interface{ Stop() bool }

// SystemClock is the wall clock.
type SystemClock struct{}

var _ TimerClock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// realTimers gives a plain Clock real-time timers.
type realTimers struct{ Clock }

func (realTimers) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

func timerClock(c Clock) TimerClock {
	if tc, ok := c.(TimerClock); ok {
		return tc
	}
	return realTimers{c}
}
