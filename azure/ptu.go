package azure

import (
	"math"
	"strings"
)

// PTU are the published provisioned-throughput figures of one model and
// deployment type (Microsoft's "Determine PTU sizing for a workload", 2026;
// shared/reference/azure-openai.md and docs/capacity.md keep the numbers).
type PTU struct {
	// InputTPMPerPTU is the input tokens per minute one PTU processes.
	InputTPMPerPTU int
	// OutputRatio is how many input tokens one output token weighs in a
	// provisioned deployment's utilization.
	OutputRatio float64
	// Minimum and Increment are the units a deployment is bought in: at
	// least Minimum, then Minimum + k × Increment.
	Minimum, Increment int
}

// PTU deployment types.
const (
	DeploymentGlobal   = "global"
	DeploymentDataZone = "data_zone"
	DeploymentRegional = "regional"
)

var ptuModels = map[string]struct {
	inputTPMPerPTU int
	outputRatio    float64
}{
	"gpt-4o":       {2500, 4},
	"gpt-4o-mini":  {37000, 4},
	"gpt-4.1":      {3000, 4},
	"gpt-4.1-mini": {14900, 4},
	"gpt-4.1-nano": {59400, 4},
	"o3":           {3000, 4},
	"o4-mini":      {5400, 4},
	"gpt-5":        {4750, 8},
	"gpt-5.1":      {4750, 8},
	"gpt-5-mini":   {23750, 8},
	"gpt-5.2":      {3400, 8},
	"gpt-5.4":      {2400, 6},
}

// PTUFigures returns the published figures for model and deployment type
// (global and data zone: 15 units then steps of 5; regional: 50 then 50, or
// 25 then 25 for "mini" and "nano" models). ok is false for a model the
// table lacks, or an unknown deployment type.
func PTUFigures(model, deploymentType string) (PTU, bool) {
	m, ok := ptuModels[model]
	if !ok {
		return PTU{}, false
	}
	f := PTU{InputTPMPerPTU: m.inputTPMPerPTU, OutputRatio: m.outputRatio}
	switch deploymentType {
	case DeploymentGlobal, DeploymentDataZone, "":
		f.Minimum, f.Increment = 15, 5
	case DeploymentRegional:
		f.Minimum, f.Increment = 50, 50
		if strings.Contains(model, "mini") || strings.Contains(model, "nano") {
			f.Minimum, f.Increment = 25, 25
		}
	default:
		return PTU{}, false
	}
	return f, true
}

// Purchasable reports whether units can be bought: Minimum, Minimum +
// Increment, ...
func (f PTU) Purchasable(units int) bool {
	return units >= f.Minimum && f.Increment > 0 && (units-f.Minimum)%f.Increment == 0
}

// Units is the smallest purchasable number of units holding at least need.
func (f PTU) Units(need float64) int {
	if need <= 0 {
		return 0
	}
	u := f.Minimum
	if need > float64(u) {
		u += int(math.Ceil((need-float64(u))/float64(f.Increment))) * f.Increment
	}
	return u
}
