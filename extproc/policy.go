package extproc

import (
	"slices"

	"github.com/spillway-gw/spillway/config"
)

// consumerPolicy is where a consumer's requests may go and how much PTU
// room they leave to higher priorities.
type consumerPolicy struct {
	// headroom is the capacity.Ask headroom of the consumer's requests.
	headroom float64
	// priority is their place in the hold queue (capacity.Ask.Priority).
	priority int
	// models are the consumer's views of the models whose backends it
	// may not all use (spill: never, regions): only those it may. A model
	// not here is served by all its backends.
	models map[string]*Model
}

func newConsumerPolicies(cfg *config.Config, models map[string]*Model) map[string]*consumerPolicy {
	out := map[string]*consumerPolicy{}
	for _, c := range cfg.Consumers {
		p := &consumerPolicy{headroom: cfg.Priorities.HeadroomOf(c.Priority), priority: queuePriority(c.Priority)}
		if c.Spill == config.SpillNever || len(c.Regions) > 0 {
			p.models = map[string]*Model{}
			for name, m := range models {
				p.models[name] = m.restricted(func(b *Backend) bool {
					return (c.Spill != config.SpillNever || b.Tier == config.PTU) && (len(c.Regions) == 0 || slices.Contains(c.Regions, b.Region))
				})
			}
		}
		if p.headroom > 0 || p.models != nil || p.priority != queuePriority("") {
			out[c.Name] = p
		}
	}
	return out
}

// queuePriority is a consumer priority's place in the hold queue: the
// interactive first, then the standard (and consumers without one), then
// the batch.
func queuePriority(priority string) int {
	switch priority {
	case config.PriorityInteractive:
		return 0
	case config.PriorityBatch:
		return 2
	}
	return 1
}

// restricted is m with only the backends keep lets through, in order.
func (m *Model) restricted(keep func(*Backend) bool) *Model {
	c := *m
	c.Order, c.names = nil, nil
	for _, b := range m.Order {
		if keep(b) {
			c.Order = append(c.Order, b)
			c.names = append(c.names, b.Name)
		}
	}
	return &c
}

// modelFor is the view of m the consumer's requests are planned on.
func (p *consumerPolicy) modelFor(m *Model) *Model {
	if p == nil || p.models == nil {
		return m
	}
	if r := p.models[m.Name]; r != nil {
		return r
	}
	return m
}
