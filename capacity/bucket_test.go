package capacity

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	t.Run("drains capacity per window", func(t *testing.T) {
		b := newBucket(600, time.Minute, epoch)
		b.add(epoch, 300)
		for _, c := range []struct {
			at   time.Duration
			want float64
		}{{0, 300}, {10 * time.Second, 200}, {30 * time.Second, 0}, {time.Hour, 0}} {
			if got := b.levelAt(at(c.at)); got < c.want-1e-6 || got > c.want+1e-6 {
				t.Errorf("level at %v = %v, want %v", c.at, got, c.want)
			}
		}
	})
	t.Run("refund never below zero", func(t *testing.T) {
		b := newBucket(600, time.Minute, epoch)
		b.add(epoch, 100)
		b.add(epoch, -500)
		if got := b.levelAt(epoch); got != 0 {
			t.Errorf("level = %v, want 0", got)
		}
	})
	t.Run("fits and roomAt", func(t *testing.T) {
		fresh := func() *bucket { // buckets only move forward: one per question
			b := newBucket(600, time.Minute, epoch)
			b.add(epoch, 590)
			return b
		}
		// A request has room while the level plus the smaller of its cost
		// and 1 % of the capacity (6) stays within 600: any size, as Azure.
		b := fresh()
		if !b.fits(epoch, 4, 0) || !b.fits(epoch, 6, 0) || !b.fits(epoch, 900, 0) || b.fits(epoch, 6, 5) {
			t.Error("fits wrong at level 590 of 600")
		}
		b.add(epoch, 5) // 595
		if b.fits(epoch, 6, 0) || !b.fits(epoch, 5, 0) || b.fits(epoch, 900, 0) {
			t.Error("fits wrong at level 595 of 600")
		}
		for _, cost := range []float64{5, 6, 50, 600, 900} {
			late := func() *bucket { b := fresh(); b.add(epoch, 8); return b } // 598
			got := late().roomAt(epoch, cost, 0)
			if !late().fits(got, cost, 0) {
				t.Errorf("cost %v does not fit at roomAt %v", cost, got.Sub(epoch))
			}
			if got.After(epoch) && late().fits(got.Add(-time.Millisecond), cost, 0) {
				t.Errorf("cost %v fits 1ms before roomAt %v", cost, got.Sub(epoch))
			}
		}
		// At 598, 100 tokens need the level at 594: 4 tokens drain in 0.4 s,
		// and so does any larger request.
		for _, cost := range []float64{100, 900} {
			b := fresh()
			b.add(epoch, 8)
			if got := b.roomAt(epoch, cost, 0); got.Sub(epoch).Round(time.Millisecond) != 400*time.Millisecond {
				t.Errorf("roomAt(%v) = %v, want 400ms", cost, got.Sub(epoch))
			}
		}
	})
}
