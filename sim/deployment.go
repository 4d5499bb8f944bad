package sim

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// deployment is one deployment's live state. Its mutex guards the throttling
// state, the seeded source and the ledger counters; nothing else is shared
// between requests to different deployments.
type deployment struct {
	cfg       *Deployment
	modelJSON string        // cfg.Model, JSON-quoted once
	minute    time.Duration // one scaled minute
	limitReq  int64         // standard: requests per 10-second window

	// Constant header values, built once (header slices are never modified).
	regionHeader, nameHeader, limitReqHeader, limitTokHeader []string

	mu       sync.Mutex
	tokens   *window      // standard: tokens charged over the last minute
	requests *window      // standard: requests over the last 10 seconds
	bucket   *bucket      // provisioned
	cache    *promptCache // nil when prompt_cache.disabled
	rng      *rand.Rand
	ledger   ledgerCounts
	// throttles counts the 429s sent, for throttle_headers_missing.
	throttles int64

	// keys are the deployment's own keys (cfg.Keys): they open it alone.
	keys map[string]struct{}
	// responses are the Responses API responses stored on it.
	responses responseStore
}

// opens reports whether a request authorized with key may reach d: a
// deployment's own key (ownKey) opens that deployment alone; any other
// credential the server accepted opens every deployment.
func (d *deployment) opens(key string, ownKey bool) bool {
	if !ownKey {
		return true
	}
	_, ok := d.keys[key]
	return ok
}

// requestWindow is the standard deployments' request window, 10 seconds.
const requestWindow = 10 * time.Second

func newDeployment(cfg *Deployment, scale float64, seed uint64, now time.Time) *deployment {
	minute := scaled(time.Minute, scale)
	q, _ := json.Marshal(cfg.Model)
	d := &deployment{cfg: cfg, modelJSON: string(q), minute: minute,
		nameHeader: []string{cfg.Name}}
	if cfg.Region != "" {
		d.regionHeader = []string{cfg.Region}
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(cfg.Name))
	d.rng = rand.New(rand.NewPCG(seed, h.Sum64()))
	switch cfg.Kind {
	case KindStandard:
		d.limitReq = cfg.requestLimit10s()
		d.limitReqHeader = []string{itoa(d.limitReq)}
		d.limitTokHeader = []string{itoa(cfg.TPM)}
		d.tokens = newWindow(cfg.TPM, minute, 60, now)
		d.requests = newWindow(d.limitReq, scaled(requestWindow, scale), 10, now)
	case KindProvisioned:
		d.bucket = newBucket(cfg.CapacityTPM, minute, now)
	}
	if !cfg.PromptCache.Disabled {
		d.cache = newPromptCache(scaled(time.Duration(cfg.PromptCache.TTLSeconds*float64(time.Second)), scale))
	}
	d.ledger.responses = make(map[string]int64)
	if len(cfg.Keys) > 0 {
		d.keys = make(map[string]struct{}, len(cfg.Keys))
		for _, k := range cfg.Keys {
			d.keys[k] = struct{}{}
		}
	}
	return d
}

func scaled(d time.Duration, scale float64) time.Duration {
	return max(time.Microsecond, time.Duration(float64(d)*scale))
}

// rateState is a deployment's limits as shown in response headers.
type rateState struct {
	remainingTokens   int64
	remainingRequests int64
	utilization       float64
}

func (d *deployment) stateLocked(now time.Time) rateState {
	if d.bucket != nil {
		return rateState{remainingTokens: d.bucket.remaining(now), remainingRequests: -1, utilization: d.bucket.utilization(now)}
	}
	return rateState{remainingTokens: d.tokens.remaining(now), remainingRequests: d.requests.remaining(now)}
}

func (d *deployment) state(now time.Time) rateState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stateLocked(now)
}

// draws returns values from the seeded source: whether a probabilistic fault
// fires (and which), and one value for the response's text and length.
func (d *deployment) draws() (fault, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var f fault
	if fc := d.cfg.Faults; fc.Probability > 0 && d.rng.Float64() < fc.Probability {
		f, _ = parseFaultKind(fc.Kinds[d.rng.IntN(len(fc.Kinds))]) // validated at load
	}
	return f, d.rng.Uint64()
}

