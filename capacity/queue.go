package capacity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNoCapacity is wrapped by the error Wait returns when no candidate had
// room within Options.MaxWait.
var ErrNoCapacity = errors.New("capacity: no backend has room")

// NoCapacityError is Wait's error when no candidate had room in time. RetryAt
// is the earliest time one of the candidates could take the request (the
// zero Time if none is known): the 429's retry-after.
type NoCapacityError struct {
	RetryAt time.Time
}

func (e *NoCapacityError) Error() string {
	if e.RetryAt.IsZero() {
		return ErrNoCapacity.Error()
	}
	return fmt.Sprintf("%v until %s", ErrNoCapacity, e.RetryAt.Format(time.RFC3339Nano))
}

// Unwrap returns ErrNoCapacity.
func (e *NoCapacityError) Unwrap() error { return ErrNoCapacity }

// Wait is Choose that holds the request until a candidate has room, ctx ends,
// or Options.MaxWait passes.
//
// Waiters are served by priority (Ask.Priority: lower first), and fairly
// within one: round-robin across consumers (a consumer served goes behind
// the others still waiting), first-in first-out within one consumer (a
// consumer's later request never overtakes its earlier one, while another
// consumer's request that fits can). A waiter that has waited half of
// MaxWait goes before every priority (the longest waiting first): that
// bounds how long higher priorities can starve it. A request arriving while
// others wait queues behind them. Waiters are retried when a reservation is settled,
// released or moved, when an observation corrects the model, on SetBackends,
// and at the earliest time the model predicts room (a cooldown ending, a
// window sliding, the bucket draining), using the clock's timers.
//
// If the predicted recovery is beyond MaxWait and no candidate has a request
// in flight that could free room early, Wait fails at once rather than hold a
// request it cannot serve. On failure the error is a *NoCapacityError (wrapping
// ErrNoCapacity); when ctx ends first it wraps ctx.Err().
func (m *Model) Wait(ctx context.Context, consumer string, candidates []string, cost int) (Plan, error) {
	return m.Admit(ctx, Ask{Consumer: consumer, Candidates: candidates, Cost: cost})
}

// Admit is Wait for an Ask that names its reservation (see Ask.ID).
func (m *Model) Admit(ctx context.Context, a Ask) (Plan, error) {
	if err := ctx.Err(); err != nil {
		return Plan{}, fmt.Errorf("capacity: wait: %w", err)
	}
	c := int64(max(0, a.Cost))
	now := m.clock.Now()
	m.mu.Lock()
	if m.q.n == 0 {
		if p, ok := m.chooseLocked(now, a); ok {
			m.mu.Unlock()
			return p, nil
		}
	}
	// Hold the request only if room for it and for every request held
	// before it is predicted within MaxWait, or, when none is held, a
	// request in flight may free room early (estimates count every
	// max_tokens; a PTU refunds the difference on settlement).
	out := int64(max(0, a.Output))
	aheadCost, aheadOut := m.q.ahead(a.priority())
	rec, inflight := m.recoveryLocked(now, a.Candidates, Demand{c, out}, Demand{aheadCost, aheadOut})
	if rec.IsZero() || rec.After(now.Add(m.opts.MaxWait)) && (m.q.n > 0 || !inflight) {
		// Waiting would not get it served in time: send it anyway to a
		// backend out of cooldown (Azure admits while below its limit,
		// and the model's estimate counts every max_tokens), or, when
		// every candidate is cooling down, answer at once with when the
		// first can take it.
		a.Overflow = true
		p, ok := m.chooseLocked(now, a)
		if !ok {
			rec = m.retryAtLocked(now, a)
		}
		m.mu.Unlock()
		if ok {
			return p, nil
		}
		return Plan{}, &NoCapacityError{RetryAt: rec}
	}
	a.Candidates = slices.Clone(a.Candidates)
	w := &waiter{consumer: a.Consumer, ask: a, cost: c, since: now, done: make(chan struct{})}
	m.q.push(w)
	w.deadline = m.clock.AfterFunc(m.opts.MaxWait, func() { m.expire(w) })
	m.dispatchLocked(now)
	if m.onEnqueue != nil && !w.finished {
		// After dispatchLocked: the recovery timer is armed before a
		// test moves the clock on.
		m.onEnqueue()
	}
	m.mu.Unlock()

	select {
	case <-w.done:
	case <-ctx.Done():
		m.mu.Lock()
		if !w.finished {
			w.finished = true
			m.q.remove(w)
			w.deadline.Stop()
			m.dispatchLocked(m.clock.Now()) // re-arm for the others
			m.mu.Unlock()
			return Plan{}, fmt.Errorf("capacity: wait: %w", ctx.Err())
		}
		m.mu.Unlock()
		<-w.done
		if w.err == nil {
			w.plan.Reservation.Release()
		}
		return Plan{}, fmt.Errorf("capacity: wait: %w", ctx.Err())
	}
	if w.err != nil {
		return Plan{}, w.err
	}
	return w.plan, nil
}

