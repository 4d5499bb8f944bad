package redislimits_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
	"github.com/spillway-gw/spillway/limits"
	"github.com/spillway-gw/spillway/limits/redislimits"
	"github.com/spillway-gw/spillway/test/e2etest"
)

func client(t testing.TB, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func store(t testing.TB, addr, prefix string) *redislimits.Store {
	c := client(t, addr)
	return redislimits.New(t.Context(), func() (rueidis.Client, error) { return c, nil }, redislimits.Options{KeyPrefix: prefix, Timeout: 5 * time.Second})
}

func rules(t *testing.T) *limits.Rules {
	t.Helper()
	fixed, err := limits.ParsePeriod("90s", "")
	if err != nil {
		t.Fatal(err)
	}
	daily, err := limits.ParsePeriod("daily", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return &limits.Rules{
		Window: 20 * time.Second,
		All:    limits.Scope{TPM: 8000, RPM: 12, Quota: &limits.Quota{Tokens: 30_000, Period: fixed}},
		Models: map[string]limits.Scope{
			"m1": {TPM: 3000, Quota: &limits.Quota{Tokens: 50_000, Period: daily}},
		},
	}
}

// TestSameRulesAsMemory drives a memory limiter and a Redis one through the
// same random requests, ends and clock steps, and requires the same
// verdicts: admitted, the refusing rule, the exact retry time, every use.
func TestSameRulesAsMemory(t *testing.T) {
	r := e2etest.StartRedis(t)
	rs := rules(t)
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			clk := capacitytest.NewFakeClock(time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)) // New York's clocks go back at 06:00 UTC
			mem := limits.New(limits.NewMemory(), clk, nil)
			red := limits.New(store(t, r.Addr, fmt.Sprintf("seed%d:", seed)), clk, nil)
			rng := rand.New(rand.NewPCG(seed, 12))
			type pair struct{ mem, red *limits.Charge }
			var held []pair
			admitted, refused := 0, 0
			for step := range 600 {
				switch k := rng.IntN(10); {
				case k < 5:
					model := fmt.Sprint("m", rng.IntN(2))
					key := fmt.Sprint("k", rng.IntN(2))
					cost := int64(100 + rng.IntN(3000))
					cm, cr := mem.Charge(rs, key, model, cost), red.Charge(rs, key, model, cost)
					if cm.OK != cr.OK || cm.Refused != cr.Refused || !cm.RetryAt.Equal(cr.RetryAt) || fmt.Sprint(cm.Used) != fmt.Sprint(cr.Used) {
						t.Fatalf("step %d: charge %s %s %d: memory %v %d %v %v, redis %v %d %v %v", step, key, model, cost,
							cm.OK, cm.Refused, cm.RetryAt, cm.Used, cr.OK, cr.Refused, cr.RetryAt, cr.Used)
					}
					if cm.OK {
						admitted++
						held = append(held, pair{cm, cr})
					} else {
						refused++
					}
				case k < 8 && len(held) > 0:
					i := rng.IntN(len(held))
					p := held[i]
					held = append(held[:i], held[i+1:]...)
					if rng.IntN(4) == 0 {
						p.mem.Release()
						p.red.Release()
					} else {
						tokens := int64(rng.IntN(4000))
						p.mem.Settle(tokens)
						p.red.Settle(tokens)
					}
				default:
					clk.Advance(time.Duration(rng.IntN(6000)) * time.Millisecond)
				}
			}
			for _, key := range []string{"k0", "k1"} {
				sm, sr := mem.States(rs, key), red.States(rs, key)
				if fmt.Sprint(sm) != fmt.Sprint(sr) {
					t.Fatalf("states of %s: memory %v, redis %v", key, sm, sr)
				}
			}
			if admitted < 50 || refused < 50 {
				t.Fatalf("the scenario tests too little: %d admitted, %d refused", admitted, refused)
			}
		})
	}
}

// TestReplicasShareOneLimit: two replicas charging one consumer at once
// admit no more than the limit together.
func TestReplicasShareOneLimit(t *testing.T) {
	r := e2etest.StartRedis(t)
	clk := capacitytest.NewFakeClock(time.Unix(1_800_000_000, 0))
	rs := &limits.Rules{Window: time.Minute, All: limits.Scope{TPM: 10_000}}
	var mu sync.Mutex
	total := int64(0)
	var wg sync.WaitGroup
	for range 2 {
		l := limits.New(store(t, r.Addr, "share:"), clk, nil)
		for range 4 {
			wg.Go(func() {
				for range 25 {
					if c := l.Charge(rs, "batch", "m", 300); c.OK {
						mu.Lock()
						total += 300
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	if total != 9900 {
		t.Fatalf("admitted %d tokens, want 9900 (33 requests of 300 under 10000)", total)
	}
}
