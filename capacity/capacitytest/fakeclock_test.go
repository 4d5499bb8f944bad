package capacitytest

import (
	"slices"
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFakeClock(start)
	var fired []string
	var seen []time.Duration
	rec := func(name string) func() {
		return func() { fired = append(fired, name); seen = append(seen, c.Now().Sub(start)) }
	}
	c.AfterFunc(2*time.Second, rec("b"))
	c.AfterFunc(time.Second, rec("a"))
	stopped := c.AfterFunc(1500*time.Millisecond, rec("stopped"))
	c.AfterFunc(2*time.Second, func() {
		rec("b2")()
		c.AfterFunc(0, rec("nested")) // due now: runs within the same Advance
	})
	c.AfterFunc(0, rec("zero"))
	if len(fired) != 0 {
		t.Fatalf("AfterFunc ran synchronously: %v", fired)
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop should report true once")
	}
	if got := c.Pending(); got != 4 {
		t.Errorf("Pending = %d, want 4", got)
	}
	c.Advance(3 * time.Second)
	if want := []string{"zero", "a", "b", "b2", "nested"}; !slices.Equal(fired, want) {
		t.Errorf("fired %v, want %v", fired, want)
	}
	if want := []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}; !slices.Equal(seen, want) {
		t.Errorf("clock read %v while firing, want %v", seen, want)
	}
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Errorf("Now = +%v, want +3s", got)
	}
	c.Set(start) // never backwards
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Errorf("Set moved the clock back to +%v", got)
	}
	if c.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", c.Pending())
	}
}
