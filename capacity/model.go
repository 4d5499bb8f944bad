package capacity

import (
	"slices"
	"sync"
	"time"
)

// Options tunes a Model. Zero fields take the defaults.
type Options struct {
	// MaxCooldown clamps every throttling cooldown (Azure can ask for 86400 s). Default 60 s.
	MaxCooldown time.Duration
	// DefaultCooldown is the cooldown after a 429/424 that says nothing about when to retry. Default 1 s.
	DefaultCooldown time.Duration
	// HealthBase and HealthMax bound the health cooldown after 5xx, 408 and
	// failures without a status: HealthBase, doubling per consecutive
	// failure, up to HealthMax. Defaults 500 ms and 30 s.
	HealthBase, HealthMax time.Duration
	// MaxWait bounds how long Wait holds a request. Default 1 s.
	MaxWait time.Duration
}

// Defaults of Options.
const (
	DefaultMaxCooldown     = 60 * time.Second
	DefaultDefaultCooldown = time.Second
	DefaultHealthBase      = 500 * time.Millisecond
	DefaultHealthMax       = 30 * time.Second
	DefaultMaxWait         = time.Second
)

func (o Options) withDefaults() Options {
	if o.MaxCooldown <= 0 {
		o.MaxCooldown = DefaultMaxCooldown
	}
	if o.DefaultCooldown <= 0 {
		o.DefaultCooldown = DefaultDefaultCooldown
	}
	if o.HealthBase <= 0 {
		o.HealthBase = DefaultHealthBase
	}
	if o.HealthMax <= 0 {
		o.HealthMax = DefaultHealthMax
	}
	o.HealthMax = max(o.HealthMax, o.HealthBase)
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	return o
}

// Model is the live capacity model of a set of backends. All methods are safe
// for concurrent use.
type Model struct {
	clock TimerClock
	opts  Options

	mu    sync.Mutex
	local *memStore // this process's state; the fallback of a shared store
	share sharing   // the shared store, if any
	q     queue
	specs []BackendSpec // as last set, for the local store's share

	onEnqueue func() // tests: called (under mu) when a waiter is queued
}

// New returns an empty model keeping its state in this process; call
// SetBackends to give it backends, and Share to keep the state in a store
// several replicas share.
func New(clock Clock, opts Options) *Model {
	return &Model{
		clock: timerClock(clock),
		opts:  opts.withDefaults(),
		local: newMemStore(),
		q:     newQueue(),
	}
}

// SetBackends replaces the backend set, as on a config reload. A backend whose
// name and spec are unchanged keeps its state (windows, bucket, cooldowns,
// reservations); a changed one starts afresh; removed ones are dropped
// (outstanding reservations on them become no-ops). Specs that fail Validate,
// and repeated names after the first, are ignored: validate config before.
func (m *Model) SetBackends(specs []BackendSpec) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.specs = slices.Clone(specs)
	m.local.SetBackends(now, m.localSpecs())
	if st := m.sharedLocked(); st != nil {
		if err := st.SetBackends(now, specs); err != nil {
			m.failLocked(err)
		}
	}
	m.dispatchLocked(now)
}

// Plan is the outcome of Choose: the backends to try, in order, and the
// reservation taken on the first.
type Plan struct {
	// Order lists the Fit backends with room, preferred first, then the
	// spares: backends out of cooldown the model believes full, which
	// Azure may still admit (it admits while below its limit). All but the
	// first are for Envoy's retries.
	Order []string
	// Fit is how many of Order have room; 0 when the request overflowed
	// (see Admit).
	Fit int
	// Reservation holds the request's cost on Order[0].
	Reservation *Reservation
	// FirstSkipped says why the first candidate (the preferred backend,
	// the PTU) is not listed, when it is not: it was unhealthy, throttled,
	// or had no room. Metrics report it as the request's spill reason.
	FirstSkipped Skip
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
	return m.chooseLocked(now, Ask{Candidates: candidates, Cost: cost})
}

// ChooseFor is Choose for a whole Ask: its output share is weighed by each
// PTU's output ratio, and a shared store names the reservation by its ID.
func (m *Model) ChooseFor(a Ask) (Plan, bool) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.chooseLocked(now, a)
}

func (m *Model) chooseLocked(now time.Time, a Ask) (Plan, bool) {
	cost := int64(max(0, a.Cost))
	st := m.storeLocked()
	c, err := st.Choose(now, a, cost)
	if err != nil {
		m.failLocked(err)
		st = m.local
		c, _ = st.Choose(now, a, cost)
	}
	if c.Held == nil {
		return Plan{FirstSkipped: c.FirstSkipped}, false
	}
	return Plan{Order: c.Order, Fit: c.Fit, FirstSkipped: c.FirstSkipped, Reservation: &Reservation{m: m, st: st, h: c.Held, cost: cost}}, true
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
	t, _ := m.recoveryLocked(now, candidates, Demand{Cost: int64(max(0, cost))}, Demand{})
	return t
}

func (m *Model) recoveryLocked(now time.Time, candidates []string, d, ahead Demand) (time.Time, bool) {
	st := m.storeLocked()
	t, inflight, err := st.Recovery(now, candidates, d, ahead)
	if err != nil {
		m.failLocked(err)
		t, inflight, _ = m.local.Recovery(now, candidates, d, ahead)
	}
	return t, inflight
}

// BackendState is one backend as the model sees it, for metrics.
type BackendState struct {
	Name string `json:"name"`
	Tier Tier   `json:"tier"`
	// Utilization is the PTU bucket level / capacity (1 = 100 %; can exceed 1);
	// on a TPM backend, the share of the token window used.
	Utilization float64 `json:"utilization"`
	// RemainingTokens: TPM, tokens left in the window; PTU, tokens until 100 %.
	RemainingTokens int `json:"remaining_tokens"`
	// RemainingRequests: TPM, requests left in the request window; PTU, -1.
	RemainingRequests int `json:"remaining_requests"`
	// CooldownUntil is the end of the throttling (429/424) cooldown.
	CooldownUntil time.Time `json:"cooldown_until"`
	// HealthUntil is the end of the health cooldown; Healthy is whether it has passed.
	HealthUntil time.Time `json:"health_until"`
	Healthy     bool      `json:"healthy"`
	// Reserved is the tokens of requests routed and not yet settled or
	// released; InFlight is their number (in every replica, with a shared
	// store).
	Reserved int `json:"reserved"`
	InFlight int `json:"in_flight"`
	// Effective is the share of the configured capacity the model assumes
	// it can use (1 until a backend without load headers throttles
	// requests the model had room for; see effective.go). Remaining counts
	// are against it; Utilization is against the configured capacity.
	Effective float64 `json:"effective"`
}

// States returns every backend's state, sorted by name: from the shared
// store while it answers, else from this replica's own share.
func (m *Model) States() []BackendState {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.storeLocked()
	out, err := st.States(now)
	if err != nil {
		m.failLocked(err)
		out, _ = m.local.States(now)
	}
	return out
}
