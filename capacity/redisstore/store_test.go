package redisstore_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/capacity/capacitytest"
	"github.com/spillway-gw/spillway/capacity/redisstore"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// start is a whole number of seconds: the memory store's windows start their
// bins at the model's creation, the Redis store's at the Unix epoch, so the
// two agree bin for bin.
var start = time.Unix(1_800_000_000, 0)

var specs = []capacity.BackendSpec{
	{Name: "ptu", Tier: capacity.TierPTU, CapacityTPM: 10_000, OutputRatio: 4},
	{Name: "tpm-a", Tier: capacity.TierTPM, TPM: 6_000, RPM: 36},
	{Name: "tpm-b", Tier: capacity.TierTPM, TPM: 8_000, RPM: 48, Weight: 2},
}

var names = []string{"ptu", "tpm-a", "tpm-b"}

func client(t testing.TB, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// replica is one spillway replica's model sharing the store at addr.
func replica(t *testing.T, addr string, clk capacity.Clock, replicas int, onChange func(error)) *capacity.Model {
	t.Helper()
	m := capacity.New(clk, capacity.Options{})
	m.SetBackends(specs)
	m.Share(capacity.Sharing{
		Store:    redisstore.New(t.Context(), client(t, addr), redisstore.Options{KeyPrefix: "test:", Timeout: 5 * time.Second}),
		Replicas: replicas, OnChange: onChange,
	})
	return m
}

// TestSameRulesAsMemory drives a memory model and a Redis-backed one through
// the same random operations and requires the same decisions and states.
func TestSameRulesAsMemory(t *testing.T) {
	r := e2etest.StartRedis(t)
	learnedSteps := 0 // over all seeds: one sequence may never lower it
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			clk := capacitytest.NewFakeClock(start)
			mem := capacity.New(clk, capacity.Options{})
			mem.SetBackends(specs)
			red := capacity.New(clk, capacity.Options{})
			red.SetBackends(specs)
			red.Share(capacity.Sharing{Store: redisstore.New(t.Context(), client(t, r.Addr), redisstore.Options{KeyPrefix: fmt.Sprintf("seed%d:", seed), Timeout: 5 * time.Second})})

			rng := rand.New(rand.NewPCG(seed, 7))
			type pair struct{ mem, red *capacity.Reservation }
			var held []pair
			chosen, refused, throttled, learned, overflowed := 0, 0, 0, 0, 0
			for step := range 400 {
				switch k := rng.IntN(10); {
				case k < 4:
					cost := 200 + rng.IntN(4000)
					ask := capacity.Ask{Candidates: names, Cost: cost, Output: rng.IntN(cost / 2), Overflow: rng.IntN(4) == 0, Headroom: []float64{0, 0, 0.2, 0.5}[rng.IntN(4)]}
					pm, okm := mem.ChooseFor(ask)
					pr, okr := red.ChooseFor(ask)
					if okm != okr || fmt.Sprint(pm.Order) != fmt.Sprint(pr.Order) || pm.Fit != pr.Fit || pm.FirstSkipped != pr.FirstSkipped {
						t.Fatalf("step %d: choose %d: memory %v %v %q, redis %v %v %q", step, cost, okm, pm.Order, pm.FirstSkipped, okr, pr.Order, pr.FirstSkipped)
					}
					if okm && pm.Fit == 0 {
						overflowed++
					}
					if okm {
						chosen++
						held = append(held, pair{pm.Reservation, pr.Reservation})
					} else {
						refused++
					}
				case k < 6 && len(held) > 0:
					i := rng.IntN(len(held))
					p := held[i]
					held = append(held[:i], held[i+1:]...)
					if rng.IntN(3) == 0 {
						p.mem.Release()
						p.red.Release()
					} else {
						u := capacity.Usage{Prompt: rng.IntN(2000), Output: rng.IntN(800)}
						u.Cached = rng.IntN(u.Prompt + 1)
						p.mem.SettleUsage(u)
						p.red.SettleUsage(u)
					}
				case k < 7 && len(held) > 0:
					p := held[rng.IntN(len(held))]
					to := names[rng.IntN(len(names))]
					p.mem.Move(to)
					p.red.Move(to)
				case k < 8:
					b := names[rng.IntN(len(names))]
					status := []int{200, 200, 429, 429, 500, 0}[rng.IntN(6)]
					h := http.Header{}
					if rng.IntN(2) == 0 {
						h.Set("retry-after-ms", fmt.Sprint(100+rng.IntN(3000)))
					}
					if rng.IntN(3) == 0 {
						h.Set("x-ratelimit-remaining-tokens", fmt.Sprint(rng.IntN(8000)))
						h.Set("x-ratelimit-remaining-requests", fmt.Sprint(rng.IntN(8)))
						h.Set("azure-openai-deployment-utilization", fmt.Sprintf("%.1f%%", rng.Float64()*120))
					}
					if len(held) > 0 && rng.IntN(2) == 0 {
						p := held[rng.IntN(len(held))]
						p.mem.Observe(status, h.Get, nil)
						p.red.Observe(status, h.Get, nil)
					} else {
						mem.Observe(b, status, h.Get, nil)
						red.Observe(b, status, h.Get, nil)
					}
				default:
					clk.Advance(time.Duration(rng.IntN(4000)) * time.Millisecond)
				}
				for _, s := range red.States() {
					if s.CooldownUntil.After(clk.Now()) {
						throttled++
					}
					if s.Effective < 1 {
						learned++
					}
				}
				red.Sync()
				if red.StoreStatus().Degraded {
					t.Fatalf("step %d: redis store degraded: %+v", step, red.StoreStatus())
				}
				sameStates(t, step, mem.States(), red.States())
				if a, b := mem.Recovery(names, 5000), red.Recovery(names, 5000); a.Sub(b).Abs() > time.Millisecond {
					t.Fatalf("step %d: recovery memory %v, redis %v", step, a, b)
				}
			}
			t.Logf("chosen %d (overflowed %d), refused %d, steps with a backend in cooldown %d, with a lowered effective capacity %d", chosen, overflowed, refused, throttled, learned)
			learnedSteps += learned
			if chosen < 20 || refused < 5 || throttled < 10 || overflowed < 2 {
				t.Fatalf("the sequence did not exercise the rules: chosen %d (overflowed %d), refused %d, cooldown steps %d", chosen, overflowed, refused, throttled)
			}
		})
	}
	if learnedSteps < 50 {
		t.Fatalf("the sequences did not exercise effective capacity: %d steps with it lowered", learnedSteps)
	}
}

