package sim

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	type step struct {
		at        time.Duration
		charge    int64
		wantFull  bool
		wantAfter time.Duration // when full
		wantUsed  int64         // after the step
	}
	tests := []struct {
		name  string
		limit int64
		steps []step
	}{
		{
			name:  "below limit admits",
			limit: 100,
			steps: []step{
				{at: 0, charge: 40, wantUsed: 40},
				{at: time.Second, charge: 40, wantUsed: 80},
			},
		},
		{
			name:  "request crossing the limit is admitted, the next is throttled",
			limit: 100,
			steps: []step{
				{at: 0, charge: 90, wantUsed: 90},
				{at: 10 * time.Second, charge: 50, wantUsed: 140},
				// 41 must leave: the 90 charged at 0 s leaves at 60 s.
				{at: 20 * time.Second, wantFull: true, wantAfter: 40 * time.Second, wantUsed: 140},
			},
		},
		{
			name:  "amounts leave one window after their bin",
			limit: 100,
			steps: []step{
				{at: 0, charge: 60, wantUsed: 60},
				{at: 30 * time.Second, charge: 60, wantUsed: 120},
				{at: 59 * time.Second, wantFull: true, wantAfter: time.Second, wantUsed: 120},
				{at: 60 * time.Second, wantUsed: 60},
				{at: 90 * time.Second, wantUsed: 0},
			},
		},
		{
			name:  "retry-after waits for the oldest bins that free enough",
			limit: 100,
			steps: []step{
				{at: 0, charge: 10, wantUsed: 10},
				{at: 5 * time.Second, charge: 10, wantUsed: 20},
				{at: 10 * time.Second, charge: 90, wantUsed: 110},
				// 11 must leave: 10 at 60 s is not enough, 10 more at 65 s is.
				{at: 20 * time.Second, wantFull: true, wantAfter: 45 * time.Second, wantUsed: 110},
				{at: 64 * time.Second, wantFull: true, wantAfter: time.Second, wantUsed: 100},
				{at: 65 * time.Second, wantUsed: 90},
			},
		},
		{
			name:  "long idle clears everything",
			limit: 10,
			steps: []step{
				{at: 0, charge: 10, wantUsed: 10},
				{at: 0, wantFull: true, wantAfter: time.Minute, wantUsed: 10},
				{at: time.Hour, wantUsed: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(tt.limit, time.Minute, 60, epoch)
			for i, s := range tt.steps {
				now := at(s.at)
				full, after := w.full(now)
				if full != s.wantFull {
					t.Fatalf("step %d: full = %v, want %v", i, full, s.wantFull)
				}
				if full && after != s.wantAfter {
					t.Errorf("step %d: retry after %v, want %v", i, after, s.wantAfter)
				}
				if !full && s.charge > 0 {
					w.charge(now, s.charge)
				}
				if got := w.used(now); got != s.wantUsed {
					t.Errorf("step %d: used = %d, want %d", i, got, s.wantUsed)
				}
				if got, want := w.remaining(now), max(0, tt.limit-s.wantUsed); got != want {
					t.Errorf("step %d: remaining = %d, want %d", i, got, want)
				}
			}
		})
	}
}

func TestWindowReset(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(5, 10*time.Second, 10, epoch)
	w.charge(epoch, 5)
	if full, _ := w.full(epoch); !full {
		t.Fatalf("window not full after charging its limit")
	}
	w.reset(epoch.Add(time.Second))
	if got := w.used(epoch.Add(time.Second)); got != 0 {
		t.Errorf("used after reset = %d, want 0", got)
	}
}

func TestWindowBeforeEpoch(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(5, 10*time.Second, 10, epoch)
	w.charge(epoch.Add(-time.Hour), 3) // a clock that went backwards must not break the ring
	if got := w.used(epoch); got != 3 {
		t.Errorf("used = %d, want 3", got)
	}
}
