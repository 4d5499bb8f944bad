package capacity

import (
	"context"
	"time"
)

// Sharing keeps a Model's state in a Store that several replicas share.
type Sharing struct {
	Store Store
	// Replicas is how many replicas share the store. While the store
	// fails, this replica serves from its own model with 1/Replicas of
	// every backend's capacity, so that together the replicas still stay
	// within the backends' limits.
	Replicas int
	// OnChange is told, from its own goroutine, when the shared store fails
	// (err != nil) and when it answers again (err == nil).
	OnChange func(err error)
	// ProbeInterval is how often a failed store is tried again. Default 1 s.
	ProbeInterval time.Duration
}

// sharing is the Model's view of its shared store. Guarded by Model.mu.
type sharing struct {
	Sharing
	failed  bool
	lastErr error
	since   time.Time
	// later runs, in order, the calls that need not delay a request: a
	// success's observation and a settlement (see Model.later).
	later chan func()
}

// laterQueue bounds the calls waiting for the shared store; past it they
// run in the caller's goroutine.
const laterQueue = 4096

// StoreStatus is what /healthz says about the state store.
type StoreStatus struct {
	// Shared is true when the model keeps its state in a shared store.
	Shared bool `json:"shared"`
	// Degraded is true while the shared store fails and this replica
	// serves from its own share; Since is when it started, Error why.
	Degraded bool      `json:"degraded"`
	Since    time.Time `json:"since,omitzero"`
	Error    string    `json:"error,omitempty"`
	Replicas int       `json:"replicas,omitempty"`
}

// Share makes the model keep its state in s.Store from now on. Call it once,
// before the model serves requests.
func (m *Model) Share(s Sharing) {
	if s.Replicas < 1 {
		s.Replicas = 1
	}
	if s.ProbeInterval <= 0 {
		s.ProbeInterval = time.Second
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.share = sharing{Sharing: s, later: make(chan func(), laterQueue)}
	go func(work <-chan func()) {
		for f := range work {
			f()
		}
	}(m.share.later)
	m.local.SetBackends(now, m.localSpecs())
	if err := s.Store.SetBackends(now, m.specs); err != nil {
		m.failLocked(err)
	}
}

// StoreStatus reports the state store's health.
func (m *Model) StoreStatus() StoreStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := StoreStatus{Shared: m.share.Store != nil, Degraded: m.share.failed, Replicas: m.share.Replicas}
	if m.share.failed {
		st.Since = m.share.since
		if m.share.lastErr != nil {
			st.Error = m.share.lastErr.Error()
		}
	}
	return st
}

// storeLocked is the store to use now: the shared one while it answers.
func (m *Model) storeLocked() Store {
	if st := m.sharedLocked(); st != nil {
		return st
	}
	return m.local
}

func (m *Model) sharedLocked() Store {
	if m.share.Store == nil || m.share.failed {
		return nil
	}
	return m.share.Store
}

// localSpecs are the specs of the local store: the whole of every backend
// alone, this replica's share of it when the state is shared.
func (m *Model) localSpecs() []BackendSpec {
	n := m.share.Replicas
	if m.share.Store == nil || n <= 1 {
		return m.specs
	}
	out := make([]BackendSpec, len(m.specs))
	for i, s := range m.specs {
		s.TPM = shareOf(s.TPM, n)
		s.RPM = shareOf(s.RPM, n)
		s.CapacityTPM = shareOf(s.CapacityTPM, n)
		out[i] = s
	}
	return out
}

func shareOf(v, n int) int {
	if v <= 0 {
		return v
	}
	return max(1, v/n)
}

// failLocked switches to the local store after the shared one failed, and
// probes the shared one until it answers again.
func (m *Model) failLocked(err error) {
	if m.share.Store == nil {
		return
	}
	m.share.lastErr = err
	if m.share.failed {
		return
	}
	m.share.failed = true
	m.share.since = m.clock.Now()
	if f := m.share.OnChange; f != nil {
		go f(err)
	}
	go m.probe(m.share.Store, m.share.ProbeInterval)
}

// prober is a Store that can say whether it answers, cheaply.
type prober interface {
	Ping(ctx context.Context) error
}

// probe tries the shared store after interval, and again until it answers;
// then the model gives it the backends again and rejoins it. What this
// replica charged while apart stays in its own share; the shared state goes
// on from what the other replicas charged meanwhile.
func (m *Model) probe(st Store, interval time.Duration) {
	m.clock.AfterFunc(interval, func() {
		var err error
		if p, ok := st.(prober); ok {
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err = p.Ping(ctx)
			cancel()
		}
		now := m.clock.Now()
		m.mu.Lock()
		if err == nil {
			err = st.SetBackends(now, m.specs)
		}
		if err != nil {
			m.share.lastErr = err
			m.mu.Unlock()
			m.probe(st, interval)
			return
		}
		m.share.failed = false
		m.share.lastErr = nil
		f := m.share.OnChange
		m.dispatchLocked(now)
		m.mu.Unlock()
		if f != nil {
			f(nil)
		}
	})
}

// later runs f after the caller has gone on, when the state is shared: a
// round trip to Redis on a request's path is paid only where the request
// needs the answer (its decision, a throttled or failed attempt's cooldown).
// With the memory store, or when the queue is full, f runs now.
func (m *Model) later(f func()) {
	m.mu.Lock()
	work := m.share.later
	m.mu.Unlock()
	if work != nil {
		select {
		case work <- f:
			return
		default:
		}
	}
	f()
}

// Sync returns when every call queued by later before it has run: tests,
// and anyone who must read what was just observed or settled.
func (m *Model) Sync() {
	done := make(chan struct{})
	m.later(func() { close(done) })
	<-done
}