func sameStates(t *testing.T, step int, mem, red []capacity.BackendState) {
	t.Helper()
	if len(mem) != len(red) {
		t.Fatalf("step %d: %d states in memory, %d in redis", step, len(mem), len(red))
	}
	for i := range mem {
		m, r := mem[i], red[i]
		if m.Name != r.Name || m.Tier != r.Tier || m.RemainingRequests != r.RemainingRequests ||
			m.Reserved != r.Reserved || m.InFlight != r.InFlight || m.Healthy != r.Healthy ||
			!m.CooldownUntil.Equal(r.CooldownUntil) || !m.HealthUntil.Equal(r.HealthUntil) ||
			math.Abs(m.Utilization-r.Utilization) > 1e-6 || abs(m.RemainingTokens-r.RemainingTokens) > 1 ||
			math.Abs(m.Effective-r.Effective) > 1e-9 {
			t.Fatalf("step %d: %s\nmemory %+v\nredis  %+v", step, m.Name, m, r)
		}
	}
}

func abs(v int) int { return max(v, -v) }

// TestReplicasShareState: what one replica charges and observes, the other
// sees; a reservation taken by one is moved by the other and settled by the
// first.
func TestReplicasShareState(t *testing.T) {
	r := e2etest.StartRedis(t)
	clk := capacitytest.NewFakeClock(start)
	a := replica(t, r.Addr, clk, 2, nil)
	b := replica(t, r.Addr, clk, 2, nil)

	pa, err := a.Admit(t.Context(), capacity.Ask{Candidates: names, Cost: 6000, ID: "req-1", Meta: "trace-1"})
	if err != nil || pa.Order[0] != "ptu" {
		t.Fatalf("replica a: %v %v", pa.Order, err)
	}
	// A's second request fills the PTU to 9,950: less than 1 % is left.
	fill, _ := a.ChooseFor(capacity.Ask{Candidates: []string{"ptu"}, Cost: 3950})
	pb, okb := b.Choose(names, 6000)
	if !okb || pb.Order[0] == "ptu" {
		t.Fatalf("replica b went to %v: the PTU is full with a's requests", pb.Order)
	}
	pb.Reservation.Release()
	b.Sync()

	a.Observe("tpm-a", 429, http.Header{"Retry-After-Ms": {"5000"}}.Get, nil)
	pb, okb = b.Choose(names, 6000)
	if !okb || fmt.Sprint(pb.Order) != "[tpm-b ptu]" || pb.Fit != 1 {
		t.Fatalf("replica b: %v (%d with room), want tpm-b with room, ptu spare (full), tpm-a not at all (throttled as a saw)", pb.Order, pb.Fit)
	}
	pb.Reservation.Release()
	fill.Reservation.Release()

	// Envoy retries a's request on tpm-b, and b's upstream phase sees it.
	res, meta, found := b.Attach("req-1", "tpm-b")
	if !found || meta != "trace-1" {
		t.Fatalf("attach: found %v meta %q", found, meta)
	}
	res.Observe(200, http.Header{"X-Ratelimit-Remaining-Tokens": {"2000"}}.Get, nil)
	b.Sync()
	st := stateOf(t, b, "tpm-b")
	if st.InFlight != 1 || st.Reserved != 6000 {
		t.Fatalf("tpm-b after the move: %+v", st)
	}
	if st := stateOf(t, a, "ptu"); st.InFlight != 0 || st.Utilization != 0 {
		t.Fatalf("ptu after the move: %+v", st)
	}
	pa.Reservation.Settle(900)
	a.Sync()
	if st := stateOf(t, a, "tpm-b"); st.InFlight != 0 || st.Reserved != 0 || st.RemainingTokens != 2000 {
		t.Fatalf("tpm-b after a settled: %+v (the remaining header said 2000)", st)
	}
}