// admit charges cost on arrival unless the deployment is throttling. It returns
// the state after the charge, or the time until the limit frees up.
func (d *deployment) admit(now time.Time, cost int64) (rateState, bool, time.Duration, throttleReason) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bucket != nil {
		if full, after := d.bucket.full(now); full {
			return d.stateLocked(now), false, after, reasonTokens
		}
		d.bucket.add(now, cost)
	} else {
		if full, after := d.requests.full(now); full {
			return d.stateLocked(now), false, after, reasonRequests
		}
		if full, after := d.tokens.full(now); full {
			return d.stateLocked(now), false, after, reasonTokens
		}
		d.requests.charge(now, 1)
		d.tokens.charge(now, cost)
	}
	d.ledger.charged += cost
	return d.stateLocked(now), true, 0, 0
}

// arrivalCost is the estimate charged when a request of prompt tokens that
// may produce maxOutput tokens arrives: on provisioned deployments prompt +
// output_ratio × maxOutput (Azure's "prompt tokens and max_tokens", in
// normalized tokens; cached tokens are deducted only at settlement); on
// standard ones maxOutput, plus the prompt with estimate
// prompt_plus_max_tokens.
func (d *deployment) arrivalCost(prompt, maxOutput int64) int64 {
	switch {
	case d.bucket != nil:
		return prompt + d.weighOutput(maxOutput)
	case d.cfg.Estimate == EstimatePromptPlusMaxTokens:
		return prompt + maxOutput
	}
	return maxOutput
}

// cached returns the prompt tokens served from the deployment's prompt
// cache for a prompt with these prefix hashes (chatPrefixes), and caches
// its prefixes. Call it once the request is admitted: a throttled prompt is
// not processed, so it caches nothing.
func (d *deployment) cached(now time.Time, prefixes []uint64) int64 {
	if d.cache == nil || len(prefixes) == 0 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cache.use(now, prefixes)
}

// settle records the usage a response reported and, on provisioned
// deployments, corrects the arrival charge to the real cost in normalized
// tokens: (prompt − cached) + output_ratio × completion, as Azure deducts
// cached prompt tokens 100 % on provisioned deployments. Standard
// deployments keep their arrival charge: Azure discounts cached tokens in
// the bill, not in the rate limit.
func (d *deployment) settle(now time.Time, charged, prompt, cached, completion int64, reported bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	normalized := prompt + completion
	if d.bucket != nil {
		normalized = prompt - cached + d.weighOutput(completion)
		d.bucket.add(now, normalized-charged)
	}
	if reported {
		d.ledger.promptTokens += prompt
		d.ledger.cachedTokens += cached
		d.ledger.completionTokens += completion
		d.ledger.normalizedTokens += normalized
	}
}

// weighOutput is what n output tokens weigh in a provisioned deployment's
// bucket: Azure counts an output token as output_ratio input tokens.
func (d *deployment) weighOutput(n int64) int64 {
	if d.cfg.OutputRatio <= 1 {
		return n
	}
	return int64(math.Ceil(d.cfg.OutputRatio * float64(n)))
}

// bareThrottle reports whether the next 429 goes without a retry header:
// throttle_headers_missing of them, spread evenly (with 0.5, every second).
func (d *deployment) bareThrottle() bool {
	share := d.cfg.ThrottleHeadersMissing
	if share <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.throttles++
	n := float64(d.throttles)
	return math.Floor(n*share) > math.Floor((n-1)*share)
}

// reset clears counters and throttling state.
func (d *deployment) reset(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ledger = ledgerCounts{responses: make(map[string]int64)}
	d.throttles = 0
	if d.cache != nil {
		d.cache.reset()
	}
	if d.bucket != nil {
		d.bucket.reset(now)
	} else {
		d.tokens.reset(now)
		d.requests.reset(now)
	}
}

// utilizationHeader formats a utilization fraction as Azure does: "37.5%".
func utilizationHeader(u float64) string {
	return strconv.FormatFloat(u*100, 'f', 1, 64) + "%"
}
