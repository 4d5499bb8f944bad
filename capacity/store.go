package capacity

import "time"

// Store holds the backends' live state: windows, buckets, cooldowns and
// reservations. The Model keeps its policy (options, the hold queue, parsing
// what backends said) and asks its Store for every state change, so that the
// state can live in this process (the memory store) or be shared by several
// replicas (a Redis store, package capacity/redisstore).
//
// A Model calls its Store with its own mutex held and the time read from its
// clock, so a Store sees one caller at a time per Model; a shared Store must
// make each call atomic against other replicas on its own. Errors are the
// Store's to report: the Model falls back to a local Store on any error.
type Store interface {
	// SetBackends replaces the backend set (see Model.SetBackends).
	SetBackends(now time.Time, specs []BackendSpec) error
	// Choose lists the candidates with room for cost, preferred first, and
	// charges cost to the first under the reservation id. A nil Order means
	// no candidate has room; nothing is charged then.
	Choose(now time.Time, a Ask, cost int64) (Choice, error)
	// Recovery is the earliest time one of candidates can take d after
	// ahead (requests held before it, charged in full) (zero if none is
	// known), and whether any has requests in flight.
	Recovery(now time.Time, candidates []string, d, ahead Demand) (at time.Time, inflight bool, err error)
	// Move moves h's charge to backend and returns the handle that now
	// holds it.
	Move(now time.Time, h Held, backend string) (Held, error)
	// Settle ends h with the request's real cost; Release ends it with no cost.
	Settle(now time.Time, h Held, u Usage) error
	Release(now time.Time, h Held) error
	// Observe applies one attempt's response on backend; h is the request's
	// reservation if it is charged to backend (its snapshot makes the
	// correction exact), else nil.
	Observe(now time.Time, backend string, h Held, o Observation) error
	// States reports every backend, sorted by name.
	States(now time.Time) ([]BackendState, error)
}

// Demand is tokens asked of a backend: a cost and the part of it that is
// output (which a PTU weighs by its output ratio).
type Demand struct{ Cost, Output int64 }

// Choice is a Store's answer to Choose.
type Choice struct {
	// Order lists first the Fit candidates with room, preferred first, then
	// the spares: candidates out of cooldown without room for the request,
	// in the candidates' order. Azure admits while a deployment is below its
	// limit, so a spare may still take the request; it is the last resort
	// of Envoy's retries.
	Order []string
	Fit   int
	// Held is the charge on Order[0]: taken when Fit > 0, or when the Ask
	// overflows and there is a spare; nil otherwise.
	Held Held
	// FirstSkipped says why the first candidate was not listed (see
	// Plan.FirstSkipped); empty when it was.
	FirstSkipped Skip
}

// Skip is why a candidate was not listed.
type Skip string

// Reasons a candidate was not listed.
const (
	SkipUnhealthy Skip = "unhealthy" // in a health cooldown (5xx, 408, reset, timeout)
	SkipThrottled Skip = "throttled" // in a 429/424 cooldown
	SkipFull      Skip = "capacity"  // no room for the request's cost
	SkipUnknown   Skip = "unknown"   // not a backend of the model's state
)

// Usage is what a request used, from the backend's usage report.
type Usage struct {
	Prompt, Cached, Output int
}

// Held is a Store's handle on one reservation.
type Held interface {
	// Backend is the backend the reservation is charged to.
	Backend() string
}

// Ask is one request asking for capacity.
type Ask struct {
	// Consumer orders the hold queue fairly (round-robin across consumers).
	Consumer string
	// Candidates are the backend names that may serve it.
	Candidates []string
	// Cost is the estimated tokens charged on arrival: the prompt and the
	// output it may produce (max_tokens).
	Cost int
	// Output is the part of Cost that is output. A PTU weighs an output
	// token as BackendSpec.OutputRatio input tokens, so its charge is
	// Cost + (OutputRatio - 1) × Output (see BackendSpec.Cost).
	Output int
	// ID names the reservation in a shared store, so that another replica
	// (the one serving an attempt) can move, observe or settle it. Empty: a
	// random one.
	ID string
	// Meta is kept with a shared reservation and returned to Attach (the
	// request's trace context).
	Meta string
	// Overflow charges the first spare when no candidate has room: the
	// request is sent anyway (see Model.Admit).
	Overflow bool
	// Headroom is the share of a PTU's capacity this request must leave
	// free for higher-priority traffic: a PTU has room for it only if it
	// fits Cost + ⌊Headroom × capacity_tpm⌋, and is never its spare (no
	// overflow into the headroom). 0: none. TPM backends ignore it.
	Headroom float64
	// Priority orders the hold queue: 0 (interactive) is served first,
	// then 1 (standard), then 2 (batch); see Model.Admit. Values outside
	// 0..2 are taken as the nearest.
	Priority int
}

// Priorities is how many Ask.Priority levels the hold queue tells apart.
const Priorities = 3

func (a Ask) priority() int { return max(0, min(Priorities-1, a.Priority)) }

// Observation is one attempt's response as the store applies it: the
// Model has already parsed the headers and decided the cooldowns.
type Observation struct {
	Status int // 0: failed without a status (reset, refused, timeout)
	// Cooldown is the throttling cooldown of a 429/424, already clamped;
	// negative when the backend did not say when to come back: the store
	// then takes ThrottleBase, doubling with each consecutive such 429 up
	// to ThrottleMax.
	Cooldown                  time.Duration
	ThrottleBase, ThrottleMax time.Duration
	// HealthBase and HealthMax bound a health failure's cooldown, which
	// doubles with the backend's consecutive failures.
	HealthBase, HealthMax time.Duration
	// RemainingTokens and RemainingRequests (tpm) are the
	// x-ratelimit-remaining-* headers, -1 when absent; Utilization (ptu) is
	// azure-openai-deployment-utilization in percent, -1 when absent.
	RemainingTokens, RemainingRequests int64
	Utilization                        float64
}

// throttled reports whether the observation starts a throttling cooldown.
func (o Observation) throttled() bool { return o.Status == 429 || o.Status == 424 }

// sawLevel reports whether the observation carries the backend's own count
// of its load: the utilization (ptu) or a remaining count (tpm).
func (o Observation) sawLevel(ptu bool) bool {
	if ptu {
		return o.Utilization >= 0
	}
	return o.RemainingTokens >= 0 || o.RemainingRequests >= 0
}

// healthFailure reports whether the observation starts a health cooldown.
func (o Observation) healthFailure() bool {
	return o.Status == 0 || o.Status == 408 || o.Status >= 500 && o.Status <= 599
}

// HealthCooldown is the health cooldown after a backend's n-th consecutive
// failure (n from 0): base doubling per failure, capped at max.
func HealthCooldown(n int, base, most time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}
