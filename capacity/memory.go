package capacity

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// memStore keeps the state in this process: the store of a single replica,
// and every replica's fallback when the shared store fails. Its callers hold
// the Model's mutex.
type memStore struct {
	backends map[string]*backend
	pass     uint64 // Choose's pass number, to skip a candidate listed twice
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{backends: map[string]*backend{}} }

// memHeld is a reservation in a memStore.
type memHeld struct {
	name string
	b    *backend // nil if the backend is unknown
	cost int64    // charged on b
	ask  int64    // the request's cost and output (Ask), to charge another backend
	out  int64

	tokBin, reqBin int64 // tpm: where the charge went
	// fit is whether the backend had room for the charge: a 429 on an
	// attempt that had room is the backend disagreeing with the model.
	fit bool

	// What the model believed right after the charge, and the corrections
	// applied so far, for Observe.
	snapTokens, snapRequests int64
	snapLevel                float64
	snapCorrTokens           int64
	snapCorrRequests         int64
	snapCorrLevel            float64
}

func (h *memHeld) Backend() string { return h.name }

func (s *memStore) SetBackends(now time.Time, specs []BackendSpec) error {
	next := make(map[string]*backend, len(specs))
	for _, sp := range specs {
		if sp.Validate() != nil {
			continue
		}
		sp = sp.withDefaults()
		if _, dup := next[sp.Name]; dup {
			continue
		}
		if old, ok := s.backends[sp.Name]; ok && old.spec == sp {
			next[sp.Name] = old
			continue
		}
		next[sp.Name] = newBackend(sp, now)
	}
	s.backends = next
	return nil
}

// choice is one listed candidate, kept small and free of pointers: sorting moves it.
type choice struct {
	score float64
	prio  int32
	idx   int32 // in candidates
	tpm   bool
}

