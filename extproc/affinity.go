package extproc

import (
	"context"
	"sync"
	"time"
)

// ResponseStore remembers which backend stored each response of the
// Responses API, so that what continues, reads, cancels or deletes it goes
// to that backend alone (no other resource has it). The memory store serves
// one spillway; replicas share one through the state store.
type ResponseStore interface {
	// Get returns the backend that stored response id; found is false
	// when the id is unknown (never recorded, or expired).
	Get(ctx context.Context, id string) (backend string, found bool, err error)
	// Put records that backend stored response id, for ttl.
	Put(ctx context.Context, id, backend string, ttl time.Duration) error
}

// responseTTL is how long an id is remembered: Azure keeps stored
// responses for 30 days.
const responseTTL = 30 * 24 * time.Hour

// MemoryResponses is a ResponseStore in this process's memory, bounded:
// past max entries the oldest records are dropped first.
type MemoryResponses struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	m     map[string]responseRecord
	order []string // ids in insertion order, for eviction
	head  int      // order[head:] are live candidates
}

type responseRecord struct {
	backend string
	expires time.Time
}

var _ ResponseStore = (*MemoryResponses)(nil)

// NewMemoryResponses returns a store of at most max ids; now is the clock
// (time.Now when nil).
func NewMemoryResponses(max int, now func() time.Time) *MemoryResponses {
	if now == nil {
		now = time.Now
	}
	return &MemoryResponses{now: now, max: max, m: map[string]responseRecord{}}
}

// Get implements ResponseStore.
func (s *MemoryResponses) Get(_ context.Context, id string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok || !s.now().Before(r.expires) {
		return "", false, nil
	}
	return r.backend, true, nil
}

// Put implements ResponseStore.
func (s *MemoryResponses) Put(_ context.Context, id, backend string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		s.order = append(s.order, id)
	}
	s.m[id] = responseRecord{backend: backend, expires: s.now().Add(ttl)}
	for len(s.m) > s.max && s.head < len(s.order) {
		delete(s.m, s.order[s.head])
		s.order[s.head] = ""
		s.head++
	}
	if s.head > len(s.order)/2 && s.head > 1024 {
		s.order = append([]string(nil), s.order[s.head:]...)
		s.head = 0
	}
	return nil
}
