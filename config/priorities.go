package config

import (
	"fmt"
	"slices"
)

// Consumer priorities: a lower priority leaves PTU headroom to the higher.
const (
	PriorityInteractive = "interactive"
	PriorityStandard    = "standard"
	PriorityBatch       = "batch"
)

// Spill policies: whether a consumer's requests may go to TPM backends.
const (
	SpillAllow = "allow"
	SpillNever = "never"
)

// Priorities configure how consumers' priorities share the PTUs.
type Priorities struct {
	// Headroom is the share of each PTU's capacity a priority leaves free
	// for the priorities above it: its requests spill to TPM (or wait)
	// once the PTU is that close to full. interactive leaves none.
	Headroom PriorityHeadroom `yaml:"headroom"`
}

// PriorityHeadroom is each lower priority's headroom, a fraction in [0, 1).
type PriorityHeadroom struct {
	Standard *float64 `yaml:"standard"`
	Batch    *float64 `yaml:"batch"`
}

// Default headrooms: standard uses the whole PTU (as without priorities),
// batch leaves a fifth of it to standard and interactive traffic.
const (
	DefaultStandardHeadroom = 0.0
	DefaultBatchHeadroom    = 0.2
)

// HeadroomOf is the PTU headroom a consumer of priority leaves free.
func (p Priorities) HeadroomOf(priority string) float64 {
	switch priority {
	case PriorityBatch:
		if p.Headroom.Batch != nil {
			return *p.Headroom.Batch
		}
		return DefaultBatchHeadroom
	case PriorityInteractive:
		return 0
	default:
		if p.Headroom.Standard != nil {
			return *p.Headroom.Standard
		}
		return DefaultStandardHeadroom
	}
}

func (c *Config) validatePriorities(v *validator) {
	std, batch := c.Priorities.HeadroomOf(PriorityStandard), c.Priorities.HeadroomOf(PriorityBatch)
	for _, h := range []struct {
		path string
		v    float64
	}{{"priorities.headroom.standard", std}, {"priorities.headroom.batch", batch}} {
		if h.v < 0 || h.v >= 1 {
			v.add(h.path, "must be a fraction in [0, 1), e.g. 0.2 (a fifth of each PTU)")
		}
	}
	if batch < std {
		v.add("priorities.headroom.batch", "%v is less than standard's %v: a lower priority must leave at least as much headroom", batch, std)
	}
	regions := map[string]bool{}
	for _, m := range c.Models {
		for _, b := range m.Backends {
			regions[b.Region] = true
		}
	}
	for i, cons := range c.Consumers {
		p := fmt.Sprintf("consumers[%d]", i)
		if cons.Priority != "" && !slices.Contains([]string{PriorityInteractive, PriorityStandard, PriorityBatch}, cons.Priority) {
			v.add(p+".priority", "%q is not interactive, standard or batch", cons.Priority)
		}
		if cons.Spill != "" && cons.Spill != SpillAllow && cons.Spill != SpillNever {
			v.add(p+".spill", "%q is not allow or never", cons.Spill)
		}
		for j, r := range cons.Regions {
			if !regions[r] {
				v.add(fmt.Sprintf("%s.regions[%d]", p, j), "%q is the region of no backend", r)
			}
		}
	}
}
