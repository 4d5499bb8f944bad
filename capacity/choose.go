package capacity

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Plan is the outcome of Choose: the backends to try, in order, and the
// reservation taken on the first.
type Plan struct {
	// Order lists the backends with room, preferred first; the rest are for
	// Envoy's retries.
	Order []string
	// Reservation holds the request's cost on Order[0].
	Reservation *Reservation
}

// Choose returns the backends to try for a request of estimated cost tokens,
// in order, and reserves cost on the first. candidates are the model's backend
// names; unknown names are ignored.
//
// A backend in cooldown, or whose windows or bucket cannot take cost, is never
// listed. PTU backends come first (lowest Priority first, then most headroom);
// then TPM backends, lowest Priority first and, within a priority, highest
// Weight × headroom first, where headroom is the share of the backend's
// capacity (the smaller of tokens and requests) left after taking cost. Ties
// keep the candidates' order. It returns false, and reserves nothing, when no
// candidate has room.
//
// Choose does not see the requests Wait is holding: a gateway that queues
// should admit every request through Wait, which returns at once when
// nothing waits and a candidate has room.
func (m *Model) Choose(candidates []string, cost int) (Plan, bool) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.chooseLocked(now, candidates, int64(max(0, cost)))
}

// choice is one listed candidate, kept small and free of pointers: sorting moves it.
type choice struct {
	score float64
	prio  int32
	idx   int32 // in candidates
	tpm   bool
}

func (m *Model) chooseLocked(now time.Time, candidates []string, cost int64) (Plan, bool) {
	var buf [32]choice
	cs := buf[:0]
	m.pass++
	for i, name := range candidates {
		b := m.backends[name]
		if b == nil || b.pass == m.pass || !b.available(now) || !b.fits(now, cost) {
			continue
		}
		b.pass = m.pass // listed twice: once is enough
		h := max(0, b.headroom(now, cost))
		if b.spec.Tier == TierTPM {
			h *= float64(b.spec.Weight)
		}
		prio := int32(max(math.MinInt32, min(math.MaxInt32, b.spec.Priority)))
		cs = append(cs, choice{score: h, prio: prio, idx: int32(i), tpm: b.spec.Tier == TierTPM})
	}
	if len(cs) == 0 {
		return Plan{}, false
	}
	slices.SortStableFunc(cs, func(x, y choice) int {
		if x.tpm != y.tpm {
			if y.tpm {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(x.prio, y.prio); c != 0 {
			return c
		}
		return cmp.Compare(y.score, x.score)
	})
	order := make([]string, len(cs))
	for i, c := range cs {
		order[i] = candidates[c.idx]
	}
	r := &Reservation{m: m}
	r.chargeLocked(now, order[0], m.backends[order[0]], cost)
	return Plan{Order: order, Reservation: r}, true
}

// Recovery returns the earliest time at which one of candidates is out of
// cooldown and has room for cost, assuming nothing else is charged meanwhile
// (reservations released or settled below their estimate can make it
// earlier). It returns now if one has room already, and the zero Time if none
// of candidates is known.
func (m *Model) Recovery(candidates []string, cost int) time.Time {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recoveryLocked(now, candidates, int64(max(0, cost)))
}

func (m *Model) recoveryLocked(now time.Time, candidates []string, cost int64) time.Time {
	var best time.Time
	for _, name := range candidates {
		b := m.backends[name]
		if b == nil {
			continue
		}
		if t := b.recovery(now, cost); best.IsZero() || t.Before(best) {
			best = t
		}
	}
	return best
}