func (s *memStore) Choose(now time.Time, a Ask, cost int64) (Choice, error) {
	var buf [32]choice
	cs := buf[:0]
	var spares []int32
	s.pass++
	var first Skip
	out := int64(max(0, a.Output))
	for i, name := range a.Candidates {
		b := s.backends[name]
		if b == nil || b.pass == s.pass {
			if i == 0 {
				first = b.skip(now)
			}
			continue
		}
		b.pass = s.pass // listed twice: once is enough
		reserve := b.reserve(a.Headroom)
		if !b.available(now) || !b.fits(now, b.spec.Cost(cost, out), reserve) {
			if i == 0 {
				first = b.skip(now)
			}
			// A PTU whose headroom the request must leave is no spare
			// for it: it never overflows into that headroom.
			if b.available(now) && reserve == 0 {
				spares = append(spares, int32(i))
			}
			continue
		}
		h := max(0, b.headroom(now, b.spec.Cost(cost, out)))
		if b.spec.Tier == TierTPM {
			h *= float64(b.spec.Weight)
		}
		prio := int32(max(math.MinInt32, min(math.MaxInt32, b.spec.Priority)))
		cs = append(cs, choice{score: h, prio: prio, idx: int32(i), tpm: b.spec.Tier == TierTPM})
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
	if len(cs)+len(spares) == 0 {
		return Choice{FirstSkipped: first}, nil
	}
	order := make([]string, 0, len(cs)+len(spares))
	for _, c := range cs {
		order = append(order, a.Candidates[c.idx])
	}
	for _, i := range spares {
		order = append(order, a.Candidates[i])
	}
	c := Choice{Order: order, Fit: len(cs), FirstSkipped: first}
	if len(cs) > 0 || a.Overflow {
		h := &memHeld{ask: cost, out: out}
		s.charge(now, h, order[0])
		c.Held = h
	}
	return c, nil
}

// reserve is the PTU capacity a request with headroom h must leave free.
func (b *backend) reserve(h float64) int64 {
	if b.bucket == nil || h <= 0 {
		return 0
	}
	return int64(math.Floor(h * float64(b.spec.CapacityTPM)))
}

// skip says why b is not listed at now; b may be nil.
func (b *backend) skip(now time.Time) Skip {
	switch {
	case b == nil:
		return SkipUnknown
	case now.Before(b.healthUntil):
		return SkipUnhealthy
	case now.Before(b.cooldownUntil):
		return SkipThrottled
	}
	return SkipFull
}

func (s *memStore) Recovery(now time.Time, candidates []string, d, ahead Demand) (time.Time, bool, error) {
	var best time.Time
	inflight := false
	for _, name := range candidates {
		b := s.backends[name]
		if b == nil {
			continue
		}
		inflight = inflight || b.inflight > 0
		if t := b.recovery(now, b.spec.Cost(d.Cost, d.Output), b.spec.Cost(ahead.Cost, ahead.Output)); best.IsZero() || t.Before(best) {
			best = t
		}
	}
	return best, inflight, nil
}

func (s *memStore) Move(now time.Time, h Held, backend string) (Held, error) {
	mh := h.(*memHeld)
	if backend == mh.name {
		return mh, nil
	}
	s.uncharge(now, mh)
	s.charge(now, mh, backend)
	return mh, nil
}

// Settle corrects a PTU bucket from the estimate to the real cost in
// normalized tokens (BackendSpec.Normalized), as Azure does. A TPM window keeps the estimate charged on arrival: Azure's
// per-minute limit counts the arrival estimate and does not refund the
// difference, so the model must not either, or it would believe in room the
// backend will refuse.
func (s *memStore) Settle(now time.Time, h Held, u Usage) error {
	mh := h.(*memHeld)
	b := mh.b
	if b == nil {
		return nil
	}
	b.inflight--
	b.reserved -= int(mh.cost)
	used := b.spec.Normalized(u)
	if b.bucket != nil {
		b.bucket.add(now, float64(used)-float64(mh.cost))
	}
	if b.eff < 1 {
		b.setEff(now, gainEffective(b.eff, used, b.configured()))
	}
	return nil
}

func (s *memStore) Release(now time.Time, h Held) error {
	s.uncharge(now, h.(*memHeld))
	return nil
}

func (s *memStore) charge(now time.Time, h *memHeld, name string) {
	b := s.backends[name]
	h.name, h.b, h.cost = name, b, h.ask
	if b == nil {
		return
	}
	cost := b.spec.Cost(h.ask, h.out)
	h.cost = cost
	h.fit = b.available(now) && b.fits(now, cost, 0)
	b.inflight++
	b.reserved += int(cost)
	if b.bucket != nil {
		b.bucket.add(now, float64(cost))
		h.snapLevel = b.bucket.level
		h.snapCorrLevel = b.corrLevel
		return
	}
	h.tokBin = b.tokens.charge(now, cost)
	h.reqBin = b.requests.charge(now, 1)
	h.snapTokens, h.snapRequests = b.tokens.total, b.requests.total
	h.snapCorrTokens, h.snapCorrRequests = b.corrTokens, b.corrRequests
}

func (s *memStore) uncharge(now time.Time, h *memHeld) {
	b := h.b
	if b == nil {
		return
	}
	b.inflight--
	b.reserved -= int(h.cost)
	if b.bucket != nil {
		b.bucket.add(now, -float64(h.cost))
		return
	}
	b.tokens.uncharge(now, h.tokBin, h.cost)
	b.requests.uncharge(now, h.reqBin, 1)
}

func (s *memStore) Observe(now time.Time, name string, h Held, o Observation) error {
	b := s.backends[name]
	if b == nil {
		return nil
	}
	var snap *memHeld
	if mh, ok := h.(*memHeld); ok && mh.b == b {
		snap = mh // else the backend was reconfigured since the charge: the snapshot is of the old one
	}
	s.correct(now, b, snap, o)
	switch {
	case o.throttled():
		if o.Status == 429 && snap != nil && snap.fit && b.available(now) && !o.sawLevel(b.bucket != nil) {
			b.setEff(now, cutEffective(b.eff))
		}
		d := o.Cooldown
		if d < 0 {
			d = HealthCooldown(b.throttles, o.ThrottleBase, o.ThrottleMax)
			b.throttles++
		} else {
			b.throttles = 0
		}
		if b.bucket != nil && o.Status == 429 {
			// The deployment is at 100 % until it said to come back: so
			// the model's bucket, which then frees room only as it
			// drains, and the requests it holds go at that pace.
			full := b.bucket.limit() + b.bucket.rate*b.bucket.eff*float64(d)
			if delta := full - b.bucket.levelAt(now); delta > 0 {
				b.bucket.add(now, delta)
				b.corrLevel += delta
			}
		}
		if until := now.Add(d); until.After(b.cooldownUntil) {
			b.cooldownUntil = until
		}
	case o.healthFailure():
		d := HealthCooldown(b.failures, o.HealthBase, o.HealthMax)
		b.failures++
		if until := now.Add(d); until.After(b.healthUntil) {
			b.healthUntil = until
		}
	case o.Status >= 200 && o.Status <= 299:
		b.failures, b.throttles = 0, 0
	}
	return nil
}

// correct applies the rate-limit headers. Without the attempt's reservation
// the store cannot tell a stale header from its own error, so it only raises
// usage to what the header shows; with it, it corrects both ways: by the
// difference between the header and what was believed at the charge, less
// the corrections other attempts have made since, so one error seen by
// several responses is corrected once.
func (s *memStore) correct(now time.Time, b *backend, r *memHeld, o Observation) {
	if b.bucket != nil {
		if o.Utilization < 0 {
			return
		}
		seen := o.Utilization / 100 * b.bucket.capacity
		var delta float64
		if r != nil {
			delta = seen - r.snapLevel - (b.corrLevel - r.snapCorrLevel)
		} else {
			delta = max(0, seen-b.bucket.levelAt(now))
		}
		if delta != 0 {
			b.bucket.add(now, delta)
			b.corrLevel += delta
		}
		return
	}
	var snapT, snapCorrT, snapR, snapCorrR int64
	if r != nil {
		snapT, snapCorrT, snapR, snapCorrR = r.snapTokens, r.snapCorrTokens, r.snapRequests, r.snapCorrRequests
	}
	correctWindow(now, b.tokens, &b.corrTokens, o.RemainingTokens, r != nil, snapT, snapCorrT)
	correctWindow(now, b.requests, &b.corrRequests, o.RemainingRequests, r != nil, snapR, snapCorrR)
}

// correctWindow moves w to the remaining count a header showed (negative:
// none). With a snapshot (what w held right after the attempt's charge, and
// the corrections made by then) it corrects both ways, less what other
// attempts corrected since; without one it only raises w to the header.
// corr accumulates the corrections.
func correctWindow(now time.Time, w *window, corr *int64, remaining int64, snapshot bool, snapTotal, snapCorr int64) {
	if remaining < 0 {
		return
	}
	seen := w.limit - remaining
	var delta int64
	if snapshot {
		delta = seen - snapTotal - (*corr - snapCorr)
	} else {
		delta = max(0, seen-w.used(now))
	}
	if delta != 0 {
		w.correct(now, delta)
		*corr += delta
	}
}

func (s *memStore) States(now time.Time) ([]BackendState, error) {
	out := make([]BackendState, 0, len(s.backends))
	for name, b := range s.backends {
		st := BackendState{
			Name: name, Tier: b.spec.Tier,
			CooldownUntil: b.cooldownUntil, HealthUntil: b.healthUntil, Healthy: !now.Before(b.healthUntil),
			Reserved: b.reserved, InFlight: b.inflight, Effective: b.eff,
		}
		if b.bucket != nil {
			level := b.bucket.levelAt(now)
			st.Utilization = level / b.bucket.capacity
			st.RemainingTokens = int(max(0, math.Floor(b.bucket.limit()-level)))
			st.RemainingRequests = -1
		} else {
			used := b.tokens.used(now)
			st.Utilization = float64(used) / float64(b.tokens.limit)
			st.RemainingTokens = int(max(0, b.tokens.room-used))
			st.RemainingRequests = int(max(0, b.requests.room-b.requests.used(now)))
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b BackendState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
