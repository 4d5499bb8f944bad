package sim

import "time"

// window is a sliding-window counter: it holds what was charged during the
// last `length`, kept in `bins` equal bins, so an amount leaves the window one
// window length after the bin it was charged in. Standard deployments use one
// for tokens (a minute) and one for requests (10 seconds).
//
// Admission follows Azure's documented rule: a request is admitted while the
// window's total is below the limit, and charged in full even if that takes the
// total past the limit; once the limit is reached every request gets a 429
// until enough of the window has slid away.
//
// window is not safe for concurrent use; its deployment's mutex guards it.
type window struct {
	limit  int64
	binDur time.Duration
	bins   []int64
	epoch  time.Time // bin 0 starts here
	head   int64     // absolute number of the newest bin seen
	total  int64
}

func newWindow(limit int64, length time.Duration, bins int, epoch time.Time) *window {
	if bins < 1 {
		bins = 1
	}
	binDur := length / time.Duration(bins)
	if binDur <= 0 {
		binDur = 1
	}
	return &window{limit: limit, binDur: binDur, bins: make([]int64, bins), epoch: epoch}
}

func (w *window) binOf(now time.Time) int64 {
	d := now.Sub(w.epoch)
	if d < 0 {
		return 0
	}
	return int64(d / w.binDur)
}

// advance drops the bins that have left the window at now.
func (w *window) advance(now time.Time) {
	n := w.binOf(now)
	if n <= w.head {
		return
	}
	size := int64(len(w.bins))
	if n-w.head >= size {
		clear(w.bins)
		w.total = 0
	} else {
		for i := w.head + 1; i <= n; i++ {
			j := i % size
			w.total -= w.bins[j]
			w.bins[j] = 0
		}
	}
	w.head = n
}

// used returns the total charged in the window at now.
func (w *window) used(now time.Time) int64 {
	w.advance(now)
	return w.total
}

// remaining returns what is left before the limit, never negative.
func (w *window) remaining(now time.Time) int64 {
	return max(0, w.limit-w.used(now))
}

// full reports whether the limit is reached at now, and if so how long until
// the total drops below it again.
func (w *window) full(now time.Time) (bool, time.Duration) {
	w.advance(now)
	if w.total < w.limit {
		return false, 0
	}
	need := w.total - w.limit + 1 // what must leave the window
	size := int64(len(w.bins))
	var freed int64
	for k := w.head - size + 1; k <= w.head; k++ {
		if k < 0 {
			continue
		}
		freed += w.bins[k%size]
		if freed >= need {
			leaves := w.epoch.Add(time.Duration(k+size) * w.binDur)
			return true, leaves.Sub(now)
		}
	}
	// Unreachable while total is the sum of the bins; be safe anyway.
	return true, time.Duration(size) * w.binDur
}

// charge adds n at now.
func (w *window) charge(now time.Time, n int64) {
	w.advance(now)
	w.bins[w.head%int64(len(w.bins))] += n
	w.total += n
}

// reset empties the window.
func (w *window) reset(now time.Time) {
	clear(w.bins)
	w.total = 0
	w.head = w.binOf(now)
}
