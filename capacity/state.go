package capacity

import (
	"math"
	"slices"
	"strings"
	"time"
)

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
	// released; InFlight is their number.
	Reserved int `json:"reserved"`
	InFlight int `json:"in_flight"`
}

// States returns every backend's state, sorted by name.
func (m *Model) States() []BackendState {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]BackendState, 0, len(m.backends))
	for name, b := range m.backends {
		s := BackendState{
			Name: name, Tier: b.spec.Tier,
			CooldownUntil: b.cooldownUntil, HealthUntil: b.healthUntil, Healthy: !now.Before(b.healthUntil),
			Reserved: b.reserved, InFlight: b.inflight,
		}
		if b.bucket != nil {
			level := b.bucket.levelAt(now)
			s.Utilization = level / b.bucket.capacity
			s.RemainingTokens = int(max(0, math.Floor(b.bucket.capacity-level)))
			s.RemainingRequests = -1
		} else {
			used := b.tokens.used(now)
			s.Utilization = float64(used) / float64(b.tokens.limit)
			s.RemainingTokens = int(max(0, b.tokens.limit-used))
			s.RemainingRequests = int(max(0, b.requests.limit-b.requests.used(now)))
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b BackendState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
