package plan

import (
	"fmt"
	"math"
	"strings"
)

// Facts are the provisioned-throughput figures of one model and deployment
// type.
type Facts struct {
	// InputTPMPerPTU is the input tokens per minute one PTU processes.
	InputTPMPerPTU int `yaml:"input_tpm_per_ptu"`
	// OutputRatio is how many input tokens one output token weighs: a
	// request's normalized tokens are input + OutputRatio × output.
	OutputRatio float64 `yaml:"output_ratio"`
	// Minimum and Increment are the units a deployment is bought in: at
	// least Minimum, then Minimum + k × Increment.
	Minimum   int `yaml:"minimum"`
	Increment int `yaml:"increment"`
}

// DeploymentType is how a provisioned deployment is placed.
type DeploymentType string

// Provisioned deployment types.
const (
	Global   DeploymentType = "global"
	DataZone DeploymentType = "data_zone"
	Regional DeploymentType = "regional"
)

// modelFacts is input TPM per PTU and the output ratio by model, from
// Microsoft's "Determine PTU sizing for a workload" (2026), as recorded in
// the project's reference notes (docs/plan.md cites them).
var modelFacts = map[string]struct {
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

// DefaultFacts returns the published figures for model and deployment
// type: global and data zone deployments start at 15 units and grow by 5;
// regional ones start at 50 and grow by 50, or 25 and 25 for the small
// ("mini" and "nano") models. ok is false for a model the table lacks.
func DefaultFacts(model string, t DeploymentType) (f Facts, ok bool) {
	m, ok := modelFacts[model]
	if !ok {
		return Facts{}, false
	}
	f = Facts{InputTPMPerPTU: m.inputTPMPerPTU, OutputRatio: m.outputRatio}
	switch {
	case t != Regional:
		f.Minimum, f.Increment = 15, 5
	case strings.Contains(model, "mini") || strings.Contains(model, "nano"):
		f.Minimum, f.Increment = 25, 25
	default:
		f.Minimum, f.Increment = 50, 50
	}
	return f, true
}

// Units is the smallest number of units that can be bought and holds at
// least need (0 when need <= 0): Minimum, Minimum + Increment, ...
func (f Facts) Units(need float64) int {
	if need <= 0 {
		return 0
	}
	u := f.Minimum
	if need > float64(u) {
		u += int(math.Ceil((need-float64(u))/float64(f.Increment))) * f.Increment
	}
	return u
}

// Steps returns every unit count that can be bought from 0 to at least top:
// 0, Minimum, Minimum + Increment, ..., Units(top).
func (f Facts) Steps(top float64) []int {
	out := []int{0}
	last := f.Units(top)
	for u := f.Minimum; u <= last && u > 0; u += f.Increment {
		out = append(out, u)
	}
	return out
}

func (f Facts) validate(path string) []error {
	var errs []error
	if f.InputTPMPerPTU <= 0 {
		errs = append(errs, fmt.Errorf("%s.input_tpm_per_ptu: must be > 0", path))
	}
	if f.OutputRatio < 1 {
		errs = append(errs, fmt.Errorf("%s.output_ratio: must be >= 1 (an output token weighs at least an input token)", path))
	}
	if f.Minimum <= 0 || f.Increment <= 0 {
		errs = append(errs, fmt.Errorf("%s: minimum and increment must be > 0", path))
	}
	return errs
}
