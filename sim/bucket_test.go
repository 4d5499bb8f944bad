package sim

import (
	"math"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	type step struct {
		at        time.Duration
		add       int64 // added when not full (negative refunds are always applied)
		wantFull  bool
		wantAfter time.Duration
		wantUtil  float64 // after the step
	}
	tests := []struct {
		name     string
		capacity int64
		steps    []step
	}{
		{
			name:     "drains at capacity per minute",
			capacity: 6000,
			steps: []step{
				{at: 0, add: 3000, wantUtil: 0.5},
				{at: 15 * time.Second, wantUtil: 0.25},
				{at: 30 * time.Second, wantUtil: 0},
				{at: time.Minute, wantUtil: 0},
			},
		},
		{
			name:     "crossing 100 % is admitted, then 429 until below",
			capacity: 6000,
			steps: []step{
				{at: 0, add: 5000, wantUtil: 5000.0 / 6000},
				{at: 0, add: 2000, wantUtil: 7000.0 / 6000},
				// 1000 over at 100 tokens/s: 10 s, plus 1 ms to be strictly below.
				{at: 0, wantFull: true, wantAfter: 10*time.Second + time.Millisecond, wantUtil: 7000.0 / 6000},
				{at: 5 * time.Second, wantFull: true, wantAfter: 5*time.Second + time.Millisecond, wantUtil: 6500.0 / 6000},
				{at: 10*time.Second + time.Millisecond, add: 100, wantUtil: (6000 - 0.1 + 100) / 6000},
			},
		},
		{
			name:     "correction refunds, never below zero",
			capacity: 6000,
			steps: []step{
				{at: 0, add: 600, wantUtil: 0.1},
				{at: 0, add: -400, wantUtil: 200.0 / 6000},
				{at: 0, add: -1000, wantUtil: 0},
			},
		},
		{
			name:     "retry-after rounds up to the millisecond",
			capacity: 60000, // 1 token per ms
			steps: []step{
				{at: 0, add: 60000, wantUtil: 1},
				{at: 0, wantFull: true, wantAfter: time.Millisecond, wantUtil: 1},
				{at: 250 * time.Microsecond, wantUtil: 59999.75 / 60000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.capacity, time.Minute, epoch)
			for i, s := range tt.steps {
				now := at(s.at)
				full, after := b.full(now)
				if s.add < 0 {
					full = false
				}
				if full != s.wantFull {
					t.Fatalf("step %d: full = %v, want %v (util %v)", i, full, s.wantFull, b.utilization(now))
				}
				if full && after != s.wantAfter {
					t.Errorf("step %d: retry after %v, want %v", i, after, s.wantAfter)
				}
				if !full && s.add != 0 {
					b.add(now, s.add)
				}
				if got := b.utilization(now); math.Abs(got-s.wantUtil) > 1e-9 {
					t.Errorf("step %d: utilization = %v, want %v", i, got, s.wantUtil)
				}
			}
		})
	}
}

func TestBucketRetryAfterIsExact(t *testing.T) {
	// After waiting the advertised time, the bucket must accept.
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, over := range []int64{1, 7, 333, 5999, 12345} {
		b := newBucket(6000, 6*time.Second, epoch) // time_scale 0.1
		b.add(epoch, 6000+over)
		full, after := b.full(epoch)
		if !full {
			t.Fatalf("over %d: not full", over)
		}
		if full, _ := b.full(epoch.Add(after - 2*time.Millisecond)); !full && after > 2*time.Millisecond {
			t.Errorf("over %d: free 2 ms before the advertised %v", over, after)
		}
		if full, _ := b.full(epoch.Add(after)); full {
			t.Errorf("over %d: still full after the advertised %v", over, after)
		}
	}
}

func TestBucketRemainingAndReset(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBucket(1000, time.Minute, epoch)
	b.add(epoch, 250)
	if got := b.remaining(epoch); got != 750 {
		t.Errorf("remaining = %d, want 750", got)
	}
	b.add(epoch, 2000)
	if got := b.remaining(epoch); got != 0 {
		t.Errorf("remaining over 100 %% = %d, want 0", got)
	}
	b.reset(epoch)
	if got := b.utilization(epoch); got != 0 {
		t.Errorf("utilization after reset = %v, want 0", got)
	}
}
