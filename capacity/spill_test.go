package capacity

import (
	"math/rand/v2"
	"testing"
	"time"
)

// refPTU and refTPM are independent, exact references of Azure's rules (no
// bins): a leaky bucket admitting while below 100 %, and a per-request sliding
// minute admitting while the total is below the limit.
type refPTU struct {
	capacity, rate, level float64
	last                  time.Time
}

func (r *refPTU) drain(now time.Time) {
	r.level = max(0, r.level-r.rate*float64(now.Sub(r.last)))
	r.last = now
}

type refCharge struct {
	at   time.Time
	cost int
}

type refTPM struct {
	limit   int
	charges []refCharge
}

func (r *refTPM) used(now time.Time) int {
	n := 0
	for _, c := range r.charges {
		if now.Sub(c.at) < time.Minute {
			n += c.cost
		}
	}
	return n
}

// TestSteadyStateSpill offers 1.5× the PTU's capacity for ten minutes and
// checks against the references that the model never routes a request the
// backend would throttle, fills the PTU, and spills only the excess.
func TestSteadyStateSpill(t *testing.T) {
	m, clk := newTestModel(t, Options{}, ptu("p", 60000), tpm("a", 60000, 0), tpm("b", 60000, 0))
	cands := []string{"p", "a", "b"}
	start := clk.Now()
	ptuRef := &refPTU{capacity: 60000, rate: 60000 / float64(time.Minute), last: start}
	tpmRef := map[string]*refTPM{"a": {limit: 60000}, "b": {limit: 60000}}
	rng := rand.New(rand.NewPCG(1, 2))

	type inflight struct {
		r      *Reservation
		name   string
		cost   int
		actual int
		done   time.Time
	}
	var flying []inflight
	var offered, ptuActual, spilledEstimate, refused int
	const tick = 100 * time.Millisecond
	const total = 10 * time.Minute
	for now := start; now.Before(start.Add(total)); now = now.Add(tick) {
		clk.Set(now)
		ptuRef.drain(now)
		kept := flying[:0]
		for _, f := range flying {
			if f.done.After(now) {
				kept = append(kept, f)
				continue
			}
			f.r.Settle(f.actual)
			if f.name == "p" {
				ptuRef.level = max(0, ptuRef.level+float64(f.actual-f.cost))
			}
		}
		flying = kept

		cost := 100 + rng.IntN(101) // 150 tokens per 100 ms on average: 1.5× the PTU
		actual := cost * (60 + rng.IntN(41)) / 100
		offered += cost
		p, ok := m.Choose(cands, cost)
		if !ok {
			refused++
			continue
		}
		name := p.Order[0]
		switch name {
		case "p":
			if ptuRef.level >= ptuRef.capacity {
				t.Fatalf("%v: routed to the PTU at %.1f %%", now.Sub(start), 100*ptuRef.level/ptuRef.capacity)
			}
			ptuRef.level += float64(cost)
			if now.Sub(start) >= 3*time.Minute {
				ptuActual += actual
			}
		default:
			ref := tpmRef[name]
			if used := ref.used(now); used >= ref.limit {
				t.Fatalf("%v: routed to %s at %d/%d tokens", now.Sub(start), name, used, ref.limit)
			}
			ref.charges = append(ref.charges, refCharge{now, cost})
			spilledEstimate += cost
		}
		flying = append(flying, inflight{p.Reservation, name, cost, actual, now.Add(time.Duration(500+rng.IntN(3000)) * time.Millisecond)})
	}
	if refused > 0 {
		t.Errorf("%d requests refused with capacity to spare", refused)
	}
	// Once the bucket has filled (by about 2 minutes), the PTU should serve its
	// whole capacity: 7 minutes × 60000 tokens (plus at most one bucket).
	if util := float64(ptuActual) / (7 * 60000); util < 0.95 || util > 1+1.0/7 {
		t.Errorf("PTU served %.3f of its capacity, want 0.95 to 1.14", util)
	} else {
		t.Logf("PTU served %.3f of its capacity; %d of %d offered estimated tokens spilled", util, spilledEstimate, offered)
	}
	a, b := tpmRef["a"], tpmRef["b"]
	if len(a.charges) == 0 || len(b.charges) == 0 {
		t.Errorf("spill not spread: a %d, b %d requests", len(a.charges), len(b.charges))
	}
}
