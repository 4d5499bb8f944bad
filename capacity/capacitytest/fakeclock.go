// Package capacitytest provides a fake clock for tests of the capacity model
// and of its users.
package capacitytest

import (
	"sort"
	"sync"
	"time"
)

// FakeClock is a manually driven clock. Time moves only through Advance and
// Set; timers registered with AfterFunc run, in deadline order, from the
// goroutine that moves time past their deadline. It satisfies
// capacity.TimerClock. The zero value is not usable; use NewFakeClock.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

// NewFakeClock returns a clock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves time forward by d, running every timer that falls due, each
// with the clock reading its deadline.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves time to t (never backwards), running due timers as Advance does.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	for {
		next := c.popDue(t)
		if next == nil {
			break
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

// popDue removes and returns the earliest timer due at or before t.
func (c *FakeClock) popDue(t time.Time) *fakeTimer {
	if len(c.timers) == 0 {
		return nil
	}
	sort.Slice(c.timers, func(i, j int) bool {
		if !c.timers[i].at.Equal(c.timers[j].at) {
			return c.timers[i].at.Before(c.timers[j].at)
		}
		return c.timers[i].seq < c.timers[j].seq
	})
	first := c.timers[0]
	if first.at.After(t) {
		return nil
	}
	c.timers = c.timers[1:]
	return first
}

// AfterFunc schedules f to run once the clock reaches now+d. f is never run
// synchronously, even for d <= 0: it runs at the next Advance or Set.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Pending returns the number of timers not yet run or stopped.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c   *FakeClock
	at  time.Time
	seq uint64
	f   func()
}

// Stop removes the timer; it reports whether it was still pending.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
