package plan

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Plan is the capacity plan of a workload.
type Plan struct {
	Currency      string
	HoursPerMonth float64
	Models        []ModelPlan
	// Cost, AllTPMCost and AllPTUCost add up the models'.
	Cost, AllTPMCost, AllPTUCost float64
	// Warnings are what the plan could not satisfy or did not check.
	Warnings []string
}

// ModelPlan is one model's part of the plan.
type ModelPlan struct {
	Model Model
	// Weight is a token's mean weight in normalized tokens: (prompt +
	// ratio × completion) / (prompt + completion).
	Weight float64
	// PeakNormalized and AverageNormalized are the load in normalized
	// tokens a minute, what PTU capacity is measured in.
	PeakNormalized, AverageNormalized float64
	// PTU is the units bought (0: none) and where.
	PTU             int
	PTURegion       string
	PTUSubscription string
	// PTUNormalizedTPM is the PTUs' capacity in normalized tokens a
	// minute; PTUTokensPerMinute the same in this workload's tokens
	// (prompt + completion), what spillway's capacity_tpm counts.
	PTUNormalizedTPM   float64
	PTUTokensPerMinute float64
	// Utilization is the share of the PTUs' capacity the load uses over
	// the month; SpillShare the share of the tokens they cannot take.
	Utilization, SpillShare float64
	// SpillPeakTPM and SpillPeakRPM are the load on the TPM deployments in
	// the peak minute; NeedTPM the TPM they must be granted for it: the
	// most of the tokens they are charged on arrival (prompt + max_tokens
	// when known) and the requests at 6 RPM per 1,000 TPM.
	SpillPeakTPM, SpillPeakRPM, NeedTPM float64
	// TPM is the standard deployments, within quota; Shortfall the TPM
	// quota missing.
	TPM       []TPMDeployment
	Shortfall int
	// MonthlyTokens is the month's tokens, prompt + completion.
	MonthlyTokens float64
	// Cost is the month's PTUs plus the spilled tokens at standard prices;
	// AllTPMCost every token at standard prices; AllPTUCost enough PTUs
	// for the peak (PeakPTU units), nothing spilled.
	Cost, PTUCost, SpillCost, AllTPMCost, AllPTUCost float64
	PeakPTU                                          int
}

// TPMDeployment is one standard deployment of the plan.
type TPMDeployment struct {
	Subscription string
	Region       string
	TPM          int
	RPM          int
}

// rpmPer1000TPM is Azure's requests-per-minute grant of a standard
// deployment for most chat models.
const rpmPer1000TPM = 6

// Make plans w. w must come from Parse or Load (defaults filled, valid).
func Make(w *Workload) *Plan {
	p := &Plan{Currency: w.Currency, HoursPerMonth: w.HoursPerMonth}
	ptuLeft := map[[2]string]int{}
	for _, q := range w.PTUQuotas {
		ptuLeft[[2]string{q.Subscription, q.Region}] += q.PTU
	}
	tpmLeft := map[Quota]int{}
	for _, q := range w.Quotas {
		k := q
		k.TPM = 0
		tpmLeft[k] += q.TPM
	}
	for _, m := range w.Models {
		mp := sizeModel(m, w.HoursPerMonth)
		placePTU(&mp, w.PTUQuotas, ptuLeft, &p.Warnings)
		placeTPM(&mp, w.Quotas, tpmLeft)
		if mp.Shortfall > 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: TPM quota in the allowed regions is %d TPM short of the %d needed at peak", m.Name, mp.Shortfall, int(math.Ceil(mp.NeedTPM))))
		}
		p.Models = append(p.Models, mp)
		p.Cost += mp.Cost
		p.AllTPMCost += mp.AllTPMCost
		p.AllPTUCost += mp.AllPTUCost
	}
	return p
}

