package capacity

import "time"

// window is a sliding-window counter, as Azure applies to a standard
// deployment's tokens (per minute) and requests (per 10 seconds). It holds what
// was charged during the last `length`, in equal bins: an amount leaves one
// window length after the start of the bin it was charged in.
//
// A request has room when the total plus the smaller of its cost and 1 % of
// the limit stays within the limit (admitSlack): Azure admits a request
// while the total is below the limit and charges it in full.
type window struct {
	limit int64 // as configured: what the backend's remaining counts are against
	// room is the effective limit, what fits and roomAt allow (see
	// effective.go); limit until the backend disagrees.
	room   int64
	binDur time.Duration
	bins   []int64
	epoch  time.Time // bin 0 starts here
	head   int64     // absolute number of the newest bin seen
	total  int64
	// headEnd is where bin head ends: until then advance has nothing to do
	// (a time comparison instead of a division on the hot path).
	headEnd time.Time
}

func newWindow(limit int64, length time.Duration, bins int, epoch time.Time) *window {
	binDur := max(1, length/time.Duration(bins))
	return &window{limit: limit, room: limit, binDur: binDur, bins: make([]int64, bins), epoch: epoch, headEnd: epoch.Add(binDur)}
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
	if now.Before(w.headEnd) {
		return
	}
	n := w.binOf(now)
	if n <= w.head {
		return
	}
	w.headEnd = w.epoch.Add(time.Duration(n+1) * w.binDur)
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

// used returns the total in the window at now.
func (w *window) used(now time.Time) int64 {
	w.advance(now)
	return w.total
}

// fitsInt reports whether cost has room in a window with used of limit
// taken: whether used plus its admission charge stays within the limit.
func fitsInt(used, cost, limit int64) bool {
	return used+min(cost, slackOf(limit)) <= limit
}

// slackOf is a window's admitSlack in whole units, at least 1.
func slackOf(limit int64) int64 { return max(1, limit/100) }

// fits reports whether cost has room at now.
func (w *window) fits(now time.Time, cost int64) bool {
	return fitsInt(w.used(now), cost, w.room)
}

// charge adds n at now and returns the bin it went into.
func (w *window) charge(now time.Time, n int64) int64 {
	w.advance(now)
	w.bins[w.head%int64(len(w.bins))] += n
	w.total += n
	return w.head
}

// uncharge takes back up to n charged into bin, if that bin is still in the window.
func (w *window) uncharge(now time.Time, bin, n int64) {
	w.advance(now)
	size := int64(len(w.bins))
	if bin > w.head || bin <= w.head-size {
		return
	}
	j := bin % size
	n = min(n, w.bins[j])
	w.bins[j] -= n
	w.total -= n
}

// correct moves the total by delta: an increase is charged now (usage the
// model did not see, assumed recent); a decrease is taken from the oldest bins
// first (charges the backend has already let go of).
func (w *window) correct(now time.Time, delta int64) {
	w.advance(now)
	if delta >= 0 {
		w.charge(now, delta)
		return
	}
	need := -delta
	size := int64(len(w.bins))
	for k := max(0, w.head-size+1); k <= w.head && need > 0; k++ {
		j := k % size
		n := min(need, w.bins[j])
		w.bins[j] -= n
		w.total -= n
		need -= n
	}
}

// roomAt returns the earliest time at or after now when cost has room,
// assuming nothing more is charged.
func (w *window) roomAt(now time.Time, cost, reserve int64) time.Time {
	w.advance(now)
	need := w.total + reserve + min(cost, slackOf(w.room)) - w.room
	if need <= 0 {
		return now
	}
	size := int64(len(w.bins))
	var freed int64
	for k := max(0, w.head-size+1); k <= w.head; k++ {
		freed += w.bins[k%size]
		if freed >= need {
			return w.epoch.Add(time.Duration(k+size) * w.binDur)
		}
	}
	return w.epoch.Add(time.Duration(w.head+size) * w.binDur) // unreachable while total is the sum of bins
}
