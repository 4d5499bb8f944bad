package capacity

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Tier is a backend's billing and throttling kind.
type Tier string

const (
	// TierPTU is a provisioned deployment: a leaky bucket, tried first.
	TierPTU Tier = "ptu"
	// TierTPM is a standard (pay-as-you-go) deployment: token and request windows.
	TierTPM Tier = "tpm"
)

// Default windows, as Azure enforces them.
const (
	DefaultTokenWindow = time.Minute
	// The request window defaults to a sixth of the token window (10 s for a minute).
	requestWindowsPerTokenWindow = 6
	tokenBins                    = 60 // 1 s bins for a one-minute window
	requestBins                  = 10 // 1 s bins for a 10-second window
)

// BackendSpec is one backend's configured limits.
type BackendSpec struct {
	Name string
	Tier Tier
	// TPM and RPM are a standard deployment's tokens and requests per
	// TokenWindow. Requests are checked over RequestWindow, RPM/6 per 10 s
	// with the defaults, as Azure does. RPM 0 means Azure's ratio: 6 per 1,000 TPM.
	TPM, RPM int
	// CapacityTPM is a provisioned deployment's capacity: its bucket drains
	// CapacityTPM tokens per TokenWindow and utilization is level/CapacityTPM.
	// Tokens here are Azure's normalized tokens: an output token counts
	// OutputRatio input tokens, a cached prompt token nothing.
	CapacityTPM int
	// OutputRatio (ptu) is how many input tokens one output token weighs
	// (4 for gpt-4o, 8 for gpt-5); 0 means 1. Ignored on tpm backends,
	// whose limits count tokens as they are.
	OutputRatio float64
	// Priority orders backends within a tier: lower first. Weight (default 1)
	// scales headroom within a priority.
	Priority, Weight int
	// TokenWindow defaults to one minute; RequestWindow to TokenWindow/6.
	TokenWindow   time.Duration
	RequestWindow time.Duration
}

// withDefaults fills the zero fields.
func (s BackendSpec) withDefaults() BackendSpec {
	if s.TokenWindow <= 0 {
		s.TokenWindow = DefaultTokenWindow
	}
	if s.RequestWindow <= 0 {
		s.RequestWindow = s.TokenWindow / requestWindowsPerTokenWindow
	}
	if s.Weight <= 0 {
		s.Weight = 1
	}
	if s.Tier == TierTPM && s.RPM <= 0 {
		s.RPM = max(1, s.TPM*6/1000)
	}
	if s.Tier != TierPTU || s.OutputRatio <= 0 {
		s.OutputRatio = 1
	}
	return s
}

// Cost is what a request of cost tokens, output of them output, is charged
// on this backend (with defaults): cost on a tpm backend; on a ptu, with the
// output weighed by OutputRatio.
func (s BackendSpec) Cost(cost, output int64) int64 {
	if s.OutputRatio <= 1 || output <= 0 {
		return cost
	}
	return cost + int64(math.Ceil((s.OutputRatio-1)*float64(output)-1e-9))
}

// Normalized is what a completed request cost this backend (with
// defaults): on a ptu, uncached prompt tokens plus OutputRatio × output
// tokens, as Azure measures a provisioned deployment; on a tpm, the tokens.
func (s BackendSpec) Normalized(u Usage) int64 {
	prompt := int64(max(0, u.Prompt))
	out := int64(max(0, u.Output))
	if s.Tier != TierPTU {
		return prompt + out
	}
	return max(0, prompt-int64(max(0, u.Cached))) + int64(math.Ceil(s.OutputRatio*float64(out)-1e-9))
}

// Validate reports every problem with the spec, naming the field.
func (s BackendSpec) Validate() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("%s: %s", field, msg)) }
	if s.Name == "" {
		bad("name", "must not be empty")
	}
	switch s.Tier {
	case TierTPM:
		if s.TPM <= 0 {
			bad("tpm", "must be > 0")
		}
		if s.RPM < 0 {
			bad("rpm", "must be >= 0 (0: 6 per 1,000 TPM)")
		}
	case TierPTU:
		if s.CapacityTPM <= 0 {
			bad("capacity_tpm", "must be > 0")
		}
	default:
		bad("tier", fmt.Sprintf("%q must be ptu or tpm", s.Tier))
	}
	if s.Weight < 0 {
		bad("weight", "must be >= 0")
	}
	if s.OutputRatio < 0 || s.OutputRatio > 100 {
		bad("output_ratio", "must be between 0 (1) and 100")
	}
	if s.TokenWindow < 0 || s.RequestWindow < 0 {
		bad("token_window/request_window", "must be >= 0 (0: default)")
	}
	return errors.Join(errs...)
}

