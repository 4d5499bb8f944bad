package limits

import (
	"slices"
	"sync"
	"time"
)

// quotaGrace is how long a quota counter is kept after its period renews,
// so that a request charged in the period and ending after it is still
// corrected there (and reported by Use meanwhile).
const quotaGrace = time.Hour

// sweepEvery is how often (store time) Memory drops emptied counters.
const sweepEvery = time.Minute

// Memory is a Store in this process: one replica's counters, forgotten when
// the process ends.
type Memory struct {
	mu        sync.Mutex
	windows   map[string]*window
	quotas    map[string]*counter
	lastSweep time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{windows: map[string]*window{}, quotas: map[string]*counter{}}
}

// window is a sliding window: every charge with its time, oldest first.
type window struct {
	entries []entry
	used    int64
	length  time.Duration
}

type entry struct {
	at     time.Time
	id     string
	amount int64
}

// expire drops the charges made Window or longer ago.
func (w *window) expire(now time.Time) {
	n := 0
	for n < len(w.entries) && !w.entries[n].at.Add(w.length).After(now) {
		w.used -= w.entries[n].amount
		n++
	}
	w.entries = w.entries[n:]
}

// retryAt is the first moment the window has room for cost: when the
// oldest charges have left it, one by one, until what remains fits.
func (w *window) retryAt(cost, limit int64) time.Time {
	left := w.used
	for _, e := range w.entries {
		left -= e.amount
		if fits(left, cost, limit) {
			return e.at.Add(w.length)
		}
	}
	return time.Time{} // not reached: an empty window fits
}

type counter struct {
	used  int64
	until time.Time
}

func (m *Memory) window(now time.Time, c Check) *window {
	w := m.windows[c.Key]
	if w == nil {
		w = &window{length: c.Window}
		m.windows[c.Key] = w
	}
	w.length = c.Window
	w.expire(now)
	return w
}

func (m *Memory) quota(now time.Time, c Check) *counter {
	q := m.quotas[c.Key]
	if q == nil || now.After(q.until.Add(quotaGrace)) {
		q = &counter{until: c.Until}
		m.quotas[c.Key] = q
	}
	return q
}

func (m *Memory) used(now time.Time, c Check) int64 {
	if c.Window > 0 {
		return m.window(now, c).used
	}
	return m.quota(now, c).used
}

// Charge implements Store.
func (m *Memory) Charge(now time.Time, id string, checks []Check) (Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	v := Verdict{OK: true, Refused: -1, Used: make([]int64, len(checks))}
	for i, c := range checks {
		v.Used[i] = m.used(now, c)
		if v.OK && !fits(v.Used[i], c.Cost, c.Limit) {
			v.OK, v.Refused = false, i
			if c.Window > 0 {
				v.RetryAt = m.windows[c.Key].retryAt(c.Cost, c.Limit)
			} else {
				v.RetryAt = c.Until
			}
		}
	}
	if !v.OK {
		return v, nil
	}
	for i, c := range checks {
		if c.Window > 0 {
			w := m.windows[c.Key]
			e := entry{at: now, id: id, amount: c.Cost}
			// Charges are kept in time order (a clock that stepped back
			// puts this one before later ones).
			at, _ := slices.BinarySearchFunc(w.entries, now, func(e entry, t time.Time) int {
				if e.at.After(t) {
					return 1
				}
				return -1
			})
			w.entries = slices.Insert(w.entries, at, e)
			w.used += c.Cost
		} else {
			m.quotas[c.Key].used += c.Cost
		}
		v.Used[i] += c.Cost
	}
	return v, nil
}

// Correct implements Store.
func (m *Memory) Correct(now time.Time, id string, checks []Check, amounts []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range checks {
		if c.Window > 0 {
			w := m.windows[c.Key]
			if w == nil {
				continue
			}
			w.expire(now)
			// From the newest: a request ends soon after its charge.
			for j := len(w.entries) - 1; j >= 0; j-- {
				if e := &w.entries[j]; e.id == id {
					w.used += amounts[i] - e.amount
					e.amount = amounts[i]
					if e.amount == 0 {
						w.entries = slices.Delete(w.entries, j, j+1)
					}
					break
				}
			}
			continue
		}
		if q := m.quotas[c.Key]; q != nil && !now.After(q.until.Add(quotaGrace)) {
			q.used = max(q.used+amounts[i]-c.Cost, 0)
		}
	}
	return nil
}

// Use implements Store.
func (m *Memory) Use(now time.Time, checks []Check) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(checks))
	for i, c := range checks {
		out[i] = m.used(now, c)
	}
	return out, nil
}

// sweep drops empty windows and renewed quotas, once per sweepEvery.
func (m *Memory) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < sweepEvery {
		return
	}
	m.lastSweep = now
	for k, w := range m.windows {
		if w.expire(now); len(w.entries) == 0 {
			delete(m.windows, k)
		}
	}
	for k, q := range m.quotas {
		if now.After(q.until.Add(quotaGrace)) {
			delete(m.quotas, k)
		}
	}
}