func stateOf(t *testing.T, m *capacity.Model, name string) capacity.BackendState {
	t.Helper()
	for _, s := range m.States() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no backend %s", name)
	return capacity.BackendState{}
}

// TestRedisOutage: requests go on from the local share while Redis is down,
// the model says so, and rejoins the shared state when Redis is back.
func TestRedisOutage(t *testing.T) {
	r := e2etest.StartRedis(t)
	clk := capacitytest.NewFakeClock(start)
	var mu sync.Mutex
	var changes []error
	m := replica(t, r.Addr, clk, 2, func(err error) { mu.Lock(); changes = append(changes, err); mu.Unlock() })
	other := replica(t, r.Addr, clk, 2, nil)

	r.Stop()
	p, ok := m.Choose(names, 4990)
	if !ok || p.Order[0] != "ptu" {
		t.Fatalf("with redis down: %v %v", ok, p.Order)
	}
	if st := m.StoreStatus(); !st.Shared || !st.Degraded || st.Error == "" {
		t.Fatalf("status with redis down: %+v", st)
	}
	// The local share is half the PTU: with 4,990 of 5,000 used, less than
	// 1 % is left, and a second request no longer fits on it.
	if p2, _ := m.Choose(names, 1000); len(p2.Order) > 0 && p2.Order[0] == "ptu" {
		t.Fatalf("local share: second request on the ptu %v; half of 10,000 is 5,000", p2.Order)
	}
	p.Reservation.Settle(4000)
	m.Sync()

	r.Restart()
	e2etest.WaitFor(t, "rejoin", 10*time.Second, func() bool {
		clk.Advance(time.Second) // the probe runs on the model's clock
		// A client's first call on a connection Redis dropped can fail (and
		// the replica serves from its share until the next probe): both
		// replicas must have rejoined.
		other.States()
		m.States()
		return !m.StoreStatus().Degraded && !other.StoreStatus().Degraded
	})
	// Shared again: what the other replica charges is seen here.
	po, ok := other.Choose(names, 9950) // less than 1 % left
	if !ok || po.Order[0] != "ptu" {
		t.Fatalf("other replica: %v", po.Order)
	}
	if p, _ := m.Choose(names, 2000); len(p.Order) > 0 && p.Order[0] == "ptu" {
		t.Fatalf("after rejoining, the ptu the other replica filled was chosen: %v; m %+v, other %+v, states %+v", p.Order, m.StoreStatus(), other.StoreStatus(), other.States())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0] == nil || changes[1] != nil {
		t.Fatalf("OnChange calls: %v, want [error, nil]", changes)
	}
}

