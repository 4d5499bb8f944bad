package plan

import (
	"fmt"

	"github.com/spillway-gw/spillway/azure"
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
	Global   DeploymentType = azure.DeploymentGlobal
	DataZone DeploymentType = azure.DeploymentDataZone
	Regional DeploymentType = azure.DeploymentRegional
)

// DefaultFacts returns the published figures for model and deployment
// type, from the table the gateway config checks PTU backends against
// (azure.PTUFigures: global and data zone deployments start at 15 units and
// grow by 5; regional ones start at 50 and grow by 50, or 25 and 25 for the
// small "mini" and "nano" models). ok is false for a model the table lacks.
func DefaultFacts(model string, t DeploymentType) (f Facts, ok bool) {
	p, ok := azure.PTUFigures(model, string(t))
	if !ok {
		return Facts{}, false
	}
	return Facts{InputTPMPerPTU: p.InputTPMPerPTU, OutputRatio: p.OutputRatio, Minimum: p.Minimum, Increment: p.Increment}, true
}

// ptu is f as the azure package's type.
func (f Facts) ptu() azure.PTU {
	return azure.PTU{InputTPMPerPTU: f.InputTPMPerPTU, OutputRatio: f.OutputRatio, Minimum: f.Minimum, Increment: f.Increment}
}

// Units is the smallest number of units that can be bought and holds at
// least need (0 when need <= 0): Minimum, Minimum + Increment, ...
func (f Facts) Units(need float64) int { return f.ptu().Units(need) }

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
