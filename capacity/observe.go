package capacity

import (
	"strconv"
	"strings"
	"time"
)

// Response headers the model reads.
const (
	headerRemainingTokens   = "x-ratelimit-remaining-tokens"
	headerRemainingRequests = "x-ratelimit-remaining-requests"
	headerUtilization       = "azure-openai-deployment-utilization"
)

// Observe updates the model from one attempt's response; call it for every
// attempt, not only the last. header looks a header up case-insensitively
// (http.Header.Get) and may be nil; body may be nil (it is read only for the
// retry message of a 429/424).
//
//   - x-ratelimit-remaining-tokens / -requests (tpm) and
//     azure-openai-deployment-utilization (ptu, "37.5%") correct the windows
//     or bucket. Without the attempt's reservation the model cannot tell a
//     stale header from its own error, so Observe only raises usage to what
//     the header shows; Reservation.Observe corrects both ways. Negative or
//     missing values are unknown and ignored.
//   - 429 and 424 put the backend in cooldown for ParseRetryAfter's duration
//     (Options.DefaultCooldown if none), clamped to Options.MaxCooldown. A
//     cooldown is only ever extended, never shortened.
//   - 408 and 5xx start or extend the health cooldown (see ObserveFailure);
//     a 2xx resets its exponent.
func (m *Model) Observe(backend string, status int, header func(string) string, body []byte) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.backends[backend]
	if b == nil {
		return
	}
	m.observeLocked(now, b, nil, status, header, body)
	m.dispatchLocked(now)
}

// Observe is Model.Observe for the attempt this reservation is charged to
// (call it before Move for the next attempt). Knowing what the model believed
// when the attempt was charged, it corrects the windows or bucket both ways:
// by the difference between the header and that belief, less the corrections
// other attempts have made since, so one error seen by several responses is
// corrected once.
func (r *Reservation) Observe(status int, header func(string) string, body []byte) {
	now := r.m.clock.Now()
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	m := r.m
	b := m.backends[r.name]
	if b == nil {
		return
	}
	snap := r
	if b != r.b {
		snap = nil // the backend was reconfigured since the charge: the snapshot is of the old one
	}
	m.observeLocked(now, b, snap, status, header, body)
	m.dispatchLocked(now)
}

// ObserveFailure records an attempt that failed without a status: connection
// reset or refused, timeout. It starts or extends the backend's health
// cooldown: Options.HealthBase, doubling with each consecutive failure up to
// Options.HealthMax.
func (m *Model) ObserveFailure(backend string) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.backends[backend]; b != nil {
		m.healthFailureLocked(now, b)
	}
}

func (m *Model) observeLocked(now time.Time, b *backend, r *Reservation, status int, header func(string) string, body []byte) {
	if header != nil {
		m.correctLocked(now, b, r, header)
	}
	switch {
	case status == 429 || status == 424:
		d, ok := ParseRetryAfter(now, header, body)
		if !ok {
			d = m.opts.DefaultCooldown
		}
		d = min(d, m.opts.MaxCooldown)
		if until := now.Add(d); until.After(b.cooldownUntil) {
			b.cooldownUntil = until
		}
	case status == 408 || status >= 500 && status <= 599:
		m.healthFailureLocked(now, b)
	case status >= 200 && status <= 299:
		b.failures = 0
	}
}

func (m *Model) healthFailureLocked(now time.Time, b *backend) {
	d := m.opts.HealthBase
	for i := 0; i < b.failures && d < m.opts.HealthMax; i++ {
		d *= 2
	}
	d = min(d, m.opts.HealthMax)
	b.failures++
	if until := now.Add(d); until.After(b.healthUntil) {
		b.healthUntil = until
	}
}

// correctLocked applies the rate-limit headers.
func (m *Model) correctLocked(now time.Time, b *backend, r *Reservation, header func(string) string) {
	if b.bucket != nil {
		pct, ok := parsePercent(header(headerUtilization))
		if !ok {
			return
		}
		seen := pct / 100 * b.bucket.capacity
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
	if rem, ok := parseRemaining(header(headerRemainingTokens)); ok {
		seen := b.tokens.limit - rem
		var delta int64
		if r != nil {
			delta = seen - r.snapTokens - (b.corrTokens - r.snapCorrTokens)
		} else {
			delta = max(0, seen-b.tokens.used(now))
		}
		if delta != 0 {
			b.tokens.correct(now, delta)
			b.corrTokens += delta
		}
	}
	if rem, ok := parseRemaining(header(headerRemainingRequests)); ok {
		seen := b.requests.limit - rem
		var delta int64
		if r != nil {
			delta = seen - r.snapRequests - (b.corrRequests - r.snapCorrRequests)
		} else {
			delta = max(0, seen-b.requests.used(now))
		}
		if delta != 0 {
			b.requests.correct(now, delta)
			b.corrRequests += delta
		}
	}
}

// parseRemaining reads a non-negative count; negative (Azure's -1) or
// malformed means unknown.
func parseRemaining(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parsePercent reads "37.5%" (or "37.5").
func parsePercent(s string) (float64, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f != f || f > 1e6 {
		return 0, false
	}
	return f, true
}
