package sim

import "time"

// DeploymentLedger is one deployment's entry in GET /_sim/ledger.
type DeploymentLedger struct {
	Kind      string           `json:"kind"`
	Region    string           `json:"region"`
	Requests  int64            `json:"requests"`
	Responses map[string]int64 `json:"responses"`
	// ChargedTokens is the sum of the estimates charged on arrival.
	ChargedTokens int64 `json:"charged_tokens"`
	// Usage is the sum of the usage reported to clients.
	Usage Usage `json:"usage"`
	// NormalizedTokens is what that usage weighed against the deployment's
	// limit: on provisioned deployments (prompt − cached) + output_ratio ×
	// completion, Azure's normalized tokens; on standard ones prompt +
	// completion (cached tokens count against TPM).
	NormalizedTokens int64 `json:"normalized_tokens"`
	// Utilization is the provisioned bucket level as a fraction (1 = 100 %); 0 on standard.
	Utilization float64 `json:"utilization"`
	// RemainingTokens: standard, tokens left in the minute window; provisioned, tokens until 100 %.
	RemainingTokens int64 `json:"remaining_tokens"`
	// RemainingRequests: standard, requests left in the 10-second window; -1 on provisioned.
	RemainingRequests int64 `json:"remaining_requests"`
}

// Usage is a token usage total.
type Usage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	// CachedTokens is the part of PromptTokens served from the prompt cache.
	CachedTokens     int64 `json:"cached_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// Ledger is the body of GET /_sim/ledger.
type Ledger struct {
	Deployments map[string]DeploymentLedger `json:"deployments"`
}

func (d *deployment) snapshot(now time.Time) DeploymentLedger {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stateLocked(now)
	resp := make(map[string]int64, len(d.ledger.responses))
	for k, v := range d.ledger.responses {
		resp[k] = v
	}
	return DeploymentLedger{
		Kind:          d.cfg.Kind,
		Region:        d.cfg.Region,
		Requests:      d.ledger.requests,
		Responses:     resp,
		ChargedTokens: d.ledger.charged,
		Usage: Usage{
			PromptTokens:     d.ledger.promptTokens,
			CachedTokens:     d.ledger.cachedTokens,
			CompletionTokens: d.ledger.completionTokens,
			TotalTokens:      d.ledger.promptTokens + d.ledger.completionTokens,
		},
		NormalizedTokens:  d.ledger.normalizedTokens,
		Utilization:       st.utilization,
		RemainingTokens:   st.remainingTokens,
		RemainingRequests: st.remainingRequests,
	}
}

// ledgerCounts are one deployment's counters.
type ledgerCounts struct {
	requests         int64
	responses        map[string]int64
	charged          int64
	promptTokens     int64
	cachedTokens     int64
	completionTokens int64
	normalizedTokens int64
}

// countRequest records that a request reached the deployment.
func (d *deployment) countRequest() {
	d.mu.Lock()
	d.ledger.requests++
	d.mu.Unlock()
}

// record counts a response by status ("200", "429", "reset", ...).
func (d *deployment) record(status string) {
	d.mu.Lock()
	d.ledger.responses[status]++
	d.mu.Unlock()
}
