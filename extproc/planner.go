package extproc

import (
	"context"
	"errors"
	"time"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/config"
)

// decision is the router phase's answer for one request.
type decision struct {
	order []*Backend
	// res holds the request's cost on the backend of the current attempt;
	// nil in reactive mode.
	res       *capacity.Reservation
	queueWait time.Duration
	// firstSkipped says why the model's first backend is not on the list.
	firstSkipped capacity.Skip
}

// errNoCapacity carries when the earliest backend recovers.
type errNoCapacity struct{ retryAt time.Time }

func (e *errNoCapacity) Error() string { return "no backend has room" }

// plan decides the ordered backends for a request of cost tokens.
//
// Reactive mode is what other gateways do: every backend in static order,
// spilling only after a 429. Capacity mode asks the capacity model for the
// backends that can take the request now, holding it (bounded, fair across
// consumers) when none can.
//
// ask carries the consumer, the cost and the reservation's id and meta (so
// that a replica serving an attempt can find it in a shared store); its
// candidates are the model's backends that Healthy lets through.
func (s *Server) plan(ctx context.Context, t *Table, ask capacity.Ask, m *Model) (decision, error) {
	names, all, err := s.routable(m)
	if err != nil {
		return decision{}, err
	}
	if t.routing == config.RoutingReactive || s.capacity == nil {
		return decision{order: capped(all, m.MaxAttempts)}, nil
	}
	var p capacity.Plan
	start := time.Now()
	ask.Candidates = names
	if t.maxWait > 0 {
		p, err = s.capacity.Admit(ctx, ask)
	} else {
		var ok bool
		if p, ok = s.capacity.ChooseFor(ask); !ok {
			err = &capacity.NoCapacityError{RetryAt: s.capacity.Recovery(names, ask.Cost)}
		}
	}
	if err != nil {
		var nc *capacity.NoCapacityError
		if errors.As(err, &nc) {
			return decision{}, &errNoCapacity{retryAt: nc.RetryAt}
		}
		return decision{}, err
	}
	order := make([]*Backend, 0, len(p.Order))
	for _, name := range p.Order {
		if b := t.backends[name]; b != nil {
			order = append(order, b)
		}
	}
	return decision{order: capped(order, m.MaxAttempts), res: p.Reservation, queueWait: time.Since(start), firstSkipped: p.FirstSkipped}, nil
}

func capped(order []*Backend, n int) []*Backend {
	if n > 0 && len(order) > n {
		return order[:n]
	}
	return order
}

// capacitySpecs turns the config's backends into the capacity model's specs.
func capacitySpecs(cfg *config.Config) []capacity.BackendSpec {
	var specs []capacity.BackendSpec
	for _, m := range cfg.Models {
		for _, b := range m.Backends {
			spec := capacity.BackendSpec{
				Name:          b.Name,
				Priority:      b.Priority,
				Weight:        b.Weight,
				TokenWindow:   cfg.Capacity.TokenWindow.D(),
				RequestWindow: cfg.Capacity.RequestWindow.D(),
			}
			if b.Kind == config.PTU {
				spec.Tier, spec.CapacityTPM, spec.OutputRatio = capacity.TierPTU, b.PTUCapacity(m.Name), b.PTUOutputRatio(m.Name)
			} else {
				spec.Tier, spec.TPM, spec.RPM = capacity.TierTPM, b.TPM, b.RPM
			}
			specs = append(specs, spec)
		}
	}
	return specs
}
