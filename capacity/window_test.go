package capacity

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	// A one-minute window of 60 one-second bins with a limit of 100.
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	t.Run("charge slides out one window after its bin", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(at(500*time.Millisecond), 30)
		w.charge(at(10*time.Second), 20)
		for _, c := range []struct {
			at   time.Duration
			want int64
		}{{59 * time.Second, 50}, {60*time.Second - 1, 50}, {60 * time.Second, 20}, {70*time.Second - 1, 20}, {70 * time.Second, 0}, {time.Hour, 0}} {
			if got := w.used(at(c.at)); got != c.want {
				t.Errorf("used at %v = %d, want %d", c.at, got, c.want)
			}
		}
	})
	t.Run("fits while 1 % of the limit is left, whatever the cost", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(epoch, 60)
		for _, cost := range []int64{0, 40, 41, 1000} {
			if !w.fits(epoch, cost) {
				t.Errorf("fits(%d) at 60 of 100 = false", cost)
			}
		}
		w.charge(epoch, 39) // 99: one unit (1 %) left
		if !w.fits(epoch, 150) {
			t.Error("a window below its limit refused a request")
		}
		w.charge(epoch, 1)
		if w.fits(epoch, 1) {
			t.Error("a full window took a request")
		}
	})
	t.Run("roomAt is when enough has slid out", func(t *testing.T) {
		fresh := func() *window { // windows only move forward: one per question
			w := newWindow(100, time.Minute, 60, epoch)
			w.charge(at(1*time.Second), 30)
			w.charge(at(5*time.Second), 30)
			w.charge(at(9*time.Second), 40)
			return w
		}
		now := at(20 * time.Second)
		for _, c := range []struct {
			cost, reserve int64
			want          time.Duration
		}{{10, 0, 61 * time.Second}, {150, 0, 61 * time.Second}, {10, 30, 65 * time.Second}, {10, 60, 69 * time.Second}} {
			got := fresh().roomAt(now, c.cost, c.reserve)
			if !got.Equal(at(c.want)) {
				t.Errorf("roomAt(%d, %d) = %v, want %v", c.cost, c.reserve, got.Sub(epoch), c.want)
			}
			if c.reserve > 0 {
				continue
			}
			if !fresh().fits(got, c.cost) {
				t.Errorf("cost %d does not fit at its roomAt", c.cost)
			}
			if fresh().fits(got.Add(-1), c.cost) {
				t.Errorf("cost %d fits before its roomAt", c.cost)
			}
		}
	})
	t.Run("uncharge takes back from its bin while in the window", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		bin := w.charge(at(time.Second), 40)
		w.charge(at(2*time.Second), 10)
		w.uncharge(at(3*time.Second), bin, 40)
		if got := w.used(at(3 * time.Second)); got != 10 {
			t.Errorf("used = %d, want 10", got)
		}
		bin = w.charge(at(4*time.Second), 25)
		w.uncharge(at(64*time.Second), bin, 25) // already gone
		if got := w.used(at(64 * time.Second)); got != 0 {
			t.Errorf("used after late uncharge = %d, want 0", got)
		}
	})
	t.Run("correct up charges now, down takes oldest first", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(at(1*time.Second), 30)
		w.charge(at(2*time.Second), 30)
		w.correct(at(3*time.Second), -40) // 30 from second 1, 10 from second 2
		if got := w.used(at(3 * time.Second)); got != 20 {
			t.Errorf("used = %d, want 20", got)
		}
		if got := w.used(at(62 * time.Second)); got != 0 {
			t.Errorf("used after second 2 left = %d, want 0", got)
		}
		w.correct(at(62*time.Second), 15)
		if got := w.used(at(121*time.Second + 999*time.Millisecond)); got != 15 {
			t.Errorf("used = %d, want 15", got)
		}
		if got := w.used(at(122 * time.Second)); got != 0 {
			t.Errorf("used = %d, want 0", got)
		}
		w.correct(at(122*time.Second), -1000) // never below zero
		if got := w.used(at(122 * time.Second)); got != 0 {
			t.Errorf("used = %d, want 0", got)
		}
	})
	t.Run("time before epoch is bin zero", func(t *testing.T) {
		w := newWindow(10, 10*time.Second, 10, epoch)
		w.charge(epoch.Add(-time.Hour), 3)
		if got := w.used(epoch); got != 3 {
			t.Errorf("used = %d, want 3", got)
		}
	})
}
