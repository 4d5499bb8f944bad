package capacity

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestRandomOperations drives the model with random calls and checks its
// bookkeeping after each: windows equal the sum of their non-negative bins,
// buckets are non-negative, in-flight counts match the open reservations.
func TestRandomOperations(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			specs := []BackendSpec{ptu("p", 5000), tpm("a", 3000, 0), tpm("b", 8000, 1), {Name: "c", Tier: TierTPM, TPM: 2000, RPM: 30}}
			m, clk := newTestModel(t, Options{}, specs...)
			names := []string{"p", "a", "b", "c", "x"}
			var open []*Reservation
			for step := range 2000 {
				switch op := rng.IntN(10); op {
				case 0, 1, 2:
					if p, ok := m.Choose(names[:1+rng.IntN(len(names))], rng.IntN(1500)); ok {
						open = append(open, p.Reservation)
					}
				case 3, 4:
					if len(open) > 0 {
						i := rng.IntN(len(open))
						if rng.IntN(3) == 0 {
							open[i].Release()
						} else {
							open[i].Settle(rng.IntN(2000))
						}
						open = append(open[:i], open[i+1:]...)
					}
				case 5:
					if len(open) > 0 {
						open[rng.IntN(len(open))].Move(names[rng.IntN(len(names))])
					}
				case 6:
					h := headers(
						"x-ratelimit-remaining-tokens", strconv.Itoa(rng.IntN(9000)-500),
						"x-ratelimit-remaining-requests", strconv.Itoa(rng.IntN(60)-5),
						"azure-openai-deployment-utilization", fmt.Sprintf("%.1f%%", rng.Float64()*130),
						"retry-after-ms", strconv.Itoa(rng.IntN(3000)))
					status := []int{200, 200, 429, 500, 408, 424}[rng.IntN(6)]
					if len(open) > 0 && rng.IntN(2) == 0 {
						open[rng.IntN(len(open))].Observe(status, h, nil)
					} else {
						m.Observe(names[rng.IntN(len(names))], status, h, nil)
					}
				case 7:
					clk.Advance(time.Duration(rng.IntN(5000)) * time.Millisecond)
				case 8:
					if rng.IntN(10) == 0 {
						s := specs
						if rng.IntN(2) == 0 {
							s = append([]BackendSpec{tpm("a", 3000+rng.IntN(2), 0)}, specs[1:]...)
						}
						m.SetBackends(s)
					}
				case 9:
					m.ObserveFailure(names[rng.IntN(len(names))])
				}
				checkInvariants(t, m, step)
			}
			for _, r := range open {
				r.Settle(10)
			}
			for _, s := range m.States() {
				if s.InFlight != 0 || s.Reserved != 0 {
					t.Errorf("after settling everything: %+v", s)
				}
			}
		})
	}
}

func checkInvariants(t *testing.T, m *Model, step int) {
	t.Helper()
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, b := range m.local.backends {
		if b.inflight < 0 || b.reserved < 0 {
			t.Fatalf("step %d: %s in flight %d, reserved %d", step, name, b.inflight, b.reserved)
		}
		if b.bucket != nil {
			if l := b.bucket.levelAt(now); l < 0 || l != l {
				t.Fatalf("step %d: %s level %v", step, name, l)
			}
			continue
		}
		for _, w := range []*window{b.tokens, b.requests} {
			w.advance(now)
			var sum int64
			for _, v := range w.bins {
				if v < 0 {
					t.Fatalf("step %d: %s negative bin %v", step, name, w.bins)
				}
				sum += v
			}
			if sum != w.total {
				t.Fatalf("step %d: %s total %d, bins sum to %d", step, name, w.total, sum)
			}
		}
	}
}
