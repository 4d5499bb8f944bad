package capacity

import (
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
	// MaxWait bounds how long Wait holds a request. Default 3 s.
	MaxWait time.Duration
}

// Defaults of Options.
const (
	DefaultMaxCooldown     = 60 * time.Second
	DefaultDefaultCooldown = time.Second
	DefaultHealthBase      = 500 * time.Millisecond
	DefaultHealthMax       = 30 * time.Second
	DefaultMaxWait         = 3 * time.Second
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

	mu       sync.Mutex
	backends map[string]*backend
	q        queue
	pass     uint64 // Choose's pass number, to skip a candidate listed twice

	onEnqueue func() // tests: called (under mu) when a waiter is queued
}

// New returns an empty model; call SetBackends to give it backends.
func New(clock Clock, opts Options) *Model {
	return &Model{
		clock:    timerClock(clock),
		opts:     opts.withDefaults(),
		backends: map[string]*backend{},
		q:        newQueue(),
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
	next := make(map[string]*backend, len(specs))
	for _, s := range specs {
		if s.Validate() != nil {
			continue
		}
		s = s.withDefaults()
		if _, dup := next[s.Name]; dup {
			continue
		}
		if old, ok := m.backends[s.Name]; ok && old.spec == s {
			next[s.Name] = old
			continue
		}
		next[s.Name] = newBackend(s, now)
	}
	m.backends = next
	m.dispatchLocked(now)
}
