//go:build scenario

package scenario

import "github.com/spillway-gw/spillway/loadgen"

// ClassResult is one class's JSON line of a step (-scenario.classes): the
// client figures of the class's requests. The ledger's figures (the PTU's
// utilization, spill, upstream 429s) are the step's, on its Result line:
// the simulator does not know the consumers.
type ClassResult struct {
	Profile  string  `json:"profile"`
	Mode     string  `json:"mode"`
	Replicas int     `json:"replicas"`
	Load     float64 `json:"load"`
	Class    string  `json:"class"`
	Priority string  `json:"priority"`
	// Share is the class's share of the requests.
	Share          float64 `json:"share"`
	Requests       int     `json:"requests"`
	Client2xx      int     `json:"client_2xx"`
	Client429      int     `json:"client_429"`
	Client429Local int     `json:"client_429_local"`
	Client5xx      int     `json:"client_5xx"`
	ClientOther    int     `json:"client_other"`
	// PTUServed counts the class's requests served 2xx by a PTU
	// (x-spillway-tier: ptu); PTUServedPct is their share of its requests.
	PTUServed           int            `json:"ptu_served"`
	PTUServedPct        float64        `json:"ptu_served_pct"`
	RetryAfterOK        int            `json:"retry_after_ok"`
	GoodputTokens       int64          `json:"goodput_tokens"`
	OfferedTokens       int64          `json:"offered_tokens"`
	ClientPTUTokens     int64          `json:"client_ptu_tokens"`
	ClientSpilledTokens int64          `json:"client_spilled_tokens"`
	P50Ms               float64        `json:"p50_ms"`
	P99Ms               float64        `json:"p99_ms"`
	P50AddedMs          float64        `json:"p50_added_ms"`
	P99AddedMs          float64        `json:"p99_added_ms"`
	TTFBP50Ms           float64        `json:"ttfb_p50_ms"`
	ByBackend           map[string]int `json:"by_backend"`
	// CapacitySuffices is the step's: the three deployments could serve
	// all it offered, so TPM had room for what the PTU could not take.
	CapacitySuffices bool           `json:"capacity_suffices"`
	Other            map[string]int `json:"other,omitempty"`
}

// classResults splits a step's client figures by class (nil without
// classes): step is the step's line, gw and direct the requests through
// the gateway and straight to the simulator.
func classResults(step Result, su setup, m meanTokens, gw, direct []loadgen.Result, inWindow func(loadgen.Result) bool) []ClassResult {
	var out []ClassResult
	for _, c := range su.classes {
		of := func(x loadgen.Result) bool { return x.Class == c.name && inWindow(x) }
		var r Result
		offered := clientFigures(&r, gw, direct, of, su, m)
		cr := ClassResult{Profile: step.Profile, Mode: step.Mode, Replicas: step.Replicas, Load: step.Load,
			Class: c.name, Priority: c.priority, Share: c.share,
			Requests: r.Requests, Client2xx: r.Client2xx, Client429: r.Client429, Client429Local: r.Client429Local,
			Client5xx: r.Client5xx, ClientOther: r.ClientOther, RetryAfterOK: r.RetryAfterOK,
			GoodputTokens: r.GoodputTokens, OfferedTokens: int64(offered),
			ClientPTUTokens: r.ClientPTUTokens, ClientSpilledTokens: r.ClientSpilledTokens,
			P50Ms: r.P50Ms, P99Ms: r.P99Ms, P50AddedMs: r.P50AddedMs, P99AddedMs: r.P99AddedMs, TTFBP50Ms: r.TTFBP50Ms,
			ByBackend: r.ByBackend, CapacitySuffices: step.CapacitySuffices, Other: r.Other}
		for _, x := range gw {
			if of(x) && x.OK() && x.Tier == "ptu" {
				cr.PTUServed++
			}
		}
		if cr.Requests > 0 {
			cr.PTUServedPct = round(100*float64(cr.PTUServed)/float64(cr.Requests), 1)
		}
		out = append(out, cr)
	}
	return out
}

// classGoals is the goal line of the class mix (issue 12), capacity mode at
// 1.5×: the interactive consumer gets no 429 and ≥ 95 % of its requests
// served by the PTU, the batch consumer no 429 while TPM has room, and the
// PTU is used ≥ 0.95 (ptu_utilization). Reactive mode's figures, when
// measured, are shown beside them, not judged. Nil without classes or
// without the step.
func classGoals(profile string, results map[string]map[float64]Result, byClass map[string]map[float64][]ClassResult) map[string]any {
	const load = 1.5
	x, ok := results["capacity"][load]
	if !ok {
		return nil
	}
	figures := func(step Result, classes []ClassResult) (interactive, batch *ClassResult, util float64) {
		for i, c := range classes {
			switch c.Priority {
			case "interactive":
				interactive = &classes[i]
			case "batch":
				batch = &classes[i]
			}
		}
		return interactive, batch, step.PTUUtilization
	}
	i, b, util := figures(x, byClass["capacity"][load])
	if i == nil || b == nil {
		return nil
	}
	g := goalLine(profile, "classes at 1.5x", load, x.CapacitySuffices, map[string]check{
		"interactive_client_429":     {i.Client429, "0", i.Client429 == 0},
		"interactive_ptu_served_pct": {i.PTUServedPct, ">= 95", i.PTUServedPct >= 95},
		"batch_client_429":           {b.Client429, "0 while TPM has room (capacity_suffices)", !x.CapacitySuffices || b.Client429 == 0},
		"ptu_utilization":            {util, ">= 0.95", util >= 0.95},
	})
	g["mode"] = "capacity"
	if y, ok := results["reactive"][load]; ok {
		if ri, rb, rutil := figures(y, byClass["reactive"][load]); ri != nil && rb != nil {
			g["reactive"] = map[string]any{"interactive_client_429": ri.Client429, "interactive_ptu_served_pct": ri.PTUServedPct,
				"batch_client_429": rb.Client429, "ptu_utilization": rutil}
		}
	}
	return g
}
