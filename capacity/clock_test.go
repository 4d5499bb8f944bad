package capacity

import (
	"testing"
	"time"
)

func TestTimerClock(t *testing.T) {
	t.Run("SystemClock is a TimerClock", func(t *testing.T) {
		if _, ok := timerClock(SystemClock{}).(SystemClock); !ok {
			t.Error("SystemClock wrapped")
		}
	})
	t.Run("a plain Clock gets real timers", func(t *testing.T) {
		c := timerClock(plainClock{})
		if _, ok := c.(realTimers); !ok {
			t.Fatalf("got %T", c)
		}
		fired := make(chan struct{})
		c.AfterFunc(time.Millisecond, func() { close(fired) })
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			t.Fatal("timer never fired")
		}
		if c.AfterFunc(time.Hour, func() {}).Stop() != true {
			t.Error("Stop of a pending timer reported false")
		}
	})
}

type plainClock struct{}

func (plainClock) Now() time.Time { return time.Now() }