// sizeModel chooses m's PTU units and prices the result.
func sizeModel(m Model, hours float64) ModelPlan {
	f := m.PTU
	tokens := m.PromptTokens + m.CompletionTokens
	mp := ModelPlan{Model: m, Weight: (m.PromptTokens + f.OutputRatio*m.CompletionTokens) / tokens}
	mp.PeakNormalized, mp.AverageNormalized = m.PeakTPM*mp.Weight, m.AverageTPM*mp.Weight
	curve := Curve{Peak: mp.PeakNormalized, Average: mp.AverageNormalized}
	minutes := hours * 60
	mp.MonthlyTokens = m.AverageTPM * minutes
	// A token's standard price, at the workload's mix of prompt and completion.
	tokenPrice := (m.PromptTokens*m.Prices.InputPer1K + m.CompletionTokens*m.Prices.OutputPer1K) / tokens / 1000
	mp.AllTPMCost = mp.MonthlyTokens * tokenPrice
	perPTU := float64(f.InputTPMPerPTU)
	mp.PeakPTU = f.Units(mp.PeakNormalized / perPTU)
	mp.AllPTUCost = float64(mp.PeakPTU) * m.Prices.PTUHourly * hours

	cost := func(u int) (ptu, spill float64) {
		excess := curve.Excess(float64(u) * perPTU)
		return float64(u) * m.Prices.PTUHourly * hours, excess / mp.Weight * minutes * tokenPrice
	}
	var floor int
	switch m.Latency {
	case Strict:
		floor = mp.PeakPTU
	case Interactive:
		floor = f.Units(mp.AverageNormalized / perPTU)
	}
	best, bestCost := -1, 0.0
	for _, u := range f.Steps(mp.PeakNormalized / perPTU) {
		if u < floor {
			continue
		}
		a, b := cost(u)
		if best < 0 || a+b < bestCost {
			best, bestCost = u, a+b
		}
	}
	mp.PTU = best
	mp.PTUCost, mp.SpillCost = cost(best)
	mp.Cost = mp.PTUCost + mp.SpillCost

	capacity := float64(best) * perPTU
	mp.PTUNormalizedTPM = capacity
	mp.PTUTokensPerMinute = capacity / mp.Weight
	if capacity > 0 {
		mp.Utilization = curve.Served(capacity) / capacity
	}
	mp.SpillShare = curve.Excess(capacity) / curve.Average
	spillPeak := max(0, mp.PeakNormalized-capacity)
	mp.SpillPeakTPM = spillPeak / mp.Weight
	mp.SpillPeakRPM = m.PeakRPM * spillPeak / mp.PeakNormalized
	charged := m.PromptTokens + max(m.MaxTokens, m.CompletionTokens)
	mp.NeedTPM = max(mp.SpillPeakTPM, mp.SpillPeakRPM*charged, mp.SpillPeakRPM*1000/rpmPer1000TPM)
	return mp
}

// placePTU puts mp's units in the first allowed region, in the order of
// the model's regions, whose PTU quota holds them; in the first allowed
// region, with a warning, when none does or no PTU quota is given.
func placePTU(mp *ModelPlan, quotas []PTUQuota, left map[[2]string]int, warnings *[]string) {
	if mp.PTU == 0 {
		return
	}
	name := mp.Model.Name
	for _, q := range sortedByRegion(quotas, mp.Model.Regions, func(q PTUQuota) string { return q.Region }) {
		k := [2]string{q.Subscription, q.Region}
		if left[k] >= mp.PTU {
			left[k] -= mp.PTU
			mp.PTURegion, mp.PTUSubscription = q.Region, q.Subscription
			return
		}
	}
	mp.PTURegion = mp.Model.Regions[0]
	if len(quotas) == 0 {
		*warnings = append(*warnings, fmt.Sprintf("%s: no ptu_quotas given: the %d PTUs are placed in %s unchecked", name, mp.PTU, mp.PTURegion))
		return
	}
	*warnings = append(*warnings, fmt.Sprintf("%s: no PTU quota in the allowed regions holds %d units: placed in %s, over quota", name, mp.PTU, mp.PTURegion))
}

// placeTPM fills the model's TPM quotas, preferred regions first, in steps
// of 1,000 TPM (Azure's unit of standard capacity), until NeedTPM is met.
func placeTPM(mp *ModelPlan, quotas []Quota, left map[Quota]int) {
	need := int(math.Ceil(mp.NeedTPM/1000)) * 1000
	var mine []Quota
	for _, q := range quotas {
		if q.Model == mp.Model.Name {
			mine = append(mine, q)
		}
	}
	for _, q := range sortedByRegion(mine, mp.Model.Regions, func(q Quota) string { return q.Region }) {
		if need <= 0 {
			break
		}
		k := q
		k.TPM = 0
		take := min(need, left[k]/1000*1000)
		if take <= 0 {
			continue
		}
		left[k] -= take
		need -= take
		mp.TPM = append(mp.TPM, TPMDeployment{Subscription: q.Subscription, Region: q.Region, TPM: take, RPM: take / 1000 * rpmPer1000TPM})
	}
	mp.Shortfall = need
}

// sortedByRegion keeps the items in an allowed region, in the order of
// regions, then in their own order.
func sortedByRegion[T any](items []T, regions []string, region func(T) string) []T {
	rank := func(r string) int { return slices.Index(regions, r) }
	var out []T
	for _, it := range items {
		if rank(region(it)) >= 0 {
			out = append(out, it)
		}
	}
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(rank(region(a)), rank(region(b))) })
	return out
}