// RetryAt is when a request like a, refused now, can be retried with a
// fair chance: when one of its candidates has room for it and for the
// requests held before it (of its priority and above), assuming nothing
// else arrives. Zero if none of the candidates is known. It is the
// retry-after of a 429, spillway's own or a backend's passed on: a
// backend's retry time says when it dips below 100 %, which the requests
// already waiting take first.
func (m *Model) RetryAt(a Ask) time.Time {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retryAtLocked(now, a)
}

func (m *Model) retryAtLocked(now time.Time, a Ask) time.Time {
	cost, out := m.q.ahead(a.priority())
	t, _ := m.recoveryLocked(now, a.Candidates, Demand{int64(max(0, a.Cost)), int64(max(0, a.Output))}, Demand{cost, out})
	return t
}

// Waiting returns the number of requests Wait is holding.
func (m *Model) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q.n
}

// expire fails w at its deadline.
func (m *Model) expire(w *waiter) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.finished {
		return
	}
	m.q.remove(w)
	w.err = &NoCapacityError{RetryAt: m.retryAtLocked(now, w.ask)}
	w.finish()
	m.dispatchLocked(now)
}

// dispatchLocked serves every waiter that can be served now, in fair order,
// then arms the recovery timer for the earliest predicted room.
func (m *Model) dispatchLocked(now time.Time) {
	q := &m.q
	for q.n > 0 {
		progress := false
		kept, served := q.spare[:0], []*consumerQueue(nil)
		q.byPriority(now, m.opts.MaxWait/2)
		for _, cq := range q.ring {
			w := cq.ws[0]
			p, ok := m.chooseLocked(now, w.ask)
			if !ok {
				kept = append(kept, cq)
				continue
			}
			progress = true
			cq.ws[0] = nil
			cq.ws = cq.ws[1:]
			q.dropped(w)
			w.deadline.Stop()
			w.plan = p
			w.finish()
			if len(cq.ws) > 0 {
				served = append(served, cq)
			} else {
				delete(q.byName, cq.name)
			}
		}
		q.spare = q.ring[:0]
		q.ring = append(kept, served...)
		if !progress {
			break
		}
	}
	m.armLocked(now)
}