// WithDefaults returns the spec as the model uses it: zero fields filled.
func (s BackendSpec) WithDefaults() BackendSpec { return s.withDefaults() }

// Bins of the sliding windows: a shared store must use the same to keep the
// same rules.
const (
	TokenWindowBins   = tokenBins
	RequestWindowBins = requestBins
)

// RequestLimit is the request budget of one RequestWindow (with defaults).
func (s BackendSpec) RequestLimit() int64 { return s.requestLimit() }

// requestLimit is the request budget of one RequestWindow.
func (s BackendSpec) requestLimit() int64 {
	return max(1, int64(s.RPM)*int64(s.RequestWindow)/int64(s.TokenWindow))
}

// backend is one backend's live state, guarded by its Model's mutex.
type backend struct {
	spec     BackendSpec // with defaults
	tokens   *window     // tpm
	requests *window     // tpm
	bucket   *bucket     // ptu

	cooldownUntil time.Time // 429/424
	healthUntil   time.Time // 5xx, 408, resets
	failures      int       // consecutive health failures
	throttles     int       // consecutive 429/424s that did not say when to come back

	eff float64 // effective share of the configured capacity (effective.go)

	pass uint64 // the Model's Choose pass that last listed it

	reserved int // tokens of reservations not yet settled or released
	inflight int // reservations not yet settled or released

	// Cumulative corrections from rate-limit headers; a reservation remembers
	// them so that one error seen by several attempts is corrected once.
	corrTokens, corrRequests int64
	corrLevel                float64
}

func newBackend(s BackendSpec, now time.Time) *backend {
	b := &backend{spec: s, eff: 1}
	switch s.Tier {
	case TierTPM:
		b.tokens = newWindow(int64(s.TPM), s.TokenWindow, tokenBins, now)
		b.requests = newWindow(s.requestLimit(), s.RequestWindow, requestBins, now)
	case TierPTU:
		b.bucket = newBucket(float64(s.CapacityTPM), s.TokenWindow, now)
	}
	return b
}

// setEff sets the effective share of the configured capacity from now on.
func (b *backend) setEff(now time.Time, eff float64) {
	b.eff = eff
	if b.bucket != nil {
		b.bucket.setEff(now, eff)
		return
	}
	b.tokens.room = effectiveLimit(b.tokens.limit, eff)
	b.requests.room = effectiveLimit(b.requests.limit, eff)
}

// configured is the configured capacity in tokens per token window.
func (b *backend) configured() int64 {
	if b.bucket != nil {
		return int64(b.bucket.capacity)
	}
	return b.tokens.limit
}

// coolingUntil is when the backend leaves both cooldowns.
func (b *backend) coolingUntil() time.Time {
	if b.healthUntil.After(b.cooldownUntil) {
		return b.healthUntil
	}
	return b.cooldownUntil
}

// available reports whether the backend is out of cooldown at now.
func (b *backend) available(now time.Time) bool { return !now.Before(b.coolingUntil()) }

// fits reports whether the backend's windows or bucket can take cost now,
// leaving reserve free on a PTU (a lower priority's headroom).
func (b *backend) fits(now time.Time, cost, reserve int64) bool {
	if b.bucket != nil {
		return b.bucket.fits(now, float64(cost), float64(reserve))
	}
	return b.requests.fits(now, 1) && b.tokens.fits(now, cost)
}

// headroom is the share of the backend's capacity left after taking cost
// (the smaller of tokens and requests on a tpm backend).
func (b *backend) headroom(now time.Time, cost int64) float64 {
	if b.bucket != nil {
		return (b.bucket.limit() - b.bucket.levelAt(now) - float64(cost)) / b.bucket.capacity
	}
	t := float64(b.tokens.room-b.tokens.used(now)-cost) / float64(b.tokens.limit)
	r := float64(b.requests.room-b.requests.used(now)-1) / float64(b.requests.limit)
	return min(t, r)
}

// recovery is the earliest time at or after now when the backend is out of
// cooldown and can take cost after ahead (charged in full before it),
// assuming nothing else is charged.
func (b *backend) recovery(now time.Time, cost, ahead int64) time.Time {
	t := now
	if c := b.coolingUntil(); c.After(t) {
		t = c
	}
	var room time.Time
	if b.bucket != nil {
		room = b.bucket.roomAt(now, float64(cost), float64(ahead))
	} else {
		room = b.tokens.roomAt(now, cost, ahead)
		if r := b.requests.roomAt(now, 1, 0); r.After(room) {
			room = r
		}
	}
	if room.After(t) {
		t = room
	}
	return t
}
