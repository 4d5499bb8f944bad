package capacity

import (
	"math"
	"time"
)

// bucket is a provisioned deployment's leaky-bucket utilization, as Azure
// runs it: each request adds its estimated cost on arrival, corrected to the
// real cost on completion, and the level drains continuously at capacity
// tokens per token window. Utilization is level/capacity.
//
// A request has room when the level plus the smaller of its cost and 1 % of
// the capacity stays within it (admitSlack): like Azure, which admits any
// request while below 100 %, with a 1 % margin for the moments between the
// model's charge and the deployment's. The request is charged in full.
type bucket struct {
	capacity float64 // tokens at 100 %, as configured
	rate     float64 // tokens drained per nanosecond, as configured
	// eff scales capacity and rate: the share of the deployment the model
	// assumes is its own (see effective.go).
	eff   float64
	level float64
	last  time.Time
}

// epsilon absorbs float rounding, so that the bucket has room at the time roomAt returns.
const epsilon = 1e-6

func newBucket(capacity float64, window time.Duration, now time.Time) *bucket {
	return &bucket{capacity: capacity, rate: capacity / float64(max(1, window)), eff: 1, last: now}
}

func (b *bucket) drain(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.level = math.Max(0, b.level-b.rate*b.eff*float64(dt))
		b.last = now
	}
}

// limit is the effective capacity: tokens at the effective 100 %.
func (b *bucket) limit() float64 { return b.capacity * b.eff }

// setEff changes the effective share from now on.
func (b *bucket) setEff(now time.Time, eff float64) {
	b.drain(now)
	b.eff = eff
}

// levelAt returns the level at now.
func (b *bucket) levelAt(now time.Time) float64 {
	b.drain(now)
	return b.level
}

// add changes the level by n (negative to refund), never below 0.
func (b *bucket) add(now time.Time, n float64) {
	b.drain(now)
	b.level = math.Max(0, b.level+n)
}

// fits reports whether cost has room at now, leaving reserve free: whether
// the level plus reserve plus the admission charge of cost (admitCharge)
// stays within the limit.
func (b *bucket) fits(now time.Time, cost, reserve float64) bool {
	b.drain(now)
	limit := b.limit()
	return b.level+reserve+min(cost, admitSlack*limit) <= limit+epsilon
}

// roomAt returns the earliest time at or after now when cost has room,
// assuming nothing more is added.
func (b *bucket) roomAt(now time.Time, cost, reserve float64) time.Time {
	if b.fits(now, cost, reserve) {
		return now
	}
	target := max(0, b.limit()-reserve-min(cost, admitSlack*b.limit()))
	ns := math.Ceil((b.level - target) / (b.rate * b.eff))
	if ns > float64(math.MaxInt64/2) {
		ns = float64(math.MaxInt64 / 2)
	}
	return now.Add(time.Duration(ns))
}