// armLocked sets the recovery timer to the earliest time a waiting head could
// be served, or stops it when nothing waits.
func (m *Model) armLocked(now time.Time) {
	q := &m.q
	var at time.Time
	for _, cq := range q.ring {
		w := cq.ws[0]
		if t, _ := m.recoveryLocked(now, w.ask.Candidates, Demand{w.cost, int64(max(0, w.ask.Output))}, Demand{}); !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if m.sharedLocked() != nil && q.n > 0 {
		// Other replicas free room this one does not hear of: look again
		// at least every sharedPoll while requests wait.
		if poll := now.Add(sharedPoll); at.IsZero() || poll.Before(at) {
			at = poll
		}
	}
	if !at.IsZero() && !at.After(now) {
		at = now.Add(time.Millisecond) // predicted room not there: rounding; retry shortly
	}
	if at.Equal(q.timerAt) && q.timer != nil {
		return
	}
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	q.timerAt = at
	q.gen++
	if at.IsZero() {
		return
	}
	gen := q.gen
	q.timer = m.clock.AfterFunc(at.Sub(now), func() {
		now := m.clock.Now()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.q.gen != gen {
			return
		}
		m.q.timer = nil
		m.q.timerAt = time.Time{}
		m.dispatchLocked(now)
	})
}

// sharedPoll is how often waiters look at a shared store for room that
// other replicas freed.
const sharedPoll = 50 * time.Millisecond

type waiter struct {
	consumer string
	ask      Ask
	cost     int64
	since    time.Time // when it was queued
	deadline Timer
	done     chan struct{} // closed when finished by serving or expiry
	finished bool
	plan     Plan
	err      error
}

func (w *waiter) finish() {
	w.finished = true
	close(w.done)
}

type consumerQueue struct {
	name string
	ws   []*waiter
}

// queue is Wait's waiters: a FIFO per consumer, consumers in round-robin order.
type queue struct {
	ring   []*consumerQueue // consumers with waiters, next to serve first
	spare  []*consumerQueue
	byName map[string]*consumerQueue
	n      int
	// cost and output are the waiters' total cost and output by
	// priority: a newcomer is served after those of its priority and above.
	cost, output [Priorities]int64

	timer   Timer // recovery timer
	timerAt time.Time
	gen     uint64
}

func newQueue() queue { return queue{byName: map[string]*consumerQueue{}} }

func (q *queue) push(w *waiter) {
	cq := q.byName[w.consumer]
	if cq == nil {
		cq = &consumerQueue{name: w.consumer}
		q.byName[w.consumer] = cq
		q.ring = append(q.ring, cq)
	}
	cq.ws = append(cq.ws, w)
	q.n++
	q.cost[w.ask.priority()] += w.cost
	q.output[w.ask.priority()] += int64(max(0, w.ask.Output))
}

// dropped counts w out of the queue's totals.
func (q *queue) dropped(w *waiter) {
	q.n--
	q.cost[w.ask.priority()] -= w.cost
	q.output[w.ask.priority()] -= int64(max(0, w.ask.Output))
}

// ahead is the cost and output of the waiters a newcomer of priority
// would be served after: those of its priority and above.
func (q *queue) ahead(priority int) (cost, output int64) {
	for p := 0; p <= priority; p++ {
		cost += q.cost[p]
		output += q.output[p]
	}
	return cost, output
}

// byPriority orders the ring by its heads' priority, keeping the
// round-robin order within a priority. A head that has waited starve or
// longer goes before every priority, the longest waiting first: lower
// priorities wait behind higher ones, but never longer than that.
func (q *queue) byPriority(now time.Time, starve time.Duration) {
	slices.SortStableFunc(q.ring, func(a, b *consumerQueue) int {
		wa, wb := a.ws[0], b.ws[0]
		sa, sb := now.Sub(wa.since) >= starve, now.Sub(wb.since) >= starve
		switch {
		case sa && sb:
			return wa.since.Compare(wb.since)
		case sa:
			return -1
		case sb:
			return 1
		}
		return wa.ask.priority() - wb.ask.priority()
	})
}

func (q *queue) remove(w *waiter) {
	cq := q.byName[w.consumer]
	if cq == nil {
		return
	}
	for i, x := range cq.ws {
		if x == w {
			cq.ws = append(cq.ws[:i], cq.ws[i+1:]...)
			q.dropped(w)
			break
		}
	}
	if len(cq.ws) == 0 {
		delete(q.byName, cq.name)
		for i, x := range q.ring {
			if x == cq {
				q.ring = append(q.ring[:i], q.ring[i+1:]...)
				break
			}
		}
	}
}
