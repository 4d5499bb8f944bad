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
//   - 429 and 424 put the backend in cooldown for ParseRetryAfter's duration,
//     clamped to Options.MaxCooldown. When the backend does not say,
//     Options.DefaultCooldown, doubling with each consecutive such 429 up
//     to MaxCooldown. A cooldown is only ever extended, never shortened.
//   - A 429 on a PTU fills its bucket to 100 % plus what drains until the
//     cooldown ends, so that room comes back at the rate the deployment
//     frees it.
//   - A 429 on an attempt the model had room for, without a header giving
//     the backend's load, lowers the backend's effective capacity (see
//     effective.go); settled requests raise it back.
//   - 408 and 5xx start or extend the health cooldown (see ObserveFailure);
//     a 2xx resets its exponent.
func (m *Model) Observe(backend string, status int, header func(string) string, body []byte) {
	now := m.clock.Now()
	o := m.observation(now, status, header, body)
	if status/100 == 2 {
		m.later(func() { m.observe(now, backend, o) })
		return
	}
	m.observe(now, backend, o)
}

func (m *Model) observe(now time.Time, backend string, o Observation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.storeLocked().Observe(now, backend, nil, o); err != nil {
		m.failLocked(err)
		_ = m.local.Observe(now, backend, nil, o)
	}
	m.dispatchLocked(now)
}

// Observe is Model.Observe for the attempt this reservation is charged to
// (call it before Move for the next attempt). Knowing what the model believed
// when the attempt was charged, it corrects the windows or bucket both ways:
// by the difference between the header and that belief, less the corrections
// other attempts have made since, so one error seen by several responses is
// corrected once.
func (r *Reservation) Observe(status int, header func(string) string, body []byte) {
	m := r.m
	now := m.clock.Now()
	o := m.observation(now, status, header, body)
	if status/100 == 2 {
		m.later(func() { r.observe(now, o) })
		return
	}
	r.observe(now, o)
}

func (r *Reservation) observe(now time.Time, o Observation) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.h == nil {
		return
	}
	if err := r.st.Observe(now, r.h.Backend(), r.h, o); err != nil {
		m.failLocked(err)
		_ = m.local.Observe(now, r.h.Backend(), nil, o)
	}
	m.dispatchLocked(now)
}

// ObserveFailure records an attempt that failed without a status: connection
// reset or refused, timeout. It starts or extends the backend's health
// cooldown: Options.HealthBase, doubling with each consecutive failure up to
// Options.HealthMax.
func (m *Model) ObserveFailure(backend string) {
	m.Observe(backend, 0, nil, nil)
}

// observation parses what a backend said into what the store applies.
func (m *Model) observation(now time.Time, status int, header func(string) string, body []byte) Observation {
	m.mu.Lock()
	opts := m.opts
	m.mu.Unlock()
	o := Observation{Status: status, HealthBase: opts.HealthBase, HealthMax: opts.HealthMax,
		RemainingTokens: -1, RemainingRequests: -1, Utilization: -1}
	if header != nil {
		if v, ok := parseRemaining(header(headerRemainingTokens)); ok {
			o.RemainingTokens = v
		}
		if v, ok := parseRemaining(header(headerRemainingRequests)); ok {
			o.RemainingRequests = v
		}
		if v, ok := parsePercent(header(headerUtilization)); ok {
			o.Utilization = v
		}
	}
	if status == 429 || status == 424 {
		o.Cooldown, o.ThrottleBase, o.ThrottleMax = -1, opts.DefaultCooldown, opts.MaxCooldown
		if d, ok := ParseRetryAfter(now, header, body); ok {
			o.Cooldown = min(d, opts.MaxCooldown)
		}
	}
	return o
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
