package chargeback

import (
	"sync"
	"time"
)

// Retention is how long buckets are kept: in Memory, and as the Redis
// keys' expiry.
const Retention = 400 * 24 * time.Hour

// Memory is a Store in this process, forgotten when it ends.
type Memory struct {
	mu    sync.Mutex
	hours map[int64]map[Key]Tokens
	last  int64 // the latest hour added, for pruning
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{hours: map[int64]map[Key]Tokens{}} }

// Add implements Store.
func (m *Memory) Add(hour time.Time, k Key, t Tokens) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := hour.Unix()
	b := m.hours[h]
	if b == nil {
		b = map[Key]Tokens{}
		m.hours[h] = b
	}
	b[k] = b[k].plus(t)
	if h > m.last {
		// A new hour: drop those past retention.
		m.last = h
		for old := range m.hours {
			if h-old > int64(Retention/time.Second) {
				delete(m.hours, old)
			}
		}
	}
	return nil
}

// Sum implements Store.
func (m *Memory) Sum(hours []time.Time) (map[Key]Tokens, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[Key]Tokens{}
	for _, h := range hours {
		for k, t := range m.hours[h.Unix()] {
			out[k] = out[k].plus(t)
		}
	}
	return out, nil
}