// TestIDInUse: two replicas asked for the same reservation id (a client
// reusing its x-request-id) each get a reservation of their own.
func TestIDInUse(t *testing.T) {
	r := e2etest.StartRedis(t)
	clk := capacitytest.NewFakeClock(start)
	a := replica(t, r.Addr, clk, 2, nil)
	b := replica(t, r.Addr, clk, 2, nil)
	pa, err := a.Admit(t.Context(), capacity.Ask{Candidates: names, Cost: 100, ID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Admit(t.Context(), capacity.Ask{Candidates: names, Cost: 100, ID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	if pa.Reservation.ID() != "same" || pb.Reservation.ID() == "same" || pb.Reservation.ID() == "" {
		t.Fatalf("ids: a %q, b %q", pa.Reservation.ID(), pb.Reservation.ID())
	}
	pa.Reservation.Settle(100)
	pb.Reservation.Settle(100)
	a.Sync()
	b.Sync()
	if st := stateOf(t, a, "ptu"); st.InFlight != 0 || st.Reserved != 0 {
		t.Fatalf("after both settled: %+v", st)
	}
}

// TestAbandonedReservation: a reservation its replica never ended (it
// died) stops counting as in flight when it expires, and a settle that
// comes late does not count it out twice.
func TestAbandonedReservation(t *testing.T) {
	r := e2etest.StartRedis(t)
	clk := capacitytest.NewFakeClock(start)
	m := capacity.New(clk, capacity.Options{})
	m.SetBackends(specs)
	m.Share(capacity.Sharing{Store: redisstore.New(t.Context(), client(t, r.Addr),
		redisstore.Options{KeyPrefix: "abandoned:", Timeout: 5 * time.Second, ReservationTTL: 2 * time.Second})})
	late, _ := m.Choose(names, 1000) // its replica "dies": never ended in time
	kept, _ := m.Choose(names, 500)
	if st := stateOf(t, m, "ptu"); st.InFlight != 2 || st.Reserved != 1500 {
		t.Fatalf("before: %+v", st)
	}
	clk.Advance(3 * time.Second)
	more, _ := m.Choose(names, 200) // a reservation taken after the expiry
	if st := stateOf(t, m, "ptu"); st.InFlight != 1 || st.Reserved != 200 {
		t.Fatalf("after the first two expired: %+v, want only the third in flight", st)
	}
	late.Reservation.Settle(900)
	kept.Reservation.Release()
	more.Reservation.Settle(150)
	m.Sync()
	if st := stateOf(t, m, "ptu"); st.InFlight != 0 || st.Reserved != 0 {
		t.Fatalf("after everything ended: %+v", st)
	}
}
