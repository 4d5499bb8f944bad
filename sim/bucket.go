package sim

import (
	"math"
	"time"
)

// bucket is a provisioned deployment's leaky-bucket utilization. It holds
// tokens: each request adds its estimated cost on arrival, the difference to
// the real cost when it completes, and the bucket drains continuously at
// capacity tokens per (scaled) minute. Utilization is level / capacity: 100 %
// is one minute's worth of capacity in the bucket. While utilization is at or
// above 100 % every request gets a 429; the request that crosses 100 % is still
// admitted, as on Azure.
//
// bucket is not safe for concurrent use; its deployment's mutex guards it.
type bucket struct {
	capacity float64 // tokens at 100 %
	rate     float64 // tokens drained per nanosecond
	level    float64
	last     time.Time
}

func newBucket(capacityPerMinute int64, minute time.Duration, now time.Time) *bucket {
	c := float64(capacityPerMinute)
	return &bucket{capacity: c, rate: c / float64(minute), last: now}
}

func (b *bucket) drain(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.level = math.Max(0, b.level-b.rate*float64(dt))
		b.last = now
	}
}

// utilization returns level / capacity at now (1 = 100 %); it can exceed 1.
func (b *bucket) utilization(now time.Time) float64 {
	b.drain(now)
	return b.level / b.capacity
}

// full reports whether utilization is at or above 100 %, and if so how long
// until it drops below (rounded up to the millisecond, at least 1 ms).
func (b *bucket) full(now time.Time) (bool, time.Duration) {
	b.drain(now)
	if b.level < b.capacity {
		return false, 0
	}
	ns := (b.level - b.capacity) / b.rate
	d := time.Duration(math.Ceil(ns/float64(time.Millisecond))) * time.Millisecond
	if d <= 0 || (b.level-b.capacity)/b.rate >= float64(d) {
		d += time.Millisecond // strictly below 100 % after d
	}
	return true, d
}

// add changes the level by n tokens (negative to refund), never below 0.
func (b *bucket) add(now time.Time, n int64) {
	b.drain(now)
	b.level = math.Max(0, b.level+float64(n))
}

// remaining returns the tokens that can still be added before 100 %.
func (b *bucket) remaining(now time.Time) int64 {
	b.drain(now)
	return max(0, int64(math.Floor(b.capacity-b.level)))
}

func (b *bucket) reset(now time.Time) {
	b.level = 0
	b.last = now
}
