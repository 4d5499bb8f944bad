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
			b.add(epoch, 550)
			return b
		}
		b := fresh()
		if !b.fits(epoch, 50) || b.fits(epoch, 51) {
			t.Error("fits wrong at level 550 of 600")
		}
		for _, cost := range []float64{50, 51, 100, 600, 900} {
			got := fresh().roomAt(epoch, cost)
			if !fresh().fits(got, cost) {
				t.Errorf("cost %v does not fit at roomAt %v", cost, got.Sub(epoch))
			}
			if got.After(epoch) && fresh().fits(got.Add(-time.Millisecond), cost) {
				t.Errorf("cost %v fits 1ms before roomAt %v", cost, got.Sub(epoch))
			}
		}
		// 100 tokens need the level at 500: 50 tokens drain in 5 s.
		if got := fresh().roomAt(epoch, 100); got.Sub(epoch).Round(time.Millisecond) != 5*time.Second {
			t.Errorf("roomAt(100) = %v, want 5s", got.Sub(epoch))
		}
		// Oversized: only an empty bucket, 55 s.
		if got := fresh().roomAt(epoch, 900); got.Sub(epoch).Round(time.Millisecond) != 55*time.Second {
			t.Errorf("roomAt(900) = %v, want 55s", got.Sub(epoch))
		}
	})
}
