//go:build scenario

package scenario

import (
	"time"

	"github.com/spillway-gw/spillway/loadgen"
)

// neighbourShare is the neighbour's part of one deployment's ledger in a
// step's window.
type neighbourShare struct {
	requests, throttled int64
	tokens              float64 // normalized as the PTU counts them
}

// neighbourLoads are the neighbour's steady loads straight to the
// simulator, bypassing the gateway (profile neighbour): neighbourPTU of the
// PTU's capacity in normalized tokens, and neighbourTPM of
// gpt-4o-eastus2's TPM in what it charges (prompt + max_tokens). Fixed
// arrivals, no streaming, never retried.
func neighbourLoads(su setup, m meanTokens, simURL string, d time.Duration, seed uint64) []loadgen.Config {
	var out []loadgen.Config
	add := func(dep string, share, limit, perRequest float64, seed uint64) {
		if share <= 0 {
			return
		}
		out = append(out, loadgen.Config{URL: simURL, Key: "sim-key-1", Model: dep,
			Rate: share * limit / su.minute() / perRequest, Duration: d, Arrivals: loadgen.Fixed,
			Mix: []loadgen.Size{neighbourSize}, Seed: seed, MaxInFlight: 512, RequestTimeout: 60 * time.Second})
	}
	completion := expectedMin(su.completionMin, su.completionMax, neighbourSize.MaxTokens)
	add(deploymentPTU, su.neighbourPTU, float64(su.ptuTPM), m.neighbourPrompt+su.ratio*completion, seed+7)
	add(deploymentEast2, su.neighbourTPM, float64(su.tpmTPM), m.neighbourPrompt+float64(neighbourSize.MaxTokens), seed+8)
	return out
}

// capacityTokens is what the gateway's three deployments can serve of the
// mix over minutes scaled minutes, in normalized tokens: the PTU's capacity
// less what the neighbour used, plus each TPM deployment's requests (by its
// tokens less the neighbour's share, at prompt + max_tokens a request, or
// by its request limit if lower) times a request's normalized tokens.
func capacityTokens(su setup, m meanTokens, minutes, neighbourPTU float64) float64 {
	total := float64(su.ptuTPM)*minutes - neighbourPTU
	charge, perRequest := m.weighted(m.charge), m.perRequest()
	for _, share := range []float64{su.neighbourTPM, 0} { // eastus2 (the neighbour's), westus3
		byTokens := float64(su.tpmTPM) * minutes * (1 - share) / charge
		byRequests := float64(su.tpmTPM) * 6 / 1000 * minutes
		total += min(byTokens, byRequests) * perRequest
	}
	return total
}

// check is one goal: its value, the goal, and whether it is met.
type check struct {
	Value any    `json:"value"`
	Goal  string `json:"goal"`
	Met   bool   `json:"met"`
}

// goals are the lines that judge a run (docs/scenario.md): capacity mode at
// 1.5× against the profile goals of issue 13 and against reactive mode on
// the four scenario goals, and at 2× and 3× the degradation goals (goodput,
// client 429s, p99 added latency, retry after retry-after).
func goals(profile string, results map[string]map[float64]Result) []map[string]any {
	c, r := results["capacity"], results["reactive"]
	var out []map[string]any
	if x, ok := c[1.5]; ok {
		checks := map[string]check{
			"client_429":              {x.Client429, "0 while total capacity suffices", !x.CapacitySuffices || x.Client429 == 0},
			"ptu_utilization_of_left": {x.PTUUtilizationLeft, ">= 0.95 of what the neighbour leaves", x.PTUUtilizationLeft >= 0.95},
			"upstream_429_pct":        {x.Upstream429Pct, "<= 3", x.Upstream429Pct <= 3},
		}
		if y, ok := r[1.5]; ok {
			checks["vs_reactive_client_429"] = check{[2]int{x.Client429, y.Client429}, "capacity <= reactive", x.Client429 <= y.Client429}
			checks["vs_reactive_ptu_utilization_of_left"] = check{[2]float64{x.PTUUtilizationLeft, y.PTUUtilizationLeft},
				"capacity >= reactive - 0.005", x.PTUUtilizationLeft >= y.PTUUtilizationLeft-0.005}
			checks["vs_reactive_upstream_429_pct"] = check{[2]float64{x.Upstream429Pct, y.Upstream429Pct}, "capacity <= reactive", x.Upstream429Pct <= y.Upstream429Pct}
			checks["vs_reactive_spill_ratio"] = check{[2]float64{x.SpillRatio, y.SpillRatio},
				"capacity <= reactive + 0.005, or <= 1.05", x.SpillRatio <= y.SpillRatio+0.005 || x.SpillRatio <= 1.05}
		}
		out = append(out, goalLine(profile, "capacity at 1.5x", 1.5, x.CapacitySuffices, checks))
	}
	for _, load := range []float64{2, 3} {
		x, okC := c[load]
		y, okR := r[load]
		if !okC || !okR {
			continue
		}
		retry := check{x.RetryAfterSuccessPct, ">= 90 % of retries after retry-after succeed", x.RetryAfterSuccessPct == nil || *x.RetryAfterSuccessPct >= 90}
		out = append(out, goalLine(profile, "capacity degrades no worse than reactive", load, x.CapacitySuffices, map[string]check{
			"goodput_tokens":          {[2]int64{x.GoodputTokens, y.GoodputTokens}, "capacity >= reactive", x.GoodputTokens >= y.GoodputTokens},
			"client_429":              {[2]int{x.Client429, y.Client429}, "capacity <= reactive", x.Client429 <= y.Client429},
			"p99_added_ms":            {[2]float64{x.P99AddedMs, y.P99AddedMs}, "capacity <= reactive + 20", x.P99AddedMs <= y.P99AddedMs+20},
			"retry_after_success_pct": retry,
		}))
	}
	return out
}

func goalLine(profile, what string, load float64, suffices bool, checks map[string]check) map[string]any {
	met := true
	for _, c := range checks {
		met = met && c.Met
	}
	return map[string]any{"goals": what, "profile": profile, "load": load, "capacity_suffices": suffices, "checks": checks, "met": met}
}
