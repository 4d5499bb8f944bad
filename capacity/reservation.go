package capacity

import "time"

// Reservation is a request's cost held on the backend it was routed to, from
// Choose (or Wait) until Settle or Release. Its methods are safe for
// concurrent use; after Settle or Release the others are no-ops.
type Reservation struct {
	m *Model // immutable

	// Guarded by m.mu.
	name string
	b    *backend // nil if the backend is unknown
	cost int64
	done bool

	tokBin, reqBin int64 // tpm: where the charge went

	// What the model believed right after the charge, and the corrections
	// applied so far, for Observe.
	snapTokens, snapRequests int64
	snapLevel                float64
	snapCorrTokens           int64
	snapCorrRequests         int64
	snapCorrLevel            float64
}

// Backend returns the backend the reservation is currently charged to.
func (r *Reservation) Backend() string {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.name
}

// Move moves the charge to backend, when Envoy retried the request there. The
// charge is taken on backend even if the model thinks it has no room: the
// request is going there regardless.
func (r *Reservation) Move(backend string) {
	now := r.m.clock.Now()
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.done || backend == r.name {
		return
	}
	r.unchargeLocked(now)
	r.chargeLocked(now, backend, r.m.backends[backend], r.cost)
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
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	b := r.b
	if b == nil {
		return
	}
	b.inflight--
	b.reserved -= int(r.cost)
	if b.bucket == nil && r.m.q.n == 0 {
		return // a TPM window keeps its charge: nothing else to do (and no clock read)
	}
	now := r.m.clock.Now()
	if b.bucket != nil {
		b.bucket.add(now, float64(max(0, actualTokens))-float64(r.cost))
	}
	r.m.dispatchLocked(now)
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
	r.unchargeLocked(now)
	r.m.dispatchLocked(now)
}

func (r *Reservation) chargeLocked(now time.Time, name string, b *backend, cost int64) {
	r.name, r.b, r.cost = name, b, cost
	if b == nil {
		return
	}
	b.inflight++
	b.reserved += int(cost)
	if b.bucket != nil {
		b.bucket.add(now, float64(cost))
		r.snapLevel = b.bucket.level
		r.snapCorrLevel = b.corrLevel
		return
	}
	r.tokBin = b.tokens.charge(now, cost)
	r.reqBin = b.requests.charge(now, 1)
	r.snapTokens, r.snapRequests = b.tokens.total, b.requests.total
	r.snapCorrTokens, r.snapCorrRequests = b.corrTokens, b.corrRequests
}

func (r *Reservation) unchargeLocked(now time.Time) {
	b := r.b
	if b == nil {
		return
	}
	b.inflight--
	b.reserved -= int(r.cost)
	if b.bucket != nil {
		b.bucket.add(now, -float64(r.cost))
		return
	}
	b.tokens.uncharge(now, r.tokBin, r.cost)
	b.requests.uncharge(now, r.reqBin, 1)
}
