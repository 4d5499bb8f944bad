package capacity

import "time"

// Reservation is a request's cost held on the backend it was routed to, from
// Choose (or Wait) until Settle or Release. Its methods are safe for
// concurrent use; after Settle or Release the others are no-ops.
type Reservation struct {
	m *Model // immutable

	// Guarded by m.mu.
	st   Store // the store holding it: shared, or the local fallback
	h    Held
	cost int64
	done bool
}

// Backend returns the backend the reservation is currently charged to.
func (r *Reservation) Backend() string {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.h == nil {
		return ""
	}
	return r.h.Backend()
}

// ID is the reservation's id in a shared store: the Ask's ID, or another
// when a request of another replica used that one. Empty in the memory store.
func (r *Reservation) ID() string {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if h, ok := r.h.(interface{ ID() string }); ok {
		return h.ID()
	}
	return ""
}

// Move moves the charge to backend, when Envoy retried the request there. The
// charge is taken on backend even if the model thinks it has no room: the
// request is going there regardless.
func (r *Reservation) Move(backend string) {
	now := r.m.clock.Now()
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.done || r.h == nil || backend == r.h.Backend() {
		return
	}
	h, err := r.st.Move(now, r.h, backend)
	if err != nil {
		r.m.failLocked(err)
		return
	}
	r.h = h
	r.m.dispatchLocked(now)
}

// Settle records that the request completed having used actualTokens.
//
// On a PTU the bucket is corrected from the estimate to actualTokens, as Azure
// does. On a TPM backend the token window keeps the estimate charged on
// arrival: Azure's per-minute limit counts the arrival estimate and does not
// refund the difference, so the model must not either, or it would believe in
// room the backend will refuse.
func (r *Reservation) Settle(actualTokens int) {
	r.SettleUsage(Usage{Prompt: actualTokens})
}

// SettleUsage is Settle with the usage the backend reported: a PTU is
// corrected to its normalized cost (uncached prompt + OutputRatio × output).
func (r *Reservation) SettleUsage(u Usage) {
	now := r.m.clock.Now()
	r.m.later(func() { r.settle(now, u) })
}

func (r *Reservation) settle(now time.Time, u Usage) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	if r.h == nil {
		return
	}
	if err := r.st.Settle(now, r.h, u); err != nil {
		r.m.failLocked(err)
		return
	}
	if r.m.q.n > 0 {
		r.m.dispatchLocked(now)
	}
}

// Release takes the charge back: the attempt failed before the backend
// charged it (connect failure, request never sent).
func (r *Reservation) Release() {
	now := r.m.clock.Now()
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	if r.h == nil {
		return
	}
	if err := r.st.Release(now, r.h); err != nil {
		r.m.failLocked(err)
		return
	}
	r.m.dispatchLocked(now)
}

// Attach returns the reservation another replica took for request id (Ask.ID)
// among candidates, moved to backend where this replica's attempt goes, and
// the meta stored with it. It reports false when the state is not shared,
// the store fails, or no such reservation exists (reactive routing, or it
// ended).
func (m *Model) Attach(id string, backend string) (*Reservation, string, bool) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.sharedLocked()
	a, ok := st.(attacher)
	if !ok || id == "" {
		return nil, "", false
	}
	h, meta, err := a.Attach(now, id, backend)
	if err != nil {
		m.failLocked(err)
		return nil, "", false
	}
	if h == nil {
		return nil, "", false
	}
	m.dispatchLocked(now)
	return &Reservation{m: m, st: st, h: h}, meta, true
}

// attacher is a shared store whose reservations any replica can find by id.
type attacher interface {
	Attach(now time.Time, id, backend string) (Held, string, error)
}
